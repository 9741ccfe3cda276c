//! A project's protected branches, by name or glob; checks are scoped to them (`docs/api.md` §3, Protected
//! branches).

use super::{Answer, created, no_content, ok};
use crate::params::{Params, checked};
use crate::paths::{ApiPath, ProjectPath, ProtectedBranchPath};
use crate::request::Call;
use crate::views::ProtectedBranchJson;
use status_checks_core::ParamErrors;

/// `GET /projects/:id/protected_branches`.
pub(crate) async fn list_protected_branches(
    ApiPath(path): ApiPath<ProjectPath>,
    call: Call,
) -> Answer {
    let page = call.page_request()?;
    let branches = call
        .service()
        .list_protected_branches(&call.actor, &path.project, page)
        .await?;
    Ok(call.paginated(branches, ProtectedBranchJson::of))
}

/// `GET /projects/:id/protected_branches/:name`.
pub(crate) async fn get_protected_branch(
    ApiPath(path): ApiPath<ProtectedBranchPath>,
    call: Call,
) -> Answer {
    let branch = call
        .service()
        .get_protected_branch(&call.actor, &path.project, &path.name)
        .await?;
    Ok(ok(ProtectedBranchJson::of(branch)))
}

fn branch_name(p: &Params) -> Result<String, ParamErrors> {
    let mut errors = ParamErrors::new();
    let name = p.required_string("name", &mut errors);
    checked(errors, || name)
}

/// `POST /projects/:id/protected_branches`.
pub(crate) async fn protect_branch(ApiPath(path): ApiPath<ProjectPath>, call: Call) -> Answer {
    let input = branch_name(&call.params);
    let branch = call
        .service()
        .protect_branch(&call.actor, &path.project, input)
        .await?;
    Ok(created(ProtectedBranchJson::of(branch)))
}

/// `DELETE /projects/:id/protected_branches/:name`.
pub(crate) async fn unprotect_branch(
    ApiPath(path): ApiPath<ProtectedBranchPath>,
    call: Call,
) -> Answer {
    call.service()
        .unprotect_branch(&call.actor, &path.project, &path.name)
        .await?;
    Ok(no_content())
}
