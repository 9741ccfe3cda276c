//! Throw-away PostgreSQL databases for tests (feature `testing`): for this crate's tests and other crates'
//! tests, never for production code.
//!
//! The server is the one [`URL_VAR`] (`STATUS_CHECKS_TEST_POSTGRES_URL`) names (`.ci/run` starts a
//! throw-away cluster and sets it); its user must be allowed to `CREATE DATABASE`. Without it a test asking
//! for a database ([`TestDatabase::create`], [`server_url`]) gets `None` after a notice and is to pass
//! without running, except under `CI=true`, where it panics: CI cannot go green without the PostgreSQL
//! tests.
//!
//! ```no_run
//! # async fn example() {
//! use status_checks_postgres::testing::TestDatabase;
//!
//! let Some(db) = TestDatabase::create("my_test").await else {
//!     return; // no server, not CI: skipped (a notice was printed)
//! };
//! // … use `db.url()` …
//! db.drop_now().await; // a failed test leaves its database to the throw-away cluster, to look at
//! # }
//! ```

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test support: a panic is how a test fails"
)]

use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};

/// The environment variable naming the PostgreSQL server to test against.
pub const URL_VAR: &str = "STATUS_CHECKS_TEST_POSTGRES_URL";

/// The server to test against, from [`URL_VAR`]; `None` (after a notice naming `test`) when there is none
/// and this is not CI.
///
/// # Panics
/// When [`URL_VAR`] is unset or blank under `CI=true`.
pub fn server_url(test: &str) -> Option<String> {
    match std::env::var(URL_VAR) {
        Ok(url) if !url.trim().is_empty() => Some(url.trim().to_owned()),
        _ if std::env::var("CI").as_deref() == Ok("true") => {
            panic!(
                "{URL_VAR} is not set under CI=true: the PostgreSQL tests cannot be skipped in CI"
            )
        }
        _ => {
            eprintln!(
                "notice: {URL_VAR} is not set, so {test} did not run; set it to a PostgreSQL URL whose \
                 user may CREATE DATABASE (.ci/run starts a throw-away cluster and sets it)"
            );
            None
        }
    }
}

/// A new, empty database made for one test, under a name no other has. Dropped by [`drop_now`] (in async
/// code) or [`drop_blocking`] (anywhere, e.g. in a `Drop`); a database neither is called on stays on the
/// server.
///
/// [`drop_now`]: TestDatabase::drop_now
/// [`drop_blocking`]: TestDatabase::drop_blocking
#[derive(Debug)]
pub struct TestDatabase {
    server: String,
    name: String,
    url: String,
}

impl TestDatabase {
    /// A new database on the server of [`server_url`]; `None` when `test` is skipped.
    ///
    /// # Panics
    /// Under the CI rule of [`server_url`], or when the database cannot be made.
    pub async fn create(test: &str) -> Option<TestDatabase> {
        let server = server_url(test)?;
        Some(TestDatabase::create_on(&server).await)
    }

    /// A new database on `server` (a PostgreSQL URL whose user may `CREATE DATABASE`).
    ///
    /// # Panics
    /// When the server cannot be reached or the database cannot be made.
    pub async fn create_on(server: &str) -> TestDatabase {
        let name = format!("sc_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = AsyncPgConnection::establish(server)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to the test server ({URL_VAR}): {e}"));
        admin
            .batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .await
            .unwrap();
        let mut url = url::Url::parse(server).unwrap();
        url.set_path(&name);
        TestDatabase {
            server: server.to_owned(),
            name,
            url: url.to_string(),
        }
    }

    /// The database's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The URL of the server the database is on.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// Drops the database, with any connection still open to it. A database that cannot be dropped (a
    /// server process of another role still on it, such as autovacuum) is left behind with a notice, not a
    /// failure: it lives on a throw-away server, and what the test asserted stands.
    pub async fn drop_now(self) {
        let statement = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name);
        for attempt in 1..=3u64 {
            let dropped = match AsyncPgConnection::establish(&self.server).await {
                Ok(mut admin) => admin
                    .batch_execute(&statement)
                    .await
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            match dropped {
                Ok(()) => return,
                Err(e) if attempt == 3 => {
                    eprintln!("notice: test database {} left behind: {e}", self.name);
                }
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(100 * attempt)).await,
            }
        }
    }

    /// [`drop_now`](TestDatabase::drop_now) from synchronous code, inside a runtime or not: on a thread
    /// (and a runtime) of its own, as the caller's runtime may be ending or single-threaded.
    pub fn drop_blocking(self) {
        let name = self.name.clone();
        let dropped =
            std::thread::spawn(move || {
                match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime.block_on(self.drop_now()),
                    Err(e) => eprintln!("notice: test database {} left behind: {e}", self.name),
                }
            })
            .join();
        if dropped.is_err() {
            eprintln!("notice: test database {name} left behind");
        }
    }
}
