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

use crate::sender::{Cause, Failure, Sender};
use status_checks_core::deliveries;
use status_checks_core::deliveries::{Attempt, AttemptOutcome};
use status_checks_core::ports::{Clock, DeliveryRepository, DueDelivery};
use status_checks_core::{DeliveryId, StatusCheckId, Timestamp};
use std::collections::{HashMap, VecDeque};
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
    /// One attempt ended: how, why it failed if it did, and how long it took.
    fn attempted(&self, outcome: Outcome, cause: Option<Cause>, elapsed: Duration);
}

/// An observer that ignores everything.
#[derive(Debug, Default)]
pub struct NoObserver;

impl DeliveryObserver for NoObserver {
    fn attempted(&self, _: Outcome, _: Option<Cause>, _: Duration) {}
}

/// How the worker behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerConfig {
    /// Attempts before a delivery is dead.
    pub max_attempts: u32,
    /// Deliveries in flight at once.
    pub concurrency: u32,
    /// Deliveries in flight at once to one receiver (scheme, host and port of the check's URL): a receiver
    /// that hangs holds at most these slots, and the others keep theirs.
    pub concurrency_per_receiver: u32,
    /// The most deliveries claimed by one query, and the most outcomes recorded in one transaction.
    pub batch_size: u32,
    /// How often the outbox is polled for retries coming due (new deliveries wake the worker at once).
    pub poll_interval: Duration,
    /// The per-request timeout (the lease of a claim is longer).
    pub timeout: Duration,
    /// The first retry delay; later ones double, up to five minutes (`1 s` in production).
    pub first_retry_delay: Duration,
    /// How long delivered and dead deliveries are kept; `None` keeps them for ever.
    pub retention: Option<Duration>,
    /// How often finished deliveries older than the retention are pruned.
    pub prune_interval: Duration,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            max_attempts: 10,
            concurrency: 64,
            concurrency_per_receiver: 16,
            batch_size: 128,
            poll_interval: Duration::from_millis(250),
            timeout: Duration::from_secs(10),
            first_retry_delay: Duration::from_secs(1),
            retention: Some(Duration::from_secs(7 * 24 * 3600)),
            prune_interval: Duration::from_secs(60),
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
        let per_receiver = (self.config.concurrency_per_receiver.max(1) as usize).min(concurrency);
        let batch = (self.config.batch_size.max(1) as usize).max(concurrency);
        let (outcomes, received) = mpsc::unbounded_channel();
        let recorder = tokio::spawn(record_outcomes(self.outbox.clone(), received, batch));
        let worker = Arc::new(self);
        let pruner = worker
            .config
            .retention
            .map(|retention| tokio::spawn(prune(worker.clone(), retention)));
        let permits = Arc::new(Semaphore::new(concurrency));
        let mut queue = Queue::new(per_receiver);
        let (ended, mut endings) = mpsc::unbounded_channel::<usize>();
        let (mut exhausted, mut last_except) = (false, Vec::new());
        // One poll tick every interval, whatever else wakes the loop meanwhile (a sleep made anew each turn
        // would never fire while slots keep freeing).
        let mut poll = tokio::time::interval(worker.config.poll_interval);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(shutdown);
        loop {
            while let Ok(receiver) = endings.try_recv() {
                queue.ended(receiver);
            }
            while queue.ready(1) > 0 {
                let Ok(permit) = permits.clone().try_acquire_owned() else {
                    break;
                };
                let Some((due, receiver)) = queue.next() else {
                    break;
                };
                worker.spawn_attempt(due, receiver, permit, &ended, &outcomes);
            }
            // Deliveries stuck behind a full receiver (one that answers slowly or hangs) go back to the outbox,
            // so that they neither fill the queue, starving the other receivers, nor outwait their lease.
            // Their checks are now known to be the full receiver's, so claims skip them until it frees a slot.
            let stuck = queue.stuck(STUCK_AFTER);
            if !stuck.is_empty()
                && let Err(e) = worker.outbox.release(stuck, worker.clock.now()).await
            {
                tracing::warn!(error = %e, "cannot give back deliveries to a busy receiver");
            }
            // Claim when fewer deliveries are ready than there are slots, skipping busy receivers; at most two
            // batches wait, so that their leases hold.
            // A claim that found fewer than it wanted is not repeated (a write transaction each time) until
            // deliveries are recorded, the poll comes round, or a busy receiver frees a slot.
            let mut full_batch = false;
            if queue.ready(concurrency) < concurrency && queue.len() < 2 * batch {
                let except = queue.busy_checks();
                if !exhausted || except != last_except {
                    let wanted = batch.min(2 * batch - queue.len());
                    let waves = (2 * batch).div_ceil(per_receiver) + 1;
                    let claimed = worker.claim(wanted, waves, except.clone()).await;
                    full_batch = claimed.len() == wanted;
                    exhausted = !full_batch;
                    last_except = except;
                    queue.extend(claimed);
                }
            }
            let dispatchable = permits.available_permits() > 0 && queue.ready(1) > 0;
            tokio::select! {
                biased;
                () = &mut shutdown => break,
                () = std::future::ready(()), if dispatchable || full_batch => {}
                () = worker.wake.notified() => exhausted = false,
                () = worker.freed.notified() => {}
                _ = poll.tick() => exhausted = false,
            }
        }
        if let Some(pruner) = pruner {
            pruner.abort();
        }
        // Deliveries claimed but not sent are given back, due at once for the next start (or, if that fails,
        // when their lease ends).
        let unsent: Vec<(DeliveryId, Timestamp)> = queue
            .waiting
            .drain(..)
            .map(|(due, _, _)| (due.delivery.id, claimed_until(&due)))
            .collect();
        if !unsent.is_empty()
            && let Err(e) = worker.outbox.release(unsent, worker.clock.now()).await
        {
            tracing::warn!(error = %e, "cannot give back unsent deliveries; sent after their lease");
        }
        let _ = tokio::time::timeout(
            worker.config.timeout,
            permits.acquire_many(u32::try_from(concurrency).unwrap_or(u32::MAX)),
        )
        .await;
        drop(outcomes);
        // Recording is one short write: what the shutdown budget has left after the attempts is enough.
        if tokio::time::timeout(Duration::from_secs(2).min(worker.config.timeout), recorder)
            .await
            .is_err()
        {
            tracing::warn!(
                "outcomes of the last attempts not recorded in time; they will be sent again"
            );
        }
        tracing::info!("delivery worker stopped");
    }

    /// Claims up to `wanted` due deliveries, none to the checks in `except`. The lease covers `waves`
    /// attempts one after the other, each taking at most the timeout: the longest a claimed delivery waits.
    async fn claim(
        &self,
        wanted: usize,
        waves: usize,
        except: Vec<StatusCheckId>,
    ) -> Vec<DueDelivery> {
        let now = self.clock.now();
        let waves = u32::try_from(waves).unwrap_or(u32::MAX);
        let lease = now
            + chrono::TimeDelta::from_std(
                self.config.timeout.saturating_mul(waves) + Duration::from_secs(30),
            )
            .unwrap_or_default();
        match self
            .outbox
            .claim_due(
                now,
                u32::try_from(wanted).unwrap_or(u32::MAX),
                lease,
                except,
            )
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
        receiver: usize,
        permit: OwnedSemaphorePermit,
        ended: &mpsc::UnboundedSender<usize>,
        outcomes: &mpsc::UnboundedSender<Attempt>,
    ) {
        let worker = self.clone();
        let outcomes = outcomes.clone();
        let ended = Ended {
            receiver,
            to: ended.clone(),
        };
        tokio::spawn(async move {
            let attempt = worker.attempt(due).await;
            // The receiving end lives as long as the worker: this fails only after it stopped.
            let _ = outcomes.send(attempt);
            drop(ended);
            drop(permit);
            worker.freed.notify_one();
        });
    }

    /// One attempt: sends, and says how it ended (the caller records it).
    async fn attempt(&self, mut due: DueDelivery) -> Attempt {
        let started = Instant::now();
        let result = self.sender.send(&mut due).await;
        let elapsed = started.elapsed();
        let now = self.clock.now();
        let id = due.delivery.id;
        let attempts = due.delivery.attempts + 1;
        let cause = result.as_ref().err().map(|failure| failure.cause);
        let (outcome, recorded) = match result {
            Ok(()) => {
                tracing::info!(delivery = %id, check = %due.delivery.external_status_check_id, attempts, "delivered");
                (Outcome::Delivered, AttemptOutcome::Delivered)
            }
            Err(Failure {
                reason, retryable, ..
            }) => {
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
        self.observer.attempted(outcome, cause, elapsed);
        Attempt {
            id,
            claimed_until: claimed_until(&due),
            at: now,
            outcome: recorded,
        }
    }
}

/// The end of the lease `due` was claimed under, which names the claim when its outcome is recorded or it
/// is given back: a claimed delivery is due at the end of its lease.
fn claimed_until(due: &DueDelivery) -> Timestamp {
    due.delivery
        .next_attempt_at
        .unwrap_or(chrono::DateTime::UNIX_EPOCH)
}

/// How long a claimed delivery may wait in the queue behind a full receiver before it goes back to the
/// outbox. A receiver that answers at once frees its slots in milliseconds; one that hangs holds them for the
/// delivery timeout.
const STUCK_AFTER: Duration = Duration::from_secs(1);

/// Reports the end of an attempt to its receiver's count when dropped: also when the attempt's task
/// panicked, so that a receiver's slots are never lost.
struct Ended {
    receiver: usize,
    to: mpsc::UnboundedSender<usize>,
}

impl Drop for Ended {
    fn drop(&mut self) {
        let _ = self.to.send(self.receiver);
    }
}

/// The receiver of a delivery: scheme, host and port of its URL (the URL itself if it does not parse).
fn receiver_of(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(parsed) => format!(
            "{}://{}:{}",
            parsed.scheme(),
            parsed.host_str().unwrap_or(""),
            parsed.port_or_known_default().unwrap_or(0)
        ),
        Err(_) => url.to_owned(),
    }
}

/// Claimed deliveries waiting for a slot, and the attempts in flight per receiver. Owned by the worker's
/// loop alone; receivers are numbered as first seen, so the hot path compares numbers, not URLs.
struct Queue {
    /// Each waiting delivery, its receiver, and since when it waits.
    waiting: VecDeque<(DueDelivery, usize, Instant)>,
    /// Receiver numbers by receiver key, and by the check URLs already seen (to parse each URL once).
    numbers: HashMap<String, usize>,
    numbers_by_url: HashMap<String, usize>,
    in_flight: Vec<usize>,
    /// The receiver of each check, as of its latest claimed delivery (a check's URL may change).
    receiver_of_check: HashMap<StatusCheckId, usize>,
    per_receiver: usize,
}

impl Queue {
    fn new(per_receiver: usize) -> Self {
        Queue {
            waiting: VecDeque::new(),
            numbers: HashMap::new(),
            numbers_by_url: HashMap::new(),
            in_flight: Vec::new(),
            receiver_of_check: HashMap::new(),
            per_receiver,
        }
    }

    fn len(&self) -> usize {
        self.waiting.len()
    }

    fn extend(&mut self, claimed: Vec<DueDelivery>) {
        for due in claimed {
            let receiver = match self.numbers_by_url.get(&due.url) {
                Some(&known) => known,
                None => {
                    let next = self.numbers.len();
                    let number = *self.numbers.entry(receiver_of(&due.url)).or_insert(next);
                    if number == self.in_flight.len() {
                        self.in_flight.push(0);
                    }
                    self.numbers_by_url.insert(due.url.clone(), number);
                    number
                }
            };
            self.receiver_of_check
                .insert(due.delivery.external_status_check_id, receiver);
            self.waiting.push_back((due, receiver, Instant::now()));
        }
    }

    /// Takes out the deliveries that have waited longer than `after` for a full receiver: their ids, to give
    /// back to the outbox.
    fn stuck(&mut self, after: Duration) -> Vec<(DeliveryId, Timestamp)> {
        let now = Instant::now();
        let (in_flight, per_receiver) = (&self.in_flight, self.per_receiver);
        let is_stuck = |(_, receiver, since): &(DueDelivery, usize, Instant)| {
            in_flight.get(*receiver).copied().unwrap_or(0) >= per_receiver
                && now.duration_since(*since) > after
        };
        if !self.waiting.iter().any(is_stuck) {
            return Vec::new();
        }
        let (stuck, kept): (VecDeque<_>, VecDeque<_>) = std::mem::take(&mut self.waiting)
            .into_iter()
            .partition(is_stuck);
        self.waiting = kept;
        stuck
            .into_iter()
            .map(|(due, _, _)| (due.delivery.id, claimed_until(&due)))
            .collect()
    }

    fn has_room(&self, receiver: usize) -> bool {
        self.in_flight.get(receiver).copied().unwrap_or(0) < self.per_receiver
    }

    /// How many waiting deliveries go to a receiver with a free slot, counting up to `cap`.
    fn ready(&self, cap: usize) -> usize {
        self.waiting
            .iter()
            .filter(|(_, receiver, _)| self.has_room(*receiver))
            .take(cap)
            .count()
    }

    /// The oldest waiting delivery whose receiver has a free slot, counted as in flight from now on.
    fn next(&mut self) -> Option<(DueDelivery, usize)> {
        let index = self
            .waiting
            .iter()
            .position(|(_, receiver, _)| self.has_room(*receiver))?;
        let (due, receiver, _) = self.waiting.remove(index)?;
        if let Some(count) = self.in_flight.get_mut(receiver) {
            *count += 1;
        }
        Some((due, receiver))
    }

    /// An attempt to `receiver` ended.
    fn ended(&mut self, receiver: usize) {
        if let Some(count) = self.in_flight.get_mut(receiver) {
            *count = count.saturating_sub(1);
        }
    }

    /// The checks whose receiver has no free slot, in id order: not worth claiming for now.
    fn busy_checks(&self) -> Vec<StatusCheckId> {
        if (0..self.in_flight.len()).all(|receiver| self.has_room(receiver)) {
            return Vec::new();
        }
        let mut busy: Vec<StatusCheckId> = self
            .receiver_of_check
            .iter()
            .filter(|(_, receiver)| !self.has_room(**receiver))
            .map(|(check, _)| *check)
            .collect();
        busy.sort_unstable();
        busy
    }
}

/// Finished deliveries prunable at once: a short write, so that requests waiting for the writer wait little.
const PRUNED_PER_TRANSACTION: u32 = 500;

/// Deletes delivered and dead deliveries older than `retention`, every prune interval, a few hundred per
/// transaction: off the request path, and never a pending delivery (the port promises it).
async fn prune(worker: Arc<DeliveryWorker>, retention: Duration) {
    let retention = chrono::TimeDelta::from_std(retention).unwrap_or(chrono::TimeDelta::MAX);
    loop {
        tokio::time::sleep(worker.config.prune_interval).await;
        let Some(cutoff) = worker.clock.now().checked_sub_signed(retention) else {
            continue;
        };
        let mut pruned = 0;
        loop {
            match worker
                .outbox
                .prune_deliveries(cutoff, PRUNED_PER_TRANSACTION)
                .await
            {
                Ok(deleted) if deleted == u64::from(PRUNED_PER_TRANSACTION) => {
                    pruned += deleted;
                    tokio::task::yield_now().await;
                }
                Ok(deleted) => {
                    pruned += deleted;
                    if pruned > 0 {
                        tracing::info!(pruned, "pruned finished deliveries");
                    }
                    break;
                }
                Err(e) => {
                    tracing::error!(error = %e, "cannot prune finished deliveries");
                    break;
                }
            }
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
