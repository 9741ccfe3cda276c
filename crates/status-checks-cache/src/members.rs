//! Members: never cached themselves, but every change moves someone's access level.

use crate::caches::Caches;
use crate::invalidation::Invalidation;
use async_trait::async_trait;
use status_checks_core::members::Member;
use status_checks_core::pagination::{Page, PageRequest};
use status_checks_core::ports::{MemberRepository, RepoResult};
use status_checks_core::{AccessLevel, ProjectId, Timestamp, UserId};
use std::sync::Arc;

pub(crate) struct CachedMembers {
    pub(crate) inner: Arc<dyn MemberRepository>,
    pub(crate) caches: Arc<Caches>,
}

#[async_trait]
impl MemberRepository for CachedMembers {
    async fn list_members(
        &self,
        project: ProjectId,
        page: PageRequest,
    ) -> RepoResult<Page<Member>> {
        self.inner.list_members(project, page).await
    }

    async fn find_member(&self, project: ProjectId, user: UserId) -> RepoResult<Option<Member>> {
        self.inner.find_member(project, user).await
    }

    async fn add_member(
        &self,
        project: ProjectId,
        user: UserId,
        level: AccessLevel,
        created_at: Timestamp,
    ) -> RepoResult<Member> {
        let result = self
            .inner
            .add_member(project, user, level, created_at)
            .await;
        self.caches
            .forget_everywhere(Invalidation::Members(project))
            .await;
        result
    }

    async fn update_member(
        &self,
        project: ProjectId,
        user: UserId,
        level: AccessLevel,
    ) -> RepoResult<Member> {
        let result = self.inner.update_member(project, user, level).await;
        self.caches
            .forget_everywhere(Invalidation::Members(project))
            .await;
        result
    }

    async fn remove_member(&self, project: ProjectId, user: UserId) -> RepoResult<bool> {
        let result = self.inner.remove_member(project, user).await;
        self.caches
            .forget_everywhere(Invalidation::Members(project))
            .await;
        result
    }
}
