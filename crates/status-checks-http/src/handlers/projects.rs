//! Projects: listed, created, read, updated and deleted (`docs/api.md` §3, Projects).

use super::{Answer, accepted, created, ok};
use crate::params::{Params, checked};
use crate::paths::{ApiPath, ProjectPath};
use crate::request::Call;
use crate::views::ProjectJson;
use status_checks_core::ParamErrors;
use status_checks_core::projects::{NewProjectInput, ProjectUpdate};

/// `GET /projects`.
pub(crate) async fn list_projects(call: Call) -> Answer {
    let page = call.page_request()?;
    let projects = call.service().list_projects(&call.actor, page).await?;
    Ok(call.paginated(projects, |p| ProjectJson::of(p, call.base_url())))
}

fn new_project(p: &Params) -> Result<NewProjectInput, ParamErrors> {
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
    checked(errors, || {
        Some(NewProjectInput {
            name: name?,
            path,
            namespace,
            only_allow_merge_if_all_status_checks_passed: gating,
        })
    })
}

/// `POST /projects`.
pub(crate) async fn create_project(call: Call) -> Answer {
    let input = new_project(&call.params);
    let project = call.service().create_project(&call.actor, input).await?;
    Ok(created(ProjectJson::of(project, call.base_url())))
}

/// `GET /projects/:id`.
pub(crate) async fn get_project(ApiPath(path): ApiPath<ProjectPath>, call: Call) -> Answer {
    let project = call
        .service()
        .get_project(&call.actor, &path.project)
        .await?;
    Ok(ok(ProjectJson::of(project, call.base_url())))
}

fn project_update(p: &Params) -> Result<ProjectUpdate, ParamErrors> {
    let mut errors = ParamErrors::new();
    let name = p.optional_string("name", &mut errors);
    let gating = p.optional_bool("only_allow_merge_if_all_status_checks_passed", &mut errors);
    checked(errors, || {
        Some(ProjectUpdate {
            name,
            only_allow_merge_if_all_status_checks_passed: gating,
        })
    })
}

/// `PUT /projects/:id`.
pub(crate) async fn update_project(ApiPath(path): ApiPath<ProjectPath>, call: Call) -> Answer {
    let input = project_update(&call.params);
    let project = call
        .service()
        .update_project(&call.actor, &path.project, input)
        .await?;
    Ok(ok(ProjectJson::of(project, call.base_url())))
}

/// `DELETE /projects/:id`: 202, and the project is gone at once.
pub(crate) async fn delete_project(ApiPath(path): ApiPath<ProjectPath>, call: Call) -> Answer {
    call.service()
        .delete_project(&call.actor, &path.project)
        .await?;
    Ok(accepted())
}
