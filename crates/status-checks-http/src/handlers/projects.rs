//! Projects, members and protected branches.

use super::{Answer, Segments, accepted, created, no_content, ok};
use crate::AppState;
use crate::pagination;
use crate::params::path_id;
use crate::request::Call;
use crate::views::{MemberJson, ProjectJson, ProtectedBranchJson};
use axum::extract::State;
use status_checks_core::member::NewMemberInput;
use status_checks_core::project::{NewProjectInput, ProjectUpdate};
use status_checks_core::{AccessLevel, ParamErrors, UserId};

/// `GET /projects`.
pub(crate) async fn list(State(state): State<AppState>, call: Call) -> Answer {
    let page = call.page_request()?;
    let projects = state.service().list_projects(&call.actor, page).await?;
    let base = state.base_url();
    Ok(pagination::respond(&call.origin, projects, |p| {
        ProjectJson::of(p, base)
    }))
}

/// `POST /projects`.
pub(crate) async fn create(State(state): State<AppState>, call: Call) -> Answer {
    let p = &call.params;
    let mut errors = ParamErrors::new();
    let mut name = p.optional_string("name", &mut errors);
    let path = p.optional_string("path", &mut errors);
    let namespace = p
        .optional_string("namespace", &mut errors)
        .or_else(|| p.optional_string("namespace_path", &mut errors));
    let gating = p.optional_bool("only_allow_merge_if_all_status_checks_passed", &mut errors);
    // GitLab needs at least one of `name` and `path`; a missing name defaults to the path.
    if name.is_none() {
        match &path {
            Some(path) => name = Some(path.clone()),
            None => errors.missing("name"),
        }
    }
    let input = errors.into_result(|| NewProjectInput {
        name: name.unwrap_or_default(),
        path,
        namespace,
        only_allow_merge_if_all_status_checks_passed: gating,
    });
    let project = state.service().create_project(&call.actor, input).await?;
    Ok(created(ProjectJson::of(project, state.base_url())))
}

/// `GET /projects/:id`.
pub(crate) async fn get(State(state): State<AppState>, path: Segments, call: Call) -> Answer {
    let project = state
        .service()
        .get_project(&call.actor, &path.project())
        .await?;
    Ok(ok(ProjectJson::of(project, state.base_url())))
}

/// `PUT /projects/:id`.
pub(crate) async fn update(State(state): State<AppState>, path: Segments, call: Call) -> Answer {
    let p = &call.params;
    let mut errors = ParamErrors::new();
    let name = p.optional_string("name", &mut errors);
    let gating = p.optional_bool("only_allow_merge_if_all_status_checks_passed", &mut errors);
    let update = errors.into_result(|| ProjectUpdate {
        name,
        only_allow_merge_if_all_status_checks_passed: gating,
    });
    let project = state
        .service()
        .update_project(&call.actor, &path.project(), update)
        .await?;
    Ok(ok(ProjectJson::of(project, state.base_url())))
}

/// `DELETE /projects/:id`: 202, and the project is gone at once.
pub(crate) async fn delete(State(state): State<AppState>, path: Segments, call: Call) -> Answer {
    state
        .service()
        .delete_project(&call.actor, &path.project())
        .await?;
    Ok(accepted())
}

/// `GET /projects/:id/members`.
pub(crate) async fn list_members(
    State(state): State<AppState>,
    path: Segments,
    call: Call,
) -> Answer {
    let page = call.page_request()?;
    let members = state
        .service()
        .list_members(&call.actor, &path.project(), page)
        .await?;
    let base = state.base_url();
    Ok(pagination::respond(&call.origin, members, |m| {
        MemberJson::of(m, base)
    }))
}

/// `GET /projects/:id/members/:user_id`.
pub(crate) async fn get_member(
    State(state): State<AppState>,
    path: Segments,
    call: Call,
) -> Answer {
    let user = UserId(path_id(path.get(1), "user_id")?);
    let member = state
        .service()
        .get_member(&call.actor, &path.project(), user)
        .await?;
    Ok(ok(MemberJson::of(member, state.base_url())))
}

fn access_level(call: &Call, errors: &mut ParamErrors) -> Option<AccessLevel> {
    let raw = call.params.required_integer("access_level", errors)?;
    let level = AccessLevel::from_value(raw);
    if level.is_none() {
        errors.not_valid_value("access_level");
    }
    level
}

/// `POST /projects/:id/members`.
pub(crate) async fn add_member(
    State(state): State<AppState>,
    path: Segments,
    call: Call,
) -> Answer {
    let mut errors = ParamErrors::new();
    let user = call.params.required_integer("user_id", &mut errors);
    let level = access_level(&call, &mut errors);
    let input = match (user, level) {
        (Some(user), Some(level)) if errors.is_empty() => Ok(NewMemberInput {
            user_id: UserId(user),
            access_level: level,
        }),
        _ => Err(errors),
    };
    let member = state
        .service()
        .add_member(&call.actor, &path.project(), input)
        .await?;
    Ok(created(MemberJson::of(member, state.base_url())))
}

/// `PUT /projects/:id/members/:user_id`.
pub(crate) async fn update_member(
    State(state): State<AppState>,
    path: Segments,
    call: Call,
) -> Answer {
    let user = UserId(path_id(path.get(1), "user_id")?);
    let mut errors = ParamErrors::new();
    let level = access_level(&call, &mut errors).ok_or(errors);
    let member = state
        .service()
        .update_member(&call.actor, &path.project(), user, level)
        .await?;
    Ok(ok(MemberJson::of(member, state.base_url())))
}

/// `DELETE /projects/:id/members/:user_id`.
pub(crate) async fn remove_member(
    State(state): State<AppState>,
    path: Segments,
    call: Call,
) -> Answer {
    let user = UserId(path_id(path.get(1), "user_id")?);
    state
        .service()
        .remove_member(&call.actor, &path.project(), user)
        .await?;
    Ok(no_content())
}

/// `GET /projects/:id/protected_branches`.
pub(crate) async fn list_protected_branches(
    State(state): State<AppState>,
    path: Segments,
    call: Call,
) -> Answer {
    let page = call.page_request()?;
    let branches = state
        .service()
        .list_protected_branches(&call.actor, &path.project(), page)
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
    path: Segments,
    call: Call,
) -> Answer {
    let branch = state
        .service()
        .get_protected_branch(&call.actor, &path.project(), path.get(1))
        .await?;
    Ok(ok(ProtectedBranchJson::of(branch)))
}

/// `POST /projects/:id/protected_branches`.
pub(crate) async fn protect(State(state): State<AppState>, path: Segments, call: Call) -> Answer {
    let mut errors = ParamErrors::new();
    let name = call.params.required_string("name", &mut errors);
    let name = errors.into_result(|| name.unwrap_or_default());
    let branch = state
        .service()
        .protect_branch(&call.actor, &path.project(), name)
        .await?;
    Ok(created(ProtectedBranchJson::of(branch)))
}

/// `DELETE /projects/:id/protected_branches/:name`.
pub(crate) async fn unprotect(State(state): State<AppState>, path: Segments, call: Call) -> Answer {
    state
        .service()
        .unprotect_branch(&call.actor, &path.project(), path.get(1))
        .await?;
    Ok(no_content())
}
