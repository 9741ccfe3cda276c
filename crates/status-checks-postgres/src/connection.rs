//! Opening the store: the URL, the connection pool, and the migrations, applied by one instance at a time
//! under an advisory lock.

use crate::error::{PgStorageError, Redactor};
use crate::listener::{Hearers, Listener};
use crate::propagation::Markers;
use deadpool::Runtime;
use diesel::connection::SimpleConnection;
use diesel::prelude::Connection;
use diesel_async::AsyncPgConnection;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_async::pooled_connection::deadpool::Pool;
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod,
};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use std::sync::Arc;
use std::time::Duration;

/// The schema's migrations, compiled into the binary.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// The key of the session-level advisory lock (`pg_advisory_lock`) held while migrations run: the bytes of
/// `"stchecks"`. diesel's migration harness takes no lock of its own, so instances starting at once would
/// race to create the same tables; under the lock the first applies what is pending and the others then
/// find nothing to do. Advisory locks are per database, so stores on other databases of the same server
/// never wait for each other.
pub const MIGRATION_LOCK_KEY: i64 = 0x7374_6368_6563_6b73;

/// How to open the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgStoreOptions {
    /// Most connections this instance keeps open to the server (opened on demand, kept while idle). The
    /// server's useful concurrency is about twice its cores in all, shared by every instance, so the default
    /// (10) suits a few instances on a small server; one instance on a large server can take more.
    pub max_connections: u32,
    /// How long a request waits for a connection (a free one, or a new one to be made) before failing: what
    /// bounds a request's wait when the server is unreachable.
    pub acquire_timeout: Duration,
}

impl Default for PgStoreOptions {
    fn default() -> Self {
        PgStoreOptions {
            max_connections: 10,
            acquire_timeout: Duration::from_secs(5),
        }
    }
}

/// The PostgreSQL store. Cheap to clone: clones share one pool.
#[derive(Clone)]
pub struct PgStore {
    pub(crate) pool: Pool<AsyncPgConnection>,
    /// Host, port and database, for logs and errors.
    pub(crate) server: String,
    pub(crate) redactor: Redactor,
    /// Woken after a commit that recorded deliveries: this store's at once, other instances' through
    /// the listener.
    pub(crate) recorded: Arc<tokio::sync::Notify>,
    /// Woken after a commit that scheduled status posts, likewise.
    pub(crate) statuses: Arc<tokio::sync::Notify>,
    /// The `LISTEN` connection's task, ended when the last clone is dropped.
    pub(crate) listener: Arc<Listener>,
    /// The caches of every `ports()` of this store: bypassed until the listener listens, told by it what
    /// other instances changed.
    pub(crate) caches: Arc<status_checks_cache::Caches>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

impl PgStore {
    /// Opens the store on the database at `url` (`postgres://…` or `postgresql://…`): applies the pending
    /// migrations under [`MIGRATION_LOCK_KEY`] (so that any number of instances may start at once), then
    /// returns with a pool of up to `options.max_connections` connections, opened as requests need them,
    /// and one more connection of its own that `LISTEN`s for the other instances' wake-ups and cache
    /// invalidations (see
    /// [`PgStore::listener_connected`]). Must be called within a tokio runtime: the listener is a task,
    /// ended when the last clone of the store is dropped.
    pub async fn open(url: &str, options: PgStoreOptions) -> Result<PgStore, PgStorageError> {
        let url = url.trim();
        let target = Target::parse(url)?;
        if options.max_connections == 0 {
            return Err(PgStorageError::Pool(
                "max_connections must be at least 1".to_owned(),
            ));
        }
        let pool = build_pool(url, &options)?;
        migrate(url, &target).await?;
        let recorded = Arc::new(tokio::sync::Notify::new());
        let statuses = Arc::new(tokio::sync::Notify::new());
        let caches = Arc::new(status_checks_cache::Caches::bypassed());
        let markers = Arc::new(Markers::new(
            pool.clone(),
            Arc::downgrade(&caches),
            target.redactor.clone(),
        ));
        caches.propagate_with(markers.clone());
        let listener = Listener::spawn(
            url,
            target.server.clone(),
            target.redactor.clone(),
            options.acquire_timeout,
            Hearers {
                recorded: recorded.clone(),
                statuses: statuses.clone(),
                caches: caches.clone(),
                markers,
            },
        )
        .await;
        Ok(PgStore {
            pool,
            server: target.server,
            redactor: target.redactor,
            recorded,
            statuses,
            listener: Arc::new(listener),
            caches,
        })
    }
}

/// Applies the pending migrations to the database at `url` under the advisory lock, and answers how many it
/// applied (0 when the schema is current). [`PgStore::open`] does this itself; this is for a `migrate`
/// command.
pub async fn run_migrations(url: &str) -> Result<usize, PgStorageError> {
    let url = url.trim();
    let target = Target::parse(url)?;
    migrate(url, &target).await
}

/// What the URL says, checked, in the forms that may be shown.
struct Target {
    server: String,
    redactor: Redactor,
}

impl Target {
    fn parse(url: &str) -> Result<Target, PgStorageError> {
        let parsed = url::Url::parse(url).map_err(|_| PgStorageError::InvalidUrl("not a URL"))?;
        if !matches!(parsed.scheme(), "postgres" | "postgresql") {
            return Err(PgStorageError::InvalidUrl(
                "the scheme must be postgres:// or postgresql://",
            ));
        }
        let query = |key: &str| {
            parsed
                .query_pairs()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.into_owned())
        };
        let host = parsed
            .host_str()
            .filter(|h| !h.is_empty())
            .map(str::to_owned)
            .or_else(|| query("host"))
            .unwrap_or_else(|| "localhost".to_owned());
        let port = parsed
            .port()
            .map(|p| p.to_string())
            .or_else(|| query("port"))
            .unwrap_or_else(|| "5432".to_owned());
        let database = Some(parsed.path().trim_start_matches('/'))
            .filter(|d| !d.is_empty())
            .map(str::to_owned)
            .or_else(|| query("dbname"))
            .unwrap_or_else(|| "(the user's database)".to_owned());
        let password = parsed
            .password()
            .map(str::to_owned)
            .or_else(|| query("password"));
        Ok(Target {
            server: format!("{host}:{port}/{database}"),
            redactor: Redactor::new(password.as_deref()),
        })
    }
}

fn build_pool(
    url: &str,
    options: &PgStoreOptions,
) -> Result<Pool<AsyncPgConnection>, PgStorageError> {
    let mut config = ManagerConfig::<AsyncPgConnection>::default();
    // No test query at every checkout (a round trip per request): a connection whose server went away is
    // dropped when the driver has seen it close, and otherwise fails at its first use.
    config.recycling_method = RecyclingMethod::Fast;
    let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(url, config);
    let size = usize::try_from(options.max_connections).unwrap_or(usize::MAX);
    Pool::builder(manager)
        .max_size(size)
        .wait_timeout(Some(options.acquire_timeout))
        .create_timeout(Some(options.acquire_timeout))
        .recycle_timeout(Some(options.acquire_timeout))
        .runtime(Runtime::Tokio1)
        .build()
        .map_err(|e| PgStorageError::Pool(e.to_string()))
}

/// Runs the migrations on a connection of its own (a session lock belongs to its connection), on the
/// blocking pool: diesel's migration harness is synchronous, and drives the async connection through
/// [`AsyncConnectionWrapper`].
async fn migrate(url: &str, target: &Target) -> Result<usize, PgStorageError> {
    let owned_url = url.to_owned();
    let server = target.server.clone();
    let redactor = target.redactor.clone();
    let applied =
        tokio::task::spawn_blocking(move || migrate_blocking(&owned_url, server, redactor))
            .await
            .map_err(|e| PgStorageError::Migration {
                server: target.server.clone(),
                cause: format!("the migration task ended abnormally: {e}"),
            })??;
    if applied > 0 {
        tracing::info!(server = %target.server, applied, "applied PostgreSQL migrations");
    } else {
        tracing::debug!(server = %target.server, "PostgreSQL schema is current");
    }
    Ok(applied)
}

fn migrate_blocking(
    url: &str,
    server: String,
    redactor: Redactor,
) -> Result<usize, PgStorageError> {
    let mut conn = AsyncConnectionWrapper::<AsyncPgConnection>::establish(url).map_err(|e| {
        PgStorageError::Connect {
            server: server.clone(),
            cause: redactor.clean(&e.to_string()),
        }
    })?;
    let failed = |cause: String| PgStorageError::Migration {
        server: server.clone(),
        cause: redactor.clean(&cause),
    };
    // Waits while another instance migrates. Should this connection die meanwhile, the server ends its
    // session and with it the lock: a crashed migrator never blocks the others.
    conn.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})"))
        .map_err(|e| failed(format!("taking the migration lock: {e}")))?;
    let applied = conn
        .run_pending_migrations(MIGRATIONS)
        .map(|versions| versions.len())
        .map_err(|e| failed(e.to_string()));
    let unlocked = conn
        .batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})"))
        .map_err(|e| failed(format!("releasing the migration lock: {e}")));
    // Closing the connection ends the session, which would release the lock anyway.
    drop(conn);
    let applied = applied?;
    unlocked?;
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(url: &str) -> Result<Target, PgStorageError> {
        Target::parse(url)
    }

    #[test]
    fn urls_name_the_server_without_the_password() {
        let target = match parse("postgres://sc:hunter2@db.example:6543/status") {
            Ok(target) => target,
            Err(e) => panic!("refused: {e}"),
        };
        assert_eq!(target.server, "db.example:6543/status");
        assert_eq!(target.redactor.clean("x hunter2 y"), "x *** y");

        let Ok(socket) = parse("postgresql:///sc?host=/run/pg&port=5433&user=sc") else {
            panic!("socket URL refused");
        };
        assert_eq!(socket.server, "/run/pg:5433/sc");
    }

    #[test]
    fn other_urls_are_refused_without_being_repeated() {
        for url in ["sqlite://data.db", "data.db", "mysql://u:hunter2@h/db"] {
            match parse(url) {
                Err(e @ PgStorageError::InvalidUrl(_)) => {
                    assert!(!e.to_string().contains("hunter2"), "{e}")
                }
                Err(other) => panic!("{url}: {other}"),
                Ok(_) => panic!("{url} accepted"),
            }
        }
    }
}
