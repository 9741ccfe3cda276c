//! What the forge bridge's suites share, whatever the forge: a service with a project linked to a fake forge,
//! checks and their answers (E6), the status posts of `GET …/forge/deliveries` and the mirrored merge
//! requests, read back; payloads edited at JSON pointers; and [`eventually`], to poll until a condition
//! holds. `forges` (GitLab) and `forges_others` (Gitea, Forgejo, GitHub) build their own on these.

use reqwest::Method;
use serde_json::{Value, json};
use status_checks_tests::fake_server::wait_until;
use status_checks_tests::{Answer, ROOT_TOKEN, Receiver, Service, database};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The aggregate context, and the per-check prefix.
pub(crate) const AGGREGATE: &str = "status-checks";
/// How long a test waits for what the service does on its own.
pub(crate) const WAIT: Duration = Duration::from_secs(10);

/// `payload` with the values at these JSON pointers replaced.
pub(crate) fn with(mut payload: Value, changes: &[(&str, Value)]) -> Value {
    for (pointer, value) in changes {
        *payload
            .pointer_mut(pointer)
            .unwrap_or_else(|| panic!("{pointer} is not in the payload")) = value.clone();
    }
    payload
}

/// Polls `condition` every 50 ms until it holds or `timeout` passes; answers whether it held.
pub(crate) fn eventually(timeout: Duration, condition: impl Fn() -> bool) -> bool {
    wait_until(condition, timeout)
}

/// A new project, named `<prefix>-<n>`.
pub(crate) fn create_project(service: &Service, prefix: &str) -> i64 {
    static NEXT: AtomicUsize = AtomicUsize::new(1);
    let name = format!("{prefix}-{}", NEXT.fetch_add(1, Ordering::Relaxed));
    service
        .json(
            Method::POST,
            "/api/v4/projects",
            ROOT_TOKEN,
            json!({"name": name}),
        )
        .expect(201)["id"]
        .as_i64()
        .unwrap()
}

/// `PUT …/forge`: creates or updates the link of `p`.
pub(crate) fn put_link(service: &Service, p: i64, body: Value) -> Answer {
    service.json(
        Method::PUT,
        &format!("/api/v4/projects/{p}/forge"),
        ROOT_TOKEN,
        body,
    )
}

/// The service on a fresh database and a project linked to a fake forge.
pub(crate) struct Linked {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) db: PathBuf,
    pub(crate) service: Service,
    pub(crate) p: i64,
}

/// The service (`--allow-local-requests` and `extra`) and a project (`<prefix>-<n>`) linked with `link`;
/// returns once `synced` says the link's first sync reached the fake, which reads the open `what`.
pub(crate) fn start_linked(
    extra: &[&str],
    prefix: &str,
    link: Value,
    synced: impl Fn() -> bool,
    what: &str,
) -> Linked {
    let (dir, db) = database();
    let mut args = vec!["--allow-local-requests"];
    args.extend_from_slice(extra);
    let service = Service::start(&db, &args);
    let p = create_project(&service, prefix);
    put_link(&service, p, link).expect(201);
    assert!(
        eventually(WAIT, synced),
        "the link's first sync reads the open {what}"
    );
    Linked {
        dir,
        db,
        service,
        p,
    }
}

/// An external status check of `p` answered by `receiver`.
pub(crate) fn add_check(service: &Service, p: i64, name: &str, receiver: &Receiver) -> i64 {
    let url = format!("http://{}/{name}", receiver.address);
    service
        .json(
            Method::POST,
            &format!("/api/v4/projects/{p}/external_status_checks"),
            ROOT_TOKEN,
            json!({"name": name, "external_url": url}),
        )
        .expect(201)["id"]
        .as_i64()
        .unwrap()
}

/// An external status check of `p` answered by `receiver` that applies only to merge requests into `main`
/// (protected here for it).
pub(crate) fn add_check_on_main(service: &Service, p: i64, name: &str, receiver: &Receiver) -> i64 {
    let main = service
        .json(
            Method::POST,
            &format!("/api/v4/projects/{p}/protected_branches"),
            ROOT_TOKEN,
            json!({"name": "main"}),
        )
        .expect(201)["id"]
        .clone();
    let scoped = json!({
        "name": name,
        "external_url": format!("http://{}/{name}", receiver.address),
        "protected_branch_ids": [main],
    });
    service
        .json(
            Method::POST,
            &format!("/api/v4/projects/{p}/external_status_checks"),
            ROOT_TOKEN,
            scoped,
        )
        .expect(201)["id"]
        .as_i64()
        .unwrap()
}

/// E6: the answer of check `c` for `sha` on merge request `iid`.
pub(crate) fn respond(service: &Service, p: i64, iid: i64, c: i64, sha: &str, status: &str) {
    service
        .json(
            Method::POST,
            &format!("/api/v4/projects/{p}/merge_requests/{iid}/status_check_responses"),
            ROOT_TOKEN,
            json!({"external_status_check_id": c, "status": status, "sha": sha}),
        )
        .expect(201);
}

/// `GET …/forge/deliveries`: every status post, newest first.
pub(crate) fn posts(service: &Service, p: i64) -> Vec<Value> {
    service
        .get(
            &format!("/api/v4/projects/{p}/forge/deliveries?per_page=100"),
            ROOT_TOKEN,
        )
        .expect(200)
        .as_array()
        .unwrap()
        .clone()
}

/// Whether every status post is delivered.
pub(crate) fn all_delivered(service: &Service, p: i64) -> bool {
    let all = posts(service, p);
    !all.is_empty() && all.iter().all(|post| post["status"] == "delivered")
}

/// Whether every status post is done: delivered, or untried and not due for at least 30 s — the pending
/// timeout's re-post of a context posted `pending`, due at its deadline. None failed, none dead.
pub(crate) fn settled(service: &Service, p: i64) -> bool {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let all = posts(service, p);
    !all.is_empty()
        && all.iter().all(|post| {
            post["status"] == "delivered"
                || (post["status"] == "pending"
                    && post["attempts"] == 0
                    && post["last_error"].is_null()
                    && post["next_attempt_at"]
                        .as_str()
                        .is_some_and(|at| epoch_millis(at) > now + 30_000))
        })
}

/// `2026-12-01T04:30:37.935Z` in milliseconds since the epoch.
pub(crate) fn epoch_millis(at: &str) -> i64 {
    let number = |range: std::ops::Range<usize>| -> i64 { at[range].parse().unwrap() };
    let (year, month, day) = (number(0..4), number(5..7), number(8..10));
    let (hour, minute, second) = (number(11..13), number(14..16), number(17..19));
    let millis = at
        .get(20..23)
        .and_then(|ms| ms.parse::<i64>().ok())
        .unwrap_or(0);
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    ((days * 24 + hour) * 60 + minute) * 60_000 + second * 1000 + millis
}

/// Merge request `iid` of `p`, as the API shows it.
pub(crate) fn merge_request(service: &Service, p: i64, iid: i64) -> Value {
    service
        .get(
            &format!("/api/v4/projects/{p}/merge_requests/{iid}"),
            ROOT_TOKEN,
        )
        .expect(200)
}

/// The merge requests of `p`, as the API lists them.
pub(crate) fn merge_requests(service: &Service, p: i64) -> Value {
    service
        .get(&format!("/api/v4/projects/{p}/merge_requests"), ROOT_TOKEN)
        .expect(200)
}

/// The notification bodies a receiver got.
pub(crate) fn notifications(receiver: &Receiver) -> Vec<Value> {
    receiver
        .received
        .lock()
        .unwrap()
        .iter()
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect()
}

/// The `object_attributes.action` of every notification a receiver got, in order.
pub(crate) fn notified_actions(receiver: &Receiver) -> Vec<Value> {
    notifications(receiver)
        .iter()
        .map(|n| n["object_attributes"]["action"].clone())
        .collect()
}
