//! GitLab's seven external status check endpoints: a project's checks (E1–E4) and a merge request's (E5–E7)
//! (`docs/api.md` §3, "External status checks" and "Status checks on a merge request").

use super::{Answer, accepted, created, no_content, ok};
use crate::params::{Params, checked, or_not_valid_value};
use crate::paths::{
    ApiPath, MergeRequestCheckPath, MergeRequestPath, ProjectPath, StatusCheckPath,
};
use crate::request::Call;
use crate::views::{MergeRequestStatusCheckJson, ResponseJson, StatusCheckJson};
use status_checks_core::status_checks::{CheckStatus, ResponseDetails, ResponseInput};
use status_checks_core::status_checks::{StatusCheckInput, StatusCheckUpdateInput};
use status_checks_core::{Page, ParamErrors, ProtectedBranchId, StatusCheckId};

fn branch_ids(p: &Params, errors: &mut ParamErrors) -> Option<Vec<ProtectedBranchId>> {
    p.optional_integer_list("protected_branch_ids", errors)
        .map(|ids| ids.into_iter().map(ProtectedBranchId).collect())
}

/// E1 `GET /projects/:id/external_status_checks`.
pub(crate) async fn list_status_checks(ApiPath(path): ApiPath<ProjectPath>, call: Call) -> Answer {
    let page = call.page_request()?;
    let checks = call
        .service()
        .list_status_checks(&call.actor, &path.project, page)
        .await?;
    Ok(call.paginated(checks, StatusCheckJson::of))
}

fn new_status_check(p: &Params) -> Result<StatusCheckInput, ParamErrors> {
    let mut errors = ParamErrors::new();
    let name = p.required_string("name", &mut errors);
    let external_url = p.required_string("external_url", &mut errors);
    let shared_secret = p.optional_string("shared_secret", &mut errors);
    let protected_branch_ids = branch_ids(p, &mut errors).unwrap_or_default();
    checked(errors, || {
        Some(StatusCheckInput {
            name: name?,
            external_url: external_url?,
            shared_secret,
            protected_branch_ids,
        })
    })
}

/// E2 `POST /projects/:id/external_status_checks`.
pub(crate) async fn create_status_check(ApiPath(path): ApiPath<ProjectPath>, call: Call) -> Answer {
    let input = new_status_check(&call.params);
    let check = call
        .service()
        .create_status_check(&call.actor, &path.project, input)
        .await?;
    Ok(created(StatusCheckJson::of(check)))
}

fn status_check_update(p: &Params) -> Result<StatusCheckUpdateInput, ParamErrors> {
    let mut errors = ParamErrors::new();
    let name = p.optional_string("name", &mut errors);
    let external_url = p.optional_string("external_url", &mut errors);
    let shared_secret = p.optional_string("shared_secret", &mut errors);
    let protected_branch_ids = branch_ids(p, &mut errors);
    checked(errors, || {
        Some(StatusCheckUpdateInput {
            name,
            external_url,
            shared_secret,
            protected_branch_ids,
        })
    })
}

/// E3 `PUT /projects/:id/external_status_checks/:check_id`: only the keys sent change.
pub(crate) async fn update_status_check(
    ApiPath(path): ApiPath<StatusCheckPath>,
    call: Call,
) -> Answer {
    let id = path.check_id?;
    let input = status_check_update(&call.params);
    let check = call
        .service()
        .update_status_check(&call.actor, &path.project, id, input)
        .await?;
    Ok(ok(StatusCheckJson::of(check)))
}

/// E4 `DELETE /projects/:id/external_status_checks/:check_id`.
pub(crate) async fn delete_status_check(
    ApiPath(path): ApiPath<StatusCheckPath>,
    call: Call,
) -> Answer {
    let id = path.check_id?;
    call.service()
        .delete_status_check(&call.actor, &path.project, id)
        .await?;
    Ok(no_content())
}

/// E5 `GET /projects/:id/merge_requests/:iid/status_checks`.
pub(crate) async fn list_merge_request_checks(
    ApiPath(path): ApiPath<MergeRequestPath>,
    call: Call,
) -> Answer {
    let iid = path.merge_request_iid?;
    let page = call.page_request()?;
    let rows = call
        .service()
        .list_merge_request_checks(&call.actor, &path.project, iid)
        .await?;
    Ok(call.paginated(Page::from_all(rows, page), MergeRequestStatusCheckJson::of))
}

/// E6's parameters. A missing `status` is reported twice, as GitLab does (`docs/api.md` §4).
fn check_response(p: &Params) -> Result<ResponseInput, ParamErrors> {
    let mut errors = ParamErrors::new();
    let check = p.required_integer("external_status_check_id", &mut errors);
    let sha = p.required_string("sha", &mut errors);
    let status = match p.text("status") {
        None => {
            errors.missing("status");
            errors.not_valid_value("status");
            None
        }
        Some(raw) => or_not_valid_value(CheckStatus::parse(&raw), "status", &mut errors),
    };
    let target_url = p.optional_string("target_url", &mut errors);
    let description = p.optional_string("description", &mut errors);
    let details = match ResponseDetails::parse(target_url, description) {
        Ok(details) => details,
        Err(invalid) => {
            errors.0.extend(invalid.0);
            None
        }
    };
    checked(errors, || {
        Some(ResponseInput {
            external_status_check_id: StatusCheckId(check?),
            sha: sha?,
            status: status?,
            details,
        })
    })
}

/// E6 `POST /projects/:id/merge_requests/:iid/status_check_responses`.
pub(crate) async fn set_check_status(
    ApiPath(path): ApiPath<MergeRequestPath>,
    call: Call,
) -> Answer {
    let iid = path.merge_request_iid?;
    let input = check_response(&call.params);
    let recorded = call
        .service()
        .set_check_status(&call.actor, &path.project, iid, input)
        .await?;
    Ok(created(ResponseJson::of(recorded, call.base_url())))
}

/// E7 `POST /projects/:id/merge_requests/:iid/status_checks/:check_id/retry`.
pub(crate) async fn retry_status_check(
    ApiPath(path): ApiPath<MergeRequestCheckPath>,
    call: Call,
) -> Answer {
    let iid = path.merge_request_iid?;
    let id = path.external_status_check_id?;
    call.service()
        .retry_status_check(&call.actor, &path.project, iid, id)
        .await?;
    Ok(accepted())
}
