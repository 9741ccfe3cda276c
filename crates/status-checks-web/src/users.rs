//! Users: sign-in with a personal access token, sign-out, and the user page (`/<username>`).

use crate::WebState;
use crate::errors::PageError;
use crate::layout::{self, Chrome};
use crate::session::{self, CSRF_FIELD, Form, SESSION_COOKIE, SIGN_IN_COOKIE, Visitor};
use axum::body::Bytes;
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::html;
use status_checks_core::{DomainError, PageRequest};

/// Where to go after signing in: a path on this site only (never `//host` or an absolute URL).
fn safe_redirect(raw: Option<&str>) -> String {
    match raw {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && !path.contains('\\')
                && !path.chars().any(char::is_control) =>
        {
            path.to_owned()
        }
        _ => "/".to_owned(),
    }
}

fn query_value(query: Option<&str>, name: &str) -> Option<String> {
    form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

/// A 303 to `to`.
fn see_other(to: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(location) = HeaderValue::from_str(to) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

/// The sign-in form, with a fresh nonce (also set in its cookie).
fn sign_in_form(
    state: &WebState,
    visitor: &Visitor,
    redirect_to: &str,
    failed: bool,
) -> Result<Response, PageError> {
    let nonce = session::nonce()?;
    let content = html! {
        h1 { "Sign in" }
        @if failed {
            p.notice.failed role="alert" { "That token is not valid: it is unknown, expired or revoked." }
        }
        p {
            "Sign in with one of your personal access tokens. It is kept in a cookie that scripts cannot read, "
            "sent to this site only, until you sign out. A token of scope " code { "read_api" } " shows the pages; "
            "retrying a check needs scope " code { "api" } "."
        }
        form method="post" action="/users/sign_in" {
            input type="hidden" name=(CSRF_FIELD) value=(nonce);
            input type="hidden" name="redirect_to" value=(redirect_to);
            label for="token" { "Personal access token" }
            input #token type="password" name="token" autocomplete="current-password" required;
            p { button type="submit" { "Sign in" } }
        }
    };
    let mut response = layout::page(&Chrome::of("Sign in", visitor), content);
    response.headers_mut().append(
        header::SET_COOKIE,
        session::set_cookie(state, SIGN_IN_COOKIE, Some(&nonce)),
    );
    if failed {
        *response.status_mut() = StatusCode::UNAUTHORIZED;
    }
    Ok(response)
}

/// `GET /users/sign_in[?redirect_to=/path]`.
pub(crate) async fn sign_in_page(
    State(state): State<WebState>,
    OriginalUri(uri): OriginalUri,
    visitor: Visitor,
) -> Result<Response, PageError> {
    let redirect_to = safe_redirect(query_value(uri.query(), "redirect_to").as_deref());
    sign_in_form(&state, &visitor, &redirect_to, false)
}

/// `POST /users/sign_in`: the form's nonce must match its cookie; a valid token becomes the session.
pub(crate) async fn sign_in(
    State(state): State<WebState>,
    headers: HeaderMap,
    visitor: Visitor,
    body: Bytes,
) -> Result<Response, PageError> {
    let form = Form::parse(&body);
    let nonce = session::cookie_value(&headers, SIGN_IN_COOKIE).unwrap_or_default();
    if !session::same(&nonce, form.get(CSRF_FIELD).unwrap_or_default()) {
        return Err(PageError::Csrf);
    }
    let redirect_to = safe_redirect(form.get("redirect_to"));
    let token = form.get("token").unwrap_or_default().trim();
    match state.service().authenticate(token).await {
        Ok(_) => {
            let mut response = see_other(&redirect_to);
            let cookies = response.headers_mut();
            cookies.append(
                header::SET_COOKIE,
                session::set_cookie(&state, SESSION_COOKIE, Some(token)),
            );
            cookies.append(
                header::SET_COOKIE,
                session::set_cookie(&state, SIGN_IN_COOKIE, None),
            );
            Ok(response)
        }
        Err(DomainError::Unauthorized) => sign_in_form(&state, &visitor, &redirect_to, true),
        Err(other) => Err(PageError::Domain(other)),
    }
}

/// `POST /users/sign_out`: forgets the session cookie (the token itself stays valid for the API).
pub(crate) async fn sign_out(
    State(state): State<WebState>,
    visitor: Visitor,
    body: Bytes,
) -> Result<Response, PageError> {
    if visitor.actor.is_some() {
        visitor.check_csrf(&Form::parse(&body))?;
    }
    let mut response = see_other("/users/sign_in");
    response.headers_mut().append(
        header::SET_COOKIE,
        session::set_cookie(&state, SESSION_COOKIE, None),
    );
    Ok(response)
}

/// `GET /<username>`: who the user is (private fields to themselves and administrators, as the API).
pub(crate) async fn user_page(
    state: &WebState,
    visitor: &Visitor,
    username: &str,
) -> Result<Response, PageError> {
    let Some(actor) = &visitor.actor else {
        return Err(PageError::NotFound);
    };
    let found = state
        .service()
        .list_users(actor, Some(username.to_owned()), PageRequest::new(1, 1))
        .await?;
    let Some(view) = found.items.into_iter().next() else {
        return Err(PageError::NotFound);
    };
    let user = &view.user;
    let title = format!("{} (@{})", user.name, user.username.as_str());
    let content = html! {
        h1 { (user.name) " " span.muted { "@" (user.username.as_str()) } }
        dl.facts {
            dt { "User id" } dd { (user.id.0) }
            dt { "State" } dd { (user.state()) }
            dt { "Member since" } dd { (layout::time(user.created_at)) }
            @if view.show_private {
                dt { "Email" } dd { (user.email.as_deref().unwrap_or("—")) }
                dt { "Administrator" } dd { (if user.is_admin { "yes" } else { "no" }) }
            }
        }
        @if actor.user_id == user.id {
            p { a href="/" { "Your projects" } }
        }
    };
    Ok(layout::page(&Chrome::of(&title, visitor), content))
}

#[cfg(test)]
mod tests {
    use super::safe_redirect;

    #[test]
    fn only_paths_of_this_site_are_followed_after_sign_in() {
        assert_eq!(safe_redirect(Some("/team/demo")), "/team/demo");
        for bad in [
            "//evil.example",
            "https://evil.example/",
            "/\\evil.example",
            "evil",
            "",
            "/a\nb",
        ] {
            assert_eq!(safe_redirect(Some(bad)), "/", "{bad:?}");
        }
        assert_eq!(safe_redirect(None), "/");
    }
}
