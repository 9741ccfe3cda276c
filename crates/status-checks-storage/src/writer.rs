//! The group-commit writer: one thread owns the write connection and commits the writes waiting for it
//! together, one transaction per batch (docs/benchmarks.md, "Group commit").
//!
//! A write is a closure sent to the thread with a channel for its answer. The thread takes the first write
//! waiting, and every other one already queued behind it (at most [`MAX_BATCH`]); it never waits for more,
//! so under no load a write commits at once. It runs them in one `BEGIN IMMEDIATE` transaction, each in a
//! savepoint of its own (a write that fails rolls back its savepoint alone and gets its own error; the others
//! go on), commits once, and only then answers them all: nobody is answered before the commit that holds
//! their write. A batch of one runs without a savepoint, exactly as a lone transaction. When the commit
//! itself fails, every write of the batch gets that error, and none of them is stored.
//!
//! Writes are taken in the order they were sent, so the writes of one caller stay in its order. The thread
//! ends when the store is dropped (the channel closes).

use crate::error::TxError;
use diesel::Connection;
use diesel::connection::TransactionManager;
use diesel::sqlite::SqliteConnection;
use status_checks_core::RepoError;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// The most writes committed together. Enough to absorb a burst from every request the server admits at
/// once; a bound so that one commit's answers do not wait behind an unbounded batch.
pub const MAX_BATCH: usize = 128;

/// What the writer did, for metrics: counters only grow.
#[derive(Debug, Default)]
pub struct WriterStats {
    /// Transactions committed or rolled back (batches).
    pub batches: AtomicU64,
    /// Writes run (each in its batch).
    pub writes: AtomicU64,
    /// The sum over writes of the time each waited in the queue before its batch began, in microseconds.
    pub queued_micros: AtomicU64,
    /// The largest batch so far.
    pub largest_batch: AtomicU64,
    /// Writes sent and not yet taken into a batch (a gauge).
    pub waiting: AtomicU64,
}

/// A write waiting for the thread.
trait Job: Send {
    /// When it was sent.
    fn sent_at(&self) -> Instant;
    /// Runs it inside the batch's transaction, in a savepoint of its own when `savepoint`; answers whether it
    /// succeeded (a failed write's savepoint is rolled back; without a savepoint, the caller rolls back).
    fn run(&mut self, conn: &mut SqliteConnection, savepoint: bool) -> bool;
    /// Answers the caller once the batch's transaction ended: its own error if it failed, else the commit's.
    fn answer(self: Box<Self>, committed: &Result<(), RepoError>);
}

struct Write<T, F> {
    f: Option<F>,
    outcome: Option<Result<T, RepoError>>,
    reply: oneshot::Sender<Result<T, RepoError>>,
    sent_at: Instant,
}

impl<T, F> Job for Write<T, F>
where
    T: Send + 'static,
    F: FnOnce(&mut SqliteConnection) -> Result<T, TxError> + Send + 'static,
{
    fn sent_at(&self) -> Instant {
        self.sent_at
    }

    fn run(&mut self, conn: &mut SqliteConnection, savepoint: bool) -> bool {
        let Some(f) = self.f.take() else {
            return false;
        };
        let outcome = if savepoint {
            // Nested in the batch's transaction, diesel makes this a savepoint.
            conn.transaction(f)
        } else {
            f(conn)
        };
        let ok = outcome.is_ok();
        self.outcome = Some(outcome.map_err(RepoError::from));
        ok
    }

    fn answer(self: Box<Self>, committed: &Result<(), RepoError>) {
        let result = match (self.outcome, committed) {
            (Some(Err(own)), _) => Err(own),
            (Some(Ok(value)), Ok(())) => Ok(value),
            (_, Err(commit)) => Err(commit.clone()),
            (None, Ok(())) => Err(RepoError::Internal("the write was not run".into())),
        };
        // A caller that stopped waiting (its request was cancelled) needs no answer: the write stands.
        let _ = self.reply.send(result);
    }
}

/// The sending side of the writer. Dropping it ends the thread and waits for it, so that the connection is
/// closed (and the WAL checkpointed) when the store is dropped, as a connection dropped in place would be:
/// another process opening the file next must not find it busy.
pub(crate) struct Writer {
    queue: Option<mpsc::Sender<Box<dyn Job>>>,
    stats: Arc<WriterStats>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Writer {
    fn drop(&mut self) {
        drop(self.queue.take());
        if let Some(thread) = self.thread.take()
            && thread.thread().id() != std::thread::current().id()
        {
            let _ = thread.join();
        }
    }
}

impl Writer {
    /// Starts the thread that owns `conn`.
    pub(crate) fn start(conn: SqliteConnection) -> Result<Writer, std::io::Error> {
        let (queue, jobs) = mpsc::channel::<Box<dyn Job>>();
        let stats = Arc::new(WriterStats::default());
        let thread_stats = stats.clone();
        let thread = std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || run(conn, jobs, &thread_stats))?;
        Ok(Writer {
            queue: Some(queue),
            stats,
            thread: Some(thread),
        })
    }

    /// Runs `f` in the next batch; answers once the batch's transaction committed (or with the error that
    /// stopped `f` or the commit).
    pub(crate) async fn write<T, F>(&self, f: F) -> Result<T, RepoError>
    where
        T: Send + 'static,
        F: FnOnce(&mut SqliteConnection) -> Result<T, TxError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job = Box::new(Write {
            f: Some(f),
            outcome: None,
            reply,
            sent_at: Instant::now(),
        });
        self.stats.waiting.fetch_add(1, Ordering::Relaxed);
        let Some(queue) = &self.queue else {
            return Err(RepoError::Internal("the writer has stopped".into()));
        };
        if queue.send(job).is_err() {
            self.stats.waiting.fetch_sub(1, Ordering::Relaxed);
            return Err(RepoError::Internal("the writer has stopped".into()));
        }
        answer
            .await
            .map_err(|_| RepoError::Internal("the writer has stopped".into()))?
    }

    pub(crate) fn stats(&self) -> &WriterStats {
        &self.stats
    }
}

/// The thread: a batch at a time until the store is dropped.
fn run(mut conn: SqliteConnection, jobs: mpsc::Receiver<Box<dyn Job>>, stats: &WriterStats) {
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        stats
            .waiting
            .fetch_sub(batch.len() as u64, Ordering::Relaxed);
        let began = Instant::now();
        let queued: Duration = batch
            .iter()
            .map(|job| began.saturating_duration_since(job.sent_at()))
            .sum();
        let committed = commit(&mut conn, &mut batch);
        stats.batches.fetch_add(1, Ordering::Relaxed);
        stats
            .writes
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        stats.queued_micros.fetch_add(
            u64::try_from(queued.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        stats
            .largest_batch
            .fetch_max(batch.len() as u64, Ordering::Relaxed);
        for job in batch {
            job.answer(&committed);
        }
    }
}

/// Whether the batch's transaction is still open, and only it, after a write failed in its savepoint. Some
/// errors (a full disk, an I/O error) make SQLite roll the whole transaction back by itself; the savepoint's
/// rollback then fails and diesel marks its transaction state broken. The next writes must not run then: they
/// would run outside any transaction, each committed on its own while the batch reports failure.
fn still_in_batch(conn: &mut SqliteConnection) -> bool {
    type Manager = <SqliteConnection as Connection>::TransactionManager;
    matches!(
        Manager::transaction_manager_status_mut(conn).transaction_depth(),
        Ok(Some(depth)) if depth.get() == 1
    )
}

/// Runs `batch` in one `BEGIN IMMEDIATE` transaction and commits it.
fn commit(conn: &mut SqliteConnection, batch: &mut [Box<dyn Job>]) -> Result<(), RepoError> {
    let alone = batch.len() == 1;
    let ran = catch_unwind(AssertUnwindSafe(|| {
        conn.immediate_transaction::<(), TxError, _>(|conn| {
            for job in batch.iter_mut() {
                // A lone write that fails rolls the transaction back; in a batch only its savepoint.
                if !job.run(conn, !alone) && (alone || !still_in_batch(conn)) {
                    return Err(TxError::Repo(RepoError::Internal("rolled back".into())));
                }
            }
            Ok(())
        })
    }));
    match ran {
        Ok(Ok(())) => Ok(()),
        // A lone write's own error is what it answers; this only stands for "nothing committed".
        Ok(Err(e)) => Err(RepoError::from(e)),
        Err(_) => {
            // The panic left the transaction open: roll it back, so that the next batch starts clean.
            type Manager = <SqliteConnection as Connection>::TransactionManager;
            while matches!(
                Manager::transaction_manager_status_mut(conn).transaction_depth(),
                Ok(Some(_))
            ) {
                if Manager::rollback_transaction(conn).is_err() {
                    break;
                }
            }
            Err(RepoError::Internal(
                "a write panicked; its batch was rolled back".into(),
            ))
        }
    }
}
