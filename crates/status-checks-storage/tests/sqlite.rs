//! The SQLite store against the ports' contract suite, under concurrency, and across restarts — each test on
//! a fresh temporary database file.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a panic is how a test fails"
)]

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use status_checks_core::ids::CommitSha;
use status_checks_core::merge_requests::NewMergeRequest;

use status_checks_core::pagination::PageRequest;
use status_checks_core::projects::{NewProject, ProjectRef};
use status_checks_core::service::Ports;
use status_checks_core::status_checks::{CheckName, ExternalUrl, NewStatusCheck};
use status_checks_core::status_checks::{CheckStatus, NewResponse};
use status_checks_core::testkit::{FixedClock, SequentialSecrets};
use status_checks_core::users::{NewUser, Username};
use status_checks_core::*;
use status_checks_storage::{Store, StoreOptions, run_migrations};
use std::sync::Arc;
use tempfile::TempDir;

fn url(dir: &TempDir) -> String {
    format!("sqlite://{}", dir.path().join("test.db").display())
}

fn open(dir: &TempDir) -> Store {
    Store::open(&url(dir), StoreOptions::default()).expect("open store")
}

fn ports_of(store: &Store) -> Ports {
    store.ports(
        Arc::new(FixedClock::default()),
        Arc::new(SequentialSecrets::default()),
    )
}

async fn fresh_ports() -> (Ports, TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = open(&dir);
    (ports_of(&store), dir)
}

status_checks_core::port_contract_tests!(fresh_ports());

fn now() -> Timestamp {
    chrono::DateTime::from_timestamp_millis(1_700_000_000_000).unwrap()
}

async fn seed(ports: &Ports) -> (UserId, ProjectId) {
    let user = ports
        .users
        .create_user(NewUser {
            username: Username::new("alice").unwrap(),
            name: "Alice".into(),
            email: None,
            is_admin: false,
            created_at: now(),
        })
        .await
        .unwrap();
    let project = ports
        .projects
        .create_project(
            NewProject {
                name: "P".into(),
                path: "p".into(),
                namespace: "g".into(),
                only_allow_merge_if_all_status_checks_passed: true,
                created_at: now(),
            },
            user.id,
        )
        .await
        .unwrap();
    (user.id, project.id)
}

fn new_mr(project: ProjectId, n: usize) -> NewMergeRequest {
    NewMergeRequest {
        project_id: project,
        title: format!("MR {n}"),
        description: String::new(),
        source_branch: format!("feature-{n}"),
        target_branch: "main".into(),
        sha: CommitSha::parse(&format!("{n:040x}")).unwrap(),
        author_id: UserId(1),
        created_at: now(),
    }
}

fn count(store: &Store, table: &str) -> i64 {
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let mut conn = SqliteConnection::establish(&store.path().display().to_string()).unwrap();
    diesel::sql_query(format!("SELECT COUNT(*) AS n FROM {table}"))
        .get_result::<Count>(&mut conn)
        .unwrap()
        .n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_writers_lose_nothing_and_iids_stay_unique_and_gap_free() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let ports = ports_of(&store);
    let (_, project) = seed(&ports).await;
    let check = ports
        .status_checks
        .create_check(NewStatusCheck {
            project_id: project,
            name: CheckName::parse("qa").unwrap(),
            external_url: ExternalUrl::parse("https://qa.example.com", false).unwrap(),
            shared_secret: None,
            protected_branch_ids: vec![],
            created_at: now(),
        })
        .await
        .unwrap();

    const TASKS: usize = 8;
    const EACH: usize = 40;
    let mut handles = Vec::new();
    for t in 0..TASKS {
        let ports = ports.clone();
        handles.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            for i in 0..EACH {
                let mr = ports
                    .merge_requests
                    .create_merge_request(new_mr(project, t * EACH + i), vec![])
                    .await?;
                for status in [CheckStatus::Pending, CheckStatus::Passed] {
                    ports
                        .responses
                        .record_response(
                            NewResponse {
                                merge_request_id: mr.id,
                                external_status_check_id: check.id,
                                sha: mr.sha.clone(),
                                status,
                                created_at: now(),
                                retried_at: None,
                                details: None,
                            },
                            Vec::new(),
                        )
                        .await?;
                }
                // Reads interleave with the writes.
                ports
                    .responses
                    .newest_responses(vec![(mr.id, mr.sha.clone())])
                    .await?;
                mine.push(mr.iid.0);
            }
            Ok::<_, RepoError>(mine)
        }));
    }
    let mut iids = Vec::new();
    for handle in handles {
        iids.extend(
            handle
                .await
                .unwrap()
                .expect("no write may fail, 'database is locked' included"),
        );
    }
    iids.sort_unstable();
    let expected: Vec<i64> = (1..=(TASKS * EACH) as i64).collect();
    assert_eq!(iids, expected, "unique and gap-free");
    assert_eq!(count(&store, "merge_requests"), (TASKS * EACH) as i64);
    assert_eq!(
        count(&store, "status_check_responses"),
        (TASKS * EACH * 2) as i64
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_stores_on_one_file_wait_for_each_other_instead_of_failing() {
    // As when `status-checks users create` runs while the server is up.
    let dir = tempfile::tempdir().unwrap();
    let first = ports_of(&open(&dir));
    let second = ports_of(&open(&dir));
    let (_, project) = seed(&first).await;
    let spawn = |ports: Ports, offset: usize| {
        tokio::spawn(async move {
            for i in 0..50 {
                ports
                    .merge_requests
                    .create_merge_request(new_mr(project, offset + i), vec![])
                    .await?;
            }
            Ok::<_, RepoError>(())
        })
    };
    let (a, b) = (spawn(first.clone(), 0), spawn(second, 1000));
    a.await.unwrap().unwrap();
    b.await.unwrap().unwrap();
    let all = first
        .merge_requests
        .list_merge_requests(project, None, PageRequest::new(1, 100))
        .await
        .unwrap();
    assert_eq!(all.total, 100);
    let mut iids: Vec<i64> = all.items.iter().map(|m| m.iid.0).collect();
    iids.sort_unstable();
    assert_eq!(iids, (1..=100).collect::<Vec<_>>());
}

#[tokio::test]
async fn data_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (user, project, mr) = {
        let store = open(&dir);
        let ports = ports_of(&store);
        let (user, project) = seed(&ports).await;
        let mr = ports
            .merge_requests
            .create_merge_request(new_mr(project, 1), vec![])
            .await
            .unwrap();
        (user, project, mr)
    }; // every connection is closed here
    let ports = ports_of(&open(&dir));
    let (found, level) = ports
        .projects
        .find_project_with_access(&ProjectRef::Path("g/p".into()), user)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((found.id, level), (project, Some(AccessLevel::Owner)));
    assert!(found.only_allow_merge_if_all_status_checks_passed);
    assert_eq!(
        ports
            .merge_requests
            .find_merge_request(project, mr.iid)
            .await
            .unwrap(),
        Some(mr)
    );
    let next = ports
        .merge_requests
        .create_merge_request(new_mr(project, 2), vec![])
        .await
        .unwrap();
    assert_eq!(
        next.iid,
        MergeRequestIid(2),
        "iids continue after a restart"
    );
}

#[test]
fn migrations_apply_once_and_the_journal_is_wal() {
    let dir = tempfile::tempdir().unwrap();
    let first = run_migrations(&url(&dir)).unwrap();
    assert_eq!(
        first.len(),
        6,
        "the initial schema, the two covering indexes, the outbox's partial indexes, the forge bridge and \
         the answers' details"
    );
    assert!(
        run_migrations(&url(&dir)).unwrap().is_empty(),
        "nothing left to apply"
    );
    #[derive(QueryableByName)]
    struct Mode {
        #[diesel(sql_type = Text)]
        journal_mode: String,
    }
    let mut conn =
        SqliteConnection::establish(&dir.path().join("test.db").display().to_string()).unwrap();
    let mode = diesel::sql_query("PRAGMA journal_mode")
        .get_result::<Mode>(&mut conn)
        .unwrap();
    assert_eq!(mode.journal_mode, "wal");
}

#[test]
fn a_missing_directory_is_created_and_memory_databases_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let nested = format!("sqlite://{}", dir.path().join("a/b/sc.db").display());
    assert!(Store::open(&nested, StoreOptions::default()).is_ok());
    let err = Store::open("sqlite::memory:", StoreOptions::default()).unwrap_err();
    assert!(err.to_string().contains("in-memory"), "{err}");
}

#[tokio::test]
async fn readiness_ping_answers() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    store.ping().await.unwrap();
    let (open_connections, idle) = store.pool_state();
    assert!(open_connections >= 1 && idle <= open_connections);
}

/// A database written by the first schema (before the covering index) keeps its responses when a newer
/// binary opens it: the second migration rebuilds the index, and the newest answer of each check is still the
/// one returned.
#[tokio::test]
async fn a_database_of_the_first_schema_upgrades_without_losing_responses() {
    use diesel::connection::SimpleConnection;
    use diesel_migrations::MigrationHarness;
    let dir = tempfile::tempdir().unwrap();
    let head = "a".repeat(40);
    {
        let mut conn =
            SqliteConnection::establish(&dir.path().join("test.db").display().to_string()).unwrap();
        conn.run_next_migration(status_checks_storage::MIGRATIONS)
            .unwrap();
        conn.batch_execute(&format!(
            "INSERT INTO users (id, username, name, created_at) VALUES (1, 'root', 'Root', 0);
             INSERT INTO projects (id, name, path, namespace, path_with_namespace, created_at, updated_at)
                 VALUES (1, 'p', 'p', 'g', 'g/p', 0, 0);
             INSERT INTO merge_requests (id, project_id, iid, title, description, source_branch, target_branch,
                 sha, head_recorded_at, state, author_id, created_at, updated_at)
                 VALUES (1, 1, 1, 't', '', 'f', 'main', '{head}', 0, 'opened', 1, 0, 0);
             INSERT INTO external_status_checks (id, project_id, name, external_url, created_at, updated_at)
                 VALUES (1, 1, 'c', 'https://c.example.com', 0, 0);
             INSERT INTO status_check_responses (merge_request_id, external_status_check_id, sha, status, created_at)
                 VALUES (1, 1, '{head}', 'failed', 1), (1, 1, '{head}', 'passed', 2);"
        ))
        .unwrap();
    }
    let store = open(&dir);
    let newest = ports_of(&store)
        .responses
        .newest_responses(vec![(MergeRequestId(1), CommitSha::parse(&head).unwrap())])
        .await
        .unwrap();
    assert_eq!(
        newest.iter().map(|r| r.status).collect::<Vec<_>>(),
        vec![CheckStatus::Passed]
    );
    assert!(
        run_migrations(&url(&dir)).unwrap().is_empty(),
        "opening the store applied the second migration"
    );
}

/// The database file, its WAL and its shared memory are created readable by their owner only: they hold
/// token hashes and forge credentials.
#[cfg(unix)]
#[tokio::test]
async fn the_database_and_its_wal_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let ports = store.ports(
        Arc::new(FixedClock::default()),
        Arc::new(SequentialSecrets::default()),
    );
    // A write, so that the WAL has content.
    ports
        .users
        .create_user(NewUser {
            username: Username::new("someone").unwrap(),
            name: "Someone".into(),
            email: None,
            is_admin: false,
            created_at: Timestamp::default(),
        })
        .await
        .unwrap();
    for name in ["test.db", "test.db-wal", "test.db-shm"] {
        let mode = std::fs::metadata(dir.path().join(name))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{name}: {mode:o}");
    }
}
