//! The authenticated call: who is calling, and with which parameters.
//!
//! [`Call`] is the extractor every authenticated endpoint takes. In order it: refuses a body over the limit
//! (413), authenticates the token (`PRIVATE-TOKEN` header, `Authorization: Bearer`, then the `private_token` or
//! `access_token` query parameter; 401), and merges the query string with the body (JSON or form; malformed JSON
//! is 400, any other media type 415). GET, HEAD and DELETE ignore any body and content type.

use crate::AppState;
use crate::error::ApiError;
use crate::pagination;
use crate::params::Params;
use axum::body::Body;
use axum::extract::{FromRequest, OriginalUri, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, Method, header};
use axum::response::Response;
use serde::Serialize;
use serde_json::Value;
use status_checks_core::service::StatusChecksService;
use status_checks_core::{Actor, DomainError, Page, PageRequest, ParamErrors, TokenId};

/// An authenticated request's caller and parameters, and the use cases to call for it.
pub struct Call {
    /// Who is calling.
    pub actor: Actor,
    /// The token they called with.
    pub token_id: TokenId,
    /// Query and body parameters, merged.
    pub params: Params,
    /// Where the request was made (for pagination links).
    pub origin: Origin,
    // Carried so that a handler needs no `State` extractor beside this one.
    state: AppState,
}

/// The pieces of the request URL that pagination links are built from.
#[derive(Debug, Clone)]
pub struct Origin {
    /// `http` or `https` (from `X-Forwarded-Proto`, else `http`).
    pub scheme: String,
    /// The `Host` header (or the URI's authority).
    pub host: String,
    /// The path as received (before a `nest` that embeds this router strips its prefix).
    pub path: String,
    /// The raw query string.
    pub query: String,
}

impl Origin {
    fn of(parts: &Parts) -> Origin {
        let header = |name: &HeaderName| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let scheme = header(&X_FORWARDED_PROTO)
            .filter(|p| p == "http" || p == "https")
            .unwrap_or_else(|| "http".into());
        let host = header(&header::HOST)
            .or_else(|| parts.uri.authority().map(|a| a.to_string()))
            .unwrap_or_else(|| "localhost".into());
        // The URI as received: a router that embeds this one with `nest` strips its prefix from `uri`.
        let uri = parts
            .extensions
            .get::<OriginalUri>()
            .map_or(&parts.uri, |original| &original.0);
        Origin {
            scheme,
            host,
            path: uri.path().to_owned(),
            query: uri.query().unwrap_or_default().to_owned(),
        }
    }
}

impl Call {
    /// The core's use cases, to call on behalf of [`Call::actor`].
    pub fn service(&self) -> &StatusChecksService {
        self.state.service()
    }

    /// The base of `web_url` fields.
    pub fn base_url(&self) -> &str {
        self.state.base_url()
    }

    /// `page` and `per_page`: 400 `page is invalid` / `per_page is invalid` unless positive integers.
    pub fn page_request(&self) -> Result<PageRequest, ParamErrors> {
        PageRequest::parse(
            self.params.text("page").as_deref(),
            self.params.text("per_page").as_deref(),
        )
    }

    /// 200 with the page as a JSON array, each item through `view`, and the pagination headers.
    pub fn paginated<T, V: Serialize>(&self, page: Page<T>, view: impl FnMut(T) -> V) -> Response {
        pagination::respond(&self.origin, page, view)
    }
}

// Names made once (a `&str` name is parsed on every lookup).
const PRIVATE_TOKEN: HeaderName = HeaderName::from_static("private-token");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");

/// The token a request carries, in GitLab's order of precedence.
pub(crate) fn token_of(headers: &HeaderMap, query: Option<&str>) -> Option<String> {
    let header = |name: &HeaderName| {
        headers
            .get(name)
            .map(|v| v.to_str().map(str::trim).unwrap_or_default().to_owned())
    };
    if let Some(token) = header(&PRIVATE_TOKEN) {
        return Some(token);
    }
    if let Some(auth) = header(&header::AUTHORIZATION) {
        let mut words = auth.splitn(2, ' ');
        if words
            .next()
            .is_some_and(|scheme| scheme.eq_ignore_ascii_case("bearer"))
        {
            return Some(words.next().unwrap_or_default().trim().to_owned());
        }
    }
    let query = Params::from_form(query.unwrap_or_default().as_bytes());
    query
        .text("private_token")
        .or_else(|| query.text("access_token"))
}

fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Reads a body of at most `limit` bytes.
pub(crate) async fn read_body(body: Body, limit: usize) -> Result<axum::body::Bytes, ApiError> {
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        tracing::debug!(error = %e, "request body not read");
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&e);
        while let Some(current) = cause {
            if current.is::<http_body_util::LengthLimitError>() {
                return ApiError::PayloadTooLarge;
            }
            cause = current.source();
        }
        // The body broke off or was malformed (e.g. bad chunked encoding).
        ApiError::MalformedBody("The request body could not be read".into())
    })
}

/// Parses a body by its media type.
fn parse_body(headers: &HeaderMap, bytes: &[u8]) -> Result<Params, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Params::default());
    }
    let media = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        });
    let json = |bytes: &[u8]| match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(map)) => Ok(Params::from_json(map)),
        Ok(_) => Err(ApiError::MalformedBody(
            "The request body must be a JSON object".into(),
        )),
        Err(e) => Err(ApiError::MalformedBody(format!("Malformed JSON body: {e}"))),
    };
    match media.as_deref() {
        Some("application/json") => json(bytes),
        Some(m) if m.ends_with("+json") => json(bytes),
        Some("application/x-www-form-urlencoded") => Ok(Params::from_form(bytes)),
        // No media type: JSON if it looks like JSON, else a form (what `curl -d` without a header means).
        None if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{') => json(bytes),
        None => Ok(Params::from_form(bytes)),
        Some(_) => Err(ApiError::UnsupportedMediaType),
    }
}

impl FromRequest<AppState> for Call {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (parts, body) = request.into_parts();
        let limit = state.settings().max_body_bytes;
        let ignores_body = matches!(parts.method, Method::GET | Method::HEAD | Method::DELETE);
        if !ignores_body && content_length(&parts.headers).is_some_and(|len| len > limit as u64) {
            return Err(ApiError::PayloadTooLarge);
        }
        let token = token_of(&parts.headers, parts.uri.query()).ok_or(DomainError::Unauthorized)?;
        let (actor, token) = state.service().authenticate(&token).await?;
        let mut params = Params::from_form(parts.uri.query().unwrap_or_default().as_bytes());
        if !ignores_body {
            let bytes = read_body(body, limit).await?;
            params.merge(parse_body(&parts.headers, &bytes)?);
        }
        Ok(Call {
            actor,
            token_id: token.id,
            params,
            origin: Origin::of(&parts),
            state: state.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn token_precedence() {
        let mut headers = HeaderMap::new();
        assert_eq!(
            token_of(&headers, Some("private_token=q")),
            Some("q".into())
        );
        assert_eq!(token_of(&headers, Some("access_token=a")), Some("a".into()));
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer b"));
        assert_eq!(
            token_of(&headers, Some("private_token=q")),
            Some("b".into())
        );
        headers.insert("private-token", HeaderValue::from_static("p"));
        assert_eq!(token_of(&headers, None), Some("p".into()));
        assert_eq!(token_of(&HeaderMap::new(), None), None);
        let mut basic = HeaderMap::new();
        basic.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(token_of(&basic, None), None);
    }

    #[test]
    fn bodies_by_media_type() {
        let with = |ct: &'static str| {
            let mut h = HeaderMap::new();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
            h
        };
        let form = parse_body(
            &with("application/x-www-form-urlencoded; charset=utf-8"),
            b"a=1&b[]=2",
        )
        .map(|p| p.text("a"));
        assert_eq!(form, Ok(Some("1".into())));
        let json = parse_body(&with("application/json"), br#"{"a": 2}"#).map(|p| p.text("a"));
        assert_eq!(json, Ok(Some("2".into())));
        assert!(matches!(
            parse_body(&with("application/json"), b"{nope"),
            Err(ApiError::MalformedBody(_))
        ));
        assert!(matches!(
            parse_body(&with("application/json"), b"[1]"),
            Err(ApiError::MalformedBody(_))
        ));
        assert_eq!(
            parse_body(&with("text/plain"), b"x"),
            Err(ApiError::UnsupportedMediaType)
        );
        assert_eq!(parse_body(&with("text/plain"), b""), Ok(Params::default()));
        assert_eq!(
            parse_body(&HeaderMap::new(), br#" {"a":"j"}"#).map(|p| p.text("a")),
            Ok(Some("j".into()))
        );
        assert_eq!(
            parse_body(&HeaderMap::new(), b"a=f").map(|p| p.text("a")),
            Ok(Some("f".into()))
        );
    }
}
