//! The PostgreSQL store against a real server, each test on a database of its own.
//!
//! The server is the one `STATUS_CHECKS_TEST_POSTGRES_URL` names (`.ci/run` starts a throw-away cluster and
//! sets it); its user must be allowed to `CREATE DATABASE`. Without it the tests print a notice and pass
//! locally, but fail under `CI=true`: CI cannot go green without them.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a panic is how a test fails"
)]

use diesel::QueryableByName;
use diesel::migration::MigrationSource;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use status_checks_core::RepoError;
use status_checks_core::error::Duplicate;
use status_checks_postgres::testing::TestDatabase;
use status_checks_postgres::{
    MIGRATIONS, PgStorageError, PgStore, PgStoreOptions, is_retryable, repo_error, run_migrations,
    schema,
};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

fn migration_count() -> usize {
    MigrationSource::<Pg>::migrations(&MIGRATIONS)
        .unwrap()
        .len()
}

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = Text)]
    name: String,
}

async fn public_tables(conn: &mut AsyncPgConnection) -> Vec<String> {
    diesel::sql_query(
        "SELECT table_name AS name FROM information_schema.tables \
         WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY table_name",
    )
    .load::<Name>(conn)
    .await
    .unwrap()
    .into_iter()
    .map(|row| row.name)
    .collect()
}

const TABLES: [&str; 16] = [
    "deliveries",
    "external_status_checks",
    "forge_deliveries_seen",
    "forge_links",
    "forge_merge_requests",
    "forge_posted_states",
    "forge_statuses",
    "members",
    "merge_requests",
    "personal_access_tokens",
    "projects",
    "protected_branches",
    "status_check_protected_branches",
    "status_check_response_details",
    "status_check_responses",
    "users",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_create_every_table_on_an_empty_database() {
    let Some(db) = TestDatabase::create("migrations_create_every_table_on_an_empty_database").await
    else {
        return;
    };
    let mut conn = AsyncPgConnection::establish(db.url()).await.unwrap();
    assert!(public_tables(&mut conn).await.is_empty());

    assert_eq!(run_migrations(db.url()).await.unwrap(), migration_count());

    let mut expected: Vec<String> = TABLES.iter().map(|t| (*t).to_owned()).collect();
    expected.push("__diesel_schema_migrations".to_owned());
    expected.sort();
    assert_eq!(public_tables(&mut conn).await, expected);
    drop(conn);
    db.drop_now().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrating_again_applies_nothing() {
    let Some(db) = TestDatabase::create("migrating_again_applies_nothing").await else {
        return;
    };
    let store = PgStore::open(db.url(), PgStoreOptions::default())
        .await
        .unwrap();
    assert_eq!(run_migrations(db.url()).await.unwrap(), 0);
    // Opening again (a restart) finds nothing to do either.
    let again = PgStore::open(db.url(), PgStoreOptions::default())
        .await
        .unwrap();
    again.ping().await.unwrap();
    assert_eq!(run_migrations(db.url()).await.unwrap(), 0);
    drop((store, again));
    db.drop_now().await;
}

#[derive(QueryableByName)]
struct VersionCount {
    #[diesel(sql_type = Text)]
    version: String,
    #[diesel(sql_type = BigInt)]
    count: i64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn four_instances_starting_at_once_all_migrate() {
    let Some(db) = TestDatabase::create("four_instances_starting_at_once_all_migrate").await else {
        return;
    };
    let opening: Vec<_> = (0..4)
        .map(|_| {
            let url = db.url().to_owned();
            tokio::spawn(async move { PgStore::open(&url, PgStoreOptions::default()).await })
        })
        .collect();
    let mut stores = Vec::new();
    for (i, task) in opening.into_iter().enumerate() {
        match task.await.unwrap() {
            Ok(store) => stores.push(store),
            Err(e) => panic!("instance {i} failed to start: {e}"),
        }
    }
    for store in &stores {
        store.ping().await.unwrap();
    }

    let mut conn = stores[0].connection().await.unwrap();
    let versions = diesel::sql_query(
        "SELECT version, count(*) AS count FROM __diesel_schema_migrations GROUP BY version",
    )
    .load::<VersionCount>(&mut conn)
    .await
    .unwrap();
    assert_eq!(versions.len(), migration_count());
    for row in &versions {
        assert_eq!(
            row.count, 1,
            "migration {} recorded {} times",
            row.version, row.count
        );
    }
    assert_eq!(public_tables(&mut conn).await.len(), TABLES.len() + 1);
    drop((conn, stores));
    db.drop_now().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unique_violations_map_to_the_rule_by_constraint_name() {
    let Some(db) =
        TestDatabase::create("unique_violations_map_to_the_rule_by_constraint_name").await
    else {
        return;
    };
    let store = PgStore::open(db.url(), PgStoreOptions::default())
        .await
        .unwrap();
    let mut conn = store.connection().await.unwrap();

    diesel::sql_query(
        "INSERT INTO users (username, name, created_at) VALUES ('Alice', 'Alice', 0)",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    // Usernames are unique whatever their case.
    let error = diesel::sql_query(
        "INSERT INTO users (username, name, created_at) VALUES ('alice', 'Other', 0)",
    )
    .execute(&mut conn)
    .await
    .unwrap_err();
    assert!(!is_retryable(&error));
    assert_eq!(repo_error(error), RepoError::Duplicate(Duplicate::Username));

    // So are project paths; a second member row for the same user is the member rule.
    let project = |path: &str| {
        format!(
            "INSERT INTO projects (name, path, namespace, path_with_namespace, created_at, updated_at) \
             VALUES ('p', 'p', 'g', '{path}', 0, 0)"
        )
    };
    diesel::sql_query(project("Group/Project"))
        .execute(&mut conn)
        .await
        .unwrap();
    let error = diesel::sql_query(project("group/project"))
        .execute(&mut conn)
        .await
        .unwrap_err();
    assert_eq!(
        repo_error(error),
        RepoError::Duplicate(Duplicate::ProjectPath)
    );
    let member = "INSERT INTO members (project_id, user_id, access_level, created_at) \
                  SELECT p.id, u.id, 50, 0 FROM projects p, users u";
    diesel::sql_query(member).execute(&mut conn).await.unwrap();
    let error = diesel::sql_query(member)
        .execute(&mut conn)
        .await
        .unwrap_err();
    assert_eq!(repo_error(error), RepoError::Duplicate(Duplicate::Member));

    // A row referring to a project that does not exist is a missing row.
    let error = diesel::sql_query(
        "INSERT INTO protected_branches (project_id, name, created_at, updated_at) VALUES (999, 'main', 0, 0)",
    )
    .execute(&mut conn)
    .await
    .unwrap_err();
    assert_eq!(repo_error(error), RepoError::NotFound);
    drop((conn, store));
    db.drop_now().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadlocks_and_serialization_failures_are_retryable() {
    let Some(db) = TestDatabase::create("deadlocks_and_serialization_failures_are_retryable").await
    else {
        return;
    };
    let mut a = AsyncPgConnection::establish(db.url()).await.unwrap();
    let mut b = AsyncPgConnection::establish(db.url()).await.unwrap();
    a.batch_execute(
        "CREATE TABLE t (id INT PRIMARY KEY, v INT NOT NULL); INSERT INTO t VALUES (1, 0), (2, 0)",
    )
    .await
    .unwrap();

    // A deadlock: each holds one row and wants the other's.
    a.batch_execute("BEGIN; UPDATE t SET v = 1 WHERE id = 1")
        .await
        .unwrap();
    b.batch_execute("BEGIN; UPDATE t SET v = 2 WHERE id = 2")
        .await
        .unwrap();
    let (from_a, from_b) = tokio::join!(
        a.batch_execute("UPDATE t SET v = 1 WHERE id = 2"),
        b.batch_execute("UPDATE t SET v = 2 WHERE id = 1"),
    );
    let deadlock = match (from_a, from_b) {
        (Err(e), Ok(())) | (Ok(()), Err(e)) => e,
        other => panic!("expected one deadlock victim, got {other:?}"),
    };
    assert!(is_retryable(&deadlock), "{deadlock:?}");
    // Once its retries are over, contention is a 503 the client may retry, not a 500.
    assert!(matches!(repo_error(deadlock), RepoError::Unavailable(_)));
    a.batch_execute("ROLLBACK").await.unwrap();
    b.batch_execute("ROLLBACK").await.unwrap();

    // A serialization failure: write skew between two SERIALIZABLE transactions.
    let begin = "BEGIN ISOLATION LEVEL SERIALIZABLE; SELECT sum(v) FROM t";
    a.batch_execute(begin).await.unwrap();
    b.batch_execute(begin).await.unwrap();
    a.batch_execute("UPDATE t SET v = v + 1 WHERE id = 1")
        .await
        .unwrap();
    let skewed = async {
        b.batch_execute("UPDATE t SET v = v + 1 WHERE id = 2")
            .await?;
        a.batch_execute("COMMIT").await?;
        b.batch_execute("COMMIT").await
    }
    .await;
    let failure = skewed.expect_err("one of the two must fail to serialize");
    assert!(is_retryable(&failure), "{failure:?}");
    drop((a, b));
    db.drop_now().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_waits_for_a_connection_no_longer_than_the_timeout() {
    let Some(db) =
        TestDatabase::create("a_request_waits_for_a_connection_no_longer_than_the_timeout").await
    else {
        return;
    };
    let options = PgStoreOptions {
        max_connections: 1,
        acquire_timeout: Duration::from_millis(300),
    };
    let store = PgStore::open(db.url(), options).await.unwrap();
    let held = store.connection().await.unwrap();
    let started = Instant::now();
    let refused = store.ping().await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(
        matches!(&refused, RepoError::Unavailable(text) if text.contains("no PostgreSQL connection available")),
        "{refused:?}"
    );
    drop(held);
    store.ping().await.unwrap();
    drop(store);
    db.drop_now().await;
}

/// `schema.rs` names exactly the columns the migrations create, in their order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_diesel_schema_matches_the_migrations() {
    let Some(db) = TestDatabase::create("the_diesel_schema_matches_the_migrations").await else {
        return;
    };
    run_migrations(db.url()).await.unwrap();

    macro_rules! diesel_columns {
        ($($table:ident),* $(,)?) => {{
            let mut columns = BTreeMap::new();
            $(
                let sql = diesel::debug_query::<Pg, _>(
                    &schema::$table::table.select(schema::$table::all_columns),
                )
                .to_string();
                columns.insert(stringify!($table).to_owned(), select_list(&sql));
            )*
            columns
        }};
    }
    let declared = diesel_columns!(
        users,
        personal_access_tokens,
        projects,
        members,
        protected_branches,
        merge_requests,
        external_status_checks,
        status_check_protected_branches,
        status_check_responses,
        status_check_response_details,
        deliveries,
        forge_links,
        forge_deliveries_seen,
        forge_merge_requests,
        forge_statuses,
        forge_posted_states,
    );

    #[derive(QueryableByName)]
    struct Column {
        #[diesel(sql_type = Text)]
        table_name: String,
        #[diesel(sql_type = Text)]
        column_name: String,
    }
    let mut conn = AsyncPgConnection::establish(db.url()).await.unwrap();
    let mut created: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for column in diesel::sql_query(
        "SELECT table_name::text AS table_name, column_name::text AS column_name \
         FROM information_schema.columns WHERE table_schema = 'public' \
         AND table_name <> '__diesel_schema_migrations' ORDER BY table_name, ordinal_position",
    )
    .load::<Column>(&mut conn)
    .await
    .unwrap()
    {
        created
            .entry(column.table_name)
            .or_default()
            .push(column.column_name);
    }
    assert_eq!(declared, created);
    drop(conn);
    db.drop_now().await;
}

/// The column names of `SELECT "t"."a", "t"."b" FROM "t" -- binds: []`.
fn select_list(sql: &str) -> Vec<String> {
    let list = sql
        .strip_prefix("SELECT ")
        .and_then(|rest| rest.split(" FROM ").next())
        .unwrap_or_else(|| panic!("unexpected statement {sql}"));
    list.split(", ")
        .map(|qualified| {
            qualified
                .rsplit('.')
                .next()
                .unwrap()
                .trim_matches('"')
                .to_owned()
        })
        .collect()
}

/// Needs no server: nothing is there to answer.
#[tokio::test]
async fn an_unreachable_server_is_named_without_the_password() {
    let error = PgStore::open(
        "postgres://status_checks:hunter2-secret@127.0.0.1:1/status",
        PgStoreOptions::default(),
    )
    .await
    .unwrap_err();
    let text = error.to_string();
    assert!(matches!(error, PgStorageError::Connect { .. }), "{text}");
    assert!(text.contains("127.0.0.1:1/status"), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
}
