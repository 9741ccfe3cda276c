//! The path parameters of each shape of route, read with axum's `Path` into the core's references and ids.
//!
//! Field names follow GitLab's parameter names; `serde(rename)` maps them to the router's patterns (`{iid}`,
//! `{check_id}`), which stay as they are because they are also the `route` label of the request metrics.
//!
//! A segment that is not an integer id is a 400 `<name> is invalid` (`docs/api.md` §4), but one reported by the
//! handler, after authentication, like any other parameter error. So an id field holds the outcome of its
//! parsing, and the handler applies `?` to it; the extractor itself refuses only a segment that is not UTF-8
//! once percent-decoded, with the JSON 404 of an unknown route.

use crate::error::ApiError;
use crate::params::path_id;
use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use serde::de::{Deserialize, DeserializeOwned, Deserializer};
use status_checks_core::projects::ProjectRef;
use status_checks_core::{MergeRequestIid, ParamErrors, StatusCheckId, TokenId, UserId};

/// axum's `Path`, refusing with the API's JSON 404 instead of axum's plain-text 400.
pub(crate) struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(path)) => Ok(ApiPath(path)),
            // Every field reads any text, so only an undecodable segment (invalid UTF-8) gets here.
            Err(_) => Err(ApiError::RouteNotFound),
        }
    }
}

/// `/projects/{id}`.
#[derive(serde::Deserialize)]
pub(crate) struct ProjectPath {
    #[serde(rename = "id", deserialize_with = "project")]
    pub project: ProjectRef,
}

/// `/users/{id}`.
#[derive(serde::Deserialize)]
pub(crate) struct UserPath {
    #[serde(rename = "id", deserialize_with = "user_as_id")]
    pub user: Result<UserId, ParamErrors>,
}

/// `/users/{user_id}/personal_access_tokens`.
#[derive(serde::Deserialize)]
pub(crate) struct UserTokensPath {
    #[serde(deserialize_with = "user_id")]
    pub user_id: Result<UserId, ParamErrors>,
}

/// `/personal_access_tokens/{id}`.
#[derive(serde::Deserialize)]
pub(crate) struct TokenPath {
    #[serde(rename = "id", deserialize_with = "token")]
    pub token: Result<TokenRef, ParamErrors>,
}

/// The token of `/personal_access_tokens/{id}`: an id, or `self`, the one the request is made with.
pub(crate) enum TokenRef {
    Caller,
    Id(TokenId),
}

/// `/projects/{id}/members/{user_id}`.
#[derive(serde::Deserialize)]
pub(crate) struct MemberPath {
    #[serde(rename = "id", deserialize_with = "project")]
    pub project: ProjectRef,
    #[serde(deserialize_with = "user_id")]
    pub user_id: Result<UserId, ParamErrors>,
}

/// `/projects/{id}/protected_branches/{name}`.
#[derive(serde::Deserialize)]
pub(crate) struct ProtectedBranchPath {
    #[serde(rename = "id", deserialize_with = "project")]
    pub project: ProjectRef,
    pub name: String,
}

/// `/projects/{id}/merge_requests/{iid}` and the routes under it but E7's.
#[derive(serde::Deserialize)]
pub(crate) struct MergeRequestPath {
    #[serde(rename = "id", deserialize_with = "project")]
    pub project: ProjectRef,
    #[serde(rename = "iid", deserialize_with = "merge_request_iid")]
    pub merge_request_iid: Result<MergeRequestIid, ParamErrors>,
}

/// `/projects/{id}/external_status_checks/{check_id}` and its deliveries.
#[derive(serde::Deserialize)]
pub(crate) struct StatusCheckPath {
    #[serde(rename = "id", deserialize_with = "project")]
    pub project: ProjectRef,
    #[serde(deserialize_with = "check_id")]
    pub check_id: Result<StatusCheckId, ParamErrors>,
}

/// E7's `/projects/{id}/merge_requests/{iid}/status_checks/{check_id}/retry`, whose check GitLab calls
/// `external_status_check_id`.
#[derive(serde::Deserialize)]
pub(crate) struct MergeRequestCheckPath {
    #[serde(rename = "id", deserialize_with = "project")]
    pub project: ProjectRef,
    #[serde(rename = "iid", deserialize_with = "merge_request_iid")]
    pub merge_request_iid: Result<MergeRequestIid, ParamErrors>,
    #[serde(rename = "check_id", deserialize_with = "external_status_check_id")]
    pub external_status_check_id: Result<StatusCheckId, ParamErrors>,
}

/// A numeric id or a URL-encoded `namespace/path` (`docs/api.md` §1, Project `:id`).
fn project<'de, D: Deserializer<'de>>(segment: D) -> Result<ProjectRef, D::Error> {
    String::deserialize(segment).map(|raw| ProjectRef::parse(&raw))
}

/// An id, or the parameter error named `name` for the handler to report.
fn id<'de, D: Deserializer<'de>, T>(
    segment: D,
    name: &str,
    make: fn(i64) -> T,
) -> Result<Result<T, ParamErrors>, D::Error> {
    String::deserialize(segment).map(|raw| path_id(&raw, name).map(make))
}

fn user_as_id<'de, D: Deserializer<'de>>(
    segment: D,
) -> Result<Result<UserId, ParamErrors>, D::Error> {
    id(segment, "id", UserId)
}

fn user_id<'de, D: Deserializer<'de>>(segment: D) -> Result<Result<UserId, ParamErrors>, D::Error> {
    id(segment, "user_id", UserId)
}

fn merge_request_iid<'de, D: Deserializer<'de>>(
    segment: D,
) -> Result<Result<MergeRequestIid, ParamErrors>, D::Error> {
    id(segment, "merge_request_iid", MergeRequestIid)
}

fn check_id<'de, D: Deserializer<'de>>(
    segment: D,
) -> Result<Result<StatusCheckId, ParamErrors>, D::Error> {
    id(segment, "check_id", StatusCheckId)
}

fn external_status_check_id<'de, D: Deserializer<'de>>(
    segment: D,
) -> Result<Result<StatusCheckId, ParamErrors>, D::Error> {
    id(segment, "external_status_check_id", StatusCheckId)
}

fn token<'de, D: Deserializer<'de>>(segment: D) -> Result<Result<TokenRef, ParamErrors>, D::Error> {
    String::deserialize(segment).map(|raw| match raw.as_str() {
        "self" => Ok(TokenRef::Caller),
        _ => path_id(&raw, "id").map(|id| TokenRef::Id(TokenId(id))),
    })
}
