//! The visitor and the session cookie (`docs/pages.md`, "Sign-in and sessions").
//!
//! Signing in keeps the personal access token itself in `_status_checks_session`: `HttpOnly` (no script
//! reads it), `SameSite=Strict` (no other site's page sends it), `Secure` over https, `Path=/`. Every
//! request authenticates it again through the core, so a revoked or expired token ends the session at once.
//!
//! Every form that changes something carries `authenticity_token`, GitLab's name: for a signed-in visitor the
//! HMAC-SHA256 of a fixed label keyed with their token (an attacker's page knows neither); for the sign-in
//! form, a random nonce also set in the `_status_checks_sign_in` cookie (double submit). A POST without the
//! right one is refused with 422 before anything else is read.

use crate::WebState;
use crate::errors::PageError;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};
use cookie::{Cookie, SameSite};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use status_checks_core::{Actor, DomainError};
use std::fmt::Write as _;

/// The session cookie's name.
pub(crate) const SESSION_COOKIE: &str = "_status_checks_session";
/// The sign-in form's nonce cookie.
pub(crate) const SIGN_IN_COOKIE: &str = "_status_checks_sign_in";
/// The form field of every CSRF token.
pub(crate) const CSRF_FIELD: &str = "authenticity_token";

/// Who is looking: a signed-in user (with the CSRF token of their forms), or nobody.
pub(crate) struct Visitor {
    /// The signed-in user, if any.
    pub(crate) actor: Option<Actor>,
    csrf: Option<String>,
}

impl Visitor {
    /// The CSRF token the visitor's forms carry (empty for nobody: their forms change nothing).
    pub(crate) fn csrf_token(&self) -> &str {
        self.csrf.as_deref().unwrap_or_default()
    }

    /// Refuses a form whose `authenticity_token` is not the visitor's (422).
    pub(crate) fn check_csrf(&self, form: &Form) -> Result<(), PageError> {
        match (&self.csrf, form.get(CSRF_FIELD)) {
            (Some(expected), Some(given)) if same(expected, given) => Ok(()),
            _ => Err(PageError::Csrf),
        }
    }
}

/// The value of `name` among the request's cookies.
pub(crate) fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .map(|c| c.value().to_owned())
}

impl FromRequestParts<WebState> for Visitor {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &WebState) -> Result<Self, PageError> {
        let Some(token) = cookie_value(&parts.headers, SESSION_COOKIE).filter(|t| !t.is_empty())
        else {
            return Ok(Visitor {
                actor: None,
                csrf: None,
            });
        };
        match state.service().authenticate(&token).await {
            Ok((actor, _)) => Ok(Visitor {
                actor: Some(actor),
                csrf: Some(csrf_of(&token)),
            }),
            // A revoked or expired token: the visitor is nobody (and may sign in again).
            Err(DomainError::Unauthorized) => Ok(Visitor {
                actor: None,
                csrf: None,
            }),
            Err(other) => Err(PageError::Domain(other)),
        }
    }
}

/// The CSRF token of a session: HMAC-SHA256 of a fixed label keyed with its token, in hex.
fn csrf_of(token: &str) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(token.as_bytes()) else {
        // HMAC takes a key of any length; this arm is never taken.
        return String::new();
    };
    mac.update(b"status-checks pages: authenticity token");
    hex(&mac.finalize().into_bytes())
}

fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        let _ = write!(out, "{byte:02x}");
    }
    out
}

/// Compares two tokens in time independent of where they differ.
pub(crate) fn same(expected: &str, given: &str) -> bool {
    expected.len() == given.len()
        && !expected.is_empty()
        && expected
            .bytes()
            .zip(given.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// A random nonce for the sign-in form, or an error if the system has no randomness to give.
pub(crate) fn nonce() -> Result<String, PageError> {
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes).map_err(|_| PageError::Unavailable)?;
    Ok(hex(&bytes))
}

/// A `Set-Cookie` value: `HttpOnly`, `SameSite=Strict`, `Path=/`, `Secure` if asked; `None` removes it.
pub(crate) fn set_cookie(state: &WebState, name: &str, value: Option<&str>) -> HeaderValue {
    let mut cookie = Cookie::build((name, value.unwrap_or_default().to_owned()))
        .http_only(true)
        .same_site(SameSite::Strict)
        .path("/")
        .secure(state.settings().secure_cookies)
        .build();
    if value.is_none() {
        cookie.make_removal();
    }
    // A cookie's text is ASCII (its value is a token or hex); an unexpected byte leaves no cookie set.
    HeaderValue::from_str(&cookie.to_string())
        .unwrap_or_else(|_| HeaderValue::from_static("_status_checks_invalid=; Path=/; Max-Age=0"))
}

/// An `application/x-www-form-urlencoded` body, decoded.
pub(crate) struct Form(Vec<(String, String)>);

impl Form {
    /// Decodes `body`.
    pub(crate) fn parse(body: &[u8]) -> Self {
        Form(form_urlencoded::parse(body).into_owned().collect())
    }

    /// The first value of `name`.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csrf_tokens_differ_per_session_and_compare_exactly() {
        let a = csrf_of("token-a-aaaaaaaaaaaaaaaa");
        let b = csrf_of("token-b-bbbbbbbbbbbbbbbb");
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
        assert!(same(&a, &a.clone()));
        assert!(!same(&a, &b));
        assert!(!same(&a, &a[..63]));
        assert!(!same("", ""), "an empty token never matches");
    }

    #[test]
    fn cookies_are_found_among_several_headers() {
        let mut headers = HeaderMap::new();
        headers.append(header::COOKIE, HeaderValue::from_static("a=1; b=2"));
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("_status_checks_session=tok"),
        );
        assert_eq!(
            cookie_value(&headers, SESSION_COOKIE).as_deref(),
            Some("tok")
        );
        assert_eq!(cookie_value(&headers, "b").as_deref(), Some("2"));
        assert_eq!(cookie_value(&headers, "c"), None);
    }
}
