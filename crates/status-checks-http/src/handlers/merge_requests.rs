//! Merge requests: opened with the source branch's HEAD `sha` (there is no repository to read it from),
//! updated or pushed to, closed, reopened, and merged when the status checks allow (`docs/api.md` §3, Merge
//! requests).

use super::{Answer, created, ok};
use crate::params::{Params, checked, or_invalid, or_not_valid_value};
use crate::paths::{ApiPath, MergeRequestPath, ProjectPath};
use crate::request::Call;
use crate::views::MergeRequestJson;
use status_checks_core::ParamErrors;
use status_checks_core::ids::CommitSha;
use status_checks_core::merge_requests::{
    MergeRequestUpdateInput, NewMergeRequestInput, StateEvent,
};
use status_checks_core::service::{MergeInput, parse_state_filter};

fn sha(p: &Params, required: bool, errors: &mut ParamErrors) -> Option<CommitSha> {
    let raw = if required {
        p.required_string("sha", errors)
    } else {
        p.optional_string("sha", errors)
    }?;
    or_invalid(CommitSha::parse(raw.trim()).ok(), "sha", errors)
}

/// `GET /projects/:id/merge_requests` (`state=opened|closed|merged|all`).
pub(crate) async fn list_merge_requests(ApiPath(path): ApiPath<ProjectPath>, call: Call) -> Answer {
    let page = call.page_request()?;
    let filter = parse_state_filter(call.params.text("state").as_deref());
    let mrs = call
        .service()
        .list_merge_requests(&call.actor, &path.project, filter, page)
        .await?;
    Ok(call.paginated(mrs, |mr| MergeRequestJson::of(mr, call.base_url())))
}

/// `GET /projects/:id/merge_requests/:iid`.
pub(crate) async fn get_merge_request(
    ApiPath(path): ApiPath<MergeRequestPath>,
    call: Call,
) -> Answer {
    let iid = path.merge_request_iid?;
    let view = call
        .service()
        .get_merge_request(&call.actor, &path.project, iid)
        .await?;
    Ok(ok(MergeRequestJson::of(view, call.base_url())))
}

fn new_merge_request(p: &Params) -> Result<NewMergeRequestInput, ParamErrors> {
    let mut errors = ParamErrors::new();
    let source_branch = p.required_string("source_branch", &mut errors);
    let target_branch = p.required_string("target_branch", &mut errors);
    let title = p.required_string("title", &mut errors);
    let head = sha(p, true, &mut errors);
    let description = p.optional_string("description", &mut errors);
    checked(errors, || {
        Some(NewMergeRequestInput {
            source_branch: source_branch?,
            target_branch: target_branch?,
            title: title?,
            sha: head?,
            description,
        })
    })
}

/// `POST /projects/:id/merge_requests`.
pub(crate) async fn create_merge_request(
    ApiPath(path): ApiPath<ProjectPath>,
    call: Call,
) -> Answer {
    let input = new_merge_request(&call.params);
    let view = call
        .service()
        .create_merge_request(&call.actor, &path.project, input)
        .await?;
    Ok(created(MergeRequestJson::of(view, call.base_url())))
}

fn merge_request_update(p: &Params) -> Result<MergeRequestUpdateInput, ParamErrors> {
    let mut errors = ParamErrors::new();
    let title = p.optional_string("title", &mut errors);
    let description = p.optional_string("description", &mut errors);
    let target_branch = p.optional_string("target_branch", &mut errors);
    let state_event = p
        .optional_string("state_event", &mut errors)
        .and_then(|raw| or_not_valid_value(StateEvent::parse(&raw), "state_event", &mut errors));
    let head = sha(p, false, &mut errors);
    checked(errors, || {
        Some(MergeRequestUpdateInput {
            title,
            description,
            target_branch,
            state_event,
            sha: head,
        })
    })
}

/// `PUT /projects/:id/merge_requests/:iid`: title, description, target branch, `state_event`, and `sha` (a push).
pub(crate) async fn update_merge_request(
    ApiPath(path): ApiPath<MergeRequestPath>,
    call: Call,
) -> Answer {
    let iid = path.merge_request_iid?;
    let input = merge_request_update(&call.params);
    let view = call
        .service()
        .update_merge_request(&call.actor, &path.project, iid, input)
        .await?;
    Ok(ok(MergeRequestJson::of(view, call.base_url())))
}

fn merge(p: &Params) -> Result<MergeInput, ParamErrors> {
    let mut errors = ParamErrors::new();
    let sha = p.optional_string("sha", &mut errors);
    checked(errors, || Some(MergeInput { sha }))
}

/// `PUT /projects/:id/merge_requests/:iid/merge`.
pub(crate) async fn merge_merge_request(
    ApiPath(path): ApiPath<MergeRequestPath>,
    call: Call,
) -> Answer {
    let iid = path.merge_request_iid?;
    let input = merge(&call.params);
    let view = call
        .service()
        .merge_merge_request(&call.actor, &path.project, iid, input)
        .await?;
    Ok(ok(MergeRequestJson::of(view, call.base_url())))
}
