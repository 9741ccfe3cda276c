//! The command line of the real binary on PostgreSQL: `migrate` and the offline commands on a database of
//! their own, the flags of one backend refused with a URL of the other, and no password in any message.
//!
//! The server is the one `STATUS_CHECKS_TEST_POSTGRES_URL` names (`.ci/run` starts a throw-away cluster and
//! sets it); its user must be allowed to `CREATE DATABASE`. Without it the tests that need a server print a
//! notice and pass locally, but fail under `CI=true`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a panic is how a test fails"
)]

use status_checks_postgres::testing::{TestDatabase, server_url};
use std::process::{Command, Output};

fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_status-checks"));
    command
        .args(args)
        .env_remove("RUST_LOG")
        .env_remove("STATUS_CHECKS_DATABASE_URL")
        .env_remove("STATUS_CHECKS_DB_READ_CONNECTIONS")
        .env_remove("STATUS_CHECKS_DB_MAX_CONNECTIONS")
        .env_remove("STATUS_CHECKS_SQLITE_SYNCHRONOUS");
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// `url` with its database (the path) replaced by `database`, the query kept.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[authority_start..]
        .find('/')
        .map_or(base.len(), |i| authority_start + i);
    let mut out = format!("{}/{database}", &base[..path_start]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

/// The `user:password` part of `url`, if any.
fn userinfo(url: &str) -> Option<&str> {
    let authority_start = url.find("://")? + 3;
    let rest = &url[authority_start..];
    let authority = &rest[..rest.find(['/', '?']).unwrap_or(rest.len())];
    authority.rsplit_once('@').map(|(info, _)| info)
}

/// `url` with its `user:password` part replaced by (or given) `info`.
fn with_userinfo(url: &str, info: &str) -> String {
    let authority_start = url.find("://").map_or(0, |i| i + 3);
    let host_start = userinfo(url).map_or(authority_start, |old| authority_start + old.len() + 1);
    format!("{}{info}@{}", &url[..authority_start], &url[host_start..])
}

/// A database made for one test (`status_checks_postgres::testing`), dropped when the test ends.
struct TestDb(Option<TestDatabase>);

impl TestDb {
    /// A new empty database on the test server; `None` when the tests are skipped.
    fn create(test: &str) -> Option<TestDb> {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(TestDatabase::create(test))
            .map(|db| TestDb(Some(db)))
    }

    fn url(&self) -> &str {
        self.0.as_ref().map_or("", |db| db.url())
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(db) = self.0.take() {
            db.drop_blocking();
        }
    }
}

#[test]
fn urls_get_their_database_replaced() {
    assert_eq!(
        with_database("postgres://u:p@h:5432/postgres", "x"),
        "postgres://u:p@h:5432/x"
    );
    assert_eq!(
        with_database("postgresql://h?sslmode=disable", "x"),
        "postgresql://h/x?sslmode=disable"
    );
    assert_eq!(
        with_userinfo("postgres://u:p@h:5432/db", "v:q"),
        "postgres://v:q@h:5432/db"
    );
    assert_eq!(
        with_userinfo("postgres://h/db", "v:q"),
        "postgres://v:q@h/db"
    );
}

#[test]
fn offline_administration_on_postgres() {
    let Some(db) = TestDb::create("offline_administration_on_postgres") else {
        return;
    };
    let on_db = |args: &[&str]| run(&[args, &["--database-url", db.url()]].concat(), &[]);

    let migrated = on_db(&["migrate"]);
    assert!(migrated.status.success(), "{}", stderr(&migrated));
    let first = stdout(&migrated);
    let applied: usize = first
        .trim()
        .strip_prefix("applied ")
        .and_then(|rest| rest.strip_suffix(" migration(s)"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("stdout is the count alone: {first:?}"));
    assert!(applied > 0, "{first}");
    let again = run(&["migrate"], &[("STATUS_CHECKS_DATABASE_URL", db.url())]);
    assert!(again.status.success(), "{}", stderr(&again));
    assert_eq!(stdout(&again).trim(), "applied 0 migration(s)");

    let created = on_db(&["users", "create", "--username", "alice", "--admin"]);
    assert!(created.status.success(), "{}", stderr(&created));
    assert_eq!(
        stdout(&created).trim(),
        "created user alice (id 1, administrator)"
    );
    let duplicate = on_db(&["users", "create", "--username", "ALICE"]);
    assert_eq!(duplicate.status.code(), Some(1), "{}", stderr(&duplicate));
    assert!(stderr(&duplicate).contains("Username has already been taken"));

    let token = on_db(&[
        "tokens",
        "create",
        "--username",
        "alice",
        "--scope",
        "read_api",
    ]);
    assert!(token.status.success(), "{}", stderr(&token));
    let printed = stdout(&token);
    assert_eq!(
        printed.lines().count(),
        1,
        "the token and nothing else: {printed}"
    );
    assert!(printed.trim().starts_with("glpat-") && printed.trim().len() >= 20);
    let unknown = on_db(&["tokens", "create", "--username", "nobody"]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(stderr(&unknown).contains("no such user"));

    // The offline commands work on a database nobody migrated yet: they migrate it first.
    let Some(fresh) = TestDb::create("offline_administration_on_postgres") else {
        return;
    };
    let created = run(
        &[
            "users",
            "create",
            "--username",
            "bob",
            "--database-url",
            fresh.url(),
        ],
        &[],
    );
    assert!(created.status.success(), "{}", stderr(&created));
}

#[test]
fn flags_of_the_other_backend_stop_with_one_line_naming_the_flag() {
    // No server needed: the flags are refused before anything is opened.
    let postgres = "postgres://sc:s3cret-Pa55word@127.0.0.1:1/sc";
    let sqlite_dir = tempfile::tempdir().unwrap();
    let sqlite = format!("sqlite://{}", sqlite_dir.path().join("x.db").display());
    for (args, env, flag) in [
        (
            vec![
                "serve",
                "--database-url",
                postgres,
                "--db-read-connections",
                "4",
            ],
            vec![],
            "--db-read-connections",
        ),
        (
            vec!["serve", "--sqlite-synchronous", "full"],
            vec![("STATUS_CHECKS_DATABASE_URL", postgres)],
            "--sqlite-synchronous",
        ),
        (
            vec!["serve", "--database-url", "postgresql://sc@127.0.0.1:1/sc"],
            vec![("STATUS_CHECKS_DB_READ_CONNECTIONS", "2")],
            "--db-read-connections",
        ),
        (
            vec![
                "serve",
                "--database-url",
                &sqlite,
                "--db-max-connections",
                "20",
            ],
            vec![],
            "--db-max-connections",
        ),
        (
            vec!["serve", "--database-url", &sqlite],
            vec![("STATUS_CHECKS_DB_MAX_CONNECTIONS", "20")],
            "--db-max-connections",
        ),
        (
            vec![
                "serve",
                "--database-url",
                postgres,
                "--db-max-connections",
                "0",
            ],
            vec![],
            "--db-max-connections",
        ),
    ] {
        let output = run(&args, &env);
        let err = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{args:?} {env:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(flag), "{args:?}: {err}");
        assert!(!err.contains("s3cret-Pa55word"), "{err}");
        assert!(stdout(&output).is_empty(), "{}", stdout(&output));
    }
    assert!(
        !sqlite_dir.path().join("x.db").exists(),
        "refused before the database was created"
    );
}

#[test]
fn the_password_never_appears_when_postgres_refuses() {
    let password = "s3cret-Pa55word";
    // Nobody listens on port 1: refused at once, whatever the server.
    let mut urls = vec![format!("postgres://sc:{password}@127.0.0.1:1/sc")];
    if let Some(server) = server_url("the_password_never_appears_when_postgres_refuses") {
        // A user that does not exist, with a password: refused under any authentication method (the test
        // cluster trusts local connections, so a wrong password alone would be let in).
        urls.push(with_userinfo(
            &server,
            &format!("no_such_role_sc:{password}"),
        ));
        // The server's user, with a password, on a database that does not exist.
        let user = userinfo(&server)
            .and_then(|info| info.split(':').next())
            .unwrap_or("postgres")
            .to_owned();
        urls.push(with_userinfo(
            &with_database(&server, "no_such_database_sc"),
            &format!("{user}:{password}"),
        ));
    }
    for url in &urls {
        for args in [
            vec!["serve", "--listen", "127.0.0.1:0", "--database-url", url],
            vec!["migrate", "--database-url", url],
            vec!["users", "create", "--username", "x", "--database-url", url],
        ] {
            let output = run(&args, &[("RUST_LOG", "debug")]);
            let (out, err) = (stdout(&output), stderr(&output));
            assert_eq!(output.status.code(), Some(1), "{args:?}: {err}");
            assert!(err.contains("error: "), "{args:?}: {err}");
            assert!(
                err.contains("PostgreSQL"),
                "names what failed: {args:?}: {err}"
            );
            assert!(
                !err.contains(password) && !out.contains(password),
                "{args:?}: stdout {out}\nstderr {err}"
            );
        }
    }
}
