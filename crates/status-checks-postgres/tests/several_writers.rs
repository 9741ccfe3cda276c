//! Two stores (two instances) on one PostgreSQL database, writing at once: what the SQLite adapter gets
//! from being the only writer must hold here through row locks. Each test on a database of its own on the
//! server `STATUS_CHECKS_TEST_POSTGRES_URL` names; skipped without it, failing without it under `CI=true`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a panic is how a test fails"
)]

use diesel_async::SimpleAsyncConnection;
use status_checks_core::error::RepoError;
use status_checks_core::ids::CommitSha;
use status_checks_core::merge_requests::NewMergeRequest;
use status_checks_core::projects::NewProject;
use status_checks_core::service::Ports;
use status_checks_core::testkit::{FixedClock, SequentialSecrets};
use status_checks_core::users::{NewUser, Username};
use status_checks_core::{AccessLevel, ProjectId, Timestamp, UserId};
use status_checks_postgres::testing::TestDatabase;
use status_checks_postgres::{PgStore, PgStoreOptions};
use std::collections::HashSet;
use std::sync::Arc;

/// A new database and two stores (two instances) on it.
struct Instances {
    database: TestDatabase,
    a: Ports,
    b: Ports,
}

impl Instances {
    async fn start(test: &str) -> Option<Instances> {
        let database = TestDatabase::create(test).await?;
        let ports = |store: PgStore| {
            store.ports(
                Arc::new(FixedClock::default()),
                Arc::new(SequentialSecrets::default()),
            )
        };
        let options = PgStoreOptions {
            max_connections: 8,
            ..PgStoreOptions::default()
        };
        let a = ports(
            PgStore::open(database.url(), options.clone())
                .await
                .unwrap(),
        );
        let b = ports(PgStore::open(database.url(), options).await.unwrap());
        Some(Instances { database, a, b })
    }

    /// Instance `i % 2`.
    fn nth(&self, i: usize) -> &Ports {
        if i.is_multiple_of(2) {
            &self.a
        } else {
            &self.b
        }
    }

    async fn drop_now(self) {
        let Instances { database, a, b } = self;
        drop((a, b));
        database.drop_now().await;
    }
}

fn now() -> Timestamp {
    chrono::DateTime::from_timestamp_millis(1_700_000_000_000).unwrap()
}

async fn user(ports: &Ports, name: &str) -> UserId {
    ports
        .users
        .create_user(NewUser {
            username: Username::new(name).unwrap(),
            name: name.into(),
            email: None,
            is_admin: false,
            created_at: now(),
        })
        .await
        .unwrap()
        .id
}

async fn project(ports: &Ports, owner: UserId) -> ProjectId {
    ports
        .projects
        .create_project(
            NewProject {
                name: "P".into(),
                path: "p".into(),
                namespace: "g".into(),
                only_allow_merge_if_all_status_checks_passed: false,
                created_at: now(),
            },
            owner,
        )
        .await
        .unwrap()
        .id
}

fn new_mr(project: ProjectId, author: UserId, n: usize) -> NewMergeRequest {
    NewMergeRequest {
        project_id: project,
        title: format!("MR {n}"),
        description: String::new(),
        source_branch: format!("feature-{n}"),
        target_branch: "main".into(),
        sha: CommitSha::parse(&format!("{n:040x}")).unwrap(),
        author_id: author,
        created_at: now(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn iids_stay_unique_and_gap_free_under_8_concurrent_creators() {
    let Some(db) = Instances::start("iids_stay_unique_and_gap_free").await else {
        return;
    };
    let alice = user(&db.a, "alice").await;
    let p = project(&db.a, alice).await;
    let db = Arc::new(db);
    let creators: Vec<_> = (0..8)
        .map(|worker| {
            let db = db.clone();
            tokio::spawn(async move {
                let mut iids = Vec::new();
                for n in 0..25 {
                    let mr = db
                        .nth(worker)
                        .merge_requests
                        .create_merge_request(new_mr(p, alice, worker * 100 + n), Vec::new())
                        .await
                        .unwrap();
                    iids.push(mr.iid.0);
                }
                iids
            })
        })
        .collect();
    let mut iids = Vec::new();
    for creator in creators {
        iids.extend(creator.await.unwrap());
    }
    iids.sort_unstable();
    assert_eq!(iids, (1..=200).collect::<Vec<i64>>());
    Arc::into_inner(db).unwrap().drop_now().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_demotions_of_the_last_two_owners_leave_one() {
    let Some(db) = Instances::start("concurrent_demotions_leave_one_owner").await else {
        return;
    };
    let alice = user(&db.a, "alice").await;
    let bob = user(&db.a, "bob").await;
    let db = Arc::new(db);
    for round in 0..20 {
        let p =
            db.a.projects
                .create_project(
                    NewProject {
                        name: format!("P{round}"),
                        path: format!("p{round}"),
                        namespace: "g".into(),
                        only_allow_merge_if_all_status_checks_passed: false,
                        created_at: now(),
                    },
                    alice,
                )
                .await
                .unwrap()
                .id;
        db.a.members
            .add_member(p, bob, AccessLevel::Owner, now())
            .await
            .unwrap();
        let (first, second) = tokio::join!(
            db.a.members.update_member(p, alice, AccessLevel::Developer),
            db.b.members.update_member(p, bob, AccessLevel::Developer),
        );
        let refused = [&first, &second]
            .iter()
            .filter(|r| matches!(r, Err(RepoError::LastOwner)))
            .count();
        assert_eq!(refused, 1, "round {round}: {first:?} / {second:?}");
        let mut owners = 0;
        for u in [alice, bob] {
            let member = db.a.members.find_member(p, u).await.unwrap().unwrap();
            owners += usize::from(member.access_level == AccessLevel::Owner);
        }
        assert_eq!(owners, 1, "round {round}");
    }
    Arc::into_inner(db).unwrap().drop_now().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn claims_are_disjoint_under_8_concurrent_claimers() {
    let Some(db) = Instances::start("claims_are_disjoint").await else {
        return;
    };
    let alice = user(&db.a, "alice").await;
    let p = project(&db.a, alice).await;
    let mr =
        db.a.merge_requests
            .create_merge_request(new_mr(p, alice, 1), Vec::new())
            .await
            .unwrap();
    // 2 000 pending deliveries, due at once, written directly.
    let sql_store = PgStore::open(db.database.url(), PgStoreOptions::default())
        .await
        .unwrap();
    let mut conn = sql_store.connection().await.unwrap();
    conn.batch_execute(&format!(
        "INSERT INTO external_status_checks (project_id, name, external_url, created_at, updated_at) \
         VALUES ({p}, 'c', 'http://127.0.0.1:1/', 0, 0); \
         INSERT INTO deliveries (project_id, external_status_check_id, merge_request_id, merge_request_iid, \
         status, next_attempt_at, idempotency_key, body, created_at) \
         SELECT {p}, (SELECT id FROM external_status_checks), {mr}, 1, 'pending', 0, 'key-' || n, '{{}}', 0 \
         FROM generate_series(1, 2000) AS n",
        p = p.0,
        mr = mr.id.0
    ))
    .await
    .unwrap();
    drop(conn);
    let lease = chrono::DateTime::from_timestamp_millis(4_000_000_000_000).unwrap();
    let db = Arc::new(db);
    let claimers: Vec<_> = (0..8)
        .map(|worker| {
            let db = db.clone();
            tokio::spawn(async move {
                let mut claimed = Vec::new();
                loop {
                    let batch = db
                        .nth(worker)
                        .deliveries
                        .claim_due(now(), 50, lease, Vec::new())
                        .await
                        .unwrap();
                    if batch.is_empty() {
                        break claimed;
                    }
                    claimed.extend(batch.into_iter().map(|due| due.delivery.id.0));
                }
            })
        })
        .collect();
    let mut all = Vec::new();
    for claimer in claimers {
        all.extend(claimer.await.unwrap());
    }
    let distinct: HashSet<i64> = all.iter().copied().collect();
    assert_eq!(all.len(), 2000, "claimed {} rows in all", all.len());
    assert_eq!(distinct.len(), 2000, "some rows were claimed twice");
    drop(sql_store);
    Arc::into_inner(db).unwrap().drop_now().await;
}
