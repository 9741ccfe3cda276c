//! Wake-ups across instances: two stores on one PostgreSQL database, one writing, the other woken through
//! `NOTIFY` and its `LISTEN` connection, which comes back by itself when the server ends it. Each test on a
//! database of its own on the server `STATUS_CHECKS_TEST_POSTGRES_URL` names; skipped without it, failing
//! without it under `CI=true`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a panic is how a test fails"
)]

use diesel::QueryableByName;
use diesel::sql_types::Integer;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use status_checks_core::deliveries::{DeliveryDraft, HookProject, HookUser};
use status_checks_core::ids::CommitSha;
use status_checks_core::merge_requests::NewMergeRequest;
use status_checks_core::projects::{NewProject, Project};
use status_checks_core::service::Ports;
use status_checks_core::status_checks::{
    CheckName, ExternalStatusCheck, ExternalUrl, NewStatusCheck,
};
use status_checks_core::testkit::{FixedClock, SequentialSecrets};
use status_checks_core::users::{NewUser, Username};
use status_checks_core::{DetailedMergeStatus, Timestamp, UserId};
use status_checks_postgres::testing::TestDatabase;
use status_checks_postgres::{LISTENER_APPLICATION_NAME, PgStore, PgStoreOptions};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// How long a wake-up from the other instance may take (measured: well under a millisecond).
const WAKE_UP: Duration = Duration::from_secs(1);

/// A new database and two stores (two instances) on it.
struct Instances {
    database: TestDatabase,
    a: PgStore,
    b: PgStore,
    /// The backend pid of each store's listening connection, as first opened.
    listener_a: i32,
    listener_b: i32,
}

#[derive(QueryableByName)]
struct Pid {
    #[diesel(sql_type = Integer)]
    pid: i32,
}

impl Instances {
    async fn start(test: &str) -> Option<Instances> {
        let database = TestDatabase::create(test).await?;
        let a = PgStore::open(database.url(), PgStoreOptions::default())
            .await
            .unwrap();
        assert!(a.listener_connected(), "A's listener did not connect");
        let before = listener_pids(&a, database.name()).await;
        assert_eq!(before.len(), 1, "A's listener: {before:?}");
        let b = PgStore::open(database.url(), PgStoreOptions::default())
            .await
            .unwrap();
        assert!(b.listener_connected(), "B's listener did not connect");
        let after = listener_pids(&a, database.name()).await;
        let new: Vec<i32> = after.difference(&before).copied().collect();
        assert_eq!(new.len(), 1, "B's listener: {after:?} after {before:?}");
        Some(Instances {
            database,
            listener_a: before.into_iter().next().unwrap(),
            listener_b: new[0],
            a,
            b,
        })
    }

    async fn drop_now(self) {
        let Instances { database, a, b, .. } = self;
        drop((a, b));
        database.drop_now().await;
    }
}

/// The backend pids of the listening connections on database `name`.
async fn listener_pids(store: &PgStore, name: &str) -> HashSet<i32> {
    let mut conn = store.connection().await.unwrap();
    let rows: Vec<Pid> = diesel::sql_query(format!(
        "SELECT pid FROM pg_stat_activity WHERE datname = '{name}' \
         AND application_name = '{LISTENER_APPLICATION_NAME}'"
    ))
    .load(&mut conn)
    .await
    .unwrap();
    rows.into_iter().map(|r| r.pid).collect()
}

fn ports(store: &PgStore) -> Ports {
    store.ports(
        Arc::new(FixedClock::default()),
        Arc::new(SequentialSecrets::default()),
    )
}

fn now() -> Timestamp {
    chrono::DateTime::from_timestamp_millis(1_700_000_000_000).unwrap()
}

/// Consumes a wake-up already stored in `notify`; answers whether there was one.
async fn drain(notify: &Notify) -> bool {
    let mut woken = false;
    while tokio::time::timeout(Duration::from_millis(100), notify.notified())
        .await
        .is_ok()
    {
        woken = true;
    }
    woken
}

async fn woken_within(notify: &Notify, limit: Duration) -> bool {
    tokio::time::timeout(limit, notify.notified()).await.is_ok()
}

/// Alice, her project and a check in it, made through `ports`.
async fn project_with_check(ports: &Ports) -> (UserId, Project, ExternalStatusCheck) {
    let alice = ports
        .users
        .create_user(NewUser {
            username: Username::new("alice").unwrap(),
            name: "Alice".into(),
            email: None,
            is_admin: false,
            created_at: now(),
        })
        .await
        .unwrap()
        .id;
    let project = ports
        .projects
        .create_project(
            NewProject {
                name: "P".into(),
                path: "p".into(),
                namespace: "g".into(),
                only_allow_merge_if_all_status_checks_passed: false,
                created_at: now(),
            },
            alice,
        )
        .await
        .unwrap();
    let check = ports
        .status_checks
        .create_check(NewStatusCheck {
            project_id: project.id,
            name: CheckName::parse("ci").unwrap(),
            external_url: ExternalUrl::parse("https://ci.example.com/hook", false).unwrap(),
            shared_secret: None,
            protected_branch_ids: Vec::new(),
            created_at: now(),
        })
        .await
        .unwrap();
    (alice, project, check)
}

fn new_mr(project: &Project, author: UserId, n: usize) -> NewMergeRequest {
    NewMergeRequest {
        project_id: project.id,
        title: format!("MR {n}"),
        description: String::new(),
        source_branch: format!("feature-{n}"),
        target_branch: "main".into(),
        sha: CommitSha::parse(&format!("{n:040x}")).unwrap(),
        author_id: author,
        created_at: now(),
    }
}

fn draft(check: &ExternalStatusCheck, project: &Project, key: &str) -> DeliveryDraft {
    DeliveryDraft {
        external_status_check_id: check.id,
        check_name: check.name.as_str().into(),
        check_url: check.external_url.as_str().into(),
        project: HookProject::of(project),
        user: HookUser {
            id: UserId(1),
            name: "Alice".into(),
            username: "alice".into(),
        },
        action: None,
        changes: Default::default(),
        oldrev: None,
        detailed_merge_status: DetailedMergeStatus::Mergeable,
        base_url: "http://sc.test".into(),
        idempotency_key: key.into(),
        created_at: now(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deliveries_recorded_by_one_instance_wake_the_other() {
    let Some(db) = Instances::start("deliveries_recorded_by_one_instance_wake_the_other").await
    else {
        return;
    };
    let a = ports(&db.a);
    let (alice, project, check) = project_with_check(&a).await;
    let b_recorded = db.b.deliveries_recorded();
    let b_statuses = db.b.statuses_scheduled();
    drain(&b_recorded).await;

    // A write without deliveries notifies nobody.
    a.merge_requests
        .create_merge_request(new_mr(&project, alice, 1), Vec::new())
        .await
        .unwrap();
    assert!(
        !woken_within(&b_recorded, Duration::from_millis(300)).await,
        "B woken by a write that recorded no delivery"
    );

    // A merge request with a delivery, written through A, wakes B.
    let started = Instant::now();
    a.merge_requests
        .create_merge_request(
            new_mr(&project, alice, 2),
            vec![draft(&check, &project, "k2")],
        )
        .await
        .unwrap();
    assert!(
        woken_within(&b_recorded, WAKE_UP).await,
        "B not woken within {WAKE_UP:?} of A's commit"
    );
    eprintln!("B woken {:?} after A's write began", started.elapsed());
    assert!(
        !woken_within(&b_statuses, Duration::from_millis(100)).await,
        "deliveries woke B's reporter"
    );

    // Status posts are notified on their own channel.
    let mut conn = AsyncPgConnection::establish(db.database.url())
        .await
        .unwrap();
    conn.batch_execute("NOTIFY status_checks_statuses")
        .await
        .unwrap();
    assert!(
        woken_within(&b_statuses, WAKE_UP).await,
        "B's reporter not woken"
    );
    assert!(
        !woken_within(&b_recorded, Duration::from_millis(100)).await,
        "status posts woke B's delivery worker"
    );
    drop(conn);
    db.drop_now().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rolled_back_write_wakes_nobody() {
    let Some(db) = Instances::start("a_rolled_back_write_wakes_nobody").await else {
        return;
    };
    let a = ports(&db.a);
    let (alice, project, check) = project_with_check(&a).await;
    let a_recorded = db.a.deliveries_recorded();
    let b_recorded = db.b.deliveries_recorded();
    drain(&a_recorded).await;
    drain(&b_recorded).await;

    // Two deliveries with one idempotency key: the insert fails and the transaction rolls back.
    let failed = a
        .merge_requests
        .create_merge_request(
            new_mr(&project, alice, 1),
            vec![
                draft(&check, &project, "same"),
                draft(&check, &project, "same"),
            ],
        )
        .await;
    assert!(failed.is_err(), "a duplicate key was accepted: {failed:?}");
    // A notification sent, then rolled back.
    let mut conn = AsyncPgConnection::establish(db.database.url())
        .await
        .unwrap();
    conn.batch_execute("BEGIN; NOTIFY status_checks_deliveries; ROLLBACK")
        .await
        .unwrap();
    assert!(
        !woken_within(&b_recorded, Duration::from_millis(500)).await,
        "B woken by a rolled-back write"
    );
    assert!(
        !woken_within(&a_recorded, Duration::from_millis(100)).await,
        "A woken by its own rolled-back write"
    );
    // What was committed after it still arrives.
    conn.batch_execute("BEGIN; NOTIFY status_checks_deliveries; COMMIT")
        .await
        .unwrap();
    assert!(
        woken_within(&b_recorded, WAKE_UP).await,
        "B not woken by a commit"
    );
    drop(conn);
    db.drop_now().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_listener_comes_back_after_its_connection_is_killed() {
    let Some(db) = Instances::start("the_listener_comes_back_after_its_connection_is_killed").await
    else {
        return;
    };
    let a = ports(&db.a);
    let (alice, project, check) = project_with_check(&a).await;
    let b_recorded = db.b.deliveries_recorded();
    drain(&b_recorded).await;

    let mut conn = db.a.connection().await.unwrap();
    conn.batch_execute(&format!("SELECT pg_terminate_backend({})", db.listener_b))
        .await
        .unwrap();
    drop(conn);
    // The loss wakes B's worker once, so that it polls at once.
    assert!(
        woken_within(&b_recorded, WAKE_UP).await,
        "losing the listener did not wake B's worker"
    );

    // B listens again on a new connection within a few seconds (the first pause is 1 s).
    let deadline = Instant::now() + Duration::from_secs(10);
    let new_pid = loop {
        let pids = listener_pids(&db.a, db.database.name()).await;
        let fresh: Vec<i32> = pids
            .iter()
            .copied()
            .filter(|p| *p != db.listener_a && *p != db.listener_b)
            .collect();
        if db.b.listener_connected() && fresh.len() == 1 {
            break fresh[0];
        }
        assert!(
            Instant::now() < deadline,
            "B's listener not back after 10 s (connected: {}, listeners: {pids:?})",
            db.b.listener_connected()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(db.a.listener_connected(), "A's listener was disturbed");
    eprintln!("B listens again on backend {new_pid}");

    // Wake-ups resume.
    drain(&b_recorded).await;
    a.merge_requests
        .create_merge_request(
            new_mr(&project, alice, 1),
            vec![draft(&check, &project, "k1")],
        )
        .await
        .unwrap();
    assert!(
        woken_within(&b_recorded, WAKE_UP).await,
        "B not woken after its listener came back"
    );
    db.drop_now().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_store_closes_its_listener() {
    let Some(db) = Instances::start("dropping_the_store_closes_its_listener").await else {
        return;
    };
    let b_clone = db.b.clone();
    let _ = ports(&db.b);
    let Instances {
        database,
        a,
        b,
        listener_a,
        ..
    } = db;
    drop(b);
    // A clone keeps it open.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(listener_pids(&a, database.name()).await.len(), 2);
    drop(b_clone);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let pids = listener_pids(&a, database.name()).await;
        if pids == HashSet::from([listener_a]) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "B's listener still open: {pids:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(a);
    database.drop_now().await;
}
