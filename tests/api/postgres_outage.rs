//! PostgreSQL stopped for 5 s under a running `serve`: the API answers JSON 503s at once, readiness says 503,
//! liveness stays 200, and once the server is back everything resumes by itself with nothing acknowledged
//! lost.
//!
//! The shared cluster of `.ci/run` is used by other tests at the same time, so this test starts a throw-away
//! cluster of its own (the same commands as `.ci/run`'s fragment) and stops and starts that one. Without
//! PostgreSQL's binaries (`/usr/lib/postgresql/*/bin`) it prints a notice and passes locally, but fails under
//! `CI=true`.

use reqwest::Method;
use serde_json::{Value, json};
use status_checks_tests::fake_server::wait_until;
use status_checks_tests::{Answer, ROOT_TOKEN, Receiver, Service, free_port};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const HEAD: &str = "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd";

/// The newest PostgreSQL `bin` folder in Debian's layout; `None` (after a notice) when there is none and this
/// is not CI.
fn postgres_bin(test: &str) -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|version| version.path().join("bin"))
        .filter(|bin| bin.join("initdb").exists() && bin.join("pg_ctl").exists())
        .collect();
    found.sort_by_key(|bin| {
        bin.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
    });
    if let Some(bin) = found.pop() {
        return Some(bin);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "no PostgreSQL binaries under /usr/lib/postgresql/*/bin under CI=true: {test} cannot be skipped in CI"
    );
    eprintln!(
        "notice: no PostgreSQL binaries under /usr/lib/postgresql/*/bin, so {test} did not run \
         (.ci/run installs them)"
    );
    None
}

/// A throw-away PostgreSQL cluster of this test's own, on a free port of 127.0.0.1. Dropping it stops it
/// (`-m immediate`) and removes its directory, also when the test panics.
struct Cluster {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    as_root: bool,
}

impl Cluster {
    fn init(bin: PathBuf) -> Cluster {
        let dir = tempfile::Builder::new()
            .prefix("sc-pg-outage.")
            .tempdir()
            .unwrap();
        let as_root = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
        let cluster = Cluster {
            bin,
            dir,
            port: free_port(),
            as_root,
        };
        let data = cluster.data();
        cluster.pg(
            "initdb",
            &[
                "-D",
                &data,
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
                "--no-sync",
                "--no-instructions",
            ],
        );
        cluster.start();
        cluster.psql("CREATE ROLE status_checks LOGIN PASSWORD 'status_checks'");
        cluster.psql("CREATE DATABASE sc_outage OWNER status_checks");
        cluster
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn data(&self) -> String {
        self.path().join("data").display().to_string()
    }

    /// The URL `serve` is given.
    fn url(&self) -> String {
        format!(
            "postgres://status_checks:status_checks@127.0.0.1:{}/sc_outage",
            self.port
        )
    }

    /// Runs one of the server's programs, as the `postgres` user when this is root (initdb refuses root).
    fn run(&self, program: &str, args: &[&str]) -> std::process::Output {
        let program = self.bin.join(program);
        let mut command = if self.as_root {
            let _ = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(self.path())
                .status();
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            Command::new(program)
        };
        command.args(args).output().unwrap()
    }

    #[track_caller]
    fn pg(&self, program: &str, args: &[&str]) {
        let output = self.run(program, args);
        assert!(
            output.status.success(),
            "{program} {args:?}: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    fn psql(&self, sql: &str) {
        let port = self.port.to_string();
        let host = self.path().display().to_string();
        self.pg(
            "psql",
            &[
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                &host,
                "-p",
                &port,
                "-U",
                "postgres",
                "-d",
                "postgres",
                "-c",
                sql,
            ],
        );
    }

    /// Starts (or starts again) the server on the same data directory and port, and waits until it accepts
    /// connections.
    fn start(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off \
             -c full_page_writes=off",
            self.port,
            self.path().display()
        );
        let log = self.path().join("log").display().to_string();
        self.pg(
            "pg_ctl",
            &[
                "-D",
                &self.data(),
                "-l",
                &log,
                "-w",
                "-t",
                "30",
                "-o",
                &options,
                "start",
            ],
        );
    }

    /// A fast shutdown: sessions are ended, and it returns once the server is down.
    fn stop(&self) {
        self.pg(
            "pg_ctl",
            &["-D", &self.data(), "-m", "fast", "-w", "-t", "30", "stop"],
        );
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let data = self.data();
        let _ = self.run("pg_ctl", &["-D", &data, "-m", "immediate", "-w", "stop"]);
        // The directory goes with `self.dir`.
    }
}

/// Sends and times one request.
fn timed(send: impl FnOnce() -> Answer) -> (Answer, Duration) {
    let started = Instant::now();
    let answer = send();
    (answer, started.elapsed())
}

/// A 503 as the API gives it while the store cannot answer: JSON body, `Retry-After`, and soon.
#[track_caller]
fn assert_unavailable(what: &str, answer: &Answer, took: Duration) {
    assert_eq!(
        answer.status.as_u16(),
        503,
        "{what} while PostgreSQL is down: {}",
        answer.body
    );
    assert!(
        answer.body.is_object() && answer.body["message"].is_string(),
        "{what}: a JSON body with a message, got {}",
        answer.body
    );
    assert!(
        answer.headers.contains_key("retry-after"),
        "{what}: Retry-After, got {:?}",
        answer.headers
    );
    assert!(
        took < Duration::from_secs(2),
        "{what}: answered after {took:?}, not quickly (the request timeout is 20 s)"
    );
}

fn probe(service: &Service, path: &str) -> u16 {
    service
        .send(service.request(Method::GET, path, None))
        .status
        .as_u16()
}

fn open_mr(service: &Service, project: i64, branch: &str) -> Answer {
    let body =
        json!({"source_branch": branch, "target_branch": "main", "title": branch, "sha": HEAD});
    service.json(
        Method::POST,
        &format!("/api/v4/projects/{project}/merge_requests"),
        ROOT_TOKEN,
        body,
    )
}

/// The merge request iids the receiver was notified of.
fn notified_iids(receiver: &Receiver) -> Vec<i64> {
    receiver
        .received
        .lock()
        .unwrap()
        .iter()
        .filter_map(|r| serde_json::from_slice::<Value>(&r.body).ok())
        .filter_map(|body| body["object_attributes"]["iid"].as_i64())
        .collect()
}

#[test]
fn postgres_stopped_for_5_s_answers_503_then_recovers_fully() {
    let test = "postgres_stopped_for_5_s_answers_503_then_recovers_fully";
    let Some(bin) = postgres_bin(test) else {
        return;
    };
    // Declared first: dropped last, after the service.
    let cluster = Cluster::init(bin);
    let receiver = Receiver::start("127.0.0.1:0");
    let service = Service::start_url(
        &cluster.url(),
        &["--allow-local-requests", "--request-timeout", "20s"],
    );

    // Before: a project, a check and a merge request, whose notification arrives.
    let project = service
        .json(
            Method::POST,
            "/api/v4/projects",
            ROOT_TOKEN,
            json!({ "name": "outage" }),
        )
        .expect(201)["id"]
        .as_i64()
        .unwrap();
    let check_url = format!("http://{}/hook", receiver.address);
    let check = service
        .json(
            Method::POST,
            &format!("/api/v4/projects/{project}/external_status_checks"),
            ROOT_TOKEN,
            json!({"name": "qa", "external_url": check_url, "shared_secret": "topsecret"}),
        )
        .expect(201)["id"]
        .as_i64()
        .unwrap();
    let first = open_mr(&service, project, "before").expect(201)["iid"]
        .as_i64()
        .unwrap();
    assert!(
        wait_until(
            || notified_iids(&receiver).contains(&first),
            Duration::from_secs(10)
        ),
        "the first merge request's notification did not arrive: {:?}",
        notified_iids(&receiver)
    );
    assert_eq!(probe(&service, "/-/readiness"), 200);

    // The outage.
    cluster.stop();
    let stopped = Instant::now();
    let (read, took) = timed(|| service.get(&format!("/api/v4/projects/{project}"), ROOT_TOKEN));
    assert_unavailable("a read", &read, took);
    let (write, took) = timed(|| {
        service.json(
            Method::POST,
            "/api/v4/projects",
            ROOT_TOKEN,
            json!({ "name": "during the outage" }),
        )
    });
    assert_unavailable("a write", &write, took);
    let (mr, took) = timed(|| open_mr(&service, project, "during"));
    assert_unavailable("opening a merge request", &mr, took);
    let (ready, took) = timed(|| service.send(service.request(Method::GET, "/-/readiness", None)));
    assert_eq!(ready.status.as_u16(), 503, "readiness: {}", ready.body);
    assert!(
        took < Duration::from_secs(2),
        "readiness answered after {took:?}"
    );
    assert_eq!(
        probe(&service, "/-/liveness"),
        200,
        "the process itself is fine"
    );
    assert!(
        stopped.elapsed() < Duration::from_secs(3),
        "the outage's answers took {:?}",
        stopped.elapsed()
    );

    // Down for 5 s, while the delivery worker polls and finds the store away.
    std::thread::sleep(Duration::from_secs(5).saturating_sub(stopped.elapsed()));
    assert_eq!(
        probe(&service, "/-/liveness"),
        200,
        "still alive after 5 s without PostgreSQL"
    );
    cluster.start();
    let restarted = Instant::now();

    // Back by itself: readiness first, then reads and writes.
    assert!(
        wait_until(
            || probe(&service, "/-/readiness") == 200,
            Duration::from_secs(15)
        ),
        "readiness still {} {:?} after PostgreSQL came back",
        probe(&service, "/-/readiness"),
        restarted.elapsed()
    );
    let read = service.get(&format!("/api/v4/projects/{project}"), ROOT_TOKEN);
    assert_eq!(read.status.as_u16(), 200, "a read after: {}", read.body);
    assert_eq!(read.body["name"], "outage", "the project is still there");
    let checks = service
        .get(
            &format!("/api/v4/projects/{project}/external_status_checks"),
            ROOT_TOKEN,
        )
        .expect(200);
    let ids: Vec<_> = checks
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_i64())
        .collect();
    assert_eq!(ids, vec![Some(check)], "the check is still there");
    let mr = service
        .get(
            &format!("/api/v4/projects/{project}/merge_requests/{first}"),
            ROOT_TOKEN,
        )
        .expect(200);
    assert_eq!(
        mr["title"], "before",
        "the first merge request is still there"
    );
    let projects = service.get("/api/v4/projects", ROOT_TOKEN).expect(200);
    let names: Vec<_> = projects
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap_or("?").to_owned())
        .collect();
    assert_eq!(
        names,
        vec!["outage".to_owned()],
        "the write answered 503 did not happen"
    );
    service
        .json(
            Method::POST,
            "/api/v4/projects",
            ROOT_TOKEN,
            json!({ "name": "after the outage" }),
        )
        .expect(201);
    let second = open_mr(&service, project, "after").expect(201)["iid"]
        .as_i64()
        .unwrap();
    assert_eq!(
        second,
        first + 1,
        "the merge request refused during the outage took no iid"
    );
    assert!(
        wait_until(
            || notified_iids(&receiver).contains(&second),
            Duration::from_secs(15).saturating_sub(restarted.elapsed())
        ),
        "the delivery worker did not resume: notified of {:?} {:?} after PostgreSQL came back",
        notified_iids(&receiver),
        restarted.elapsed()
    );
    let deliveries = service
        .get(
            &format!("/api/v4/projects/{project}/external_status_checks/{check}/deliveries"),
            ROOT_TOKEN,
        )
        .expect(200);
    assert_eq!(
        deliveries.as_array().map(Vec::len),
        Some(2),
        "one notification per merge request: {deliveries}"
    );
    let panics: Vec<_> = service
        .logs
        .lock()
        .unwrap()
        .iter()
        .filter(|line| line.contains("panicked"))
        .cloned()
        .collect();
    assert!(panics.is_empty(), "{panics:?}");
    drop(service);
}
