//! A project's protected branches, by name or glob; checks are scoped to them (`docs/api.md` §3, Protected
//! branches).

use super::{Answer, created, no_content, ok};
use crate::AppState;
use crate::pagination;
use crate::paths::{ApiPath, ProjectPath, ProtectedBranchPath};
use crate::request::Call;
use crate::views::ProtectedBranchJson;
use axum::extract::State;
use status_checks_core::ParamErrors;

/// `GET /projects/:id/protected_branches`.
pub(crate) async fn list_protected_branches(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<ProjectPath>,
    call: Call,
) -> Answer {
    let page = call.page_request()?;
    let branches = state
        .service()
        .list_protected_branches(&call.actor, &path.project, page)
        .await?;
    Ok(pagination::respond(
        &call.origin,
        branches,
        ProtectedBranchJson::of,
    ))
}

/// `GET /projects/:id/protected_branches/:name`.
pub(crate) async fn get_protected_branch(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<ProtectedBranchPath>,
    call: Call,
) -> Answer {
    let branch = state
        .service()
        .get_protected_branch(&call.actor, &path.project, &path.name)
        .await?;
    Ok(ok(ProtectedBranchJson::of(branch)))
}

/// `POST /projects/:id/protected_branches`.
pub(crate) async fn protect_branch(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<ProjectPath>,
    call: Call,
) -> Answer {
    let mut errors = ParamErrors::new();
    let name = call.params.required_string("name", &mut errors);
    let name = errors.into_result(|| name.unwrap_or_default());
    let branch = state
        .service()
        .protect_branch(&call.actor, &path.project, name)
        .await?;
    Ok(created(ProtectedBranchJson::of(branch)))
}

/// `DELETE /projects/:id/protected_branches/:name`.
pub(crate) async fn unprotect_branch(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<ProtectedBranchPath>,
    call: Call,
) -> Answer {
    state
        .service()
        .unprotect_branch(&call.actor, &path.project, &path.name)
        .await?;
    Ok(no_content())
}
