//! Caches on several instances: two stores (two instances) on one PostgreSQL database, each with its own
//! caches. What one writes, the other sees at once (the trigger's `NOTIFY` reaches its listener); while the
//! other's listener is lost its caches are bypassed, and once it listens again they start empty. Each test
//! on a database of its own on the server `STATUS_CHECKS_TEST_POSTGRES_URL` names; skipped without it,
//! failing without it under `CI=true`.
//!
//! A check renamed with the table's triggers disabled (inside the renaming transaction, so no other
//! write is affected) notifies nobody: the tests use it to show that a read was served from a cache (it
//! does not see such a write) and to play a write whose notification was lost.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a panic is how a test fails"
)]

use diesel::QueryableByName;
use diesel::sql_types::Integer;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use status_checks_core::projects::{NewProject, Project, ProjectRef};
use status_checks_core::service::Ports;
use status_checks_core::status_checks::{
    CheckName, ExternalStatusCheck, ExternalUrl, NewStatusCheck, StatusCheckUpdate,
};
use status_checks_core::testkit::{FixedClock, SequentialSecrets};
use status_checks_core::users::{NewToken, NewUser, TokenHash, TokenScope, Username};
use status_checks_core::{AccessLevel, ProjectId, Timestamp, UserId};
use status_checks_postgres::testing::TestDatabase;
use status_checks_postgres::{LISTENER_APPLICATION_NAME, PgStore, PgStoreOptions};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Instances {
    database: TestDatabase,
    a: PgStore,
    b: PgStore,
}

impl Instances {
    async fn start(test: &str) -> Option<Instances> {
        let database = TestDatabase::create(test).await?;
        let a = PgStore::open(database.url(), PgStoreOptions::default())
            .await
            .unwrap();
        let b = PgStore::open(database.url(), PgStoreOptions::default())
            .await
            .unwrap();
        assert!(
            a.caches_in_use() && b.caches_in_use(),
            "caches not in use once listening"
        );
        Some(Instances { database, a, b })
    }

    /// Renames check `id` to `name` without anyone hearing of it.
    async fn rename_unheard(&self, id: i64, name: &str) {
        let mut conn = AsyncPgConnection::establish(self.database.url())
            .await
            .unwrap();
        conn.batch_execute(&format!(
            "BEGIN; ALTER TABLE external_status_checks DISABLE TRIGGER USER; \
             UPDATE external_status_checks SET name = '{name}' WHERE id = {id}; \
             ALTER TABLE external_status_checks ENABLE TRIGGER USER; COMMIT"
        ))
        .await
        .unwrap();
    }

    async fn drop_now(self) {
        let Instances { database, a, b } = self;
        drop((a, b));
        database.drop_now().await;
    }
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

/// Waits for the notifications of the writes made so far to arrive everywhere.
async fn settle() {
    tokio::time::sleep(Duration::from_millis(200)).await;
}

/// Polls `read` on the other instance until it answers `want`, for at most a second, and reports how many
/// reads it took. A write through the store returns once its own listener heard it back, at the moment
/// PostgreSQL hands it to every listener, so the first read nearly always sees it; the other instance's
/// listener task may still be a few microseconds from applying it. A change made outside the store (psql)
/// arrives a commit-to-listener hop later (about a millisecond here).
async fn seen<T, F, Fut>(what: &str, want: T, mut read: F)
where
    T: PartialEq + std::fmt::Debug,
    F: FnMut() -> Fut,
    Fut: Future<Output = T>,
{
    let started = Instant::now();
    for reads in 1.. {
        let got = read().await;
        if got == want {
            eprintln!(
                "{what}: seen by read {reads}, {:?} after the write returned",
                started.elapsed()
            );
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{what}: still {got:?} after 1 s, want {want:?}"
        );
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
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

async fn project(ports: &Ports, owner: UserId, path: &str) -> Project {
    ports
        .projects
        .create_project(
            NewProject {
                name: path.into(),
                path: path.into(),
                namespace: "g".into(),
                only_allow_merge_if_all_status_checks_passed: false,
                created_at: now(),
            },
            owner,
        )
        .await
        .unwrap()
}

async fn check(ports: &Ports, project: ProjectId, name: &str) -> ExternalStatusCheck {
    ports
        .status_checks
        .create_check(NewStatusCheck {
            project_id: project,
            name: CheckName::parse(name).unwrap(),
            external_url: ExternalUrl::parse(&format!("https://ci.example.com/{name}"), false)
                .unwrap(),
            shared_secret: None,
            protected_branch_ids: Vec::new(),
            created_at: now(),
        })
        .await
        .unwrap()
}

/// Renames `check` through `ports`.
async fn rename(ports: &Ports, check: &ExternalStatusCheck, name: &str) {
    ports
        .status_checks
        .update_check(
            check.project_id,
            check.id,
            StatusCheckUpdate {
                name: Some(CheckName::parse(name).unwrap()),
                external_url: None,
                shared_secret: None,
                protected_branch_ids: None,
                updated_at: now(),
            },
        )
        .await
        .unwrap();
}

async fn check_names(ports: &Ports, project: ProjectId) -> Vec<String> {
    ports
        .status_checks
        .all_checks(project)
        .await
        .unwrap()
        .iter()
        .map(|c| c.name.as_str().to_owned())
        .collect()
}

async fn level(ports: &Ports, project: &ProjectRef, user: UserId) -> Option<Option<AccessLevel>> {
    ports
        .projects
        .find_project_with_access(project, user)
        .await
        .unwrap()
        .map(|(_, level)| level)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn what_one_instance_writes_the_other_reads_at_once() {
    let Some(db) = Instances::start("what_one_instance_writes_the_other_reads_at_once").await
    else {
        return;
    };
    let (a, b) = (ports(&db.a), ports(&db.b));
    let alice = user(&a, "alice").await;
    let bob = user(&a, "bob").await;
    let p = project(&a, alice, "p").await;
    let c = check(&a, p.id, "ci").await;

    // B caches the checks (once the notifications of the writes above have arrived, which would forget
    // them): a write nobody hears of is not seen through B's cache.
    settle().await;
    assert_eq!(check_names(&b, p.id).await, ["ci"]);
    db.rename_unheard(c.id.0, "renamed unheard").await;
    assert_eq!(
        check_names(&b, p.id).await,
        ["ci"],
        "B's read did not come from its cache"
    );

    // Checks: changed through A.
    rename(&a, &c, "qa").await;
    seen("a renamed check", vec!["qa".to_owned()], || {
        check_names(&b, p.id)
    })
    .await;

    // A new protected branch scoping the check, then deleted.
    let branch = a
        .protected_branches
        .create_protected_branch(
            p.id,
            status_checks_core::BranchPattern::new("main").unwrap(),
            now(),
        )
        .await
        .unwrap();
    a.status_checks
        .update_check(
            p.id,
            c.id,
            StatusCheckUpdate {
                name: None,
                external_url: None,
                shared_secret: None,
                protected_branch_ids: Some(vec![branch.id]),
                updated_at: now(),
            },
        )
        .await
        .unwrap();
    let scopes = || async {
        b.status_checks.all_checks(p.id).await.unwrap()[0]
            .protected_branches
            .len()
    };
    seen("a check's new scope", 1, scopes).await;
    a.protected_branches
        .delete_protected_branch(p.id, branch.id)
        .await
        .unwrap();
    seen("a deleted protected branch", 0, scopes).await;

    // Access: Bob is cached as no member, then added, promoted, removed.
    let by_path = ProjectRef::Path("G/P".into());
    assert_eq!(level(&b, &by_path, bob).await, Some(None));
    a.members
        .add_member(p.id, bob, AccessLevel::Developer, now())
        .await
        .unwrap();
    seen("a new member", Some(Some(AccessLevel::Developer)), || {
        level(&b, &by_path, bob)
    })
    .await;
    a.members
        .update_member(p.id, bob, AccessLevel::Maintainer)
        .await
        .unwrap();
    seen(
        "a changed role",
        Some(Some(AccessLevel::Maintainer)),
        || level(&b, &by_path, bob),
    )
    .await;
    a.members.remove_member(p.id, bob).await.unwrap();
    seen("a removed member", Some(None), || level(&b, &by_path, bob)).await;

    // Projects: cached as missing, then created.
    let q_path = ProjectRef::Path("g/q".into());
    assert_eq!(level(&b, &q_path, alice).await, None);
    project(&a, alice, "q").await;
    seen("a new project", Some(Some(AccessLevel::Owner)), || {
        level(&b, &q_path, alice)
    })
    .await;

    // Tokens: cached when found, then revoked.
    let hash = TokenHash::of("glpat-caches-test");
    let token = a
        .tokens
        .create_token(NewToken {
            user_id: alice,
            name: "t".into(),
            hash: hash.clone(),
            scopes: vec![TokenScope::Api],
            expires_at: None,
            created_at: now(),
        })
        .await
        .unwrap();
    let revoked = || async {
        b.tokens
            .find_token_by_hash(&hash)
            .await
            .unwrap()
            .map(|t| t.token.revoked)
    };
    assert_eq!(revoked().await, Some(false));
    a.tokens.revoke_token(token.id).await.unwrap();
    seen("a revoked token", Some(true), revoked).await;

    // An operator's own SQL is heard too (the triggers are in the database, not in our writes).
    let mut conn = AsyncPgConnection::establish(db.database.url())
        .await
        .unwrap();
    conn.batch_execute(&format!(
        "UPDATE external_status_checks SET name = 'by hand' WHERE id = {}",
        c.id.0
    ))
    .await
    .unwrap();
    seen("a change made in psql", vec!["by hand".to_owned()], || {
        check_names(&b, p.id)
    })
    .await;
    // …and the user deleted with their tokens.
    conn.batch_execute(&format!("DELETE FROM users WHERE id = {}", alice.0))
        .await
        .unwrap();
    let found = || async { b.tokens.find_token_by_hash(&hash).await.unwrap().is_some() };
    seen("a deleted user's token", false, found).await;
    drop(conn);
    db.drop_now().await;
}

#[derive(QueryableByName)]
struct Terminated {
    #[diesel(sql_type = Integer)]
    terminated: i32,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lost_listener_bypasses_the_caches_then_flushes_them() {
    let Some(db) = Instances::start("a_lost_listener_bypasses_the_caches_then_flushes_them").await
    else {
        return;
    };
    let (a, b) = (ports(&db.a), ports(&db.b));
    let alice = user(&a, "alice").await;
    let p = project(&a, alice, "p").await;
    let c = check(&a, p.id, "v1").await;
    settle().await;
    assert_eq!(check_names(&b, p.id).await, ["v1"]);

    // Kill every listener (A's too: it comes back as well).
    let mut conn = db.a.connection().await.unwrap();
    let killed: Vec<Terminated> = diesel::sql_query(format!(
        "SELECT pg_terminate_backend(pid)::int AS terminated FROM pg_stat_activity \
         WHERE datname = '{}' AND application_name = '{LISTENER_APPLICATION_NAME}'",
        db.database.name()
    ))
    .load(&mut conn)
    .await
    .unwrap();
    let killed: Vec<i32> = killed.iter().map(|k| k.terminated).collect();
    assert_eq!(killed, [1, 1], "two listeners killed");
    drop(conn);
    let deadline = Instant::now() + Duration::from_secs(5);
    while db.b.listener_connected() {
        assert!(Instant::now() < deadline, "B did not notice the loss");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(
        !db.b.caches_in_use(),
        "caches still in use without a listener"
    );

    // A write whose notification is lost: B, bypassing, reads it anyway.
    db.rename_unheard(c.id.0, "v2").await;
    assert_eq!(
        check_names(&b, p.id).await,
        ["v2"],
        "served from a cache while bypassed"
    );

    // Another lost one, then B listens again: its caches start empty.
    db.rename_unheard(c.id.0, "v3").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !db.b.listener_connected() {
        assert!(
            Instant::now() < deadline,
            "B's listener not back after 10 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        db.b.caches_in_use(),
        "caches not in use once listening again"
    );
    assert_eq!(check_names(&b, p.id).await, ["v3"]);
    // And they are caches again: a write nobody hears of is not seen, a heard one is.
    db.rename_unheard(c.id.0, "v4").await;
    assert_eq!(
        check_names(&b, p.id).await,
        ["v3"],
        "B's read did not come from its cache"
    );
    rename(&a, &c, "v5").await;
    seen(
        "a change after the listener came back",
        vec!["v5".to_owned()],
        || check_names(&b, p.id),
    )
    .await;
    db.drop_now().await;
}
