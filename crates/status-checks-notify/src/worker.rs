//! The delivery worker: claims due deliveries from the outbox, sends them concurrently (bounded), and records
//! the outcomes — delivered, retried later with exponential backoff and jitter, or dead.
//!
//! Claims are leases: a claimed delivery's due time moves past the send timeout, so deliveries claimed by a
//! process that crashes come due again and are sent after the restart (at least once). A check deleted
//! meanwhile takes its deliveries with it; recording the outcome of one in flight then changes nothing.
//!
//! The worker keeps up with the network rather than with a clock (docs/notifications.md §4): it claims as
//! soon as deliveries are recorded (the store's wake-up) or a send slot frees, a batch at a time, and a
//! recorder task writes the outcomes of all the attempts that ended meanwhile in one transaction. The poll
//! interval only matters for retries coming due.

use crate::sender::{Failure, Sender};
use status_checks_core::deliveries;
use status_checks_core::deliveries::{Attempt, AttemptOutcome};
use status_checks_core::ports::{Clock, DeliveryRepository, DueDelivery};
use std::collections::VecDeque;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc};

/// The outcome of an attempt, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// 2xx.
    Delivered,
    /// Failed; will be retried.
    Failed,
    /// Failed for the last time.
    Dead,
}

impl Outcome {
    /// A label for metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Delivered => "delivered",
            Outcome::Failed => "failed",
            Outcome::Dead => "dead",
        }
    }
}

/// Receives every attempt's outcome (metrics).
pub trait DeliveryObserver: Send + Sync {
    /// One attempt ended.
    fn attempted(&self, outcome: Outcome, elapsed: Duration);
}

/// An observer that ignores everything.
#[derive(Debug, Default)]
pub struct NoObserver;

impl DeliveryObserver for NoObserver {
    fn attempted(&self, _: Outcome, _: Duration) {}
}

/// How the worker behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerConfig {
    /// Attempts before a delivery is dead.
    pub max_attempts: u32,
    /// Deliveries in flight at once.
    pub concurrency: u32,
    /// The most deliveries claimed by one query, and the most outcomes recorded in one transaction.
    pub batch_size: u32,
    /// How often the outbox is polled for retries coming due (new deliveries wake the worker at once).
    pub poll_interval: Duration,
    /// The per-request timeout (the lease of a claim is longer).
    pub timeout: Duration,
    /// The first retry delay; later ones double, up to five minutes (`1 s` in production).
    pub first_retry_delay: Duration,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            max_attempts: 10,
            concurrency: 16,
            batch_size: 128,
            poll_interval: Duration::from_millis(250),
            timeout: Duration::from_secs(10),
            first_retry_delay: Duration::from_secs(1),
        }
    }
}

/// The worker.
pub struct DeliveryWorker {
    outbox: Arc<dyn DeliveryRepository>,
    clock: Arc<dyn Clock>,
    sender: Sender,
    config: WorkerConfig,
    observer: Arc<dyn DeliveryObserver>,
    wake: Arc<Notify>,
    freed: Notify,
}

/// Up to ±20 % of `delay`, so that retries of many deliveries do not arrive together.
fn jittered(delay: Duration) -> Duration {
    let mut byte = [0u8; 2];
    if getrandom::fill(&mut byte).is_err() {
        return delay;
    }
    let unit = f64::from(u16::from_le_bytes(byte)) / f64::from(u16::MAX); // 0..=1
    delay.mul_f64(0.8 + 0.4 * unit)
}

/// The delay before the next attempt after `attempts_made` failed ones: the core's schedule (1, 2, 4 … capped
/// at 5 minutes), scaled to `first`.
pub fn retry_delay(attempts_made: u32, first: Duration) -> Duration {
    let schedule = deliveries::retry_delay(attempts_made);
    schedule
        .mul_f64(first.as_secs_f64())
        .min(Duration::from_secs(300))
}

impl DeliveryWorker {
    /// A worker over the outbox.
    pub fn new(
        outbox: Arc<dyn DeliveryRepository>,
        clock: Arc<dyn Clock>,
        sender: Sender,
        config: WorkerConfig,
        observer: Arc<dyn DeliveryObserver>,
    ) -> Self {
        DeliveryWorker {
            outbox,
            clock,
            sender,
            config,
            observer,
            wake: Arc::new(Notify::new()),
            freed: Notify::new(),
        }
    }

    /// Wakes the worker whenever `recorded` is notified (the store's signal that deliveries were recorded),
    /// instead of waiting for the next poll.
    pub fn woken_by(mut self, recorded: Arc<Notify>) -> Self {
        self.wake = recorded;
        self
    }

    /// Runs until `shutdown` resolves, then waits (at most one timeout) for the attempts in flight and the
    /// recording of their outcomes.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) {
        let concurrency = self.config.concurrency.max(1) as usize;
        let batch = (self.config.batch_size.max(1) as usize).max(concurrency);
        let (outcomes, received) = mpsc::unbounded_channel();
        let recorder = tokio::spawn(record_outcomes(self.outbox.clone(), received, batch));
        let worker = Arc::new(self);
        let permits = Arc::new(Semaphore::new(concurrency));
        // Claimed deliveries waiting for a free slot: up to one batch, so that a slot that frees finds work
        // without a trip to the database.
        let mut queue: VecDeque<DueDelivery> = VecDeque::with_capacity(batch);
        tokio::pin!(shutdown);
        loop {
            while !queue.is_empty() {
                let Ok(permit) = permits.clone().try_acquire_owned() else {
                    break;
                };
                if let Some(due) = queue.pop_front() {
                    worker.spawn_attempt(due, permit, &outcomes);
                }
            }
            let mut full_batch = false;
            if queue.len() < concurrency {
                let wanted = batch - queue.len();
                let claimed = worker.claim(wanted, batch, concurrency).await;
                full_batch = claimed.len() == wanted;
                queue.extend(claimed);
            }
            let dispatchable = !queue.is_empty() && permits.available_permits() > 0;
            tokio::select! {
                biased;
                () = &mut shutdown => break,
                () = std::future::ready(()), if dispatchable || full_batch => {}
                () = worker.wake.notified() => {}
                () = worker.freed.notified(), if !queue.is_empty() => {}
                () = tokio::time::sleep(worker.config.poll_interval) => {}
            }
        }
        // Deliveries claimed but not sent stay leased: they are sent after the next start, once the lease ends.
        let _ = tokio::time::timeout(
            worker.config.timeout,
            permits.acquire_many(u32::try_from(concurrency).unwrap_or(u32::MAX)),
        )
        .await;
        drop(outcomes);
        if tokio::time::timeout(worker.config.timeout, recorder)
            .await
            .is_err()
        {
            tracing::warn!(
                "outcomes of the last attempts not recorded in time; they will be sent again"
            );
        }
        tracing::info!("delivery worker stopped");
    }

    /// Claims up to `wanted` due deliveries. The lease covers the wait of a whole batch in the queue behind
    /// `concurrency` slots, each attempt taking at most the timeout.
    async fn claim(&self, wanted: usize, batch: usize, concurrency: usize) -> Vec<DueDelivery> {
        let now = self.clock.now();
        let waves = u32::try_from(batch.div_ceil(concurrency) + 1).unwrap_or(u32::MAX);
        let lease = now
            + chrono::TimeDelta::from_std(
                self.config.timeout.saturating_mul(waves) + Duration::from_secs(30),
            )
            .unwrap_or_default();
        match self
            .outbox
            .claim_due(now, u32::try_from(wanted).unwrap_or(u32::MAX), lease)
            .await
        {
            Ok(due) => due,
            Err(e) => {
                tracing::error!(error = %e, "cannot claim deliveries");
                Vec::new()
            }
        }
    }

    /// Sends `due` in its own task, which hands the outcome to the recorder and frees its slot.
    fn spawn_attempt(
        self: &Arc<Self>,
        due: DueDelivery,
        permit: OwnedSemaphorePermit,
        outcomes: &mpsc::UnboundedSender<Attempt>,
    ) {
        let worker = self.clone();
        let outcomes = outcomes.clone();
        tokio::spawn(async move {
            let attempt = worker.attempt(due).await;
            // The receiver lives until every sender is gone: this only fails after a panic there.
            let _ = outcomes.send(attempt);
            drop(permit);
            worker.freed.notify_one();
        });
    }

    /// One attempt: sends, and says how it ended (the caller records it).
    pub async fn attempt(&self, due: DueDelivery) -> Attempt {
        let started = Instant::now();
        let result = self.sender.send(&due).await;
        let elapsed = started.elapsed();
        let now = self.clock.now();
        let id = due.delivery.id;
        let attempts = due.delivery.attempts + 1;
        let (outcome, recorded) = match result {
            Ok(()) => {
                tracing::info!(delivery = %id, check = %due.delivery.external_status_check_id, attempts, "delivered");
                (Outcome::Delivered, AttemptOutcome::Delivered)
            }
            Err(Failure { reason, retryable }) => {
                let retry_at = (retryable && attempts < self.config.max_attempts).then(|| {
                    let delay = jittered(retry_delay(attempts, self.config.first_retry_delay))
                        .min(Duration::from_secs(300));
                    now + chrono::TimeDelta::from_std(delay).unwrap_or_default()
                });
                let outcome = if retry_at.is_some() {
                    Outcome::Failed
                } else {
                    Outcome::Dead
                };
                tracing::warn!(delivery = %id, check = %due.delivery.external_status_check_id, attempts, reason = %reason, outcome = outcome.as_str(), "delivery failed");
                (
                    outcome,
                    AttemptOutcome::Failed {
                        error: reason,
                        retry_at,
                    },
                )
            }
        };
        self.observer.attempted(outcome, elapsed);
        Attempt {
            id,
            at: now,
            outcome: recorded,
        }
    }
}

/// Records outcomes as they come, all those waiting (up to `batch`) in one call: under load, one transaction
/// for many attempts; when idle, each at once.
async fn record_outcomes(
    outbox: Arc<dyn DeliveryRepository>,
    mut received: mpsc::UnboundedReceiver<Attempt>,
    batch: usize,
) {
    let mut waiting = Vec::with_capacity(batch);
    while received.recv_many(&mut waiting, batch).await > 0 {
        let attempts = std::mem::take(&mut waiting);
        let count = attempts.len();
        if let Err(e) = outbox.record_attempts(attempts).await {
            // Not recorded: the claims' leases run out and the deliveries are sent again (at least once).
            tracing::error!(error = %e, count, "cannot record delivery outcomes");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_scale_and_jitter_stays_within_a_fifth() {
        assert_eq!(
            retry_delay(1, Duration::from_secs(1)),
            Duration::from_secs(1)
        );
        assert_eq!(
            retry_delay(4, Duration::from_secs(1)),
            Duration::from_secs(8)
        );
        assert_eq!(
            retry_delay(30, Duration::from_secs(1)),
            Duration::from_secs(300)
        );
        assert_eq!(
            retry_delay(3, Duration::from_millis(10)),
            Duration::from_millis(40)
        );
        for _ in 0..100 {
            let d = jittered(Duration::from_secs(10));
            assert!(
                d >= Duration::from_secs(8) && d <= Duration::from_secs(12),
                "{d:?}"
            );
        }
    }
}
