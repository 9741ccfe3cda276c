//! Projects: the lookup of a project with the caller's access level, which every project-scoped request
//! makes, is cached by (how the project was named, user) — "no such project" included.

use crate::caches::{Caches, ProjectKey};
use crate::invalidation::Invalidation;
use async_trait::async_trait;
use status_checks_core::pagination::{Page, PageRequest};
use status_checks_core::ports::{ProjectRepository, RepoResult};
use status_checks_core::projects::{NewProject, Project, ProjectRef, ProjectUpdate};
use status_checks_core::{AccessLevel, ProjectId, Timestamp, UserId};
use std::sync::Arc;

pub(crate) struct CachedProjects {
    pub(crate) inner: Arc<dyn ProjectRepository>,
    pub(crate) caches: Arc<Caches>,
}

#[async_trait]
impl ProjectRepository for CachedProjects {
    async fn create_project(&self, new: NewProject, owner: UserId) -> RepoResult<Project> {
        let result = self.inner.create_project(new, owner).await;
        // Its id or path may be cached as "no such project"; after a failure (which may have committed),
        // which project is not known.
        let project = result.as_ref().ok().map(|p| p.id);
        self.caches
            .forget_everywhere(Invalidation::Project(project))
            .await;
        result
    }

    async fn find_project_with_access(
        &self,
        reference: &ProjectRef,
        user: UserId,
    ) -> RepoResult<Option<(Project, Option<AccessLevel>)>> {
        let cache = &self.caches.access;
        let key = (ProjectKey::of(reference), user);
        if let Some(hit) = cache.get(&key) {
            return Ok(hit);
        }
        let generation = cache.generation();
        let found = self.inner.find_project_with_access(reference, user).await?;
        cache.put(key, found.clone(), generation);
        Ok(found)
    }

    async fn list_projects(
        &self,
        member: Option<UserId>,
        page: PageRequest,
    ) -> RepoResult<Page<Project>> {
        self.inner.list_projects(member, page).await
    }

    async fn update_project(
        &self,
        id: ProjectId,
        update: ProjectUpdate,
        updated_at: Timestamp,
    ) -> RepoResult<Project> {
        let result = self.inner.update_project(id, update, updated_at).await;
        self.caches
            .forget_everywhere(Invalidation::Project(Some(id)))
            .await;
        result
    }

    async fn delete_project(&self, id: ProjectId) -> RepoResult<bool> {
        let result = self.inner.delete_project(id).await;
        self.caches
            .forget_everywhere(Invalidation::Project(Some(id)))
            .await;
        result
    }
}
