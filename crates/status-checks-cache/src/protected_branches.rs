//! Protected branches: never cached themselves, but they are the scopes of the cached checks.

use crate::caches::Caches;
use crate::invalidation::Invalidation;
use async_trait::async_trait;
use status_checks_core::pagination::{Page, PageRequest};
use status_checks_core::ports::{ProtectedBranchRepository, RepoResult};
use status_checks_core::{BranchPattern, ProjectId, ProtectedBranch, ProtectedBranchId, Timestamp};
use std::sync::Arc;

pub(crate) struct CachedProtectedBranches {
    pub(crate) inner: Arc<dyn ProtectedBranchRepository>,
    pub(crate) caches: Arc<Caches>,
}

#[async_trait]
impl ProtectedBranchRepository for CachedProtectedBranches {
    async fn list_protected_branches(
        &self,
        project: ProjectId,
        page: PageRequest,
    ) -> RepoResult<Page<ProtectedBranch>> {
        self.inner.list_protected_branches(project, page).await
    }

    async fn find_protected_branch(
        &self,
        project: ProjectId,
        name: &str,
    ) -> RepoResult<Option<ProtectedBranch>> {
        self.inner.find_protected_branch(project, name).await
    }

    async fn find_protected_branches(
        &self,
        project: ProjectId,
        ids: Vec<ProtectedBranchId>,
    ) -> RepoResult<Vec<ProtectedBranch>> {
        self.inner.find_protected_branches(project, ids).await
    }

    async fn create_protected_branch(
        &self,
        project: ProjectId,
        name: BranchPattern,
        created_at: Timestamp,
    ) -> RepoResult<ProtectedBranch> {
        let result = self
            .inner
            .create_protected_branch(project, name, created_at)
            .await;
        self.caches
            .forget_everywhere(Invalidation::ProtectedBranches(project))
            .await;
        result
    }

    async fn delete_protected_branch(
        &self,
        project: ProjectId,
        id: ProtectedBranchId,
    ) -> RepoResult<bool> {
        // The scopes of the checks that named it go with it.
        let result = self.inner.delete_protected_branch(project, id).await;
        self.caches
            .forget_everywhere(Invalidation::ProtectedBranches(project))
            .await;
        result
    }
}
