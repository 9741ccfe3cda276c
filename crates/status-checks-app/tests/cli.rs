//! The command line of the real binary: versions, help, one-line errors with exit code 2, and the offline
//! commands on a temporary database.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a panic is how a test fails"
)]

use std::process::{Command, Output};

fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_status-checks"));
    command.args(args).env_remove("RUST_LOG");
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

#[test]
fn version_and_help() {
    let version = run(&["--version"], &[]);
    assert!(version.status.success());
    assert_eq!(
        stdout(&version).trim(),
        format!("status-checks {}", env!("CARGO_PKG_VERSION"))
    );
    let help = run(&["--help"], &[]);
    assert!(help.status.success());
    for command in ["serve", "migrate", "users", "tokens"] {
        assert!(stdout(&help).contains(command), "{command}");
    }
    let serve_help = stdout(&run(&["serve", "--help"], &[]));
    for flag in [
        "--listen",
        "STATUS_CHECKS_LISTEN",
        "--pending-timeout",
        "--max-body-size",
        "--allow-local-requests",
        "--root-token",
    ] {
        assert!(serve_help.contains(flag), "{flag}");
    }
}

#[test]
fn bad_values_stop_with_one_line_naming_the_flag() {
    // `serve` with one flag given a bad value: (args, env, the flag the error names).
    let bad = |flag, value| (vec!["serve", flag, value], vec![], flag);
    for (args, env, flag) in [
        bad("--pending-timeout", "soon"),
        bad("--max-body-size", "huge"),
        bad("--listen", "nowhere"),
        (
            vec!["serve"],
            vec![("STATUS_CHECKS_DELIVERY_TIMEOUT", "0s")],
            "--delivery-timeout",
        ),
        bad("--root-token", "too-short-secret"),
        bad("--database-url", "sqlite::memory:"),
        (vec!["serve", "--bogus"], vec![], "--bogus"),
    ] {
        let output = run(&args, &env);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            stderr(&output)
        );
        let err = stderr(&output);
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(flag), "{args:?}: {err}");
        assert!(
            !err.contains("too-short-secret"),
            "a refused token is never echoed: {err}"
        );
        assert!(!err.contains("panicked"));
    }
}

#[test]
fn offline_administration_on_a_fresh_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("admin.db").display());
    // The command with `--database-url` last, as each of these is typed.
    let on_db = |args: &[&str]| run(&[args, &["--database-url", &db]].concat(), &[]);
    let migrated = on_db(&["migrate"]);
    assert!(migrated.status.success(), "{}", stderr(&migrated));
    // A fresh database gets every migration, and is readable by its owner only.
    assert_eq!(stdout(&migrated).trim(), "applied 6 migration(s)");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("admin.db"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    }
    assert_eq!(
        stdout(&run(&["migrate"], &[("STATUS_CHECKS_DATABASE_URL", &db)])).trim(),
        "applied 0 migration(s)"
    );

    let created = on_db(&["users", "create", "--username", "alice", "--admin"]);
    assert!(created.status.success(), "{}", stderr(&created));
    assert!(stdout(&created).contains("alice"));
    let again = on_db(&["users", "create", "--username", "alice"]);
    assert_eq!(again.status.code(), Some(1));
    assert!(stderr(&again).contains("Username has already been taken"));

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
}
