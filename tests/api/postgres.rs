//! Several `serve` instances on one PostgreSQL database: a write on one is read on the other at once, every
//! notification is delivered once whichever instance recorded it, and the claims of an instance killed with
//! SIGKILL are sent by the other once their lease has run out.
//!
//! The server is the one `STATUS_CHECKS_TEST_POSTGRES_URL` names (`.ci/run` starts a throw-away cluster and
//! sets it); its user must be allowed to `CREATE DATABASE`, and each test makes a database of its own
//! (`PostgresDatabase`). Without the variable the tests print a notice and pass locally, but
//! fail under `CI=true`.

use reqwest::Method;
use serde_json::json;
use status_checks_tests::fake_server::{FakeServer, Response, wait_until};
use status_checks_tests::{PostgresDatabase, ROOT_TOKEN, Receiver, Service};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const HEAD: &str = "abababababababababababababababababababab";

fn create_project(service: &Service, name: &str) -> i64 {
    service
        .json(
            Method::POST,
            "/api/v4/projects",
            ROOT_TOKEN,
            json!({ "name": name }),
        )
        .expect(201)["id"]
        .as_i64()
        .unwrap()
}

fn create_check(service: &Service, project: i64, url: &str) -> i64 {
    let body = json!({"name": "qa", "external_url": url, "shared_secret": "topsecret"});
    service
        .json(
            Method::POST,
            &format!("/api/v4/projects/{project}/external_status_checks"),
            ROOT_TOKEN,
            body,
        )
        .expect(201)["id"]
        .as_i64()
        .unwrap()
}

fn open_mr(service: &Service, project: i64, branch: &str) -> i64 {
    let body =
        json!({"source_branch": branch, "target_branch": "main", "title": branch, "sha": HEAD});
    service
        .json(
            Method::POST,
            &format!("/api/v4/projects/{project}/merge_requests"),
            ROOT_TOKEN,
            body,
        )
        .expect(201)["iid"]
        .as_i64()
        .unwrap()
}

/// How many times each `Idempotency-Key` came.
fn by_key<'a>(keys: impl Iterator<Item = Option<&'a str>>) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for key in keys {
        *counts
            .entry(
                key.expect("every notification has an Idempotency-Key")
                    .to_owned(),
            )
            .or_insert(0) += 1;
    }
    counts
}

#[test]
fn a_write_on_one_instance_is_read_on_the_other_at_once() {
    let Some(db) = PostgresDatabase::create("a_write_on_one_instance_is_read_on_the_other_at_once")
    else {
        return;
    };
    // Both start at once: one migrates under the lock, the other waits and finds nothing to do.
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| Service::start_url(db.url(), &[]));
        let b = s.spawn(|| Service::start_url(db.url(), &[]));
        (a.join().unwrap(), b.join().unwrap())
    });
    for round in 0..20 {
        let (writer, reader) = if round % 2 == 0 { (&a, &b) } else { (&b, &a) };
        let name = format!("p{round}");
        let id = create_project(writer, &name);
        let read = reader
            .get(&format!("/api/v4/projects/{id}"), ROOT_TOKEN)
            .expect(200);
        assert_eq!(read["name"], name.as_str());
        // A change made on the reader is seen by the writer at once, and so is a deletion.
        let renamed = format!("renamed {round}");
        reader
            .json(
                Method::PUT,
                &format!("/api/v4/projects/{id}"),
                ROOT_TOKEN,
                json!({ "name": renamed, "only_allow_merge_if_all_status_checks_passed": true }),
            )
            .expect(200);
        let again = writer
            .get(&format!("/api/v4/projects/{id}"), ROOT_TOKEN)
            .expect(200);
        assert_eq!(again["name"], renamed.as_str());
        assert_eq!(again["only_allow_merge_if_all_status_checks_passed"], true);
        if round % 5 == 4 {
            reader
                .send(reader.request(
                    Method::DELETE,
                    &format!("/api/v4/projects/{id}"),
                    Some(ROOT_TOKEN),
                ))
                .expect(202);
            let gone = writer.get(&format!("/api/v4/projects/{id}"), ROOT_TOKEN);
            assert_eq!(gone.status.as_u16(), 404, "{}", gone.body);
        }
    }
    // Both answer their readiness probe from the database.
    for service in [&a, &b] {
        let ready = service.send(service.request(Method::GET, "/-/readiness", None));
        assert_eq!(ready.status.as_u16(), 200, "{}", ready.body);
        let metrics = service.send(service.request(Method::GET, "/-/metrics", None));
        assert_eq!(metrics.status.as_u16(), 200);
    }
    let text = a
        .request(Method::GET, "/-/metrics", None)
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        text.contains("status_checks_db_pool_connections{backend=\"postgres\",state=\"idle\"}"),
        "{text}"
    );
    drop((a, b));
}

/// What each instance caches — tokens, a member's access, a project's checks and their scopes — follows a
/// write made through the other at once: the very next request sees it.
#[test]
fn cached_reads_follow_writes_on_the_other_instance() {
    let Some(db) = PostgresDatabase::create("cached_reads_follow_writes_on_the_other_instance")
    else {
        return;
    };
    let a = Service::start_url(db.url(), &["--allow-local-requests"]);
    let b = Service::start_url(db.url(), &["--allow-local-requests"]);
    let bob = a
        .json(
            Method::POST,
            "/api/v4/users",
            ROOT_TOKEN,
            json!({"username": "bob", "name": "Bob"}),
        )
        .expect(201)["id"]
        .as_i64()
        .unwrap();
    let project = create_project(&a, "cached");
    for round in 0..6 {
        let (writer, reader) = if round % 2 == 0 { (&a, &b) } else { (&b, &a) };

        // A token: used on the reader (cached there), revoked through the writer.
        let token = writer
            .json(
                Method::POST,
                &format!("/api/v4/users/{bob}/personal_access_tokens"),
                ROOT_TOKEN,
                json!({"name": format!("t{round}"), "scopes": ["api"]}),
            )
            .expect(201);
        let (token_id, raw) = (
            token["id"].as_i64().unwrap(),
            token["token"].as_str().unwrap().to_owned(),
        );
        reader.get("/api/v4/user", &raw).expect(200);

        // A member: no access on the reader, then Developer, then Reporter, then removed.
        let path = format!("/api/v4/projects/{project}/protected_branches");
        assert_eq!(
            reader.get(&path, &raw).status.as_u16(),
            404,
            "round {round}"
        );
        writer
            .json(
                Method::POST,
                &format!("/api/v4/projects/{project}/members"),
                ROOT_TOKEN,
                json!({"user_id": bob, "access_level": 30}),
            )
            .expect(201);
        reader.get(&path, &raw).expect(200);
        writer
            .json(
                Method::PUT,
                &format!("/api/v4/projects/{project}/members/{bob}"),
                ROOT_TOKEN,
                json!({"access_level": 20}),
            )
            .expect(200);
        assert_eq!(
            reader.get(&path, &raw).status.as_u16(),
            403,
            "round {round}: a Reporter may not list protected branches"
        );
        writer
            .send(writer.request(
                Method::DELETE,
                &format!("/api/v4/projects/{project}/members/{bob}"),
                Some(ROOT_TOKEN),
            ))
            .expect(204);
        assert_eq!(
            reader.get(&path, &raw).status.as_u16(),
            404,
            "round {round}"
        );

        writer
            .send(writer.request(
                Method::DELETE,
                &format!("/api/v4/personal_access_tokens/{token_id}"),
                Some(ROOT_TOKEN),
            ))
            .expect(204);
        assert_eq!(
            reader.get("/api/v4/user", &raw).status.as_u16(),
            401,
            "round {round}: a revoked token still works on the other instance"
        );

        // A check: listed on the reader, scoped to a new protected branch through the writer, then deleted.
        let checks = format!("/api/v4/projects/{project}/external_status_checks");
        let check = create_check(writer, project, &format!("http://127.0.0.1:9/hook/{round}"));
        let listed = reader.get(&checks, ROOT_TOKEN).expect(200);
        assert_eq!(
            listed.as_array().unwrap().len(),
            1,
            "round {round}: {listed}"
        );
        let branch = writer
            .json(
                Method::POST,
                &format!("/api/v4/projects/{project}/protected_branches"),
                ROOT_TOKEN,
                json!({"name": format!("release-{round}")}),
            )
            .expect(201)["id"]
            .as_i64()
            .unwrap();
        writer
            .json(
                Method::PUT,
                &format!("{checks}/{check}"),
                ROOT_TOKEN,
                json!({"protected_branch_ids": [branch]}),
            )
            .expect(200);
        let scoped = reader.get(&checks, ROOT_TOKEN).expect(200);
        assert_eq!(
            scoped[0]["protected_branches"][0]["id"].as_i64(),
            Some(branch),
            "round {round}: {scoped}"
        );
        writer
            .send(writer.request(
                Method::DELETE,
                &format!("{checks}/{check}"),
                Some(ROOT_TOKEN),
            ))
            .expect(204);
        let listed = reader.get(&checks, ROOT_TOKEN).expect(200);
        assert_eq!(
            listed.as_array().unwrap().len(),
            0,
            "round {round}: {listed}"
        );
    }
    drop((a, b));
}

#[test]
fn merge_requests_opened_on_both_instances_notify_exactly_once() {
    let Some(db) =
        PostgresDatabase::create("merge_requests_opened_on_both_instances_notify_exactly_once")
    else {
        return;
    };
    let receiver = Receiver::start("127.0.0.1:0");
    let a = Service::start_url(db.url(), &["--allow-local-requests"]);
    let b = Service::start_url(db.url(), &["--allow-local-requests"]);
    let project = create_project(&a, "fan-out");
    create_check(&b, project, &format!("http://{}/hook", receiver.address));
    const MRS: usize = 200;
    let mut iids = Vec::with_capacity(MRS);
    for n in 0..MRS {
        let service = if n % 2 == 0 { &a } else { &b };
        iids.push(open_mr(service, project, &format!("f{n}")));
    }
    // iids are one sequence, whichever instance allocated them.
    iids.sort_unstable();
    assert_eq!(iids, (1..=MRS as i64).collect::<Vec<_>>());

    let got = receiver.wait_for(MRS);
    // Anything sent twice would come within the next moments.
    std::thread::sleep(Duration::from_secs(1));
    let got = {
        let all = receiver.received.lock().unwrap().clone();
        assert!(got.len() <= all.len());
        all
    };
    let counts = by_key(got.iter().map(|r| r.header("idempotency-key")));
    assert_eq!(counts.len(), MRS, "one notification per merge request");
    let twice: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "sent more than once: {twice:?}");
    assert_eq!(got.len(), MRS);
}

#[test]
fn the_claims_of_a_killed_instance_are_sent_by_the_other_after_their_lease() {
    let Some(db) = PostgresDatabase::create(
        "the_claims_of_a_killed_instance_are_sent_by_the_other_after_their_lease",
    ) else {
        return;
    };
    // A receiver that holds every request while `hold` is set (the instance that sent it then holds its
    // claim), and answers 200 to the rest. Held requests are answered 503 once let go: their sender is dead.
    let hold = Arc::new(AtomicBool::new(true));
    let arrived_held = Arc::new(AtomicUsize::new(0));
    let bound = FakeServer::bind("receiver");
    let receiver = bound.server();
    let (holding, arrived) = (hold.clone(), arrived_held.clone());
    bound.serve(move |_| {
        if !holding.load(Ordering::SeqCst) {
            return Response::text(200, "ok");
        }
        arrived.fetch_add(1, Ordering::SeqCst);
        while holding.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(20));
        }
        Response::text(503, "sender gone")
    });

    // Small batches keep the lease short: a claim's lease is the delivery timeout times the waves of a
    // batch (here 2) plus 30 s.
    let flags = [
        "--allow-local-requests",
        "--delivery-timeout",
        "3s",
        "--delivery-batch-size",
        "8",
        "--delivery-concurrency-per-receiver",
        "16",
    ];
    let a = Service::start_url(db.url(), &flags);
    let project = create_project(&a, "claims");
    create_check(&a, project, &format!("http://{}/hook", receiver.address));
    const HELD: usize = 12;
    let claimed_at = Instant::now();
    for n in 0..HELD {
        open_mr(&a, project, &format!("k{n}"));
    }
    // Every notification is in flight from `a`: claimed by it, held by the receiver.
    assert!(
        wait_until(
            || arrived_held.load(Ordering::SeqCst) >= HELD,
            Duration::from_secs(10)
        ),
        "only {} of {HELD} arrived",
        arrived_held.load(Ordering::SeqCst)
    );
    // `b` starts while `a` holds every claim, and leaves them alone.
    let b = Service::start_url(db.url(), &flags);
    a.kill();
    hold.store(false, Ordering::SeqCst);
    let killed_at = Instant::now();
    let delivered = || {
        receiver
            .requests()
            .into_iter()
            .filter(|r| r.answered == 200)
            .collect::<Vec<_>>()
    };
    std::thread::sleep(Duration::from_secs(5));
    assert!(
        delivered().is_empty(),
        "claims held by the killed instance are respected until their lease ends"
    );

    // Lease: 3 s × 2 waves + 30 s from the claim; then `b` claims them at its next poll.
    assert!(
        wait_until(|| delivered().len() >= HELD, Duration::from_secs(60)),
        "only {} of {HELD} sent by the surviving instance",
        delivered().len()
    );
    let waited = claimed_at.elapsed();
    assert!(
        waited >= Duration::from_secs(30),
        "sent after the lease, not before: {waited:?} (killed {:?} ago)",
        killed_at.elapsed()
    );
    std::thread::sleep(Duration::from_secs(1));
    let delivered = delivered();
    let held_keys = by_key(
        receiver
            .requests()
            .iter()
            .filter(|r| r.answered == 503)
            .map(|r| r.header("idempotency-key")),
    );
    let sent_keys = by_key(delivered.iter().map(|r| r.header("idempotency-key")));
    assert_eq!(sent_keys.len(), HELD, "{sent_keys:?}");
    assert!(sent_keys.values().all(|n| *n == 1), "{sent_keys:?}");
    assert_eq!(
        held_keys.keys().collect::<Vec<_>>(),
        sent_keys.keys().collect::<Vec<_>>(),
        "the killed instance's claims, and only those, were sent by the other"
    );
    // The outbox agrees: every notification delivered.
    let checks = b
        .get(
            &format!("/api/v4/projects/{project}/external_status_checks"),
            ROOT_TOKEN,
        )
        .expect(200);
    let check = checks[0]["id"].as_i64().unwrap();
    let outbox = b
        .get(
            &format!(
                "/api/v4/projects/{project}/external_status_checks/{check}/deliveries?per_page=100"
            ),
            ROOT_TOKEN,
        )
        .expect(200);
    let statuses: Vec<_> = outbox
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["status"].as_str().unwrap_or("?").to_owned())
        .collect();
    assert_eq!(statuses.len(), HELD);
    assert!(statuses.iter().all(|s| s == "delivered"), "{statuses:?}");
}

#[test]
fn readiness_and_the_api_answer_503_when_the_database_is_gone() {
    let Some(mut db) =
        PostgresDatabase::create("readiness_and_the_api_answer_503_when_the_database_is_gone")
    else {
        return;
    };
    let service = Service::start_url(db.url(), &["--request-timeout", "20s"]);
    let ready = service.send(service.request(Method::GET, "/-/readiness", None));
    assert_eq!(ready.status.as_u16(), 200, "{}", ready.body);
    // The database disappears under the instance: its connections are ended, and new ones are refused.
    db.drop_now();
    let ready = service.send(service.request(Method::GET, "/-/readiness", None));
    assert_eq!(ready.status.as_u16(), 503, "{}", ready.body);
    assert_eq!(ready.body["status"], "failed");
    let api = service.get("/api/v4/projects", ROOT_TOKEN);
    assert_eq!(api.status.as_u16(), 503, "{}", api.body);
    let live = service.send(service.request(Method::GET, "/-/liveness", None));
    assert_eq!(live.status.as_u16(), 200, "the process itself is fine");
}
