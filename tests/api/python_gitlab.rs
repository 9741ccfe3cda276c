//! Compatibility: the status-check flow through python-gitlab, the library and its `gitlab` CLI, unmodified.
//!
//! python-gitlab is installed (pinned) into a virtual environment under the target directory the first time
//! it is needed; `.ci/run` creates the same environment up front. Set `STATUS_CHECKS_PYTHON` to use another
//! interpreter that has python-gitlab.
//!
//! The flow runs on both backends: on SQLite, and on a fresh PostgreSQL database of the server
//! `STATUS_CHECKS_TEST_POSTGRES_URL` names (`.ci/run` starts a throw-away cluster and sets it; its user must be
//! allowed to `CREATE DATABASE`; `PostgresDatabase` makes it). Without the variable the PostgreSQL run prints a notice and
//! passes locally, but fails under `CI=true`.

use status_checks_tests::{PostgresDatabase, ROOT_TOKEN, Service, database};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

const PYTHON_GITLAB: &str = "python-gitlab==8.6.0";

/// A Python interpreter with python-gitlab, creating the virtual environment if needed.
fn python() -> &'static PathBuf {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(|| {
        if let Ok(python) = std::env::var("STATUS_CHECKS_PYTHON") {
            return PathBuf::from(python);
        }
        let target = status_checks_tests::binary()
            .parent()
            .and_then(Path::parent)
            .map(Path::to_path_buf)
            .unwrap();
        let venv = target.join("e2e-venv");
        let python = venv.join("bin").join("python");
        let has_gitlab = |python: &Path| {
            Command::new(python)
                .args(["-c", "import gitlab"])
                .status()
                .is_ok_and(|s| s.success())
        };
        if !has_gitlab(&python) {
            let created = Command::new("python3")
                .args(["-m", "venv"])
                .arg(&venv)
                .status()
                .unwrap();
            assert!(created.success(), "python3 -m venv failed");
            let installed = Command::new(venv.join("bin").join("pip"))
                .args(["install", "--quiet", PYTHON_GITLAB])
                .status()
                .unwrap();
            assert!(installed.success(), "pip install {PYTHON_GITLAB} failed");
        }
        assert!(has_gitlab(&python), "python-gitlab is not importable");
        python
    })
}

const LIBRARY_FLOW: &str = r#"
import os, sys, gitlab

url, token = os.environ["GITLAB_URL"], os.environ["GITLAB_TOKEN"]
gl = gitlab.Gitlab(url, private_token=token)
gl.auth()
assert gl.user.username == "root", gl.user.username

project = gl.projects.create({"name": "pyproj", "namespace": "py", "only_allow_merge_if_all_status_checks_passed": True})
assert project.path_with_namespace == "py/pyproj"
same = gl.projects.get("py/pyproj")
assert same.id == project.id

branch = project.protectedbranches.create({"name": "main"})
check = project.external_status_checks.create({
    "name": "compliance",
    "external_url": "https://compliance.example.com/hook?token=abc",
    "shared_secret": "s3cret",
    "protected_branch_ids": [branch.id],
})
assert check.hmac is True and check.protected_branches[0]["name"] == "main"
other = project.external_status_checks.create({"name": "unscoped", "external_url": "https://other.example.com"})
listed = project.external_status_checks.list(get_all=True)
assert [c.name for c in listed] == ["compliance", "unscoped"], [c.name for c in listed]

head = "c" * 40
mr = project.mergerequests.create({"source_branch": "feature", "target_branch": "main", "title": "Py MR", "sha": head})
assert mr.iid == 1 and mr.detailed_merge_status == "status_checks_must_pass"
statuses = mr.status_checks.list(get_all=True)
assert sorted((s.name, s.status) for s in statuses) == [("compliance", "pending"), ("unscoped", "pending")]
assert all(s.external_url.find("?") < 0 for s in statuses)

for c in (check, other):
    gl.http_post(f"/projects/{project.id}/merge_requests/{mr.iid}/status_check_responses",
                 post_data={"external_status_check_id": c.id, "sha": head, "status": "passed"})
statuses = mr.status_checks.list(get_all=True)
assert {s.status for s in statuses} == {"passed"}

try:
    gl.http_post(f"/projects/{project.id}/merge_requests/{mr.iid}/status_check_responses",
                 post_data={"external_status_check_id": check.id, "sha": "d" * 40, "status": "passed"})
    raise SystemExit("a stale sha was accepted")
except gitlab.exceptions.GitlabHttpError as e:
    assert e.response_code == 409, e.response_code

mr = project.mergerequests.get(mr.iid)
assert mr.detailed_merge_status == "mergeable", mr.detailed_merge_status

check.name = "compliance-v2"
check.save()
assert project.external_status_checks.list(get_all=True)[0].name == "compliance-v2"
other.delete()
assert len(project.external_status_checks.list(get_all=True)) == 1

try:
    gl.projects.get(999999)
    raise SystemExit("an unknown project was found")
except gitlab.exceptions.GitlabGetError as e:
    assert e.response_code == 404

for i in range(25):
    project.protectedbranches.create({"name": f"release-{i}"})
assert len(project.protectedbranches.list(get_all=True)) == 26
assert len(project.protectedbranches.list(per_page=10, page=3)) == 6
print("library ok")
"#;

#[test]
fn python_gitlab_library_and_cli() {
    let (dir, db) = database();
    flow(&format!("sqlite://{}", db.display()), dir.path());
}

#[test]
fn python_gitlab_library_and_cli_on_postgres() {
    let Some(db) = PostgresDatabase::create("python_gitlab_library_and_cli_on_postgres") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    flow(db.url(), dir.path());
}

/// The library's flow, then the CLI's, against the binary on the database at `database_url`; `dir` holds the
/// script and the CLI's configuration.
fn flow(database_url: &str, dir: &Path) {
    let service = Service::start_url(database_url, &[]);
    let python = python();
    let script = dir.join("flow.py");
    std::fs::write(&script, LIBRARY_FLOW).unwrap();
    let output = Command::new(python)
        .arg(&script)
        .env("GITLAB_URL", &service.base)
        .env("GITLAB_TOKEN", ROOT_TOKEN)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "python-gitlab flow failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("library ok"));

    // The `gitlab` CLI, with a configuration file as operators write one.
    let config = dir.join("python-gitlab.cfg");
    std::fs::write(
        &config,
        format!(
            "[global]\ndefault = local\n\n[local]\nurl = {}\nprivate_token = {ROOT_TOKEN}\n",
            service.base
        ),
    )
    .unwrap();
    let cli = python.parent().unwrap().join("gitlab");
    let run = |args: &[&str]| {
        let output = Command::new(&cli)
            .arg("--config-file")
            .arg(&config)
            .args(["-o", "json"])
            .args(args)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "gitlab {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice::<serde_json::Value>(&output.stdout).unwrap()
    };
    let checks = run(&[
        "project-external-status-check",
        "list",
        "--project-id",
        "py/pyproj",
    ]);
    assert_eq!(checks[0]["name"], "compliance-v2", "{checks}");
    let created = run(&[
        "project-external-status-check",
        "create",
        "--project-id",
        "py/pyproj",
        "--name",
        "cli-check",
        "--external-url",
        "https://cli.example.com",
    ]);
    assert_eq!(created["name"], "cli-check");
    let statuses = run(&[
        "project-merge-request-status-check",
        "list",
        "--project-id",
        "py/pyproj",
        "--merge-request-iid",
        "1",
    ]);
    assert_eq!(statuses.as_array().map(Vec::len), Some(2), "{statuses}");
    let me = run(&["current-user", "get"]);
    assert_eq!(me["username"], "root");
}
