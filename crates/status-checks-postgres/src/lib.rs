//! # status-checks-postgres
//!
//! The PostgreSQL adapter of status-checks: storage for several `serve` instances sharing one database,
//! where SQLite (`status-checks-storage`) serves one process. It implements every repository and
//! outbox port of `status-checks-core` ([`PgStore::ports`]) and passes the same contract suite.
//!
//! - **Schema and migrations** live in this crate (`migrations/`, PostgreSQL DDL, embedded with
//!   `embed_migrations!`): the SQLite schema translated, with every table that belongs to a project keyed by
//!   `project_id` first, and times kept as BIGINT milliseconds as on SQLite (the migration's header gives
//!   each choice). [`PgStore::open`] applies them under a session advisory lock ([`MIGRATION_LOCK_KEY`]), so
//!   instances starting at once neither fail nor apply anything twice.
//! - **Connections**: diesel-async's `AsyncPgConnection` (tokio-postgres underneath: pure Rust, no libpq),
//!   pooled by deadpool, at most [`PgStoreOptions::max_connections`] per instance; a request waits at most
//!   [`PgStoreOptions::acquire_timeout`] for one. Migrations run through diesel-async's sync
//!   `AsyncConnectionWrapper` on the blocking pool.
//! - **Wake-ups across instances**: a transaction that records deliveries sends `NOTIFY`
//!   [`DELIVERIES_CHANNEL`], one that schedules status posts `NOTIFY` [`STATUSES_CHANNEL`]; each store keeps one
//!   connection outside the pool that `LISTEN`s on both and wakes [`PgStore::deliveries_recorded`] and
//!   [`PgStore::statuses_scheduled`], and opens it again (1 s, doubling to 60 s) when it is lost
//!   ([`PgStore::listener_connected`]).
//! - **Caches coherent across instances**: [`PgStore::ports`] wraps the repositories in `status-checks-cache`'s
//!   decorator. Triggers (migration 2) send what a write changed on [`INVALIDATIONS_CHANNEL`] inside the
//!   writing transaction; the same listening connection hands it to the caches. The caches are bypassed
//!   until it first listens and whenever it is lost, and flushed each time it listens again
//!   ([`PgStore::caches_in_use`]). A write that changed cached data returns only once its own marker, sent
//!   after it on [`MARKERS_CHANNEL`], was heard back: by then every instance has its invalidations.
//! - **Errors** are translated into the core's `RepoError` at this boundary ([`repo_error`]): a unique
//!   violation names the rule it broke by the constraint PostgreSQL reports, and [`is_retryable`] tells the
//!   serialization failures and deadlocks that a transaction is to be run again for. No text made here holds
//!   the database password.
//!
//! ## What this crate must never depend on
//! HTTP (axum, hyper, reqwest), the binary's configuration (it is handed a URL and [`PgStoreOptions`]), or
//! the SQLite adapter: the two adapters share the core's ports and nothing else, so either can change its
//! strategy (SQLite's single writer, PostgreSQL's row locks) without the other. Built on its own it does not
//! compile SQLite: diesel is asked for its `postgres_backend` feature alone (a workspace build unifies
//! diesel's features across both adapters).
//!
//! ## Features
//! - `testing`: throw-away databases on the server `STATUS_CHECKS_TEST_POSTGRES_URL` names
//!   ([`testing::TestDatabase`]), for this crate's tests and other crates' tests; never for production code.

mod columns;
mod connection;
mod error;
mod listener;
mod propagation;
#[macro_use]
mod repos;
/// The diesel schema, for tests and tools that must build statements the way this adapter does; not a
/// stable interface.
#[doc(hidden)]
pub mod schema;
#[cfg(feature = "testing")]
pub mod testing;

pub use connection::{MIGRATION_LOCK_KEY, MIGRATIONS, PgStore, PgStoreOptions, run_migrations};
pub use error::{PgStorageError, is_retryable, repo_error};
pub use listener::{
    DELIVERIES_CHANNEL, INVALIDATIONS_CHANNEL, LISTENER_APPLICATION_NAME, STATUSES_CHANNEL,
};
pub use propagation::MARKERS_CHANNEL;

use diesel_async::AsyncPgConnection;
use diesel_async::RunQueryDsl;
use diesel_async::pooled_connection::deadpool::Object;
use status_checks_core::RepoError;
use status_checks_core::ports::RepoResult;
use status_checks_core::ports::{Clock, SecretGenerator};
use status_checks_core::service::Ports;
use std::sync::Arc;

impl PgStore {
    /// The core's ports, all served by this store through its caches (the same for every call), with the
    /// given clock and randomness.
    pub fn ports(&self, clock: Arc<dyn Clock>, secrets: Arc<dyn SecretGenerator>) -> Ports {
        let store = Arc::new(self.clone());
        let ports = Ports {
            users: store.clone(),
            tokens: store.clone(),
            projects: store.clone(),
            members: store.clone(),
            protected_branches: store.clone(),
            merge_requests: store.clone(),
            status_checks: store.clone(),
            responses: store.clone(),
            deliveries: store.clone(),
            forges: store,
            clock,
            secrets,
        };
        status_checks_cache::cached(ports, self.caches.clone())
    }

    /// Whether reads are served from the caches: false until the listener first listens and while it is
    /// lost (see [`PgStore::listener_connected`]).
    pub fn caches_in_use(&self) -> bool {
        self.caches.usable()
    }

    /// Whether the database answers (for readiness checks): one round trip on a pooled connection, within
    /// [`PgStoreOptions::acquire_timeout`] when no connection can be had.
    pub async fn ping(&self) -> Result<(), RepoError> {
        let mut conn = self.connection().await?;
        diesel::sql_query("SELECT 1")
            .execute(&mut conn)
            .await
            .map(|_| ())
            .map_err(repo_error)
    }

    /// A connection from the pool, for tests and tools that must run statements the way this adapter does;
    /// not a port. Errors name no credentials.
    pub async fn connection(&self) -> Result<Object<AsyncPgConnection>, RepoError> {
        self.pool
            .get()
            .await
            .map_err(|e| error::pool_error(e, &self.redactor))
    }

    /// Host, port and database of the server (never the password), for logs.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// Notified after every commit that recorded deliveries: the delivery worker waits on it instead of the
    /// next poll, as on SQLite. This store's own commits notify it at once; those of other instances on the
    /// same database through `NOTIFY` [`DELIVERIES_CHANNEL`] and this store's listening connection. It is
    /// also notified once when that connection is lost and once when it listens again (what was sent in
    /// between is lost), so that the worker polls at once.
    pub fn deliveries_recorded(&self) -> Arc<tokio::sync::Notify> {
        self.recorded.clone()
    }

    /// Notified after every commit of this store that scheduled status posts to a forge: the reporter waits
    /// on it instead of the next poll. Across instances like [`PgStore::deliveries_recorded`], on
    /// [`STATUSES_CHANNEL`].
    pub fn statuses_scheduled(&self) -> Arc<tokio::sync::Notify> {
        self.statuses.clone()
    }

    /// Whether the store's `LISTEN` connection is open and listening: while it is not, wake-ups from other
    /// instances are lost and their work is found at the next poll. It is opened again by itself.
    pub fn listener_connected(&self) -> bool {
        self.listener.connected()
    }

    /// Pool usage: (connections in use, connections idle).
    pub fn pool_state(&self) -> (u32, u32) {
        let status = self.pool.status();
        let idle = status.available.min(status.size);
        let to_u32 = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        (to_u32(status.size - idle), to_u32(idle))
    }

    /// `result` of a write that recorded deliveries when `records` is true: once it committed, wakes the
    /// delivery worker.
    pub(crate) fn recorded_if<T>(&self, records: bool, result: RepoResult<T>) -> RepoResult<T> {
        if records && result.is_ok() {
            self.recorded.notify_one();
        }
        result
    }

    /// `result` of a write that scheduled status posts when `posts` is true: once it committed, wakes the
    /// forge reporter.
    pub(crate) fn scheduled_if<T>(&self, posts: bool, result: RepoResult<T>) -> RepoResult<T> {
        if posts && result.is_ok() {
            self.statuses.notify_one();
        }
        result
    }
}

/// `text` with the password of the database URL `url` (any scheme) replaced by `***`: for messages that
/// might quote what a driver said about a connection. Leaves `text` as it is when `url` holds no password.
pub fn redact_password(url: &str, text: &str) -> String {
    let Ok(parsed) = url::Url::parse(url.trim()) else {
        return text.to_owned();
    };
    // As written (percent-encoded or not): the redactor cuts out both the written and the decoded form.
    let password = parsed.password().map(str::to_owned).or_else(|| {
        parsed.query().and_then(|query| {
            query
                .split('&')
                .find_map(|pair| pair.strip_prefix("password="))
                .map(str::to_owned)
        })
    });
    error::Redactor::new(password.as_deref()).clean(text)
}

#[cfg(test)]
mod tests {
    use super::redact_password;

    #[test]
    fn passwords_of_any_database_url_are_cut_out() {
        assert_eq!(
            redact_password("postgres://sc:hunter2@h/db", "failed: hunter2 rejected"),
            "failed: *** rejected"
        );
        assert_eq!(
            redact_password("postgresql://sc@h/db?password=s%3Acret", "s:cret s%3Acret"),
            "*** ***"
        );
        assert_eq!(
            redact_password("data.db", "nothing to hide"),
            "nothing to hide"
        );
    }
}
