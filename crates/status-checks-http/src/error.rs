//! The one place where errors become HTTP responses.
//!
//! Every error shape of the contract (`docs/api.md` §1 and §4) is produced here and nowhere else:
//!
//! | status | body |
//! |---|---|
//! | 400 | `{"error": "sha is missing, status does not have a valid value"}` (parameters, malformed body) |
//! | 400 | `{"message": {"path": ["has already been taken"]}}` (attribute errors) |
//! | 401 | `{"message": "401 Unauthorized"}` |
//! | 403 | `{"message": "403 Forbidden"}`; a read-only token writing: `{"error": "insufficient_scope", …}` |
//! | 404 | `{"message": "404 Project Not Found"}`, `{"message": "404 Not found"}`, unknown route `{"error": "404 Not Found"}` |
//! | 405 | `{"message": "405 Method Not Allowed"}` (merge refused); wrong method `{"error": "405 Method Not Allowed"}` |
//! | 409 | `{"message": "<text>"}` |
//! | 413 | `{"message": "413 Request Entity Too Large"}` |
//! | 415 | `{"message": "415 Unsupported Media Type"}` |
//! | 422 | `{"message": ["Name has already been taken"]}` or `{"message": "External status check must be failed"}` |
//! | 500 | `{"message": "500 Internal Server Error"}` — the cause is logged, never sent |
//!
//! Every variant of the core's `DomainError` is matched by name, without a catch-all, so that a new one does not
//! compile before it has its answer here. The texts sent are GitLab's, written here, never the core's `Display`
//! (the domain's own words).

use crate::views::json_response;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use status_checks_core::error::Resource;
use status_checks_core::{DomainError, ParamErrors};

/// An error answer of the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    /// A use case's refusal.
    Domain(DomainError),
    /// The body is not valid JSON (or not an object).
    MalformedBody(String),
    /// The body's media type is not JSON or a form.
    UnsupportedMediaType,
    /// The body is larger than the configured limit.
    PayloadTooLarge,
    /// No route has this path.
    RouteNotFound,
    /// The path exists, but not with this method.
    MethodNotAllowed,
    /// A forge webhook delivery that did not prove it knows the link's secret.
    WebhookUnauthorized,
}

impl From<DomainError> for ApiError {
    fn from(error: DomainError) -> Self {
        ApiError::Domain(error)
    }
}

impl From<ParamErrors> for ApiError {
    fn from(errors: ParamErrors) -> Self {
        ApiError::Domain(DomainError::BadParameters(errors))
    }
}

fn body(status: StatusCode, value: Value) -> Response {
    json_response(status, &value)
}

fn message(status: StatusCode, text: &str) -> Response {
    body(status, json!({ "message": text }))
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::Domain(error) => domain_response(error),
            ApiError::WebhookUnauthorized => message(StatusCode::UNAUTHORIZED, "401 Unauthorized"),
            ApiError::MalformedBody(detail) => {
                body(StatusCode::BAD_REQUEST, json!({ "error": detail }))
            }
            ApiError::UnsupportedMediaType => message(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "415 Unsupported Media Type",
            ),
            ApiError::PayloadTooLarge => message(
                StatusCode::PAYLOAD_TOO_LARGE,
                "413 Request Entity Too Large",
            ),
            ApiError::RouteNotFound => {
                body(StatusCode::NOT_FOUND, json!({ "error": "404 Not Found" }))
            }
            ApiError::MethodNotAllowed => body(
                StatusCode::METHOD_NOT_ALLOWED,
                json!({ "error": "405 Method Not Allowed" }),
            ),
        }
    }
}

fn domain_response(error: DomainError) -> Response {
    match error {
        DomainError::Unauthorized => {
            let mut response = message(StatusCode::UNAUTHORIZED, "401 Unauthorized");
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            response
        }
        DomainError::InsufficientScope => body(
            StatusCode::FORBIDDEN,
            json!({
                "error": "insufficient_scope",
                "error_description": "The request requires higher privileges than provided by the access token.",
                "scope": "api",
            }),
        ),
        DomainError::ProjectNotFound => message(StatusCode::NOT_FOUND, "404 Project Not Found"),
        DomainError::NotFound(Resource::Forge) => {
            message(StatusCode::NOT_FOUND, "404 Forge Not Found")
        }
        DomainError::NotFound(_) => message(StatusCode::NOT_FOUND, "404 Not found"),
        DomainError::Forbidden => message(StatusCode::FORBIDDEN, "403 Forbidden"),
        // Grape's one line of messages (`docs/api.md` §4), joined here: every text of a body is this layer's,
        // never a `Display` of the core's.
        DomainError::BadParameters(errors) => body(
            StatusCode::BAD_REQUEST,
            json!({ "error": errors.0.join(", ") }),
        ),
        DomainError::InvalidAttributes(fields) => {
            body(StatusCode::BAD_REQUEST, json!({ "message": fields }))
        }
        DomainError::NotAllowed => {
            message(StatusCode::METHOD_NOT_ALLOWED, "405 Method Not Allowed")
        }
        DomainError::Conflict(text) => message(StatusCode::CONFLICT, &text),
        DomainError::Validation(messages) => body(
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({ "message": messages }),
        ),
        DomainError::Unprocessable(text) => message(StatusCode::UNPROCESSABLE_ENTITY, &text),
        DomainError::Unavailable(cause) => {
            tracing::warn!(error.cause = %cause, "storage unavailable");
            let mut response = message(StatusCode::SERVICE_UNAVAILABLE, "503 Service Unavailable");
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            response
        }
        DomainError::Internal(cause) => {
            tracing::error!(error.cause = %cause, "internal error");
            message(
                StatusCode::INTERNAL_SERVER_ERROR,
                "500 Internal Server Error",
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store that cannot answer now is a JSON 503 that invites a retry, and its cause stays in the log.
    #[test]
    fn an_unavailable_store_is_a_json_503() {
        let response = ApiError::Domain(DomainError::Unavailable(
            "cannot connect to PostgreSQL: connection refused".into(),
        ))
        .into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            response.headers().get(header::RETRY_AFTER),
            Some(&HeaderValue::from_static("1"))
        );
        assert_eq!(
            response.headers().get(header::CONTENT_TYPE),
            Some(&HeaderValue::from_static("application/json"))
        );
    }
}
