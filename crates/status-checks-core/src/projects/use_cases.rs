//! The use cases of `/projects`: create, list, read, update and delete a project (its creator becomes Owner).

use crate::error::DomainError;
use crate::pagination::{Page, PageRequest};
use crate::policy::{Actor, ProjectAction};
use crate::projects::{NewProject, NewProjectInput, Project, ProjectRef, ProjectUpdate};
use crate::service::{DomainResult, Params, StatusChecksService};

impl StatusChecksService {
    /// `POST /projects`: any user with a writing token; the creator becomes Owner.
    pub async fn create_project(
        &self,
        actor: &Actor,
        params: Params<NewProjectInput>,
    ) -> DomainResult<Project> {
        Self::require_write(actor)?;
        let input = params?;
        let path = input
            .path
            .clone()
            .unwrap_or_else(|| crate::projects::slugify(&input.name));
        let namespace = input
            .namespace
            .clone()
            .unwrap_or_else(|| actor.username.clone());
        let mut errors = Vec::new();
        if let Some(e) = crate::projects::name_error(&input.name) {
            errors.push(("name", e));
        }
        if let Some(e) = crate::projects::path_error(&path) {
            errors.push(("path", e));
        }
        if let Some(e) = crate::projects::namespace_error(&namespace) {
            errors.push(("namespace", e));
        }
        if !errors.is_empty() {
            return Err(DomainError::attributes(errors));
        }
        let new = NewProject {
            name: input.name,
            path,
            namespace,
            only_allow_merge_if_all_status_checks_passed: input
                .only_allow_merge_if_all_status_checks_passed
                .unwrap_or(false),
            created_at: self.now(),
        };
        // A duplicate path is 400 `path has already been taken` (docs/api.md §4); see `RepoError::refusal`.
        Ok(self
            .ports
            .projects
            .create_project(new, actor.user_id)
            .await?)
    }

    /// `GET /projects`: those the caller is a member of; administrators see all.
    pub async fn list_projects(
        &self,
        actor: &Actor,
        page: PageRequest,
    ) -> DomainResult<Page<Project>> {
        let member = (!actor.is_admin).then_some(actor.user_id);
        Ok(self.ports.projects.list_projects(member, page).await?)
    }

    /// `GET /projects/:id`.
    pub async fn get_project(
        &self,
        actor: &Actor,
        reference: &ProjectRef,
    ) -> DomainResult<Project> {
        let access = self
            .project_for(actor, reference, ProjectAction::ReadProject)
            .await?;
        Ok(access.project)
    }

    /// `PUT /projects/:id` (Maintainer+).
    pub async fn update_project(
        &self,
        actor: &Actor,
        reference: &ProjectRef,
        params: Params<ProjectUpdate>,
    ) -> DomainResult<Project> {
        let (access, update) = self
            .project_write(actor, reference, params, ProjectAction::UpdateProject)
            .await?;
        if let Some(e) = update.name.as_deref().and_then(crate::projects::name_error) {
            return Err(DomainError::attributes(vec![("name", e)]));
        }
        self.ports
            .projects
            .update_project(access.project.id, update, self.now())
            .await
            .map_err(|e| e.refusal(DomainError::ProjectNotFound))
    }

    /// `DELETE /projects/:id` (Owner): everything in the project goes with it, at once.
    pub async fn delete_project(&self, actor: &Actor, reference: &ProjectRef) -> DomainResult<()> {
        let (access, ()) = self
            .project_write(actor, reference, Ok(()), ProjectAction::DeleteProject)
            .await?;
        self.ports
            .projects
            .delete_project(access.project.id)
            .await?
            .then_some(())
            .ok_or(DomainError::ProjectNotFound)
    }
}
