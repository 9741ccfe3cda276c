//! Notifications through the real binary: delivered to a receiver, kept across SIGKILL, refused at send time
//! for local addresses, and the pending timeout.

use reqwest::Method;
use serde_json::{Value, json};
use status_checks_tests::{ROOT_TOKEN, Receiver, Service, database, free_port};
use std::time::Duration;

const HEAD: &str = "abababababababababababababababababababab";

fn setup(service: &Service, url: &str) -> (i64, i64) {
    let p = service
        .json(
            Method::POST,
            "/api/v4/projects",
            ROOT_TOKEN,
            json!({"name": "n"}),
        )
        .expect(201)["id"]
        .as_i64()
        .unwrap();
    let body = json!({"name": "qa", "external_url": url, "shared_secret": "topsecret"});
    let c = service
        .json(
            Method::POST,
            &format!("/api/v4/projects/{p}/external_status_checks"),
            ROOT_TOKEN,
            body,
        )
        .expect(201)["id"]
        .as_i64()
        .unwrap();
    (p, c)
}

fn open_mr(service: &Service, p: i64) -> i64 {
    let body = json!({"source_branch": "f", "target_branch": "main", "title": "t", "sha": HEAD});
    service
        .json(
            Method::POST,
            &format!("/api/v4/projects/{p}/merge_requests"),
            ROOT_TOKEN,
            body,
        )
        .expect(201)["iid"]
        .as_i64()
        .unwrap()
}

fn deliveries(service: &Service, p: i64, c: i64) -> Value {
    service
        .get(
            &format!("/api/v4/projects/{p}/external_status_checks/{c}/deliveries"),
            ROOT_TOKEN,
        )
        .expect(200)
}

#[test]
fn a_delivery_recorded_before_sigkill_is_sent_after_the_restart() {
    let (_dir, db) = database();
    let port = free_port();
    let service = Service::start(&db, &["--allow-local-requests"]);
    let (p, c) = setup(&service, &format!("http://127.0.0.1:{port}/hook"));
    open_mr(&service, p);
    // Nothing listens yet: the first attempt fails with the cause recorded.
    for _ in 0..50 {
        if deliveries(&service, p, c)[0]["attempts"].as_i64() >= Some(1) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let failed = deliveries(&service, p, c);
    assert_eq!(
        (failed[0]["status"].clone(), failed[0]["last_error"].clone()),
        (json!("pending"), json!("connection refused"))
    );
    service.kill();

    let receiver = Receiver::start(&format!("127.0.0.1:{port}"));
    let again = Service::start(&db, &["--allow-local-requests"]);
    let got = receiver.wait_for(1);
    assert_eq!(got.len(), 1, "sent after the restart");
    let request = &got[0];
    assert_eq!(request.header("x-gitlab-event"), Some("Merge Request Hook"));
    let key = request.header("idempotency-key").unwrap().to_owned();
    assert_eq!(request.header("x-gitlab-signature").map(str::len), Some(64));
    let body: Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(body["object_attributes"]["action"], "open");
    for _ in 0..50 {
        if deliveries(&again, p, c)[0]["status"] == "delivered" {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let delivered = deliveries(&again, p, c);
    assert_eq!(
        (
            delivered[0]["status"].clone(),
            delivered[0]["idempotency_key"].clone()
        ),
        (json!("delivered"), json!(key))
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(receiver.received.lock().unwrap().len(), 1, "exactly once");
}

#[test]
fn local_targets_are_refused_at_send_time_without_the_setting() {
    let (_dir, db) = database();
    let receiver = Receiver::start("127.0.0.1:0");
    let service = Service::start(&db, &["--allow-local-requests"]);
    let (p, c) = setup(&service, &format!("http://{}/hook", receiver.address));
    assert_eq!(service.terminate(), Some(0));
    // Saved while local requests were allowed; the operator then turns the setting off.
    let strict = Service::start(&db, &[]);
    open_mr(&strict, p);
    for _ in 0..50 {
        if deliveries(&strict, p, c)[0]["attempts"].as_i64() >= Some(1) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        deliveries(&strict, p, c)[0]["last_error"],
        "blocked address 127.0.0.1"
    );
    assert!(receiver.received.lock().unwrap().is_empty());
    let refused = strict.json(
        Method::POST,
        &format!("/api/v4/projects/{p}/external_status_checks"),
        ROOT_TOKEN,
        json!({"name": "x", "external_url": "http://127.0.0.1:9/x"}),
    );
    assert_eq!(refused.status.as_u16(), 422);
}

#[test]
fn the_pending_timeout_fails_a_silent_check_and_it_can_be_retried() {
    let (_dir, db) = database();
    let service = Service::start(&db, &["--pending-timeout", "1s"]);
    let (p, c) = setup(&service, "https://qa.example.com/hook");
    let iid = open_mr(&service, p);
    let uri = format!("/api/v4/projects/{p}/merge_requests/{iid}/status_checks");
    assert_eq!(
        service.get(&uri, ROOT_TOKEN).expect(200)[0]["status"],
        "pending"
    );
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        service.get(&uri, ROOT_TOKEN).expect(200)[0]["status"],
        "failed"
    );
    service
        .json(
            Method::POST,
            &format!("{uri}/{c}/retry"),
            ROOT_TOKEN,
            json!({}),
        )
        .expect(202);
    assert_eq!(
        service.get(&uri, ROOT_TOKEN).expect(200)[0]["status"],
        "pending"
    );
    // A push restarts the clock for the new HEAD too (GitLab times out only the first one).
    std::thread::sleep(Duration::from_millis(1500));
    service
        .json(
            Method::PUT,
            &format!("/api/v4/projects/{p}/merge_requests/{iid}"),
            ROOT_TOKEN,
            json!({"sha": "cd".repeat(20)}),
        )
        .expect(200);
    assert_eq!(
        service.get(&uri, ROOT_TOKEN).expect(200)[0]["status"],
        "pending"
    );
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        service.get(&uri, ROOT_TOKEN).expect(200)[0]["status"],
        "failed"
    );
}
