//! Running a test again on PostgreSQL: [`run`] sets, for the test's thread, the server its [`TestApp`]s are
//! to make their databases on; [`database`] makes one; [`run`] drops them when the test has passed (a failed
//! test leaves its databases to the throw-away cluster, to look at).
//!
//! [`TestApp`]: crate::TestApp

use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use status_checks_core::ports::{Clock, SecretGenerator};
use status_checks_core::service::Ports;
use status_checks_postgres::{PgStore, PgStoreOptions};
use std::cell::RefCell;
use std::sync::Arc;

const URL_VAR: &str = "STATUS_CHECKS_TEST_POSTGRES_URL";

thread_local! {
    /// The server of the test running on this thread when it runs on PostgreSQL. A `#[tokio::test]` runs its
    /// body on a current-thread runtime, on the thread that called it: the body sees this.
    static SERVER: RefCell<Option<String>> = const { RefCell::new(None) };
    /// The databases made for that test.
    static DATABASES: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

/// The server to test against; `None` (after a notice) when there is none and this is not CI.
fn server_url(test: &str) -> Option<String> {
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
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let mut admin = AsyncPgConnection::establish(&server).await.unwrap();
            for name in made {
                admin
                    .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .await
                    .unwrap();
            }
        });
}

/// The URL of a new, empty database when this thread's test runs on PostgreSQL; `None` on SQLite.
pub(crate) async fn database() -> Option<String> {
    let server = SERVER.with(|s| s.borrow().clone())?;
    let name = format!("sc_http_{}", uuid::Uuid::new_v4().simple());
    let mut admin = AsyncPgConnection::establish(&server)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to the test server ({URL_VAR}): {e}"));
    admin
        .batch_execute(&format!("CREATE DATABASE \"{name}\""))
        .await
        .unwrap();
    DATABASES.with(|d| d.borrow_mut().push(name.clone()));
    let mut url = url::Url::parse(&server).unwrap();
    url.set_path(&name);
    Some(url.to_string())
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
