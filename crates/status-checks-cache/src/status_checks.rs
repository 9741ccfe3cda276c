//! Status checks: a project's checks with their scopes are cached whole (one project's checks are few);
//! listing a page and finding one by id are served from them.

use crate::caches::Caches;
use crate::invalidation::Invalidation;
use async_trait::async_trait;
use status_checks_core::pagination::{Page, PageRequest};
use status_checks_core::ports::{RepoResult, StatusCheckRepository};
use status_checks_core::status_checks::{ExternalStatusCheck, NewStatusCheck, StatusCheckUpdate};
use status_checks_core::{ProjectId, StatusCheckId};
use std::sync::Arc;

pub(crate) struct CachedStatusChecks {
    pub(crate) inner: Arc<dyn StatusCheckRepository>,
    pub(crate) caches: Arc<Caches>,
}

#[async_trait]
impl StatusCheckRepository for CachedStatusChecks {
    async fn list_checks(
        &self,
        project: ProjectId,
        page: PageRequest,
    ) -> RepoResult<Page<ExternalStatusCheck>> {
        let all = self.all_checks(project).await?;
        Ok(Page::from_slice(&all, page))
    }

    async fn all_checks(&self, project: ProjectId) -> RepoResult<Arc<[ExternalStatusCheck]>> {
        let cache = &self.caches.checks;
        if let Some(hit) = cache.get(&project) {
            return Ok(hit);
        }
        let generation = cache.generation();
        let found = self.inner.all_checks(project).await?;
        cache.put(project, found.clone(), generation);
        Ok(found)
    }

    async fn find_check(
        &self,
        project: ProjectId,
        id: StatusCheckId,
    ) -> RepoResult<Option<ExternalStatusCheck>> {
        Ok(self
            .all_checks(project)
            .await?
            .iter()
            .find(|check| check.id == id)
            .cloned())
    }

    async fn create_check(&self, new: NewStatusCheck) -> RepoResult<ExternalStatusCheck> {
        let project = new.project_id;
        let result = self.inner.create_check(new).await;
        self.caches
            .forget_everywhere(Invalidation::StatusChecks(project))
            .await;
        result
    }

    async fn update_check(
        &self,
        project: ProjectId,
        id: StatusCheckId,
        update: StatusCheckUpdate,
    ) -> RepoResult<ExternalStatusCheck> {
        let result = self.inner.update_check(project, id, update).await;
        self.caches
            .forget_everywhere(Invalidation::StatusChecks(project))
            .await;
        result
    }

    async fn delete_check(&self, project: ProjectId, id: StatusCheckId) -> RepoResult<bool> {
        let result = self.inner.delete_check(project, id).await;
        self.caches
            .forget_everywhere(Invalidation::StatusChecks(project))
            .await;
        result
    }
}
