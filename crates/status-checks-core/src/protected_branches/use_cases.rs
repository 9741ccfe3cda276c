//! The use cases of `/projects/:id/protected_branches`: list, read, protect and unprotect (which also
//! removes the branch from the scope of every check).

use crate::error::{DomainError, Resource};
use crate::pagination::{Page, PageRequest};
use crate::policy::{Actor, ProjectAction};
use crate::projects::ProjectRef;
use crate::protected_branches::{BranchNameError, BranchPattern, ProtectedBranch};
use crate::service::{DomainResult, Params, StatusChecksService};

impl StatusChecksService {
    /// `GET /projects/:id/protected_branches` (Developer+).
    pub async fn list_protected_branches(
        &self,
        actor: &Actor,
        reference: &ProjectRef,
        page: PageRequest,
    ) -> DomainResult<Page<ProtectedBranch>> {
        let access = self
            .project_for(actor, reference, ProjectAction::ReadProtectedBranches)
            .await?;
        Ok(self
            .ports
            .protected_branches
            .list_protected_branches(access.project.id, page)
            .await?)
    }

    /// `GET /projects/:id/protected_branches/:name` (Developer+).
    pub async fn get_protected_branch(
        &self,
        actor: &Actor,
        reference: &ProjectRef,
        name: &str,
    ) -> DomainResult<ProtectedBranch> {
        let access = self
            .project_for(actor, reference, ProjectAction::ReadProtectedBranches)
            .await?;
        self.ports
            .protected_branches
            .find_protected_branch(access.project.id, name)
            .await?
            .ok_or(DomainError::NotFound(Resource::ProtectedBranch))
    }

    /// `POST /projects/:id/protected_branches` (Maintainer+): `name` may hold `*` wildcards.
    pub async fn protect_branch(
        &self,
        actor: &Actor,
        reference: &ProjectRef,
        params: Params<String>,
    ) -> DomainResult<ProtectedBranch> {
        let (access, name) = self
            .project_write(
                actor,
                reference,
                params,
                ProjectAction::ManageProtectedBranches,
            )
            .await?;
        let pattern = BranchPattern::new(name.clone()).map_err(|e| {
            DomainError::Validation(vec![match e {
                BranchNameError::Blank => "Name can't be blank".to_owned(),
                other => format!("Name {other}"),
            }])
        })?;
        self.ports
            .protected_branches
            .create_protected_branch(access.project.id, pattern, self.now())
            .await
            .map_err(|e| e.refusal_naming(DomainError::ProjectNotFound, &name))
    }

    /// `DELETE /projects/:id/protected_branches/:name` (Maintainer+): also removes it from every check scoped
    /// to it (a check left with none applies to all branches).
    pub async fn unprotect_branch(
        &self,
        actor: &Actor,
        reference: &ProjectRef,
        name: &str,
    ) -> DomainResult<()> {
        let (access, ()) = self
            .project_write(
                actor,
                reference,
                Ok(()),
                ProjectAction::ManageProtectedBranches,
            )
            .await?;
        let branch = self
            .ports
            .protected_branches
            .find_protected_branch(access.project.id, name)
            .await?
            .ok_or(DomainError::NotFound(Resource::ProtectedBranch))?;
        let project = access.project.id;
        if !self
            .ports
            .protected_branches
            .delete_protected_branch(project, branch.id)
            .await?
        {
            return Err(DomainError::NotFound(Resource::ProtectedBranch));
        }
        // The checks scoped to it now apply elsewhere (or everywhere): a linked project's open merge
        // requests are reported again.
        if self.ports.forges.find_link(project).await?.is_some() {
            let checks = self.ports.status_checks.all_checks(project).await?;
            let scoped: Vec<(crate::ids::StatusCheckId, &str)> = checks
                .iter()
                .map(|check| (check.id, check.name.as_str()))
                .collect();
            self.report_open_merge_requests(project, &scoped).await?;
        }
        Ok(())
    }
}
