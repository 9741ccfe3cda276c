//! Forge links: a project's link (or that it has none) is cached, since E6, retries and merge-request
//! writes ask for it on every call. The mirror, the sync schedule and the status outbox pass through.

use crate::caches::Caches;
use crate::invalidation::Invalidation;
use async_trait::async_trait;
use status_checks_core::forges::{
    ForgeLink, ForgeStatus, MirrorDetails, MirrorOutcome, MirrorWrite, NewForgeStatus, PostedKey,
    StatusAttempt,
};
use status_checks_core::pagination::{Page, PageRequest};
use status_checks_core::ports::{ForgeRepository, RepoResult};
use status_checks_core::{MergeRequest, MergeRequestId, MergeRequestIid, ProjectId, Timestamp};
use std::sync::Arc;

pub(crate) struct CachedForges {
    pub(crate) inner: Arc<dyn ForgeRepository>,
    pub(crate) caches: Arc<Caches>,
}

impl CachedForges {
    async fn forget(&self, project: ProjectId) {
        self.caches
            .forget_everywhere(Invalidation::ForgeLink(project))
            .await;
    }
}

#[async_trait]
impl ForgeRepository for CachedForges {
    async fn find_link(&self, project: ProjectId) -> RepoResult<Option<ForgeLink>> {
        let cache = &self.caches.links;
        if let Some(hit) = cache.get(&project) {
            return Ok(hit);
        }
        let generation = cache.generation();
        let found = self.inner.find_link(project).await?;
        cache.put(project, found.clone(), generation);
        Ok(found)
    }

    async fn save_link(&self, link: ForgeLink, sync: bool) -> RepoResult<ForgeLink> {
        let project = link.project_id;
        let result = self.inner.save_link(link, sync).await;
        self.forget(project).await;
        result
    }

    async fn delete_link(&self, project: ProjectId) -> RepoResult<bool> {
        let result = self.inner.delete_link(project).await;
        self.forget(project).await;
        result
    }

    async fn request_sync(&self, project: ProjectId, at: Timestamp) -> RepoResult<bool> {
        self.inner.request_sync(project, at).await
    }

    async fn claim_sync(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> RepoResult<Option<ForgeLink>> {
        self.inner.claim_sync(now, lease_until).await
    }

    async fn finish_sync(
        &self,
        project: ProjectId,
        claimed_until: Timestamp,
        retry_at: Option<Timestamp>,
    ) -> RepoResult<()> {
        self.inner
            .finish_sync(project, claimed_until, retry_at)
            .await
    }

    async fn find_mirrored(
        &self,
        project: ProjectId,
        iid: MergeRequestIid,
    ) -> RepoResult<Option<(MergeRequest, Option<MirrorDetails>)>> {
        self.inner.find_mirrored(project, iid).await
    }

    async fn apply_mirror(&self, write: MirrorWrite) -> RepoResult<MirrorOutcome> {
        let project = write.project_id;
        let result = self.inner.apply_mirror(write).await;
        // An applied delivery moves the link's `last_event_at`; a failed one may have committed. Forgotten
        // here at once and elsewhere when heard, without waiting: a webhook's answer does not show it.
        if !matches!(result, Ok(MirrorOutcome::Seen | MirrorOutcome::Raced)) {
            self.caches.forget(Invalidation::ForgeLink(project));
        }
        result
    }

    async fn schedule_statuses(&self, statuses: Vec<NewForgeStatus>) -> RepoResult<()> {
        self.inner.schedule_statuses(statuses).await
    }

    async fn list_forge_statuses(
        &self,
        project: ProjectId,
        page: PageRequest,
    ) -> RepoResult<Page<ForgeStatus>> {
        self.inner.list_forge_statuses(project, page).await
    }

    async fn list_merge_request_statuses(
        &self,
        project: ProjectId,
        merge_request: MergeRequestId,
        page: PageRequest,
    ) -> RepoResult<Page<ForgeStatus>> {
        self.inner
            .list_merge_request_statuses(project, merge_request, page)
            .await
    }

    async fn claim_due_statuses(
        &self,
        now: Timestamp,
        limit: u32,
        lease_until: Timestamp,
    ) -> RepoResult<Vec<ForgeStatus>> {
        self.inner.claim_due_statuses(now, limit, lease_until).await
    }

    async fn last_posted(&self, key: PostedKey) -> RepoResult<Option<String>> {
        self.inner.last_posted(key).await
    }

    async fn prune_forge_rows(&self, before: Timestamp, limit: u32) -> RepoResult<u64> {
        self.inner.prune_forge_rows(before, limit).await
    }

    async fn record_status_attempts(
        &self,
        attempts: Vec<(StatusAttempt, Option<PostedKey>)>,
    ) -> RepoResult<()> {
        self.inner.record_status_attempts(attempts).await
    }
}
