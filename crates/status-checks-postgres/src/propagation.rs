//! Read your writes on every instance: a write through the cached ports returns only once this store's own
//! listener has heard, after the write's invalidations, a marker it sent once the write had committed.
//!
//! PostgreSQL hands notifications to each listening session in commit order, and a commit's notifications to
//! every listener at the same moment. So when the marker (committed after the write) comes back, the write's
//! invalidations have reached this instance's listener and, at the same moment, every other instance's: the
//! response to the write leaves only after that, and the next request, to any instance, finds the caches
//! forgotten. The cost is one round trip and one listener hop per write that changes cached data (admin writes:
//! checks, members, tokens, …; docs/benchmarks.md, "Backends"); a webhook applied does not wait (what it changes
//! is not shown in its answer).

use crate::error::Redactor;
use async_trait::async_trait;
use diesel::sql_types::Text;
use diesel_async::pooled_connection::deadpool::Pool;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use status_checks_cache::{Caches, Propagation};
use std::hash::{BuildHasher, Hasher};
use std::sync::Weak;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::watch;

/// The channel of the markers: `<instance>:<sequence number>`, heard back by the instance that sent them and
/// ignored by the others.
pub const MARKERS_CHANNEL: &str = "status_checks_markers";

/// The longest a write waits for its marker: past it (the listener lost meanwhile, say), the write returns
/// and the other instances' caches rest on their own listeners.
const BOUND: Duration = Duration::from_secs(1);

/// This store's markers: what it sent and what its listener heard back.
pub(crate) struct Markers {
    pool: Pool<AsyncPgConnection>,
    /// Weak: the caches hold these markers.
    caches: Weak<Caches>,
    redactor: Redactor,
    /// Tells this store's markers from the other instances'.
    instance: u64,
    sent: AtomicU64,
    heard: watch::Sender<u64>,
}

impl Markers {
    pub(crate) fn new(
        pool: Pool<AsyncPgConnection>,
        caches: Weak<Caches>,
        redactor: Redactor,
    ) -> Markers {
        // Random per store, from the standard library's per-process random keys.
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u32(std::process::id());
        Markers {
            pool,
            caches,
            redactor,
            instance: hasher.finish(),
            sent: AtomicU64::new(0),
            heard: watch::Sender::new(0),
        }
    }

    /// Called by the listener with each payload on [`MARKERS_CHANNEL`].
    pub(crate) fn heard(&self, payload: &str) {
        let Some((instance, sequence)) = payload.split_once(':') else {
            return;
        };
        if instance.parse::<u64>() != Ok(self.instance) {
            return;
        }
        if let Ok(sequence) = sequence.parse::<u64>() {
            self.heard.send_if_modified(|heard| {
                let newer = sequence > *heard;
                if newer {
                    *heard = sequence;
                }
                newer
            });
        }
    }

    async fn send(&self, sequence: u64) -> Result<(), String> {
        let mut conn = self.pool.get().await.map_err(|e| e.to_string())?;
        diesel::sql_query("SELECT pg_notify($1, $2)::text")
            .bind::<Text, _>(MARKERS_CHANNEL)
            .bind::<Text, _>(format!("{}:{sequence}", self.instance))
            .execute(&mut conn)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

#[async_trait]
impl Propagation for Markers {
    async fn propagated(&self) {
        // Not listening: nothing could be heard back (and this instance's own caches are bypassed).
        if !self.caches.upgrade().is_some_and(|caches| caches.usable()) {
            return;
        }
        let sequence = self.sent.fetch_add(1, Ordering::AcqRel) + 1;
        let mut heard = self.heard.subscribe();
        let waited = tokio::time::timeout(BOUND, async {
            self.send(sequence).await?;
            heard
                .wait_for(|heard| *heard >= sequence)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        })
        .await;
        match waited {
            Ok(Ok(())) => {}
            Ok(Err(cause)) => tracing::debug!(
                cause = %self.redactor.clean(&cause),
                "could not send a cache invalidation marker"
            ),
            Err(_) => tracing::debug!(bound = ?BOUND, "a cache invalidation marker not heard back"),
        }
    }
}
