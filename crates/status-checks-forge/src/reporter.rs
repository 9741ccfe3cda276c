//! The reporter: the worker that tells forges what our checks say, and syncs linked projects.
//!
//! It claims due status posts from the outbox under a lease (a crashed reporter's claims come due again),
//! asks the core what each says **now** (never the state planned when it was scheduled), skips a post the
//! forge already shows, posts the others, and records each outcome: delivered; retried with backoff
//! (honouring `Retry-After`) on network errors, timeouts, 5xx, 409 and 429; dead after the last attempt
//! or on any other answer, with the forge's message. A pending status with a pending-timeout deadline
//! schedules the same context again at that deadline, so the forge hears `failed` with no other event.
//!
//! Beside it, the syncer claims links whose sync is due (a new link, `POST …/forge/sync`), reads their
//! open merge requests from the forge and mirrors each as if it had just been opened.

use crate::client::{Failure, ForgeClient};
use crate::gitlab;
use crate::repos_api;
use status_checks_core::deliveries::AttemptOutcome;
use status_checks_core::forges::{
    DueStatus, ForgeKind, ForgeStatus, NewForgeStatus, PostedKey, StatusAttempt, StatusDraft,
};
use status_checks_core::projects::ProjectRef;
use status_checks_core::service::StatusChecksService;
use status_checks_core::{DomainError, Timestamp};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio::task::JoinSet;

/// Rows of each kind deleted per pruning transaction.
const PRUNE_BATCH: u32 = 500;

/// How the reporter works.
#[derive(Debug, Clone)]
pub struct ReporterConfig {
    /// Posts claimed (and sent concurrently) per round.
    pub batch: u32,
    /// How long a claim holds before the post comes due again.
    pub lease: Duration,
    /// How often the outbox is looked at when idle.
    pub poll_interval: Duration,
    /// Attempts before a post is dead.
    pub max_attempts: u32,
    /// The first retry's delay; each further one doubles, capped at five minutes.
    pub first_retry_delay: Duration,
    /// How long finished status posts, delivery keys and posted states are kept (`None`: for ever).
    pub retention: Option<Duration>,
}

impl Default for ReporterConfig {
    fn default() -> Self {
        ReporterConfig {
            batch: 32,
            // Longer than a post can take (the forge timeout, 10 s by default): a claim cut short by a
            // crash comes due again after this.
            lease: Duration::from_secs(30),
            poll_interval: Duration::from_millis(250),
            max_attempts: 10,
            first_retry_delay: Duration::from_secs(1),
            retention: Some(Duration::from_secs(7 * 24 * 3600)),
        }
    }
}

/// The reporter and syncer.
#[derive(Clone)]
pub struct Reporter {
    service: StatusChecksService,
    client: ForgeClient,
    config: ReporterConfig,
    wake: Arc<Notify>,
}

fn later(now: Timestamp, by: Duration) -> Timestamp {
    now + chrono::TimeDelta::from_std(by).unwrap_or(chrono::TimeDelta::MAX)
}

impl Reporter {
    /// A reporter over the service's ports.
    pub fn new(service: StatusChecksService, client: ForgeClient, config: ReporterConfig) -> Self {
        Reporter {
            service,
            client,
            config,
            wake: Arc::new(Notify::new()),
        }
    }

    /// Wakes the reporter with `signal` (the store's notice that posts were scheduled) as well as by its
    /// poll, so that a post leaves as soon as it is committed.
    pub fn woken_by(mut self, signal: Arc<Notify>) -> Self {
        self.wake = signal;
        self
    }

    /// Reports and syncs until `shutdown` completes.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let statuses = self.clone();
        let syncs = self.clone();
        let prunes = self.clone();
        tokio::select! {
            () = shutdown => {}
            () = statuses.report_forever() => {}
            () = syncs.sync_forever() => {}
            () = prunes.prune_forever() => {}
        }
    }

    /// Every minute, deletes what is older than the retention, a few hundred rows per transaction.
    async fn prune_forever(self) {
        let Some(retention) = self.config.retention else {
            return std::future::pending().await;
        };
        loop {
            let ports = self.service.ports();
            let before = ports.clock.now()
                - chrono::TimeDelta::from_std(retention).unwrap_or(chrono::TimeDelta::MAX);
            loop {
                match ports.forges.prune_forge_rows(before, PRUNE_BATCH).await {
                    Ok(deleted) if deleted > 0 => tokio::task::yield_now().await,
                    Ok(_) => break,
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot prune the forge outbox");
                        break;
                    }
                }
            }
            tokio::time::sleep(Duration::from_secs(60)).await;
        }
    }

    async fn report_forever(self) {
        loop {
            let sent = self.report_once().await;
            if sent < self.config.batch as usize {
                tokio::select! {
                    () = tokio::time::sleep(self.config.poll_interval) => {}
                    () = self.wake.notified() => {}
                }
            }
        }
    }

    /// One round: claims due posts and handles them; answers how many it claimed.
    pub async fn report_once(&self) -> usize {
        let ports = self.service.ports();
        let now = ports.clock.now();
        let claimed = match ports
            .forges
            .claim_due_statuses(now, self.config.batch, later(now, self.config.lease))
            .await
        {
            Ok(claimed) => claimed,
            Err(e) => {
                tracing::warn!(error = %e, "cannot claim status posts");
                return 0;
            }
        };
        let count = claimed.len();
        // Posts about one (merge request, HEAD, context) say the same once worked out at send time: the
        // newest is sent, the others are recorded as done with it. So the forge never receives two of them
        // at once, in either order. Different contexts go at once.
        let mut lanes: std::collections::BTreeMap<_, Vec<ForgeStatus>> = Default::default();
        for due in claimed {
            let lane = (due.merge_request_id, due.sha.clone(), due.context.clone());
            lanes.entry(lane).or_default().push(due);
        }
        let mut tasks = JoinSet::new();
        let mut outcomes = Vec::with_capacity(count);
        for (_, mut lane) in lanes {
            lane.sort_by_key(|due| due.id);
            let Some(newest) = lane.pop() else {
                continue;
            };
            outcomes.extend(lane.into_iter().map(|due| self.superseded(due)));
            let reporter = self.clone();
            tasks.spawn(async move { reporter.report(newest).await });
        }
        while let Some(done) = tasks.join_next().await {
            if let Ok(outcome) = done {
                outcomes.push(outcome);
            }
        }
        // The round's outcomes in one transaction: one trip through the store's writer, not one per post.
        // Should it fail, the claims' leases make the posts due again: retried, not lost.
        if let Err(e) = self
            .service
            .ports()
            .forges
            .record_status_attempts(outcomes)
            .await
        {
            tracing::warn!(error = %e, "cannot record status posts");
        }
        count
    }

    /// The outcome of a post that a newer one about the same context replaces: done with it.
    fn superseded(&self, due: ForgeStatus) -> (StatusAttempt, Option<PostedKey>) {
        let attempt = StatusAttempt {
            id: due.id,
            claimed_until: claimed_until(&due),
            at: self.service.ports().clock.now(),
            state: due.state,
            outcome: AttemptOutcome::Delivered,
            follow_up: Vec::new(),
        };
        (attempt, None)
    }

    /// Works out and sends one post; answers its outcome, to record.
    async fn report(&self, due: ForgeStatus) -> (StatusAttempt, Option<PostedKey>) {
        let ports = self.service.ports();
        let (state, outcome, posted, follow_up) = match self
            .service
            .forge_status_to_post(&due)
            .await
        {
            Err(e) => {
                tracing::warn!(error = %e, id = due.id.0, "cannot work out a status post");
                let retry = later(ports.clock.now(), self.config.first_retry_delay * 5);
                let failed = AttemptOutcome::Failed {
                    error: "the service could not work out the status".into(),
                    retry_at: Some(retry),
                };
                (due.state.clone(), failed, None, Vec::new())
            }
            Ok(DueStatus::Skip(reason)) => {
                tracing::debug!(id = due.id.0, reason, "status post skipped");
                (
                    due.state.clone(),
                    AttemptOutcome::Delivered,
                    None,
                    Vec::new(),
                )
            }
            Ok(DueStatus::Post(post)) => {
                let result = if post.already_posted {
                    Ok(())
                } else {
                    match post.link.forge {
                        ForgeKind::Gitlab => gitlab::api::post_status(&self.client, &post).await,
                        ForgeKind::Gitea | ForgeKind::Forgejo | ForgeKind::Github => {
                            repos_api::post_status(&self.client, &post).await
                        }
                    }
                };
                let now = ports.clock.now();
                let follow_up = match (&result, post.deadline) {
                    (Ok(()), Some(deadline)) => vec![NewForgeStatus {
                        project_id: due.project_id,
                        merge_request_id: due.merge_request_id,
                        merge_request_iid: due.merge_request_iid,
                        sha: due.sha.clone(),
                        draft: StatusDraft {
                            context: due.context.clone(),
                            external_status_check_id: due.external_status_check_id,
                            state: "pending".into(),
                            // Just after the deadline, when the check reads failed.
                            due_at: deadline + chrono::TimeDelta::milliseconds(1),
                        },
                        created_at: now,
                    }],
                    _ => Vec::new(),
                };
                match result {
                    Ok(()) => (
                        post.state.to_owned(),
                        AttemptOutcome::Delivered,
                        Some(post.key.clone()),
                        follow_up,
                    ),
                    Err(failure) => {
                        let attempts = due.attempts + 1;
                        let retry_at = (failure.retryable && attempts < self.config.max_attempts)
                            .then(|| {
                                let backoff = self.config.first_retry_delay
                                    * 2u32.saturating_pow(attempts.saturating_sub(1).min(16));
                                let wait = backoff
                                    .min(Duration::from_secs(300))
                                    .max(failure.retry_after.unwrap_or_default());
                                later(now, wait)
                            });
                        tracing::info!(
                            id = due.id.0,
                            context = %due.context,
                            error = %failure.reason,
                            retried = retry_at.is_some(),
                            "status post failed"
                        );
                        let failed = AttemptOutcome::Failed {
                            error: failure.reason,
                            retry_at,
                        };
                        (post.state.to_owned(), failed, None, Vec::new())
                    }
                }
            }
        };
        let attempt = StatusAttempt {
            id: due.id,
            claimed_until: claimed_until(&due),
            at: ports.clock.now(),
            state,
            outcome,
            follow_up,
        };
        (attempt, posted)
    }

    async fn sync_forever(self) {
        loop {
            if !self.sync_once().await {
                tokio::time::sleep(self.config.poll_interval * 4).await;
            }
        }
    }

    /// Claims one due sync and runs it; answers whether there was one.
    pub async fn sync_once(&self) -> bool {
        let ports = self.service.ports();
        let now = ports.clock.now();
        let lease_until = later(now, self.config.lease);
        let link = match ports.forges.claim_sync(now, lease_until).await {
            Ok(Some(link)) => link,
            Ok(None) => return false,
            Err(e) => {
                tracing::warn!(error = %e, "cannot claim a sync");
                return false;
            }
        };
        let project_id = link.project_id;
        let retry_at = match self.sync(link).await {
            Ok(count) => {
                tracing::info!(
                    project = project_id.0,
                    merge_requests = count,
                    "forge synced"
                );
                None
            }
            Err(failure) => {
                tracing::warn!(project = project_id.0, error = %failure.reason, "forge sync failed");
                let wait = failure
                    .retry_after
                    .unwrap_or_default()
                    .max(Duration::from_secs(60));
                failure.retryable.then(|| later(ports.clock.now(), wait))
            }
        };
        if let Err(e) = ports
            .forges
            .finish_sync(project_id, lease_until, retry_at)
            .await
        {
            tracing::warn!(error = %e, "cannot record a sync");
        }
        true
    }

    async fn sync(&self, link: status_checks_core::forges::ForgeLink) -> Result<usize, Failure> {
        let (project, link) = self
            .service
            .forge_link_for_webhook(&ProjectRef::Id(link.project_id))
            .await
            .map_err(|e| Failure::fatal(e.to_string()))?;
        let open = match link.forge {
            ForgeKind::Gitlab => gitlab::api::open_merge_requests(&self.client, &link).await?,
            ForgeKind::Gitea | ForgeKind::Forgejo | ForgeKind::Github => {
                repos_api::open_pull_requests(&self.client, &link).await?
            }
        };
        let count = open.len();
        for mr in open {
            match self
                .service
                .sync_merge_request(&project, &link, mr.snapshot, mr.source_project, mr.web_url)
                .await
            {
                Ok(_) => {}
                Err(DomainError::Unprocessable(reason)) => {
                    tracing::info!(reason, "a merge request was not mirrored");
                }
                Err(e) => return Err(Failure::retry(e.to_string(), None)),
            }
        }
        Ok(count)
    }
}

/// The end of the lease `due` was claimed under, which names the claim when its outcome is recorded: a
/// claimed post is due at the end of its lease.
fn claimed_until(due: &ForgeStatus) -> Timestamp {
    due.next_attempt_at.unwrap_or(chrono::DateTime::UNIX_EPOCH)
}
