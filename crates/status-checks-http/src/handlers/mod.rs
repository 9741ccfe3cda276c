//! Thin handlers: parse, call one use case, render. No rules and no SQL here.

pub(crate) mod deliveries;
pub(crate) mod members;
pub(crate) mod merge_requests;
pub(crate) mod meta;
pub(crate) mod projects;
pub(crate) mod protected_branches;
pub(crate) mod status_checks;
pub(crate) mod tokens;
pub(crate) mod users;

use crate::error::ApiError;
use crate::views::json_response;
use axum::extract::{FromRequestParts, Path};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::json;
use status_checks_core::project::ProjectRef;

/// The path's parameters, percent-decoded, in order.
pub(crate) struct Segments(pub Vec<String>);

impl<S: Send + Sync> FromRequestParts<S> for Segments {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Path::<Vec<String>>::from_request_parts(parts, state).await {
            Ok(Path(segments)) => Ok(Segments(segments)),
            // Only an undecodable segment (invalid UTF-8 after percent-decoding) gets here.
            Err(_) => Err(ApiError::RouteNotFound),
        }
    }
}

impl Segments {
    /// The `i`-th parameter (empty if the route has fewer).
    pub(crate) fn get(&self, i: usize) -> &str {
        self.0.get(i).map(String::as_str).unwrap_or_default()
    }

    /// The first parameter as a project reference.
    pub(crate) fn project(&self) -> ProjectRef {
        ProjectRef::parse(self.get(0))
    }
}

/// 200 with a JSON body.
pub(crate) fn ok(body: impl Serialize) -> Response {
    json_response(StatusCode::OK, &body)
}

/// 201 with a JSON body.
pub(crate) fn created(body: impl Serialize) -> Response {
    json_response(StatusCode::CREATED, &body)
}

/// 204 with no body.
pub(crate) fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

/// 202 `{"message":"202 Accepted"}`.
pub(crate) fn accepted() -> Response {
    json_response(StatusCode::ACCEPTED, &json!({ "message": "202 Accepted" }))
}

/// A handler's result.
pub(crate) type Answer = Result<Response, ApiError>;
