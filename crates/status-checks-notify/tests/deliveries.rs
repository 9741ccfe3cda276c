//! The worker against a real SQLite outbox and a real HTTP receiver on 127.0.0.1: payload, headers and
//! signature, retries with a stable idempotency key, dead deliveries, applicability, cancellation, and the
//! SSRF guard at send time. The clock is fixed and moved by hand, so retries happen exactly when told.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a panic is how a test fails"
)]

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use status_checks_core::deliveries::{Delivery, DeliveryStatus};
use status_checks_core::ids::CommitSha;
use status_checks_core::merge_requests::{MergeRequestUpdateInput, NewMergeRequestInput};
use status_checks_core::pagination::PageRequest;
use status_checks_core::projects::{NewProjectInput, ProjectRef};
use status_checks_core::service::{Settings, StatusChecksService};
use status_checks_core::status_checks::StatusCheckInput;
use status_checks_core::status_checks::{CheckStatus, ResponseInput};
use status_checks_core::testkit::{FixedClock, SequentialSecrets};
use status_checks_core::{Actor, MergeRequestIid, ProtectedBranchId, StatusCheckId};
use status_checks_notify::guard::{Lookup, system_lookup};
use status_checks_notify::{DeliveryWorker, Sender, WorkerConfig};
use status_checks_storage::{Store, StoreOptions};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tempfile::TempDir;

const ROOT: &str = "root-token-0123456789abcdef";
const HEAD: &str = "cccccccccccccccccccccccccccccccccccccccc";

#[derive(Debug, Clone)]
struct Received {
    headers: HeaderMap,
    body: Bytes,
}

/// An HTTP receiver that answers with the given statuses in turn (then 200), recording every request.
struct Receiver {
    url: String,
    received: Arc<Mutex<Vec<Received>>>,
}

async fn receiver(statuses: Vec<u16>) -> Receiver {
    let received = Arc::new(Mutex::new(Vec::new()));
    let script = Arc::new(Mutex::new(statuses.into_iter()));
    let log = received.clone();
    let app = Router::new().fallback(move |headers: HeaderMap, body: Bytes| {
        let log = log.clone();
        let script = script.clone();
        async move {
            log.lock().unwrap().push(Received { headers, body });
            let status = script.lock().unwrap().next().unwrap_or(200);
            StatusCode::from_u16(status).unwrap()
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook?token=abc", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    Receiver { url, received }
}

struct World {
    service: StatusChecksService,
    clock: Arc<FixedClock>,
    store: Store,
    actor: Actor,
    project: ProjectRef,
    _dir: TempDir,
}

async fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(
        &format!("sqlite://{}", dir.path().join("n.db").display()),
        StoreOptions::default(),
    )
    .unwrap();
    let clock = Arc::new(FixedClock::default());
    let ports = store.ports(clock.clone(), Arc::new(SequentialSecrets::default()));
    // Saving local URLs is allowed here so that the send-time guard can be tested on its own.
    let settings = Settings {
        allow_local_requests: true,
        base_url: "http://sc.test".into(),
        ..Settings::default()
    };
    let service = StatusChecksService::new(ports, settings);
    service.bootstrap_root(ROOT).await.unwrap();
    let (actor, _) = service.authenticate(ROOT).await.unwrap();
    let input = NewProjectInput {
        name: "proj".into(),
        namespace: Some("grp".into()),
        ..Default::default()
    };
    service.create_project(&actor, Ok(input)).await.unwrap();
    World {
        service,
        clock,
        store,
        actor,
        project: ProjectRef::Path("grp/proj".into()),
        _dir: dir,
    }
}

impl World {
    async fn check(
        &self,
        name: &str,
        url: &str,
        secret: Option<&str>,
        branches: Vec<ProtectedBranchId>,
    ) -> StatusCheckId {
        let input = StatusCheckInput {
            name: name.into(),
            external_url: url.into(),
            shared_secret: secret.map(str::to_owned),
            protected_branch_ids: branches,
        };
        self.service
            .create_status_check(&self.actor, &self.project, Ok(input))
            .await
            .unwrap()
            .id
    }

    async fn merge_request(&self, target: &str) -> MergeRequestIid {
        let input = NewMergeRequestInput {
            source_branch: "feature".into(),
            target_branch: target.into(),
            title: "Change".into(),
            sha: CommitSha::parse(HEAD).unwrap(),
            description: None,
        };
        self.service
            .create_merge_request(&self.actor, &self.project, Ok(input))
            .await
            .unwrap()
            .merge_request
            .iid
    }

    async fn deliveries(&self, check: StatusCheckId) -> Vec<Delivery> {
        self.service
            .list_deliveries(&self.actor, &self.project, check, PageRequest::new(1, 100))
            .await
            .unwrap()
            .items
    }

    /// Starts a worker; the returned sender stops it.
    fn worker(
        &self,
        allow_local: bool,
        lookup: Lookup,
        max_attempts: u32,
    ) -> tokio::sync::oneshot::Sender<()> {
        let config = WorkerConfig {
            max_attempts,
            poll_interval: Duration::from_millis(10),
            timeout: Duration::from_secs(2),
            ..WorkerConfig::default()
        };
        self.worker_with(allow_local, lookup, config)
    }

    /// Starts a worker with `config`; the returned sender stops it.
    fn worker_with(
        &self,
        allow_local: bool,
        lookup: Lookup,
        config: WorkerConfig,
    ) -> tokio::sync::oneshot::Sender<()> {
        let policy = status_checks_core::status_checks::UrlPolicy {
            allow_local_requests: allow_local,
            ..Default::default()
        };
        let sender = Sender::new(config.timeout, policy, lookup).unwrap();
        let ports = self.service.ports();
        let worker = DeliveryWorker::new(
            ports.deliveries.clone(),
            ports.clock.clone(),
            sender,
            config,
            Arc::new(status_checks_notify::worker::NoObserver),
        );
        let (stop, stopped) = tokio::sync::oneshot::channel();
        tokio::spawn(worker.run(async move {
            let _ = stopped.await;
        }));
        stop
    }
}

/// Waits until `done` holds (the worker runs concurrently), failing after five seconds.
async fn eventually(what: &str, mut done: impl AsyncFnMut() -> bool) {
    for _ in 0..500 {
        if done().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for: {what}");
}

fn hmac_hex(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_gitlab_payload_reaches_the_receiver() {
    let w = world().await;
    let rx = receiver(vec![]).await;
    let check = w.check("compliance", &rx.url, Some("s3cret"), vec![]).await;
    let iid = w.merge_request("main").await;
    let _stop = w.worker(true, system_lookup(), 10);
    eventually("one delivery", async || {
        rx.received.lock().unwrap().len() == 1
    })
    .await;

    let got = rx.received.lock().unwrap()[0].clone();
    let header = |name: &str| {
        got.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("<none>")
            .to_owned()
    };
    assert_eq!(header("content-type"), "application/json");
    assert_eq!(header("x-gitlab-event"), "Merge Request Hook");
    assert!(header("user-agent").starts_with("status-checks/"));
    assert_eq!(
        header("x-gitlab-signature"),
        hmac_hex("s3cret", &got.body),
        "signed over the exact bytes sent"
    );
    let body: Value = serde_json::from_slice(&got.body).unwrap();
    assert_eq!(
        (body["object_kind"].clone(), body["event_type"].clone()),
        (json!("merge_request"), json!("merge_request"))
    );
    assert_eq!(body["object_attributes"]["action"], "open");
    assert_eq!(body["object_attributes"]["iid"], iid.0);
    assert_eq!(body["object_attributes"]["last_commit"]["id"], HEAD);
    assert_eq!(
        body["object_attributes"]["url"],
        "http://sc.test/grp/proj/-/merge_requests/1"
    );
    assert_eq!(body["user"]["username"], "root");
    assert_eq!(body["project"]["path_with_namespace"], "grp/proj");
    assert_eq!(
        body["external_approval_rule"],
        json!({"id": check.0, "name": "compliance", "external_url": rx.url})
    );

    eventually("recorded as delivered", async || {
        w.deliveries(check).await[0].status == DeliveryStatus::Delivered
    })
    .await;
    let delivery = &w.deliveries(check).await[0];
    assert_eq!((delivery.attempts, delivery.last_error.clone()), (1, None));
    assert_eq!(header("idempotency-key"), delivery.idempotency_key);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_is_down_then_up_gets_it_exactly_once_with_one_key() {
    let w = world().await;
    let rx = receiver(vec![503, 502]).await;
    let check = w.check("qa", &rx.url, None, vec![]).await;
    w.merge_request("main").await;
    let _stop = w.worker(true, system_lookup(), 10);
    eventually("first attempt", async || {
        rx.received.lock().unwrap().len() == 1
    })
    .await;
    eventually("first failure recorded", async || {
        w.deliveries(check).await[0].attempts == 1
    })
    .await;
    let failed = w.deliveries(check).await[0].clone();
    assert_eq!(
        (failed.status, failed.last_error.as_deref()),
        (DeliveryStatus::Pending, Some("HTTP 503"))
    );
    let wait = failed.next_attempt_at.unwrap() - failed.last_attempt_at.unwrap();
    assert!(
        wait >= chrono::TimeDelta::milliseconds(800)
            && wait <= chrono::TimeDelta::milliseconds(1200),
        "about 1 s: {wait}"
    );

    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        rx.received.lock().unwrap().len(),
        1,
        "no retry before it is due"
    );
    w.clock.advance(Duration::from_secs(2));
    eventually("second attempt", async || {
        w.deliveries(check).await[0].attempts == 2
    })
    .await;
    w.clock.advance(Duration::from_secs(3));
    eventually("delivered", async || {
        w.deliveries(check).await[0].status == DeliveryStatus::Delivered
    })
    .await;
    w.clock.advance(Duration::from_secs(600));
    tokio::time::sleep(Duration::from_millis(100)).await;

    let received = rx.received.lock().unwrap().clone();
    assert_eq!(received.len(), 3, "two failures, then exactly one success");
    let keys: Vec<_> = received
        .iter()
        .map(|r| r.headers.get("idempotency-key").cloned())
        .collect();
    assert!(
        keys.iter().all(|k| k == &keys[0]) && keys[0].is_some(),
        "the same key on every attempt"
    );
    assert!(
        received.iter().all(|r| r.body == received[0].body),
        "the same bytes on every attempt"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_and_refusing_receivers_end_dead_with_the_cause() {
    let w = world().await;
    // A port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let refused = w
        .check("refused", &format!("http://{closed}/hook"), None, vec![])
        .await;
    let rx = receiver(vec![404]).await;
    let not_found = w.check("gone", &rx.url, None, vec![]).await;
    w.merge_request("main").await;
    let _stop = w.worker(true, system_lookup(), 3);
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(150)).await;
        w.clock.advance(Duration::from_secs(10));
    }
    eventually("dead after 3 attempts", async || {
        w.deliveries(refused).await[0].status == DeliveryStatus::Dead
    })
    .await;
    let dead = &w.deliveries(refused).await[0];
    assert_eq!(
        (
            dead.attempts,
            dead.last_error.as_deref(),
            dead.next_attempt_at
        ),
        (3, Some("connection refused"), None)
    );
    eventually("4xx is final", async || {
        w.deliveries(not_found).await[0].status == DeliveryStatus::Dead
    })
    .await;
    let final_answer = &w.deliveries(not_found).await[0];
    assert_eq!(
        (final_answer.attempts, final_answer.last_error.as_deref()),
        (1, Some("HTTP 404"))
    );
    assert_eq!(rx.received.lock().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_applicable_checks_are_notified_and_deleted_checks_cancel_theirs() {
    let w = world().await;
    let rx = receiver(vec![]).await;
    let release = w
        .service
        .protect_branch(&w.actor, &w.project, Ok("release/*".into()))
        .await
        .unwrap();
    let scoped = w
        .check(
            "release-only",
            &format!("{}&c=scoped", rx.url),
            None,
            vec![release.id],
        )
        .await;
    let doomed = w
        .check("doomed", &format!("{}&c=doomed", rx.url), None, vec![])
        .await;
    w.merge_request("main").await;
    assert!(
        w.deliveries(scoped).await.is_empty(),
        "a check scoped to release/* is not told about main"
    );
    assert_eq!(w.deliveries(doomed).await.len(), 1);
    w.service
        .delete_status_check(&w.actor, &w.project, doomed)
        .await
        .unwrap();
    let _stop = w.worker(true, system_lookup(), 10);
    w.merge_request("release/2.0").await;
    eventually("the scoped check hears of release/2.0", async || {
        rx.received.lock().unwrap().len() == 1
    })
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let received = rx.received.lock().unwrap().clone();
    assert_eq!(received.len(), 1, "nothing for the deleted check");
    let body: Value = serde_json::from_slice(&received[0].body).unwrap();
    assert_eq!(body["external_approval_rule"]["name"], "release-only");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn updates_pushes_merges_and_retries_are_all_notified() {
    let w = world().await;
    let rx = receiver(vec![]).await;
    let check = w.check("qa", &rx.url, None, vec![]).await;
    let iid = w.merge_request("main").await;
    let update = MergeRequestUpdateInput {
        title: Some("Renamed".into()),
        ..Default::default()
    };
    w.service
        .update_merge_request(&w.actor, &w.project, iid, Ok(update))
        .await
        .unwrap();
    let push = MergeRequestUpdateInput {
        sha: Some(CommitSha::parse(&"d".repeat(40)).unwrap()),
        ..Default::default()
    };
    w.service
        .update_merge_request(&w.actor, &w.project, iid, Ok(push))
        .await
        .unwrap();
    let answer = ResponseInput {
        external_status_check_id: check,
        sha: "d".repeat(40),
        status: CheckStatus::Failed,
        details: None,
    };
    w.service
        .set_check_status(&w.actor, &w.project, iid, Ok(answer))
        .await
        .unwrap();
    w.service
        .retry_status_check(&w.actor, &w.project, iid, check)
        .await
        .unwrap();
    let _stop = w.worker(true, system_lookup(), 10);
    eventually("four notifications", async || {
        rx.received.lock().unwrap().len() == 4
    })
    .await;
    // Deliveries go out concurrently, so they may arrive in any order.
    let bodies: Vec<Value> = rx
        .received
        .lock()
        .unwrap()
        .iter()
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    let mut actions: Vec<String> = bodies
        .iter()
        .map(|b| {
            b["object_attributes"]["action"]
                .as_str()
                .unwrap_or("<none>")
                .to_owned()
        })
        .collect();
    actions.sort();
    assert_eq!(
        actions,
        vec!["<none>", "open", "update", "update"],
        "a retry carries no action"
    );
    let renamed = bodies
        .iter()
        .find(|b| b["changes"].get("title").is_some())
        .unwrap();
    assert_eq!(
        renamed["changes"]["title"],
        json!({"previous": "Change", "current": "Renamed"})
    );
    let pushed = bodies
        .iter()
        .find(|b| b["object_attributes"].get("oldrev").is_some())
        .unwrap();
    assert_eq!(pushed["object_attributes"]["oldrev"], HEAD);
    assert_eq!(
        pushed["object_attributes"]["last_commit"]["id"],
        "d".repeat(40)
    );
}

fn table(entries: &[(&str, &[&str])]) -> Lookup {
    let map: std::collections::HashMap<String, Vec<IpAddr>> = entries
        .iter()
        .map(|(name, ips)| {
            (
                name.to_string(),
                ips.iter().map(|ip| ip.parse().unwrap()).collect(),
            )
        })
        .collect();
    let map = Arc::new(map);
    Arc::new(move |host: String| {
        let map = map.clone();
        Box::pin(async move { Ok(map.get(&host).cloned().unwrap_or_default()) })
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ssrf_guard_holds_at_send_time() {
    let w = world().await;
    let rx = receiver(vec![]).await;
    let port = rx
        .url
        .split(':')
        .nth(2)
        .and_then(|p| p.split('/').next())
        .unwrap()
        .to_owned();
    let cases = [
        ("literal", rx.url.clone(), "blocked address 127.0.0.1"),
        (
            "v6",
            format!("http://[::1]:{port}/hook"),
            "blocked address ::1",
        ),
        (
            "mapped",
            format!("http://[::ffff:127.0.0.1]:{port}/hook"),
            "blocked address ::ffff:127.0.0.1",
        ),
        (
            "name",
            format!("http://internal.test:{port}/hook"),
            "blocked address 127.0.0.1",
        ),
        (
            "rebinding",
            format!("http://mixed.test:{port}/hook"),
            "blocked address 10.0.0.7",
        ),
        (
            "private",
            format!("http://private.test:{port}/hook"),
            "blocked address 192.168.1.9",
        ),
        (
            "nx",
            format!("http://nx.test:{port}/hook"),
            "unresolvable host",
        ),
    ];
    let mut checks = Vec::new();
    for (name, url, _) in &cases {
        checks.push(w.check(name, url, None, vec![]).await);
    }
    w.merge_request("main").await;
    let lookup = table(&[
        ("internal.test", &["127.0.0.1"]),
        ("mixed.test", &["93.184.216.34", "10.0.0.7"]),
        ("private.test", &["192.168.1.9"]),
    ]);
    let _stop = w.worker(false, lookup, 1);
    for (check, (name, _, reason)) in checks.iter().zip(cases) {
        eventually(name, async || {
            w.deliveries(*check).await[0].status == DeliveryStatus::Dead
        })
        .await;
        assert_eq!(
            w.deliveries(*check).await[0].last_error.as_deref(),
            Some(reason),
            "{name}"
        );
    }
    assert!(
        rx.received.lock().unwrap().is_empty(),
        "nothing reached a local address"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abandoned_claim_comes_due_again_for_a_new_process() {
    let w = world().await;
    let rx = receiver(vec![]).await;
    let check = w.check("qa", &rx.url, None, vec![]).await;
    w.merge_request("main").await;
    // A process claims the delivery and dies before sending it.
    let now = w.clock.now_();
    let claimed = w
        .service
        .ports()
        .deliveries
        .claim_due(now, 10, now + chrono::TimeDelta::seconds(60), Vec::new())
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    // A new store on the same file (as after a restart), and a worker: nothing is due until the lease ends.
    let reopened = Store::open(
        &format!("sqlite://{}", w.store.path().display()),
        StoreOptions::default(),
    )
    .unwrap();
    let ports = reopened.ports(w.clock.clone(), Arc::new(SequentialSecrets::default()));
    let allow = status_checks_core::status_checks::UrlPolicy {
        allow_local_requests: true,
        ..Default::default()
    };
    let sender = Sender::new(Duration::from_secs(2), allow, system_lookup()).unwrap();
    let config = WorkerConfig {
        poll_interval: Duration::from_millis(10),
        ..WorkerConfig::default()
    };
    let worker = DeliveryWorker::new(
        ports.deliveries.clone(),
        ports.clock.clone(),
        sender,
        config,
        Arc::new(status_checks_notify::worker::NoObserver),
    );
    let (_stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(worker.run(async move {
        let _ = stopped.await;
    }));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(rx.received.lock().unwrap().is_empty());
    w.clock.advance(Duration::from_secs(61));
    eventually("sent after the lease", async || {
        rx.received.lock().unwrap().len() == 1
    })
    .await;
    eventually("delivered", async || {
        w.deliveries(check).await[0].status == DeliveryStatus::Delivered
    })
    .await;
}

trait Now {
    fn now_(&self) -> status_checks_core::Timestamp;
}

impl Now for FixedClock {
    fn now_(&self) -> status_checks_core::Timestamp {
        use status_checks_core::ports::Clock;
        self.now()
    }
}

/// Four slots, two per receiver, batches of `batch_size`, a long timeout (a hanging attempt stays in flight
/// for the whole test) and a quick poll.
fn two_per_receiver(batch_size: u32) -> WorkerConfig {
    WorkerConfig {
        concurrency: 4,
        concurrency_per_receiver: 2,
        batch_size,
        poll_interval: Duration::from_millis(10),
        timeout: Duration::from_secs(60),
        ..WorkerConfig::default()
    }
}

/// A receiver that records every request and answers none until the returned sender sends `true`.
async fn hanging_receiver() -> (
    String,
    Arc<Mutex<Vec<Received>>>,
    tokio::sync::watch::Sender<bool>,
) {
    let (release, released) = tokio::sync::watch::channel(false);
    let held = Arc::new(Mutex::new(Vec::new()));
    let log = held.clone();
    let app = Router::new().fallback(move |headers: HeaderMap, body: Bytes| {
        let log = log.clone();
        let mut released = released.clone();
        async move {
            log.lock().unwrap().push(Received { headers, body });
            let _ = released.wait_for(|go| *go).await;
            StatusCode::OK
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, held, release)
}

/// Waits until `done` holds, failing after `limit` (a bound on a broken test, not a speed requirement).
async fn within(limit: Duration, what: &str, mut done: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < deadline {
        if done().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for: {what}");
}

fn keys(received: &[Received]) -> Vec<String> {
    received
        .iter()
        .map(|r| {
            r.headers
                .get("idempotency-key")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_two_thousand_deliveries_arrives_once_each() {
    let w = world().await;
    let rx = receiver(vec![]).await;
    let mut checks = Vec::new();
    for n in 0..10 {
        let url = format!("{}&check={n}", rx.url);
        checks.push(
            w.check(&format!("check-{n}"), &url, Some("s3cret"), vec![])
                .await,
        );
    }
    for _ in 0..200 {
        w.merge_request("main").await;
    }
    let _stop = w.worker(true, system_lookup(), 10);
    within(Duration::from_secs(120), "2 000 deliveries", async || {
        rx.received.lock().unwrap().len() >= 2000
    })
    .await;
    within(
        Duration::from_secs(30),
        "every outcome recorded",
        async || {
            use status_checks_core::ports::DeliveryRepository;
            w.store.count_pending().await.unwrap() == 0
        },
    )
    .await;
    // Time for a duplicate to show up, had a delivery been claimed twice.
    tokio::time::sleep(Duration::from_millis(200)).await;

    let received = rx.received.lock().unwrap().clone();
    let mut distinct = keys(&received);
    distinct.sort();
    distinct.dedup();
    assert_eq!(received.len(), 2000, "no delivery sent twice");
    assert_eq!(distinct.len(), 2000, "every delivery with its own key");
    for check in checks {
        let deliveries = w.deliveries(check).await;
        assert!(
            deliveries
                .iter()
                .all(|d| d.status == DeliveryStatus::Delivered && d.attempts == 1),
            "each recorded delivered after one attempt"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_receiver_does_not_hold_up_the_others() {
    let w = world().await;
    // A receiver that holds every request until released, and one that answers at once.
    let (hanging_url, held, release) = hanging_receiver().await;
    let fast = receiver(vec![]).await;
    // The hanging receiver's check is older: its deliveries come first in the outbox.
    let hanging = w.check("hanging", &hanging_url, None, vec![]).await;
    let quick = w.check("quick", &fast.url, None, vec![]).await;
    for _ in 0..10 {
        w.merge_request("main").await;
    }
    let _stop = w.worker_with(true, system_lookup(), two_per_receiver(128));

    within(
        Duration::from_secs(60),
        "every delivery to the fast receiver while the other hangs",
        async || fast.received.lock().unwrap().len() == 10,
    )
    .await;
    assert_eq!(
        held.lock().unwrap().len(),
        2,
        "the hanging receiver holds only its own two slots"
    );
    assert!(
        w.deliveries(hanging)
            .await
            .iter()
            .all(|d| d.status == DeliveryStatus::Pending),
        "nothing to the hanging receiver is delivered yet"
    );

    release.send(true).unwrap();
    within(Duration::from_secs(60), "the held deliveries", async || {
        w.deliveries(hanging)
            .await
            .iter()
            .all(|d| d.status == DeliveryStatus::Delivered)
    })
    .await;
    let mut sent = keys(&held.lock().unwrap());
    sent.sort();
    sent.dedup();
    assert_eq!(sent.len(), 10, "each held delivery sent once");
    assert!(
        w.deliveries(quick)
            .await
            .iter()
            .all(|d| d.status == DeliveryStatus::Delivered),
        "the fast receiver's deliveries are recorded delivered"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finished_deliveries_are_pruned_after_the_retention_and_pending_ones_stay() {
    let w = world().await;
    let ok = receiver(vec![]).await;
    let failing = receiver(vec![503; 100]).await;
    let delivered = w.check("delivered", &ok.url, None, vec![]).await;
    let pending = w.check("pending", &failing.url, None, vec![]).await;
    w.merge_request("main").await;
    let config = WorkerConfig {
        poll_interval: Duration::from_millis(10),
        timeout: Duration::from_secs(2),
        retention: Some(Duration::from_secs(3600)),
        prune_interval: Duration::from_millis(10),
        ..WorkerConfig::default()
    };
    let _stop = w.worker_with(true, system_lookup(), config);
    eventually("one delivered, one failed", async || {
        w.deliveries(delivered).await[0].status == DeliveryStatus::Delivered
            && w.deliveries(pending).await[0].attempts >= 1
    })
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        w.deliveries(delivered).await.len(),
        1,
        "kept while younger than the retention"
    );

    w.clock.advance(Duration::from_secs(2 * 3600));
    eventually("the delivered one pruned", async || {
        w.deliveries(delivered).await.is_empty()
    })
    .await;
    let left = w.deliveries(pending).await;
    assert_eq!(
        left.iter().map(|d| d.status).collect::<Vec<_>>(),
        vec![DeliveryStatus::Pending],
        "a pending delivery is never pruned, however old"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_gives_back_the_claimed_deliveries_not_yet_sent() {
    use status_checks_core::ports::{Clock, DeliveryRepository};
    let w = world().await;
    // A receiver that never answers: one attempt hangs, and the other claimed deliveries wait behind it.
    let (url, held, _never) = hanging_receiver().await;
    w.check("slow", &url, None, vec![]).await;
    for _ in 0..5 {
        w.merge_request("main").await;
    }
    let config = WorkerConfig {
        concurrency: 1,
        concurrency_per_receiver: 1,
        batch_size: 8,
        poll_interval: Duration::from_millis(10),
        timeout: Duration::from_secs(1),
        ..WorkerConfig::default()
    };
    let stop = w.worker_with(true, system_lookup(), config);
    eventually("one attempt in flight", async || {
        held.lock().unwrap().len() == 1
    })
    .await;
    assert_eq!(
        w.store.oldest_due(w.clock.now()).await.unwrap(),
        None,
        "every delivery is claimed: one in flight, four queued"
    );

    stop.send(()).unwrap();
    within(
        Duration::from_secs(30),
        "the queued four due again",
        async || w.store.oldest_due(w.clock.now()).await.unwrap().is_some(),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_receiver_with_many_checks_does_not_fill_the_queue() {
    let w = world().await;
    let (hanging_url, held, release) = hanging_receiver().await;
    let fast = receiver(vec![]).await;
    // Twenty checks on the hanging receiver, one on the fast one: each merge request's deliveries to the
    // hanging receiver come first in the outbox, and the worker learns of its checks one claim at a time.
    for n in 0..20 {
        let url = format!("{hanging_url}?check={n}");
        w.check(&format!("hanging-{n}"), &url, None, vec![]).await;
    }
    let quick = w.check("quick", &fast.url, None, vec![]).await;
    for _ in 0..3 {
        w.merge_request("main").await;
    }
    let _stop = w.worker_with(true, system_lookup(), two_per_receiver(8));
    within(
        Duration::from_secs(60),
        "the fast receiver's deliveries while 60 to the other hang",
        async || fast.received.lock().unwrap().len() == 3,
    )
    .await;
    assert_eq!(held.lock().unwrap().len(), 2, "two slots held, no more");

    release.send(true).unwrap();
    within(
        Duration::from_secs(60),
        "all 60 held deliveries",
        async || {
            let mut keys = keys(&held.lock().unwrap());
            keys.sort();
            keys.dedup();
            keys.len() == 60
        },
    )
    .await;
    assert!(
        w.deliveries(quick)
            .await
            .iter()
            .all(|d| d.status == DeliveryStatus::Delivered)
    );
}
