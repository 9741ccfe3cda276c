//! # status-checks-storage
//!
//! The SQLite adapter of status-checks: it implements every repository and outbox port of
//! `status-checks-core` with diesel, on an embedded SQLite file that needs no set-up, so the service keeps what
//! it acknowledged across restarts.
//!
//! - **Schema and migrations** live in this crate (`migrations/`, embedded with `embed_migrations!`), applied
//!   once at [`Store::open`] (or by [`run_migrations`]) before any request is served.
//! - **Connections**: one writer connection and a pool of read connections. SQLite serialises writers anyway;
//!   doing it in-process on one thread that owns the writer means no `database is locked` errors within the
//!   process, no thread parked per waiting writer (a waiting write is a queued message), and a WAL that
//!   checkpoints (several writing connections were measured to grow the WAL to 174 MB in 30 s against 4 MB for
//!   one). WAL mode lets reads proceed during writes.
//! - **Blocking calls on the async workers are short**: writes run on the writer's own thread; a read runs
//!   on the calling worker when a read connection is idle (a few indexed lookups, cheaper than a thread hop),
//!   else in `tokio::task::spawn_blocking` (r2d2 for the read pool). This choice is hidden here: the ports are plain
//!   `async` methods. It was chosen over `deadpool-diesel` and diesel-async's `SyncConnectionWrapper` because it
//!   needs no extra crate beyond diesel's own r2d2 support and makes the one-writer rule explicit.
//! - **Atomic writes**: each port method that writes runs in one `BEGIN IMMEDIATE` transaction — a merge
//!   request and the deliveries it causes, a retry and its delivery, a project and its Owner, a member change
//!   and the last-Owner check — or, when other writes wait with it, in a savepoint of one such transaction
//!   committed for them all: **group commit** (`writer`), the adapter's one speed trick on the write path.
//!   Nobody is answered before the commit that holds their write.
//! - **Errors** are translated into the core's `RepoError` at this boundary: a unique violation names the rule
//!   it broke, a missing row is `NotFound`; no diesel type crosses a port.
//! - Rows are written with `INSERT … ; SELECT last_insert_rowid()` rather than `INSERT … RETURNING` read with
//!   `get_result()`, which was measured to leave the statement open and stop WAL checkpoints.
//!
//! ## Layout
//! - `repos/`: one module per concept, named as in the core and the HTTP layer (`users`, `tokens`, `projects`,
//!   `members`, `protected_branches`, `merge_requests`, `status_checks` with its `responses`, `deliveries`,
//!   `forges`), each implementing its port with the rows it reads and writes. Their imports form no cycle:
//!   `tokens` and `members` read the users' rows, `status_checks` the protected branches', `merge_requests` and
//!   `responses` record what they cause through `deliveries`, `responses` loads the merge request a retry
//!   renders against from `merge_requests`, and `forges` writes mirrored merge requests through
//!   `merge_requests` and records their notifications through `deliveries`.
//! - `statements`: the hand-written SQL of a status poll and the tests that pin its query plans.
//! - `columns`: conversions of the column values several tables share (times, shas, access levels).
//! - `connection` (opening, pragmas, migrations, the writer and the read pool), `error` (the translation into
//!   `RepoError`), `schema` (diesel's view of `migrations/`).
//!
//! ## SQLite build
//! `libsqlite3-sys` with `bundled`: SQLite is compiled into the binary, so the service needs no system library
//! and always runs the SQLite it was tested with. Its compile-time options are set by `LIBSQLITE3_FLAGS` in the
//! repository's `.cargo/config.toml`, which gives the reason for each: `SQLITE_DEFAULT_MEMSTATUS=0`,
//! `SQLITE_THREADSAFE=2`, no `SQLITE_ENABLE_STAT4`, and `SQLITE_ENABLE_QPSG`. Cargo reads that file only for
//! builds started inside the repository; a build started elsewhere gets libsqlite3-sys's defaults, which are
//! correct but slower. With `THREADSAFE=2` SQLite has no per-connection mutex, so no code here may use one
//! connection from two threads at once: the writer is used behind its mutex, a reader only while checked out
//! of the pool.
//!
//! ## What this crate must never depend on
//! HTTP (axum, hyper, reqwest) or the binary's configuration: it is handed a URL and [`StoreOptions`].
//! SQLite-only tricks stay inside it, so a PostgreSQL adapter can implement the same ports and pass the same
//! contract suite (`status_checks_core::testkit::contract`).

mod columns;
mod connection;
mod error;
mod repos;
/// The diesel schema, for benchmarks and tools that must build statements the way this adapter does; not a
/// stable interface.
#[doc(hidden)]
pub mod schema;
mod statements;
mod writer;

pub use connection::{MIGRATIONS, StoreOptions, Synchronous, database_path, run_migrations};
pub use error::StorageError;
pub use writer::{MAX_BATCH, WriterStats};

use status_checks_core::RepoError;
use status_checks_core::ports::{Clock, SecretGenerator};
use status_checks_core::service::Ports;
use std::path::Path;
use std::sync::Arc;

/// The SQLite store: implements every repository port of the core. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    connections: Arc<connection::Connections>,
    /// Shared by every `ports()` of this store: one set of caches per database.
    caches: Arc<status_checks_cache::Caches>,
    recorded: Arc<tokio::sync::Notify>,
    /// Woken after a commit that scheduled status posts.
    statuses: Arc<tokio::sync::Notify>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.connections.path())
            .finish()
    }
}

impl Store {
    /// Opens (creating if missing) the database at `url`, applies pending migrations, and opens the
    /// connections. Blocking: call it at start-up, before serving.
    pub fn open(url: &str, options: StoreOptions) -> Result<Store, StorageError> {
        let (connections, _applied) = connection::Connections::open(url, &options)?;
        Ok(Store {
            connections: Arc::new(connections),
            caches: Arc::new(status_checks_cache::Caches::new()),
            recorded: Arc::new(tokio::sync::Notify::new()),
            statuses: Arc::new(tokio::sync::Notify::new()),
        })
    }

    /// Runs `f` in one write transaction that records deliveries when `records` is true; once it committed,
    /// wakes the delivery worker ([`Store::deliveries_recorded`]).
    pub(crate) async fn write_recording<T, F>(&self, records: bool, f: F) -> Result<T, RepoError>
    where
        T: Send + 'static,
        F: FnOnce(&mut diesel::SqliteConnection) -> Result<T, error::TxError> + Send + 'static,
    {
        let result = self.connections.write(f).await;
        if records && result.is_ok() {
            self.recorded.notify_one();
        }
        result
    }

    /// Notified after every commit that recorded deliveries: the delivery worker waits on it instead of the
    /// next poll, so a notification leaves as soon as its change is stored.
    pub fn deliveries_recorded(&self) -> Arc<tokio::sync::Notify> {
        self.recorded.clone()
    }

    /// Notified after every commit that scheduled status posts to a forge: the reporter waits on it instead
    /// of the next poll.
    pub fn statuses_scheduled(&self) -> Arc<tokio::sync::Notify> {
        self.statuses.clone()
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        self.connections.path()
    }

    /// Whether the database answers (for readiness checks).
    pub async fn ping(&self) -> Result<(), RepoError> {
        self.connections.ping().await
    }

    /// How many SQL statements the store's connections have run since it opened (pragmas excepted): what the
    /// query-budget tests count, and a metric.
    pub fn statements_executed(&self) -> u64 {
        self.connections.statements()
    }

    /// What the group-commit writer did since the store opened: batches, writes, time queued (for metrics).
    pub fn writer_stats(&self) -> &WriterStats {
        self.connections.writer_stats()
    }

    /// Read pool usage: (connections open, of which idle).
    pub fn pool_state(&self) -> (u32, u32) {
        self.connections.pool_state()
    }

    /// Runs `f` on a read connection exactly as the read ports do (pool checkout on the blocking pool). For
    /// benchmarks and tools that must measure or reuse this adapter's strategy; not a port.
    #[doc(hidden)]
    pub async fn raw_read<T, F>(&self, f: F) -> Result<T, RepoError>
    where
        T: Send + 'static,
        F: FnOnce(&mut diesel::SqliteConnection) -> diesel::QueryResult<T> + Send + 'static,
    {
        self.connections
            .read(move |conn| f(conn).map_err(error::TxError::from))
            .await
    }

    /// Runs `f` in one write transaction exactly as the write ports do (the writer connection, `BEGIN
    /// IMMEDIATE`, the blocking pool). For benchmarks and tools; not a port.
    #[doc(hidden)]
    pub async fn raw_write<T, F>(&self, f: F) -> Result<T, RepoError>
    where
        T: Send + 'static,
        F: FnOnce(&mut diesel::SqliteConnection) -> diesel::QueryResult<T> + Send + 'static,
    {
        self.connections
            .write(move |conn| f(conn).map_err(error::TxError::from))
            .await
    }

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
}
