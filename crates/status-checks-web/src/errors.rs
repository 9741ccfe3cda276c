//! The one place where errors become statuses and error pages.
//!
//! | status | page |
//! |---|---|
//! | 404 | "Page not found" — an unknown path, and anything the visitor may not see (as the API's 404) |
//! | 403 | "Forbidden" — the visitor's role, or a read-only token, does not allow it |
//! | 422 | the core's refusal in words ("External status check must be failed"), or a form without its CSRF token |
//! | 503 | "Try again" with `Retry-After`: the database cannot answer now |
//! | 500 | "Something went wrong": the cause is logged, never shown |

use crate::layout::{self, Chrome};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::html;
use status_checks_core::DomainError;

/// Why a page could not be shown.
#[derive(Debug)]
pub(crate) enum PageError {
    /// A use case's refusal.
    Domain(DomainError),
    /// No page has this path.
    NotFound,
    /// A form without the visitor's CSRF token.
    Csrf,
    /// Something the service needs is missing now (no randomness for a nonce).
    Unavailable,
}

impl From<DomainError> for PageError {
    fn from(error: DomainError) -> Self {
        PageError::Domain(error)
    }
}

/// What an error page says.
struct Said {
    status: StatusCode,
    title: &'static str,
    text: String,
}

fn said(error: PageError) -> Said {
    let not_found = || {
        Said {
        status: StatusCode::NOT_FOUND,
        title: "Page not found",
        text: "The page could not be found, or you may not see it. Sign in with a token of a member of \
               the project to see its pages."
            .into(),
    }
    };
    let unavailable = || Said {
        status: StatusCode::SERVICE_UNAVAILABLE,
        title: "Try again",
        text: "The service cannot answer right now. Try again in a moment.".into(),
    };
    match error {
        PageError::NotFound => not_found(),
        PageError::Csrf => Said {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            title: "Form expired",
            text: "The form was not sent from this site's page, or the session changed since. Go back, \
                   reload the page and try again."
                .into(),
        },
        PageError::Unavailable => unavailable(),
        PageError::Domain(error) => match error {
            DomainError::ProjectNotFound | DomainError::NotFound(_) | DomainError::Unauthorized => {
                not_found()
            }
            DomainError::Forbidden => Said {
                status: StatusCode::FORBIDDEN,
                title: "Forbidden",
                text: "Your role in this project does not allow this.".into(),
            },
            DomainError::InsufficientScope => Said {
                status: StatusCode::FORBIDDEN,
                title: "Forbidden",
                text: "You signed in with a read-only token (scope read_api): sign in with a token of \
                       scope api to change anything."
                    .into(),
            },
            DomainError::Unprocessable(text) | DomainError::Conflict(text) => Said {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                title: "Not possible",
                text,
            },
            DomainError::Validation(messages) => Said {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                title: "Not possible",
                text: messages.join("; "),
            },
            DomainError::NotAllowed => Said {
                status: StatusCode::METHOD_NOT_ALLOWED,
                title: "Not possible",
                text: "This is not possible in the merge request's state.".into(),
            },
            DomainError::BadParameters(errors) => Said {
                status: StatusCode::BAD_REQUEST,
                title: "Bad request",
                text: errors.0.join(", "),
            },
            DomainError::InvalidAttributes(_) => Said {
                status: StatusCode::BAD_REQUEST,
                title: "Bad request",
                text: "The request's fields are not valid.".into(),
            },
            DomainError::Unavailable(cause) => {
                tracing::warn!(error.cause = %cause, "page: storage unavailable");
                unavailable()
            }
            DomainError::Internal(cause) => {
                tracing::error!(error.cause = %cause, "page: internal error");
                Said {
                    status: StatusCode::INTERNAL_SERVER_ERROR,
                    title: "Something went wrong",
                    text: "The page could not be made. The cause is in the service's log.".into(),
                }
            }
        },
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let Said {
            status,
            title,
            text,
        } = said(self);
        let body = layout::page(
            &Chrome::plain(title),
            html! {
                h1 { (title) }
                p { (text) }
                p { a href="/" { "Start page" } " · " a href="/users/sign_in" { "Sign in" } }
            },
        );
        let mut response = body;
        *response.status_mut() = status;
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

/// The 404 page of a path no page has.
pub(crate) async fn not_found() -> PageError {
    PageError::NotFound
}
