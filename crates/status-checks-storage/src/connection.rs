//! Opening the database: the URL, the pragmas, the migrations, the writer connection and the read pool, and
//! the two ways requests reach them without blocking the async executor.

use crate::error::{StorageError, TxError};
use crate::writer::{Writer, WriterStats};
use diesel::connection::{InstrumentationEvent, SimpleConnection};
use diesel::prelude::*;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use status_checks_core::RepoError;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The schema's migrations, compiled into the binary.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// SQLite's `synchronous` setting: how hard a commit waits for the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Synchronous {
    /// In WAL mode, a committed transaction survives a crash of the process; a power loss may lose the last
    /// transactions but never corrupts the file. The default.
    #[default]
    Normal,
    /// Every commit is on disk before it is acknowledged, power loss included. Slower.
    Full,
}

impl Synchronous {
    fn pragma(self) -> &'static str {
        match self {
            Synchronous::Normal => "NORMAL",
            Synchronous::Full => "FULL",
        }
    }
}

/// How to open the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreOptions {
    /// Connections for reads (requests read in parallel; writes go through one connection).
    pub read_connections: u32,
    /// How long a statement waits for a lock held by another process before failing.
    pub busy_timeout: Duration,
    /// Durability of commits.
    pub synchronous: Synchronous,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            read_connections: 8,
            busy_timeout: Duration::from_secs(5),
            synchronous: Synchronous::Normal,
        }
    }
}

/// Reads a database URL: `sqlite://relative/path.db` (relative to the working directory),
/// `sqlite:///abs/path.db`, `sqlite:path.db`, or a plain file path. In-memory databases are refused: the
/// service must keep what it acknowledged.
pub fn database_path(url: &str) -> Result<PathBuf, StorageError> {
    let invalid = |reason| StorageError::InvalidUrl {
        url: url.to_owned(),
        reason,
    };
    let trimmed = url.trim();
    if trimmed.contains(":memory:") || trimmed.starts_with("file:") {
        return Err(invalid(
            "in-memory and URI databases are not supported; give a file path",
        ));
    }
    let path = if let Some(rest) = trimmed.strip_prefix("sqlite://") {
        rest
    } else if let Some(rest) = trimmed.strip_prefix("sqlite:") {
        rest
    } else if trimmed.contains("://") {
        return Err(invalid("only sqlite:// URLs and file paths are supported"));
    } else {
        trimmed
    };
    if path.is_empty() {
        return Err(invalid("no file path"));
    }
    Ok(PathBuf::from(path))
}

/// Pragmas every connection needs (they are per connection, not stored in the file), and the statement
/// counter every connection reports to.
#[derive(Debug, Clone)]
struct ConnectionPragmas {
    busy_timeout: Duration,
    synchronous: Synchronous,
    read_only: bool,
    statements: Arc<AtomicU64>,
}

impl ConnectionPragmas {
    fn apply(&self, conn: &mut SqliteConnection) -> QueryResult<()> {
        conn.batch_execute(&format!(
            "PRAGMA busy_timeout = {};",
            self.busy_timeout.as_millis()
        ))?;
        // Set explicitly: a system SQLite defaults to OFF, the bundled one to ON.
        conn.batch_execute("PRAGMA foreign_keys = ON;")?;
        conn.batch_execute(&format!(
            "PRAGMA synchronous = {};",
            self.synchronous.pragma()
        ))?;
        conn.batch_execute("PRAGMA temp_store = MEMORY;")?;
        if self.read_only {
            // A read connection that tries to write is a bug; make it fail loudly.
            conn.batch_execute("PRAGMA query_only = ON;")?;
        }
        let statements = self.statements.clone();
        conn.set_instrumentation(move |event: InstrumentationEvent<'_>| {
            if let InstrumentationEvent::StartQuery { .. } = event {
                statements.fetch_add(1, Ordering::Relaxed);
            }
        });
        Ok(())
    }
}

impl CustomizeConnection<SqliteConnection, diesel::r2d2::Error> for ConnectionPragmas {
    fn on_acquire(&self, conn: &mut SqliteConnection) -> Result<(), diesel::r2d2::Error> {
        self.apply(conn).map_err(diesel::r2d2::Error::QueryError)
    }
}

fn establish(path: &Path) -> Result<SqliteConnection, StorageError> {
    let display = path.display().to_string();
    SqliteConnection::establish(&display).map_err(|source| StorageError::Open {
        path: display,
        source,
    })
}

fn ensure_parent_dir(path: &Path) -> Result<(), StorageError> {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() && !parent.exists() => {
            std::fs::create_dir_all(parent).map_err(|source| StorageError::Directory {
                path: parent.display().to_string(),
                source,
            })
        }
        _ => Ok(()),
    }
}

/// Creates the database file, if missing, readable and writable by its owner only (mode 0600): it holds
/// tokens' hashes and forges' credentials. SQLite creates the WAL and shared-memory files with the database
/// file's mode, so they are private too. An existing file keeps its mode (the operator's choice).
fn create_private(path: &Path) -> Result<(), StorageError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(source) => Err(StorageError::Directory {
            path: path.display().to_string(),
            source,
        }),
    }
}

/// Applies pending migrations on one connection: WAL mode (stored in the file, set once), foreign keys off
/// while the schema changes and back on after. Returns the versions applied.
fn migrate(conn: &mut SqliteConnection) -> Result<Vec<String>, StorageError> {
    conn.batch_execute("PRAGMA journal_mode = WAL;")?;
    conn.batch_execute("PRAGMA foreign_keys = OFF;")?;
    let applied = conn
        .run_pending_migrations(MIGRATIONS)
        .map(|versions| versions.iter().map(ToString::to_string).collect())
        .map_err(|e| StorageError::Migration(e.to_string()));
    conn.batch_execute("PRAGMA foreign_keys = ON;")?;
    applied
}

/// Opens (creating if missing) the database at `url` and applies pending migrations; returns the versions
/// applied. For the `migrate` command; [`crate::Store::open`] does the same before serving.
pub fn run_migrations(url: &str) -> Result<Vec<String>, StorageError> {
    let path = database_path(url)?;
    ensure_parent_dir(&path)?;
    create_private(&path)?;
    let mut conn = establish(&path)?;
    migrate(&mut conn)
}

/// The connections of an open store.
pub(crate) struct Connections {
    /// The one connection that writes, owned by the group-commit thread (`writer.rs`). SQLite allows one
    /// writer at a time anyway; one connection makes that explicit, never waits on `SQLITE_BUSY` within the
    /// process, and keeps the WAL small. Waiting writers are queued messages, not threads.
    writer: Writer,
    /// Read connections; WAL lets them read while the writer writes.
    readers: Pool<ConnectionManager<SqliteConnection>>,
    /// One permit per read connection, awaited before a blocking thread is taken, so that waiting readers park
    /// as tasks rather than as threads blocked inside the pool.
    read_permits: Arc<tokio::sync::Semaphore>,
    path: PathBuf,
    /// SQL statements run by every connection since the store opened.
    statements: Arc<AtomicU64>,
}

impl Connections {
    pub(crate) fn open(
        url: &str,
        options: &StoreOptions,
    ) -> Result<(Connections, Vec<String>), StorageError> {
        let path = database_path(url)?;
        ensure_parent_dir(&path)?;
        create_private(&path)?;
        let mut writer = establish(&path)?;
        // Before migrating: another process on the file (an offline command, a store closing) must be waited
        // for, not answered with `database is locked`.
        writer.batch_execute(&format!(
            "PRAGMA busy_timeout = {};",
            options.busy_timeout.as_millis()
        ))?;
        let applied = migrate(&mut writer)?;
        let statements = Arc::new(AtomicU64::new(0));
        let pragmas = ConnectionPragmas {
            busy_timeout: options.busy_timeout,
            synchronous: options.synchronous,
            read_only: false,
            statements: statements.clone(),
        };
        pragmas.apply(&mut writer)?;
        let readers = Pool::builder()
            .max_size(options.read_connections.max(1))
            .min_idle(Some(1))
            // A local SQLite connection does not go stale; testing it costs a `SELECT 1` per checkout.
            .test_on_check_out(false)
            .connection_timeout(Duration::from_secs(30))
            .connection_customizer(Box::new(ConnectionPragmas {
                read_only: true,
                ..pragmas.clone()
            }))
            .build(ConnectionManager::<SqliteConnection>::new(
                path.display().to_string(),
            ))
            .map_err(|e| StorageError::Pool(e.to_string()))?;
        Ok((
            Connections {
                writer: Writer::start(writer).map_err(|e| StorageError::Pool(e.to_string()))?,
                read_permits: Arc::new(tokio::sync::Semaphore::new(
                    options.read_connections.max(1) as usize,
                )),
                readers,
                path,
                statements,
            },
            applied,
        ))
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn statements(&self) -> u64 {
        self.statements.load(Ordering::Relaxed)
    }

    /// Runs `f` on a read connection: at once on the calling thread when a connection is idle (the read path's
    /// one trick, docs/benchmarks.md "Reads without a thread hop"), on tokio's blocking pool otherwise.
    pub(crate) async fn read<T, F>(&self, f: F) -> Result<T, RepoError>
    where
        T: Send + 'static,
        F: FnOnce(&mut SqliteConnection) -> Result<T, TxError> + Send + 'static,
    {
        // A read is a few indexed lookups on a WAL file that never blocks readers: tens of microseconds, less
        // than handing it to a blocking thread and back costs. With a permit and an idle connection at hand it
        // runs right here; when every connection is busy it waits as a task, on the blocking pool.
        if let Ok(permit) = self.read_permits.clone().try_acquire_owned() {
            if let Some(mut conn) = self.readers.try_get() {
                let result = f(&mut conn).map_err(RepoError::from);
                drop(conn);
                drop(permit);
                return result;
            }
            drop(permit);
        }
        let permit = self
            .read_permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| RepoError::Internal("the store is closed".into()))?;
        let pool = self.readers.clone();
        let task = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let mut conn = pool
                .get()
                .map_err(|e| RepoError::Internal(format!("no read connection: {e}")))?;
            f(&mut conn).map_err(RepoError::from)
        });
        task.await
            .map_err(|e| RepoError::Internal(format!("storage task failed: {e}")))?
    }

    /// Runs `f` on the writer connection in a `BEGIN IMMEDIATE` transaction, committed with the other writes
    /// waiting at the time (`writer.rs`): answers once that commit is done, `f`'s own error if it failed
    /// (then nothing of it is stored), or the commit's.
    pub(crate) async fn write<T, F>(&self, f: F) -> Result<T, RepoError>
    where
        T: Send + 'static,
        F: FnOnce(&mut SqliteConnection) -> Result<T, TxError> + Send + 'static,
    {
        self.writer.write(f).await
    }

    /// What the group-commit writer did so far.
    pub(crate) fn writer_stats(&self) -> &WriterStats {
        self.writer.stats()
    }

    /// Whether the database answers a trivial query (readiness).
    pub(crate) async fn ping(&self) -> Result<(), RepoError> {
        self.read(|conn| {
            conn.batch_execute("SELECT 1;")?;
            Ok(())
        })
        .await
    }

    /// Read pool usage: (connections open, idle).
    pub(crate) fn pool_state(&self) -> (u32, u32) {
        let state = self.readers.state();
        (state.connections, state.idle_connections)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls() {
        let ok = |url: &str| {
            database_path(url)
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        };
        assert_eq!(ok("sqlite://status-checks.db"), "status-checks.db");
        assert_eq!(ok("sqlite://data/sc.db"), "data/sc.db");
        assert_eq!(ok("sqlite:///var/lib/sc.db"), "/var/lib/sc.db");
        assert_eq!(ok("sqlite:sc.db"), "sc.db");
        assert_eq!(ok("/tmp/x.db"), "/tmp/x.db");
        assert_eq!(ok("x.db"), "x.db");
        for bad in [
            "sqlite::memory:",
            ":memory:",
            "",
            "sqlite://",
            "postgres://h/db",
            "file:x.db?mode=memory",
        ] {
            assert!(database_path(bad).is_err(), "{bad}");
        }
    }
}
