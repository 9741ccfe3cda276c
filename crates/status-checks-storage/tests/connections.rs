//! The connections on a real SQLite file. Group commit: writes waiting together are committed in one transaction, each in a
//! savepoint of its own — a failing one fails alone, the others are stored, in the order they were sent, and
//! a write that panics costs its batch only. Batches are formed deterministically: a first write holds the
//! writer until the others are queued behind it. And a read that finds every read connection busy waits for one.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a panic is how a test fails"
)]

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use status_checks_core::service::Ports;
use status_checks_core::testkit::{FixedClock, SequentialSecrets};
use status_checks_core::users::{NewUser, Username};
use status_checks_core::{RepoError, UserId};
use status_checks_storage::{Store, StoreOptions};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tempfile::TempDir;

fn open() -> (Store, TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("test.db").display());
    (Store::open(&url, StoreOptions::default()).unwrap(), dir)
}

fn ports(store: &Store) -> Ports {
    store.ports(
        Arc::new(FixedClock::default()),
        Arc::new(SequentialSecrets::default()),
    )
}

fn new_user(name: &str) -> NewUser {
    NewUser {
        username: Username::new(name).unwrap(),
        name: name.into(),
        email: None,
        is_admin: false,
        created_at: chrono::DateTime::from_timestamp_millis(1_700_000_000_000).unwrap(),
    }
}

/// Occupies the writer until the returned sender is dropped or sent to.
async fn hold_the_writer(
    store: &Store,
) -> (std::sync::mpsc::Sender<()>, tokio::task::JoinHandle<()>) {
    let (release, held) = std::sync::mpsc::channel::<()>();
    let (started_tx, started) = tokio::sync::oneshot::channel();
    let holder = store.clone();
    let task = tokio::spawn(async move {
        holder
            .raw_write(move |_conn| {
                let _ = started_tx.send(());
                let _ = held.recv();
                Ok(())
            })
            .await
            .unwrap();
    });
    started.await.unwrap();
    (release, task)
}

/// Waits until `n` writes are queued behind the held writer.
async fn queued(store: &Store, n: u64) {
    for _ in 0..2000 {
        if store.writer_stats().waiting.load(Ordering::Relaxed) >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!(
        "{n} writes never queued: {:?}",
        store.writer_stats().waiting
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_write_in_a_batch_fails_alone() {
    let (store, _dir) = open();
    let ports = ports(&store);
    let (release, holder) = hold_the_writer(&store).await;
    // Ten users, "u5" asked for twice: one of the two must fail, nothing else.
    let names = [
        "u0", "u1", "u2", "u3", "u4", "u5", "u5", "u6", "u7", "u8", "u9",
    ];
    let mut tasks = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let users = ports.users.clone();
        let name = name.to_string();
        tasks.push(tokio::spawn(async move {
            users.create_user(new_user(&name)).await
        }));
        queued(&store, i as u64 + 1).await;
    }
    release.send(()).unwrap();
    holder.await.unwrap();
    let mut created = Vec::new();
    let mut refused = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            Ok(user) => created.push(user.username.as_str().to_owned()),
            Err(e) => refused.push(e),
        }
    }
    assert_eq!(
        refused,
        vec![RepoError::Duplicate(
            status_checks_core::error::Duplicate::Username
        )],
        "the duplicate alone fails"
    );
    assert_eq!(created.len(), 10);
    let stored = ports
        .users
        .list_users(None, Default::default())
        .await
        .unwrap();
    assert_eq!(stored.total, 10, "every other write of the batch is stored");
    assert!(
        store.writer_stats().largest_batch.load(Ordering::Relaxed) >= 11,
        "the queued writes were committed as one batch"
    );
}

#[derive(QueryableByName)]
struct Named {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    username: String,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_are_stored_in_the_order_they_were_sent() {
    let (store, _dir) = open();
    let ports = ports(&store);
    let (release, holder) = hold_the_writer(&store).await;
    let mut tasks = Vec::new();
    for i in 0..20 {
        let users = ports.users.clone();
        tasks.push(tokio::spawn(async move {
            users.create_user(new_user(&format!("n{i:02}"))).await
        }));
        queued(&store, i + 1).await;
    }
    release.send(()).unwrap();
    holder.await.unwrap();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let rows: Vec<Named> = store
        .raw_read(|conn| diesel::sql_query("SELECT id, username FROM users ORDER BY id").load(conn))
        .await
        .unwrap();
    let names: Vec<&str> = rows.iter().map(|r| r.username.as_str()).collect();
    let sent: Vec<String> = (0..20).map(|i| format!("n{i:02}")).collect();
    assert_eq!(names, sent, "ids follow the order of sending");
    assert!(rows.windows(2).all(|w| w[0].id < w[1].id));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_that_panics_costs_its_batch_only() {
    let (store, _dir) = open();
    let ports = ports(&store);
    let (release, holder) = hold_the_writer(&store).await;
    let users = ports.users.clone();
    let before = tokio::spawn(async move { users.create_user(new_user("before")).await });
    queued(&store, 1).await;
    let panicking = store.clone();
    let panics = tokio::spawn(async move {
        panicking
            .raw_write(|_conn| -> QueryResult<()> { panic!("a bug in a write") })
            .await
    });
    queued(&store, 2).await;
    release.send(()).unwrap();
    holder.await.unwrap();
    assert!(matches!(panics.await.unwrap(), Err(RepoError::Internal(_))));
    assert!(
        before.await.unwrap().is_err(),
        "the batch the panic happened in is rolled back as a whole"
    );
    // The writer goes on, with a clean connection.
    let after = ports.users.create_user(new_user("after")).await.unwrap();
    let stored = ports
        .users
        .list_users(None, Default::default())
        .await
        .unwrap();
    assert_eq!(
        stored
            .items
            .iter()
            .map(|u| u.username.as_str())
            .collect::<Vec<_>>(),
        vec!["after"]
    );
    assert_ne!(after.id, UserId(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lone_write_that_fails_stores_nothing_of_itself() {
    let (store, _dir) = open();
    let ports = ports(&store);
    // A write that inserts, then fails: as a batch of one, its transaction is rolled back.
    let failed = store
        .raw_write(|conn| {
            diesel::sql_query(
                "INSERT INTO users (username, name, is_admin, created_at) VALUES ('ghost', 'g', 0, 0)",
            )
            .execute(conn)?;
            Err::<(), _>(diesel::result::Error::RollbackTransaction)
        })
        .await;
    assert!(failed.is_err());
    assert_eq!(
        ports
            .users
            .list_users(None, Default::default())
            .await
            .unwrap()
            .total,
        0
    );
    // The same in a batch: its savepoint is rolled back, the batch's other write stored.
    let (release, holder) = hold_the_writer(&store).await;
    let failing = store.clone();
    let ghost = tokio::spawn(async move {
        failing
            .raw_write(|conn| {
                diesel::sql_query(
                    "INSERT INTO users (username, name, is_admin, created_at) VALUES ('ghost', 'g', 0, 0)",
                )
                .execute(conn)?;
                Err::<(), _>(diesel::result::Error::RollbackTransaction)
            })
            .await
    });
    queued(&store, 1).await;
    let users = ports.users.clone();
    let real = tokio::spawn(async move { users.create_user(new_user("real")).await });
    queued(&store, 2).await;
    release.send(()).unwrap();
    holder.await.unwrap();
    assert!(ghost.await.unwrap().is_err());
    real.await.unwrap().unwrap();
    let stored = ports
        .users
        .list_users(None, Default::default())
        .await
        .unwrap();
    assert_eq!(
        stored
            .items
            .iter()
            .map(|u| u.username.as_str())
            .collect::<Vec<_>>(),
        vec!["real"]
    );
}

/// Reads run on the calling thread when a connection is idle; when none is, a read waits for one (as a task)
/// and runs once it is free.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_waits_for_a_busy_read_connection() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("test.db").display());
    let options = StoreOptions {
        read_connections: 1,
        ..StoreOptions::default()
    };
    let store = Store::open(&url, options).unwrap();
    let (release, held) = std::sync::mpsc::channel::<()>();
    let (started_tx, started) = tokio::sync::oneshot::channel();
    let holder = store.clone();
    let busy = tokio::spawn(async move {
        holder
            .raw_read(move |conn| {
                let _ = started_tx.send(());
                let _ = held.recv();
                diesel::sql_query("SELECT 1").execute(conn)
            })
            .await
    });
    started.await.unwrap();
    let reader = store.clone();
    let waiting = tokio::spawn(async move {
        reader
            .raw_read(|conn| diesel::sql_query("SELECT 2").execute(conn))
            .await
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!waiting.is_finished(), "a read ran without a connection");
    release.send(()).unwrap();
    busy.await.unwrap().unwrap();
    waiting.await.unwrap().unwrap();
}
