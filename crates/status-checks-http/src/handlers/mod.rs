//! The handlers, one module per concept of the API, and the answers they share. A handler is thin: it reads its
//! path and parameters, calls one use case, renders a view. No rules and no SQL here.

pub(crate) mod deliveries;
pub(crate) mod forges;
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
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::json;

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
