//! Running a test again on PostgreSQL: [`run`] sets, for the test's thread, the server its [`TestApp`]s are
//! to make their databases on; [`database`] makes one; [`run`] drops them when the test has passed (a failed
//! test leaves its databases to the throw-away cluster, to look at).
//!
//! [`TestApp`]: crate::TestApp

use status_checks_core::ports::{Clock, SecretGenerator};
use status_checks_core::service::Ports;
use status_checks_postgres::testing::{TestDatabase, server_url};
use status_checks_postgres::{PgStore, PgStoreOptions};
use std::cell::RefCell;
use std::sync::Arc;

thread_local! {
    /// The server of the test running on this thread when it runs on PostgreSQL. A `#[tokio::test]` runs its
    /// body on a current-thread runtime, on the thread that called it: the body sees this.
    static SERVER: RefCell<Option<String>> = const { RefCell::new(None) };
    /// The databases made for that test.
    static DATABASES: RefCell<Vec<TestDatabase>> = const { RefCell::new(Vec::new()) };
}

/// Clears this thread's server even when the test panics.
struct OnPostgres;

impl Drop for OnPostgres {
    fn drop(&mut self) {
        SERVER.with(|server| server.borrow_mut().take());
    }
}

/// Runs `test` (a `#[tokio::test]` function) with its apps on PostgreSQL, then drops the databases it made.
pub(crate) fn run(name: &str, test: fn()) {
    let Some(server) = server_url(name) else {
        return;
    };
    SERVER.with(|s| *s.borrow_mut() = Some(server.clone()));
    DATABASES.with(|d| d.borrow_mut().clear());
    let on_postgres = OnPostgres;
    test();
    drop(on_postgres);
    let made = DATABASES.with(|d| std::mem::take(&mut *d.borrow_mut()));
    for database in made {
        database.drop_blocking();
    }
}

/// The URL of a new, empty database when this thread's test runs on PostgreSQL; `None` on SQLite.
pub(crate) async fn database() -> Option<String> {
    let server = SERVER.with(|s| s.borrow().clone())?;
    let database = TestDatabase::create_on(&server).await;
    let url = database.url().to_owned();
    DATABASES.with(|d| d.borrow_mut().push(database));
    Some(url)
}

/// The ports of a PostgreSQL store on the (new) database at `url`, migrated.
pub(crate) async fn ports(
    url: &str,
    clock: Arc<dyn Clock>,
    secrets: Arc<dyn SecretGenerator>,
) -> Ports {
    let options = PgStoreOptions {
        max_connections: 4,
        ..PgStoreOptions::default()
    };
    PgStore::open(url, options)
        .await
        .unwrap()
        .ports(clock, secrets)
}
