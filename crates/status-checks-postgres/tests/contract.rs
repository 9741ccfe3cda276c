//! The PostgreSQL store against the ports' contract suite (the very scenarios the SQLite adapter passes),
//! each scenario on a database of its own, created on the server `STATUS_CHECKS_TEST_POSTGRES_URL` names and
//! dropped at the scenario's end. Without that variable the scenarios print a notice and pass locally, but
//! fail under `CI=true`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a panic is how a test fails"
)]

use status_checks_core::service::Ports;
use status_checks_core::testkit::{FixedClock, SequentialSecrets};
use status_checks_postgres::testing::TestDatabase;
use status_checks_postgres::{PgStore, PgStoreOptions};
use std::sync::Arc;

/// A scenario's database, dropped (with any connection still open to it) when the scenario ends.
struct DropAtEnd(Option<TestDatabase>);

impl Drop for DropAtEnd {
    fn drop(&mut self) {
        if let Some(db) = self.0.take() {
            db.drop_blocking();
        }
    }
}

/// A migrated store on a new database, as the ports a scenario runs against.
async fn fresh_ports(db: TestDatabase) -> (Ports, DropAtEnd) {
    let options = PgStoreOptions {
        max_connections: 4,
        ..PgStoreOptions::default()
    };
    let store = PgStore::open(db.url(), options).await.unwrap();
    let ports = store.ports(
        Arc::new(FixedClock::default()),
        Arc::new(SequentialSecrets::default()),
    );
    (ports, DropAtEnd(Some(db)))
}

// Without a server (and not under CI) each scenario returns before it starts.
status_checks_core::port_contract_tests!(match TestDatabase::create(
    "the PostgreSQL contract scenario"
)
.await
{
    Some(db) => fresh_ports(db),
    None => return,
});
