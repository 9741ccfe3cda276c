//! Wake-ups and cache invalidations across instances: every transaction that records deliveries or
//! schedules status posts sends a `NOTIFY` inside it, and every change to a row a cache holds sends one on
//! [`INVALIDATIONS_CHANNEL`] from a trigger (migration 2); PostgreSQL delivers them only if the transaction
//! commits, once per transaction, channel and payload. Each store keeps one connection of its own — not one
//! of the pool's — that `LISTEN`s on these channels and on its writes' markers (see `propagation`), wakes
//! the store's local [`Notify`]s and tells its caches what changed.
//!
//! A notification sent while the listening connection is down is lost (PostgreSQL queues them only for
//! sessions that listen). So on the loss of the connection the caches are bypassed (every read goes to the
//! database) and the local waiters are woken once; once it listens anew the caches are flushed and used
//! again, and the waiters woken again: the workers poll at once instead of waiting for their next poll. The
//! connection is opened again after 1 s, then 2, 4, … up to 60 s between failed attempts.

use crate::error::Redactor;
use crate::propagation::{MARKERS_CHANNEL, Markers};
use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use futures_core::Stream;
use status_checks_cache::{Caches, Invalidation};
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinHandle;

/// The channel notified by every transaction that records deliveries.
pub const DELIVERIES_CHANNEL: &str = "status_checks_deliveries";
/// The channel notified by every transaction that schedules status posts to a forge.
pub const STATUSES_CHANNEL: &str = "status_checks_statuses";
/// The channel the cache invalidation triggers notify, with what changed as the payload (see
/// `status_checks_cache::Invalidation`).
pub const INVALIDATIONS_CHANNEL: &str = "status_checks_invalidate";
/// The `application_name` of the listening connection, by which it can be told apart in
/// `pg_stat_activity`.
pub const LISTENER_APPLICATION_NAME: &str = "status-checks-listener";

/// The first pause before opening the connection again, doubled after each failed attempt.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// The longest pause between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// How often an idle listening connection is checked with a round trip: a connection whose server vanished
/// without closing it (a network partition) would otherwise go unnoticed, and the caches trusted meanwhile.
const HEARTBEAT: Duration = Duration::from_secs(10);

/// Sends `NOTIFY channel` on `conn`, inside the caller's transaction: PostgreSQL delivers it to every
/// listening store (this one's included) if and when the transaction commits, and never if it rolls back.
pub(crate) async fn notify(
    conn: &mut AsyncPgConnection,
    channel: &'static str,
) -> Result<(), diesel::result::Error> {
    conn.batch_execute(&format!("NOTIFY {channel}")).await
}

/// The listener task of a store, ended when the last clone of the store is dropped.
pub(crate) struct Listener {
    connected: Arc<AtomicBool>,
    task: JoinHandle<()>,
}

impl Drop for Listener {
    fn drop(&mut self) {
        // Dropping the task's connection closes it: nothing outlives the store.
        self.task.abort();
    }
}

impl Listener {
    /// Spawns the listener and waits for its first attempt to connect (at most `connect_timeout`): when it
    /// failed, the listener keeps trying in the background and the store works meanwhile on its polls.
    pub(crate) async fn spawn(
        url: &str,
        server: String,
        redactor: Redactor,
        connect_timeout: Duration,
        hearers: Hearers,
    ) -> Listener {
        let connected = Arc::new(AtomicBool::new(false));
        let (first_tx, first_rx) = oneshot::channel();
        let state = Task {
            url: listener_url(url),
            server,
            redactor,
            connect_timeout,
            connected: connected.clone(),
            hearers,
        };
        let task = tokio::spawn(state.run(first_tx));
        // An error means the task ended, which it does not do by itself.
        let _ = first_rx.await;
        Listener { connected, task }
    }

    /// Whether the listening connection is open and listening.
    pub(crate) fn connected(&self) -> bool {
        self.connected.load(Ordering::Acquire)
    }
}

/// `url` with the listener's `application_name` (replacing one the URL might carry).
fn listener_url(url: &str) -> String {
    let Ok(mut parsed) = url::Url::parse(url) else {
        return url.to_owned();
    };
    let kept: Vec<(String, String)> = parsed
        .query_pairs()
        .filter(|(k, _)| k != "application_name")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    parsed
        .query_pairs_mut()
        .clear()
        .extend_pairs(kept)
        .append_pair("application_name", LISTENER_APPLICATION_NAME);
    parsed.into()
}

struct Task {
    url: String,
    server: String,
    redactor: Redactor,
    connect_timeout: Duration,
    connected: Arc<AtomicBool>,
    hearers: Hearers,
}

/// What the listener tells of what it hears.
pub(crate) struct Hearers {
    /// Woken by [`DELIVERIES_CHANNEL`].
    pub(crate) recorded: Arc<Notify>,
    /// Woken by [`STATUSES_CHANNEL`].
    pub(crate) statuses: Arc<Notify>,
    /// Told what changed by [`INVALIDATIONS_CHANNEL`]; bypassed while not listening.
    pub(crate) caches: Arc<Caches>,
    /// Told of the markers heard back on [`MARKERS_CHANNEL`].
    pub(crate) markers: Arc<Markers>,
}

impl Task {
    async fn run(self, first: oneshot::Sender<()>) {
        let mut first = Some(first);
        let mut backoff = FIRST_BACKOFF;
        // Whether a connection was lost (or never made) since the last one listened.
        let mut lost = false;
        loop {
            match self.connect().await {
                Ok(mut conn) => {
                    // Listening: from here on no change is missed, so what was cached before can go.
                    self.hearers.caches.resume();
                    self.connected.store(true, Ordering::Release);
                    if lost {
                        tracing::info!(server = %self.server, "LISTEN connection open again");
                        // What other instances notified meanwhile was lost: poll now.
                        self.wake_all();
                    }
                    if let Some(first) = first.take() {
                        let _ = first.send(());
                    }
                    backoff = FIRST_BACKOFF;
                    let cause = self.listen(&mut conn).await;
                    // Changes may go unheard from now on: read from the database until listening again.
                    self.hearers.caches.bypass();
                    drop(conn);
                    self.connected.store(false, Ordering::Release);
                    tracing::warn!(
                        server = %self.server,
                        cause = %self.redactor.clean(&cause),
                        retry_in = ?backoff,
                        "lost the LISTEN connection: wake-ups from other instances wait for it"
                    );
                    self.wake_all();
                }
                Err(cause) => {
                    if let Some(first) = first.take() {
                        let _ = first.send(());
                    }
                    tracing::warn!(
                        server = %self.server,
                        cause = %self.redactor.clean(&cause),
                        retry_in = ?backoff,
                        "could not open the LISTEN connection"
                    );
                }
            }
            lost = true;
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    fn wake_all(&self) {
        self.hearers.recorded.notify_one();
        self.hearers.statuses.notify_one();
    }

    /// A new connection (not one of the pool's), listening on both channels.
    async fn connect(&self) -> Result<AsyncPgConnection, String> {
        let opened = tokio::time::timeout(self.connect_timeout, async {
            let mut conn = AsyncPgConnection::establish(&self.url)
                .await
                .map_err(|e| e.to_string())?;
            conn.batch_execute(&format!(
                "LISTEN {DELIVERIES_CHANNEL}; LISTEN {STATUSES_CHANNEL}; LISTEN {INVALIDATIONS_CHANNEL}; \
                 LISTEN {MARKERS_CHANNEL}"
            ))
            .await
            .map_err(|e| e.to_string())?;
            Ok(conn)
        })
        .await;
        match opened {
            Ok(result) => result,
            Err(_) => Err(format!("no answer within {:?}", self.connect_timeout)),
        }
    }

    /// Wakes the local waiters on each notification until the connection fails; answers why it ended.
    async fn listen(&self, conn: &mut AsyncPgConnection) -> String {
        loop {
            let next = {
                let mut stream = pin!(conn.notifications_stream());
                let item = std::future::poll_fn(|cx| stream.as_mut().poll_next(cx));
                tokio::time::timeout(HEARTBEAT, item).await
            };
            match next {
                Ok(Some(Ok(notification))) => match notification.channel.as_str() {
                    DELIVERIES_CHANNEL => self.hearers.recorded.notify_one(),
                    STATUSES_CHANNEL => self.hearers.statuses.notify_one(),
                    INVALIDATIONS_CHANNEL => self
                        .hearers
                        .caches
                        .forget(Invalidation::parse(&notification.payload)),
                    MARKERS_CHANNEL => self.hearers.markers.heard(&notification.payload),
                    _ => {}
                },
                Ok(Some(Err(e))) => return e.to_string(),
                Ok(None) => return "the connection closed".to_owned(),
                // Quiet for a while: check that the server is still there.
                Err(_) => {
                    match tokio::time::timeout(self.connect_timeout, conn.batch_execute("SELECT 1"))
                        .await
                    {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => return e.to_string(),
                        Err(_) => {
                            return format!(
                                "no answer to a heartbeat within {:?}",
                                self.connect_timeout
                            );
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_listener_names_itself() {
        assert_eq!(
            listener_url("postgres://sc:pw@h:5432/db"),
            "postgres://sc:pw@h:5432/db?application_name=status-checks-listener"
        );
        assert_eq!(
            listener_url("postgresql:///db?host=/run/pg&application_name=x"),
            "postgresql:///db?host=%2Frun%2Fpg&application_name=status-checks-listener"
        );
    }
}
