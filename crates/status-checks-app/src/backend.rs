//! The storage backend the database URL selects: SQLite (`sqlite://…` or a file path, one process) or
//! PostgreSQL (`postgres://…`, `postgresql://…`, any number of `serve` instances on one database), and what
//! `serve` and the offline commands need of it, whichever it is.

use crate::error::AppError;
use status_checks_core::RepoError;
use status_checks_core::ports::{Clock, SecretGenerator};
use status_checks_core::service::Ports;
use status_checks_postgres::{PgStore, PgStoreOptions};
use status_checks_storage::{Store, StoreOptions};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tokio::sync::Notify;

/// Whether `database_url` names a PostgreSQL database (`postgres://` or `postgresql://`, in any case).
pub fn is_postgres(database_url: &str) -> bool {
    let url = database_url.trim().to_ascii_lowercase();
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// Which engine, for logs and metric labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// One SQLite file, one process.
    Sqlite,
    /// One PostgreSQL database, any number of instances.
    Postgres,
}

impl Engine {
    /// The engine `database_url` selects.
    pub fn of(database_url: &str) -> Engine {
        if is_postgres(database_url) {
            Engine::Postgres
        } else {
            Engine::Sqlite
        }
    }

    /// `sqlite` or `postgres`.
    pub fn as_str(self) -> &'static str {
        match self {
            Engine::Sqlite => "sqlite",
            Engine::Postgres => "postgres",
        }
    }
}

/// How to open either store; each side reads its own half.
#[derive(Debug, Clone, Default)]
pub struct BackendOptions {
    /// SQLite's options.
    pub sqlite: StoreOptions,
    /// PostgreSQL's options.
    pub postgres: PgStoreOptions,
}

/// An open store. Cheap to clone.
#[derive(Debug, Clone)]
pub enum Backend {
    /// The SQLite store.
    Sqlite(Store),
    /// The PostgreSQL store.
    Postgres(PgStore),
}

/// What SQLite's group-commit writer did since the store opened (see `status_checks_storage::WriterStats`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WriterTotals {
    /// Transactions (batches).
    pub batches: u64,
    /// Writes.
    pub writes: u64,
    /// Microseconds the writes waited in the queue, summed.
    pub queued_micros: u64,
    /// Writes waiting now.
    pub waiting: u64,
    /// The largest batch.
    pub largest_batch: u64,
}

/// Pool usage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolState {
    /// Connections checked out.
    pub in_use: u32,
    /// Connections open and idle.
    pub idle: u32,
}

impl Backend {
    /// Opens the store `database_url` selects, applying pending migrations (on PostgreSQL under an advisory
    /// lock, so instances may start at once). SQLite's blocking open runs off the async workers.
    pub async fn open(database_url: &str, options: BackendOptions) -> Result<Backend, AppError> {
        match Engine::of(database_url) {
            Engine::Postgres => Ok(Backend::Postgres(
                PgStore::open(database_url, options.postgres).await?,
            )),
            Engine::Sqlite => {
                let url = database_url.to_owned();
                let store = tokio::task::spawn_blocking(move || Store::open(&url, options.sqlite))
                    .await??;
                Ok(Backend::Sqlite(store))
            }
        }
    }

    /// Applies the pending migrations of the database `database_url` selects, without opening a store;
    /// answers how many were applied.
    pub async fn migrate(database_url: &str) -> Result<usize, AppError> {
        match Engine::of(database_url) {
            Engine::Postgres => Ok(status_checks_postgres::run_migrations(database_url).await?),
            Engine::Sqlite => {
                let url = database_url.to_owned();
                let applied = tokio::task::spawn_blocking(move || {
                    status_checks_storage::run_migrations(&url)
                })
                .await??;
                Ok(applied.len())
            }
        }
    }

    /// Which engine.
    pub fn engine(&self) -> Engine {
        match self {
            Backend::Sqlite(_) => Engine::Sqlite,
            Backend::Postgres(_) => Engine::Postgres,
        }
    }

    /// The core's ports, all served by this store.
    pub fn ports(&self, clock: Arc<dyn Clock>, secrets: Arc<dyn SecretGenerator>) -> Ports {
        match self {
            Backend::Sqlite(store) => store.ports(clock, secrets),
            Backend::Postgres(store) => store.ports(clock, secrets),
        }
    }

    /// Whether the database answers (readiness).
    pub async fn ping(&self) -> Result<(), RepoError> {
        match self {
            Backend::Sqlite(store) => store.ping().await,
            Backend::Postgres(store) => store.ping().await,
        }
    }

    /// Notified after a commit of this process that recorded deliveries (the delivery worker's wake-up).
    /// Other instances on the same PostgreSQL database are not woken: they find the deliveries at their
    /// next poll.
    pub fn deliveries_recorded(&self) -> Arc<Notify> {
        match self {
            Backend::Sqlite(store) => store.deliveries_recorded(),
            Backend::Postgres(store) => store.deliveries_recorded(),
        }
    }

    /// Notified after a commit of this process that scheduled status posts (the forge reporter's wake-up).
    pub fn statuses_scheduled(&self) -> Arc<Notify> {
        match self {
            Backend::Sqlite(store) => store.statuses_scheduled(),
            Backend::Postgres(store) => store.statuses_scheduled(),
        }
    }

    /// Whether the `LISTEN` connection that brings other instances' wake-ups is open: on PostgreSQL only
    /// (`None` on SQLite, which has one writer and no listener).
    pub fn listener_connected(&self) -> Option<bool> {
        match self {
            Backend::Sqlite(_) => None,
            Backend::Postgres(store) => Some(store.listener_connected()),
        }
    }

    /// What SQLite's group-commit writer did so far (`None` on PostgreSQL, where each write is its own
    /// transaction on a pooled connection).
    pub fn writer_totals(&self) -> Option<WriterTotals> {
        match self {
            Backend::Sqlite(store) => {
                let stats = store.writer_stats();
                let load = |n: &std::sync::atomic::AtomicU64| n.load(Ordering::Relaxed);
                Some(WriterTotals {
                    batches: load(&stats.batches),
                    writes: load(&stats.writes),
                    queued_micros: load(&stats.queued_micros),
                    waiting: load(&stats.waiting),
                    largest_batch: load(&stats.largest_batch),
                })
            }
            Backend::Postgres(_) => None,
        }
    }

    /// Pool usage: on SQLite the read connections (the writer is one connection of its own), on PostgreSQL
    /// the whole pool.
    pub fn pool_state(&self) -> PoolState {
        match self {
            Backend::Sqlite(store) => {
                let (open, idle) = store.pool_state();
                PoolState {
                    in_use: open.saturating_sub(idle),
                    idle,
                }
            }
            Backend::Postgres(store) => {
                let (in_use, idle) = store.pool_state();
                PoolState { in_use, idle }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_urls_select_postgres_and_the_rest_sqlite() {
        for url in [
            "postgres://u:p@h/db",
            "postgresql://h/db",
            " POSTGRES://h/db",
            "postgresql:///db?host=/run/pg",
        ] {
            assert_eq!(Engine::of(url), Engine::Postgres, "{url}");
        }
        for url in [
            "sqlite://data.db",
            "data.db",
            "/var/lib/sc/postgres.db",
            "postgres.db",
            "sqlite://postgres://x",
        ] {
            assert_eq!(Engine::of(url), Engine::Sqlite, "{url}");
        }
    }
}
