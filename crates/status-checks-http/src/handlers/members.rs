//! Members of a project and their access levels (`docs/api.md` §3, Members).

use super::{Answer, created, no_content, ok};
use crate::params::{Params, checked, or_not_valid_value};
use crate::paths::{ApiPath, MemberPath, ProjectPath};
use crate::request::Call;
use crate::views::MemberJson;
use status_checks_core::members::NewMemberInput;
use status_checks_core::{AccessLevel, ParamErrors, UserId};

/// `GET /projects/:id/members`.
pub(crate) async fn list_members(ApiPath(path): ApiPath<ProjectPath>, call: Call) -> Answer {
    let page = call.page_request()?;
    let members = call
        .service()
        .list_members(&call.actor, &path.project, page)
        .await?;
    Ok(call.paginated(members, |m| MemberJson::of(m, call.base_url())))
}

/// `GET /projects/:id/members/:user_id`.
pub(crate) async fn get_member(ApiPath(path): ApiPath<MemberPath>, call: Call) -> Answer {
    let user = path.user_id?;
    let member = call
        .service()
        .get_member(&call.actor, &path.project, user)
        .await?;
    Ok(ok(MemberJson::of(member, call.base_url())))
}

fn access_level(p: &Params, errors: &mut ParamErrors) -> Option<AccessLevel> {
    let raw = p.required_integer("access_level", errors)?;
    or_not_valid_value(AccessLevel::from_value(raw), "access_level", errors)
}

fn new_member(p: &Params) -> Result<NewMemberInput, ParamErrors> {
    let mut errors = ParamErrors::new();
    let user = p.required_integer("user_id", &mut errors);
    let level = access_level(p, &mut errors);
    checked(errors, || {
        Some(NewMemberInput {
            user_id: UserId(user?),
            access_level: level?,
        })
    })
}

/// `POST /projects/:id/members`.
pub(crate) async fn add_member(ApiPath(path): ApiPath<ProjectPath>, call: Call) -> Answer {
    let input = new_member(&call.params);
    let member = call
        .service()
        .add_member(&call.actor, &path.project, input)
        .await?;
    Ok(created(MemberJson::of(member, call.base_url())))
}

fn member_update(p: &Params) -> Result<AccessLevel, ParamErrors> {
    let mut errors = ParamErrors::new();
    let level = access_level(p, &mut errors);
    checked(errors, || level)
}

/// `PUT /projects/:id/members/:user_id`.
pub(crate) async fn update_member(ApiPath(path): ApiPath<MemberPath>, call: Call) -> Answer {
    let user = path.user_id?;
    let input = member_update(&call.params);
    let member = call
        .service()
        .update_member(&call.actor, &path.project, user, input)
        .await?;
    Ok(ok(MemberJson::of(member, call.base_url())))
}

/// `DELETE /projects/:id/members/:user_id`.
pub(crate) async fn remove_member(ApiPath(path): ApiPath<MemberPath>, call: Call) -> Answer {
    let user = path.user_id?;
    call.service()
        .remove_member(&call.actor, &path.project, user)
        .await?;
    Ok(no_content())
}
