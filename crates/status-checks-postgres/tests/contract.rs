//! The PostgreSQL store against the ports' contract suite (the very scenarios the SQLite adapter passes),
//! each scenario on a database of its own, created on the server `STATUS_CHECKS_TEST_POSTGRES_URL` names and
//! dropped at the scenario's end. Without that variable the scenarios print a notice and pass locally, but
//! fail under `CI=true`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a panic is how a test fails"
)]

use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use status_checks_core::service::Ports;
use status_checks_core::testkit::{FixedClock, SequentialSecrets};
use status_checks_postgres::{PgStore, PgStoreOptions};
use std::sync::Arc;

const URL_VAR: &str = "STATUS_CHECKS_TEST_POSTGRES_URL";

/// The server to test against; `None` (after a notice) when there is none and this is not CI.
fn server_url() -> Option<String> {
    match std::env::var(URL_VAR) {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ if std::env::var("CI").as_deref() == Ok("true") => {
            panic!(
                "{URL_VAR} is not set under CI=true: the PostgreSQL tests cannot be skipped in CI"
            )
        }
        _ => {
            eprintln!(
                "notice: {URL_VAR} is not set, so the PostgreSQL contract scenario did not run; set it \
                 to a PostgreSQL URL whose user may CREATE DATABASE (.ci/run starts a throw-away cluster)"
            );
            None
        }
    }
}

/// A scenario's database, dropped (with any connection still open to it) when the scenario ends.
struct TestDb {
    server: String,
    name: String,
}

impl Drop for TestDb {
    fn drop(&mut self) {
        // On a thread of its own: the scenario's runtime is ending, and may be single-threaded.
        let (server, name) = (self.server.clone(), self.name.clone());
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let mut admin = AsyncPgConnection::establish(&server).await.unwrap();
                admin
                    .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .await
                    .unwrap();
            });
        })
        .join();
        if dropped.is_err() && !std::thread::panicking() {
            panic!("could not drop the test database {}", self.name);
        }
    }
}

/// A migrated store on a new database of `server`, as the ports a scenario runs against.
async fn fresh_ports(server: String) -> (Ports, TestDb) {
    let name = format!("sc_contract_{}", uuid::Uuid::new_v4().simple());
    let mut admin = AsyncPgConnection::establish(&server)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to the test server ({URL_VAR}): {e}"));
    admin
        .batch_execute(&format!("CREATE DATABASE \"{name}\""))
        .await
        .unwrap();
    drop(admin);
    let mut url = url::Url::parse(&server).unwrap();
    url.set_path(&name);
    let options = PgStoreOptions {
        max_connections: 4,
        ..PgStoreOptions::default()
    };
    let store = PgStore::open(url.as_str(), options).await.unwrap();
    let ports = store.ports(
        Arc::new(FixedClock::default()),
        Arc::new(SequentialSecrets::default()),
    );
    (ports, TestDb { server, name })
}

// Without a server (and not under CI) each scenario returns before it starts.
status_checks_core::port_contract_tests!(match server_url() {
    Some(server) => fresh_ports(server),
    None => return,
});
