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

mod columns;
mod connection;
mod error;
#[macro_use]
mod repos;
/// The diesel schema, for tests and tools that must build statements the way this adapter does; not a
/// stable interface.
#[doc(hidden)]
pub mod schema;

pub use connection::{MIGRATION_LOCK_KEY, MIGRATIONS, PgStore, PgStoreOptions, run_migrations};
pub use error::{PgStorageError, is_retryable, repo_error};

use diesel_async::AsyncPgConnection;
use diesel_async::RunQueryDsl;
use diesel_async::pooled_connection::deadpool::Object;
use status_checks_core::RepoError;
use status_checks_core::ports::{Clock, SecretGenerator};
use status_checks_core::service::Ports;
use std::sync::Arc;

impl PgStore {
    /// The core's ports, all served by this store, with the given clock and randomness.
    pub fn ports(&self, clock: Arc<dyn Clock>, secrets: Arc<dyn SecretGenerator>) -> Ports {
        let store = Arc::new(self.clone());
        Ports {
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
        }
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
}
