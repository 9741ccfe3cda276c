//! The forge bridge through the real binary, against a fake GitLab (a real HTTP server): managing a link,
//! authenticating webhooks, mirroring merge requests from GitLab's payloads (`tests/fixtures/gitlab/`),
//! and reporting what the checks say as commit statuses — computed at send time, retried with backoff on
//! 409 and 503, dead on other 4xx, kept across SIGKILL, posted into a merge-request pipeline when one
//! runs, and failed by the pending timeout with no other event.

use reqwest::Method;
use serde_json::{Value, json};
use status_checks_tests::fake_gitlab::FakeGitlab;
use status_checks_tests::{Answer, ROOT_TOKEN, Receiver, Service, database};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The GitLab project of the fixtures.
const GL_PROJECT: i64 = 32059612;
const GL_PATH: &str = "anbraten/woodpecker";
/// The merge request of the fixtures: its iid, branch, page and HEADs.
const IID: i64 = 3;
const BRANCH: &str = "anbraten-main-patch-05373";
const MR_URL: &str = "https://gitlab.com/anbraten/woodpecker/-/merge_requests/3";
const OPENED: &str = "8b641937b7340066d882b9d8a8cc5b0573a207de";
const PUSHED: &str = "c136499ec574e1034b24c5d306de9acda3005367";
const PIPELINE: i64 = 451230912;
/// The token the fake GitLab accepts, and the link's webhook secret.
const FORGE_TOKEN: &str = "glpat-e2eForgeToken-7Hq2xZpL";
const SECRET: &str = "e2e-webhook-secret-0123456789";
/// The aggregate context.
const AGGREGATE: &str = "status-checks";
const WAIT: Duration = Duration::from_secs(10);

/// A GitLab payload of `tests/fixtures/gitlab/`.
fn fixture(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/gitlab")
        .join(format!("{name}.json"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// `payload` with the values at these JSON pointers replaced.
fn with(mut payload: Value, changes: &[(&str, Value)]) -> Value {
    for (pointer, value) in changes {
        *payload
            .pointer_mut(pointer)
            .unwrap_or_else(|| panic!("{pointer} is not in the payload")) = value.clone();
    }
    payload
}

/// Polls `condition` every 50 ms until it holds or `timeout` passes; answers whether it held.
fn eventually(timeout: Duration, condition: impl Fn() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if condition() {
            return true;
        }
        if start.elapsed() >= timeout {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn create_project(service: &Service) -> i64 {
    static NEXT: AtomicUsize = AtomicUsize::new(1);
    let name = format!("bridged-{}", NEXT.fetch_add(1, Ordering::Relaxed));
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

/// The body of a `PUT …/forge` creating a link to the fake GitLab's project.
fn link_body(fake: &FakeGitlab, repository: &str, token: &str) -> Value {
    json!({
        "forge": "gitlab",
        "api_url": fake.api_url(),
        "repository": repository,
        "token": token,
        "webhook_secret": SECRET,
    })
}

fn put_link(service: &Service, p: i64, body: Value) -> Answer {
    service.json(
        Method::PUT,
        &format!("/api/v4/projects/{p}/forge"),
        ROOT_TOKEN,
        body,
    )
}

/// A service with a project linked to a fake GitLab.
struct Bridge {
    dir: tempfile::TempDir,
    db: PathBuf,
    service: Service,
    fake: FakeGitlab,
    p: i64,
}

/// A fake GitLab, the service (`--allow-local-requests` and `extra`), a project linked with `token`; returns
/// once the link's first sync reached the fake.
fn linked_with(extra: &[&str], repository: &str, token: &str) -> Bridge {
    let (dir, db) = database();
    let fake = FakeGitlab::start(FORGE_TOKEN, GL_PROJECT, GL_PATH);
    let mut args = vec!["--allow-local-requests"];
    args.extend_from_slice(extra);
    let service = Service::start(&db, &args);
    let p = create_project(&service);
    put_link(&service, p, link_body(&fake, repository, token)).expect(201);
    assert!(
        fake.wait_until(|f| f.requests().iter().any(|r| r.method == "GET"), WAIT),
        "the link's first sync reads the open merge requests"
    );
    Bridge {
        dir,
        db,
        service,
        fake,
        p,
    }
}

fn linked(extra: &[&str]) -> Bridge {
    linked_with(extra, &GL_PROJECT.to_string(), FORGE_TOKEN)
}

/// An external status check of `p` answered by `receiver`.
fn add_check(service: &Service, p: i64, name: &str, receiver: &Receiver) -> i64 {
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

/// A webhook delivery as GitLab sends it: `token` is `X-Gitlab-Token`, `key` the `Idempotency-Key`.
fn deliver(
    service: &Service,
    p: i64,
    event: Option<&str>,
    payload: &Value,
    token: Option<&str>,
    key: &str,
) -> Answer {
    let mut request = service
        .request(
            Method::POST,
            &format!("/api/v4/projects/{p}/forge/webhook"),
            None,
        )
        .header("content-type", "application/json")
        .header("user-agent", "GitLab/17.5.0-ee")
        .header("x-gitlab-instance", "https://gitlab.com")
        .header(
            "x-gitlab-webhook-uuid",
            "2c0f5d1e-5b3a-4a5e-9d8e-3f1b2a7c6d90",
        )
        .header("x-gitlab-event-uuid", format!("event-{key}"))
        .header("idempotency-key", key);
    if let Some(event) = event {
        request = request.header("x-gitlab-event", event);
    }
    if let Some(token) = token {
        request = request.header("x-gitlab-token", token);
    }
    service.send(request.body(payload.to_string()))
}

/// A fresh delivery key.
fn key() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(1);
    format!(
        "7a3b9c1e-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Delivers a `Merge Request Hook` (or `event`) with the right secret and a fresh key; answers the message.
fn hook(service: &Service, p: i64, event: &str, payload: &Value) -> String {
    let answer = deliver(service, p, Some(event), payload, Some(SECRET), &key());
    answer.expect(200)["message"].as_str().unwrap().to_owned()
}

fn mr_hook(service: &Service, p: i64, payload: &Value) -> String {
    hook(service, p, "Merge Request Hook", payload)
}

/// E6: the answer of check `c` for `sha`.
fn respond(service: &Service, p: i64, c: i64, sha: &str, status: &str) {
    service
        .json(
            Method::POST,
            &format!("/api/v4/projects/{p}/merge_requests/{IID}/status_check_responses"),
            ROOT_TOKEN,
            json!({"external_status_check_id": c, "status": status, "sha": sha}),
        )
        .expect(201);
}

/// `GET …/forge/deliveries`: every status post, newest first.
fn posts(service: &Service, p: i64) -> Vec<Value> {
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
fn all_delivered(service: &Service, p: i64) -> bool {
    let all = posts(service, p);
    !all.is_empty() && all.iter().all(|post| post["status"] == "delivered")
}

/// Whether every status post is done: delivered, or untried and not due for at least 30 s — the pending
/// timeout's re-post of a context posted `pending`, due at its deadline. None failed, none dead.
fn settled(service: &Service, p: i64) -> bool {
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
fn epoch_millis(at: &str) -> i64 {
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

fn merge_request(service: &Service, p: i64, iid: i64) -> Value {
    service
        .get(
            &format!("/api/v4/projects/{p}/merge_requests/{iid}"),
            ROOT_TOKEN,
        )
        .expect(200)
}

fn merge_requests(service: &Service, p: i64) -> Value {
    service
        .get(&format!("/api/v4/projects/{p}/merge_requests"), ROOT_TOKEN)
        .expect(200)
}

/// The notification bodies a receiver got.
fn notifications(receiver: &Receiver) -> Vec<Value> {
    receiver
        .received
        .lock()
        .unwrap()
        .iter()
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect()
}

/// Waits until the fake shows `state` for `context` on `sha`, with what it shows in the failure message.
#[track_caller]
fn expect_state(fake: &FakeGitlab, sha: &str, context: &str, state: &str) {
    expect_state_within(fake, sha, context, state, WAIT);
}

/// [`expect_state`] with its own patience.
fn expect_state_within(fake: &FakeGitlab, sha: &str, context: &str, state: &str, wait: Duration) {
    let shown = fake.wait_until(
        |f| f.latest_state(sha, context).as_deref() == Some(state),
        wait,
    );
    assert!(
        shown,
        "{context} on {sha}: expected {state}, GitLab shows {:?}; posts: {:#?}",
        fake.latest_state(sha, context),
        fake.status_requests()
    );
}

#[test]
fn a_link_is_managed_by_maintainers_and_never_shows_its_credentials() {
    let (_dir, db) = database();
    let fake = FakeGitlab::start(FORGE_TOKEN, GL_PROJECT, GL_PATH);
    let service = Service::start(&db, &["--allow-local-requests"]);
    let s = &service;
    let p = create_project(s);
    let uri = format!("/api/v4/projects/{p}/forge");
    let seen = std::cell::RefCell::new(Vec::<String>::new());
    let call = |method: Method, path: &str, token: &str, body: Option<Value>| {
        let answer = match body {
            Some(body) => s.json(method, path, token, body),
            None => s.send(s.request(method, path, Some(token))),
        };
        seen.borrow_mut().push(answer.body.to_string());
        answer
    };
    let full = link_body(&fake, &GL_PROJECT.to_string(), FORGE_TOKEN);

    assert_eq!(
        call(Method::GET, &uri, ROOT_TOKEN, None).expect(404),
        json!({"message": "404 Forge Not Found"})
    );
    let mut no_token = full.clone();
    no_token.as_object_mut().unwrap().remove("token");
    assert_eq!(
        call(Method::PUT, &uri, ROOT_TOKEN, Some(no_token)).expect(400),
        json!({"error": "token is missing"})
    );
    let short = with(full.clone(), &[("/webhook_secret", json!("too-short"))]);
    assert_eq!(
        call(Method::PUT, &uri, ROOT_TOKEN, Some(short)).expect(422),
        json!({"message": ["Webhook secret is too short (minimum is 16 characters)"]})
    );
    let bitbucket = with(full.clone(), &[("/forge", json!("bitbucket"))]);
    assert_eq!(
        call(Method::PUT, &uri, ROOT_TOKEN, Some(bitbucket)).expect(400),
        json!({"error": "forge does not have a valid value"})
    );
    assert_eq!(
        call(Method::GET, &uri, ROOT_TOKEN, None).status.as_u16(),
        404,
        "a refused link is not saved"
    );

    let created = call(Method::PUT, &uri, ROOT_TOKEN, Some(full.clone())).expect(201);
    let fields: BTreeSet<&str> = created
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        fields,
        BTreeSet::from([
            "forge",
            "api_url",
            "repository",
            "status_name",
            "per_check_statuses",
            "webhook_url",
            "token_set",
            "webhook_secret_set",
            "last_event_at",
            "created_at",
            "updated_at"
        ])
    );
    assert_eq!(created["forge"], "gitlab");
    assert_eq!(created["api_url"], json!(fake.api_url()));
    assert_eq!(created["repository"], json!(GL_PROJECT.to_string()));
    assert_eq!(created["status_name"], AGGREGATE);
    assert_eq!(created["per_check_statuses"], true);
    assert_eq!(created["token_set"], true);
    assert_eq!(created["webhook_secret_set"], true);
    assert_eq!(created["last_event_at"], Value::Null);
    assert!(
        created["webhook_url"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/api/v4/projects/{p}/forge/webhook")),
        "{}",
        created["webhook_url"]
    );

    // An update sends only what changes: the token and the secret are kept.
    let update = json!({"status_name": "ci-gate", "per_check_statuses": false});
    let updated = call(Method::PUT, &uri, ROOT_TOKEN, Some(update)).expect(200);
    assert_eq!(updated["status_name"], "ci-gate");
    assert_eq!(updated["per_check_statuses"], false);
    assert_eq!(
        (
            &updated["token_set"],
            &updated["webhook_secret_set"],
            &updated["created_at"]
        ),
        (&json!(true), &json!(true), &created["created_at"])
    );
    assert_eq!(
        call(Method::GET, &uri, ROOT_TOKEN, None).expect(200),
        updated
    );

    // Both kept credentials still work: the secret authenticates GitLab, the token posts under the new name.
    assert_eq!(mr_hook(s, p, &fixture("mr_open")), "applied");
    expect_state(&fake, OPENED, "ci-gate", "success");
    assert!(
        fake.statuses()
            .iter()
            .all(|post| post.token.as_deref() == Some(FORGE_TOKEN))
    );
    assert!(
        !call(Method::GET, &uri, ROOT_TOKEN, None).expect(200)["last_event_at"].is_null(),
        "the delivery is remembered"
    );

    // A Developer may neither see nor change the link; a Maintainer may.
    let member = |username: &str, level: i64| {
        let user = s
            .json(
                Method::POST,
                "/api/v4/users",
                ROOT_TOKEN,
                json!({"username": username, "name": username}),
            )
            .expect(201);
        let id = user["id"].as_i64().unwrap();
        let token = s
            .json(
                Method::POST,
                &format!("/api/v4/users/{id}/personal_access_tokens"),
                ROOT_TOKEN,
                json!({"name": "e2e", "scopes": ["api"]}),
            )
            .expect(201)["token"]
            .as_str()
            .unwrap()
            .to_owned();
        s.json(
            Method::POST,
            &format!("/api/v4/projects/{p}/members"),
            ROOT_TOKEN,
            json!({"user_id": id, "access_level": level}),
        )
        .expect(201);
        token
    };
    let developer = member("dev", 30);
    for (method, path, body) in [
        (Method::GET, uri.clone(), None),
        (Method::PUT, uri.clone(), Some(full.clone())),
        (Method::DELETE, uri.clone(), None),
        (Method::POST, format!("{uri}/sync"), Some(json!({}))),
        (Method::GET, format!("{uri}/deliveries"), None),
    ] {
        let answer = call(method.clone(), &path, &developer, body);
        assert_eq!(
            answer.status.as_u16(),
            403,
            "{method} {path} by a Developer: {}",
            answer.body
        );
    }
    let maintainer = member("maintainer", 40);
    assert_eq!(
        call(Method::GET, &uri, &maintainer, None).expect(200)["status_name"],
        "ci-gate"
    );
    call(Method::GET, &format!("{uri}/deliveries"), &maintainer, None).expect(200);

    call(Method::DELETE, &uri, ROOT_TOKEN, None).expect(204);
    assert_eq!(
        call(Method::GET, &uri, ROOT_TOKEN, None).expect(404),
        json!({"message": "404 Forge Not Found"})
    );
    assert_eq!(
        call(Method::DELETE, &uri, ROOT_TOKEN, None).expect(404),
        json!({"message": "404 Forge Not Found"})
    );
    let after = deliver(
        s,
        p,
        Some("Merge Request Hook"),
        &fixture("mr_push"),
        Some(SECRET),
        &key(),
    );
    assert_eq!(after.expect(404), json!({"message": "404 Forge Not Found"}));

    for body in seen.borrow().iter() {
        assert!(
            !body.contains(FORGE_TOKEN) && !body.contains(SECRET),
            "a credential is shown: {body}"
        );
    }
}

#[test]
fn webhooks_must_prove_the_secret_and_name_the_linked_repository() {
    let b = linked(&[]);
    let (s, p) = (&b.service, b.p);
    let open = fixture("mr_open");
    let unauthorized = json!({"message": "401 Unauthorized"});
    let merge_hook = Some("Merge Request Hook");

    let no_token = deliver(s, p, merge_hook, &open, None, &key());
    assert_eq!(no_token.expect(401), unauthorized);
    let wrong = deliver(
        s,
        p,
        merge_hook,
        &open,
        Some("e2e-webhook-secret-0123456788"),
        &key(),
    );
    assert_eq!(wrong.expect(401), unauthorized);
    let prefix = deliver(s, p, merge_hook, &open, Some(&SECRET[..20]), &key());
    assert_eq!(prefix.expect(401), unauthorized);
    let no_event = deliver(s, p, None, &open, Some(SECRET), &key());
    assert_eq!(no_event.expect(401), unauthorized, "no X-Gitlab-Event");
    assert_eq!(merge_requests(s, p), json!([]), "nothing is mirrored");

    // A project without a link.
    let other = create_project(s);
    let unlinked = deliver(s, other, merge_hook, &open, Some(SECRET), &key());
    assert_eq!(
        unlinked.expect(404),
        json!({"message": "404 Forge Not Found"})
    );

    // The right secret, but a payload about another repository.
    let elsewhere = with(
        open.clone(),
        &[
            ("/project/id", json!(41000001)),
            ("/project/path_with_namespace", json!("someone/else")),
            ("/object_attributes/source_project_id", json!(41000001)),
            ("/object_attributes/target_project_id", json!(41000001)),
        ],
    );
    let refused = deliver(s, p, merge_hook, &elsewhere, Some(SECRET), &key());
    assert_eq!(refused.status.as_u16(), 422, "body: {}", refused.body);

    // Events the bridge does not act on.
    assert_eq!(hook(s, p, "Push Hook", &fixture("push")), "ignored");
    assert_eq!(mr_hook(s, p, &fixture("mr_approved")), "ignored");
    assert_eq!(merge_requests(s, p), json!([]));

    // The same delivery, authenticated, is applied: the refusals were the authentication's.
    assert_eq!(mr_hook(s, p, &open), "applied");
    let mirrored = merge_requests(s, p);
    assert_eq!(mirrored.as_array().unwrap().len(), 1);
    assert_eq!(mirrored[0]["iid"], IID);
}

#[test]
fn the_forge_hears_what_the_checks_say() {
    let b = linked(&[]);
    let (s, p, fake) = (&b.service, b.p, &b.fake);
    let (qa, security) = (
        Receiver::start("127.0.0.1:0"),
        Receiver::start("127.0.0.1:0"),
    );
    let c_qa = add_check(s, p, "qa", &qa);
    let c_sec = add_check(s, p, "security", &security);
    let (qa_context, sec_context) = ("status-checks/qa", "status-checks/security");

    assert_eq!(mr_hook(s, p, &fixture("mr_open")), "applied");
    let mr = merge_request(s, p, IID);
    assert_eq!(
        (
            &mr["iid"],
            &mr["sha"],
            &mr["source_branch"],
            &mr["target_branch"],
            &mr["state"]
        ),
        (
            &json!(IID),
            &json!(OPENED),
            &json!(BRANCH),
            &json!("main"),
            &json!("opened")
        )
    );
    for receiver in [&qa, &security] {
        let got = receiver.wait_for(1);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].header("x-gitlab-event"), Some("Merge Request Hook"));
        let body: Value = serde_json::from_slice(&got[0].body).unwrap();
        assert_eq!(body["object_attributes"]["action"], "open");
        assert_eq!(body["object_attributes"]["iid"], IID);
        assert_eq!(body["object_attributes"]["last_commit"]["id"], OPENED);
        assert_eq!(body["user"]["username"], "anbraten", "who did it on GitLab");
    }
    for context in [AGGREGATE, qa_context, sec_context] {
        expect_state(fake, OPENED, context, "pending");
    }
    for post in fake.statuses() {
        assert_eq!(post.project, GL_PROJECT.to_string(), "the source project");
        assert_eq!(post.sha, OPENED);
        assert_eq!(post.ref_name.as_deref(), Some(BRANCH));
        assert_eq!(post.pipeline_id, None);
        assert_eq!(post.token.as_deref(), Some(FORGE_TOKEN));
        assert_eq!(post.body["target_url"], MR_URL);
    }

    respond(s, p, c_qa, OPENED, "passed");
    expect_state(fake, OPENED, qa_context, "success");
    assert_eq!(
        fake.latest_state(OPENED, AGGREGATE).as_deref(),
        Some("pending"),
        "one of two passed"
    );
    respond(s, p, c_sec, OPENED, "passed");
    expect_state(fake, OPENED, sec_context, "success");
    expect_state(fake, OPENED, AGGREGATE, "success");

    // A push: the new HEAD is pending again; the old one keeps what it showed.
    let before_push = fake.statuses().len();
    assert_eq!(mr_hook(s, p, &fixture("mr_push")), "applied");
    assert_eq!(merge_request(s, p, IID)["sha"], PUSHED);
    for receiver in [&qa, &security] {
        let got = receiver.wait_for(2);
        assert_eq!(got.len(), 2);
        let body: Value = serde_json::from_slice(&got[1].body).unwrap();
        assert_eq!(body["object_attributes"]["action"], "update");
        assert_eq!(body["object_attributes"]["oldrev"], OPENED);
        assert_eq!(body["object_attributes"]["last_commit"]["id"], PUSHED);
    }
    for context in [AGGREGATE, qa_context, sec_context] {
        expect_state(fake, PUSHED, context, "pending");
    }
    respond(s, p, c_sec, PUSHED, "failed");
    expect_state(fake, PUSHED, sec_context, "failed");
    expect_state(fake, PUSHED, AGGREGATE, "failed");
    assert_eq!(
        fake.latest_state(PUSHED, qa_context).as_deref(),
        Some("pending")
    );
    assert!(
        fake.statuses()[before_push..]
            .iter()
            .all(|post| post.sha == PUSHED),
        "nothing is posted on the old HEAD after the push"
    );
    for context in [AGGREGATE, qa_context, sec_context] {
        assert_eq!(
            fake.latest_state(OPENED, context).as_deref(),
            Some("success")
        );
    }
    assert!(eventually(WAIT, || settled(s, p)), "{:#?}", posts(s, p));
    assert!(
        fake.status_requests().iter().all(|r| r.answered == 201),
        "no post was refused: {:#?}",
        fake.status_requests()
    );
}

#[test]
fn the_mirror_follows_the_forge_and_refuses_our_own_writes() {
    let b = linked(&[]);
    let (s, p, fake) = (&b.service, b.p, &b.fake);
    let qa = Receiver::start("127.0.0.1:0");
    add_check(s, p, "qa", &qa);
    assert_eq!(mr_hook(s, p, &fixture("mr_open")), "applied");
    let mirrored = json!({"message": "Merge requests of this project are mirrored from its forge"});

    let create = s.json(
        Method::POST,
        &format!("/api/v4/projects/{p}/merge_requests"),
        ROOT_TOKEN,
        json!({"source_branch": "f", "target_branch": "main", "title": "t", "sha": "ab".repeat(20)}),
    );
    assert_eq!(create.expect(422), mirrored);
    let update = s.json(
        Method::PUT,
        &format!("/api/v4/projects/{p}/merge_requests/{IID}"),
        ROOT_TOKEN,
        json!({"title": "changed here"}),
    );
    assert_eq!(update.expect(422), mirrored);
    let merge = s.json(
        Method::PUT,
        &format!("/api/v4/projects/{p}/merge_requests/{IID}/merge"),
        ROOT_TOKEN,
        json!({}),
    );
    assert_eq!(merge.expect(422), mirrored);
    assert_eq!(merge_request(s, p, IID)["title"], "Update client.go");
    assert_eq!(merge_request(s, p, IID)["state"], "opened");
    assert_eq!(merge_requests(s, p).as_array().unwrap().len(), 1);

    // GitLab's sequence of deliveries: each is mirrored and told to the check.
    let steps = [
        ("mr_push", "update", "sha", json!(PUSHED)),
        (
            "mr_title",
            "update",
            "title",
            json!("Retry the forge client on 429"),
        ),
        ("mr_target", "update", "target_branch", json!("release-2.0")),
        ("mr_close", "close", "state", json!("closed")),
        ("mr_reopen", "reopen", "state", json!("opened")),
        ("mr_merge", "merge", "state", json!("merged")),
    ];
    for (i, (name, action, field, value)) in steps.iter().enumerate() {
        assert_eq!(mr_hook(s, p, &fixture(name)), "applied", "{name}");
        assert_eq!(&merge_request(s, p, IID)[*field], value, "{name}");
        let got = qa.wait_for(i + 2);
        assert_eq!(got.len(), i + 2, "{name} is told to the check");
        let body: Value = serde_json::from_slice(&got[i + 1].body).unwrap();
        assert_eq!(body["object_attributes"]["action"], *action, "{name}");
    }
    let mr = merge_request(s, p, IID);
    assert_eq!(
        (&mr["title"], &mr["target_branch"], &mr["sha"]),
        (
            &json!("Retry the forge client on 429"),
            &json!("release-2.0"),
            &json!(PUSHED)
        )
    );
    // A merge is final: a late snapshot cannot reopen it.
    let late_reopen = with(
        fixture("mr_reopen"),
        &[(
            "/object_attributes/updated_at",
            json!("2022-01-17 15:53:00 UTC"),
        )],
    );
    assert_eq!(mr_hook(s, p, &late_reopen), "unchanged");
    assert_eq!(merge_request(s, p, IID)["state"], "merged");
    let actions: Vec<Value> = notifications(&qa)
        .iter()
        .map(|n| n["object_attributes"]["action"].clone())
        .collect();
    assert_eq!(
        actions,
        [
            "open", "update", "update", "update", "close", "reopen", "merge"
        ]
    );
    assert!(eventually(WAIT, || settled(s, p)), "{:#?}", posts(s, p));
    assert!(
        fake.statuses()
            .iter()
            .all(|post| post.sha != OPENED || post.state == "pending"),
        "only pending was posted for the first HEAD"
    );
}

#[test]
fn replayed_and_late_deliveries_change_nothing() {
    let b = linked(&[]);
    let (s, p, fake) = (&b.service, b.p, &b.fake);
    let qa = Receiver::start("127.0.0.1:0");
    add_check(s, p, "qa", &qa);
    let open = fixture("mr_open");
    let merge_hook = Some("Merge Request Hook");

    let first = deliver(s, p, merge_hook, &open, Some(SECRET), "replayed-key-1");
    assert_eq!(first.expect(200), json!({"message": "applied"}));
    let replay = deliver(s, p, merge_hook, &open, Some(SECRET), "replayed-key-1");
    assert_eq!(replay.expect(200), json!({"message": "already applied"}));
    // The same snapshot delivered again under a new key (a second hook of the same event).
    assert_eq!(mr_hook(s, p, &open), "unchanged");
    assert_eq!(qa.wait_for(1).len(), 1);

    assert_eq!(mr_hook(s, p, &fixture("mr_push")), "applied");
    assert_eq!(qa.wait_for(2).len(), 2);
    // A push GitLab sent earlier arrives late: older updated_at, another HEAD.
    let older_sha = "0a1b2c3d4e5f60718293a4b5c6d7e8f901234567";
    let late = with(
        fixture("mr_push"),
        &[
            ("/object_attributes/last_commit/id", json!(older_sha)),
            (
                "/object_attributes/updated_at",
                json!("2022-01-17 15:47:01 UTC"),
            ),
            (
                "/changes/updated_at/current",
                json!("2022-01-17 15:47:01 UTC"),
            ),
        ],
    );
    assert_eq!(mr_hook(s, p, &late), "unchanged");
    assert_eq!(merge_request(s, p, IID)["sha"], PUSHED, "no roll back");
    let late_replay = deliver(s, p, merge_hook, &open, Some(SECRET), "replayed-key-1");
    assert_eq!(late_replay.expect(200)["message"], "already applied");
    assert_eq!(merge_request(s, p, IID)["sha"], PUSHED);

    expect_state(fake, PUSHED, AGGREGATE, "pending");
    assert!(eventually(WAIT, || settled(s, p)));
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(
        qa.received.lock().unwrap().len(),
        2,
        "no second notification: {:#?}",
        notifications(&qa)
    );
    assert!(
        fake.statuses().iter().all(|post| post.sha != older_sha),
        "nothing is posted on the late HEAD"
    );
}

#[test]
fn the_pending_timeout_reaches_the_forge_with_no_other_event() {
    let b = linked(&["--pending-timeout", "3s"]);
    let (s, p, fake) = (&b.service, b.p, &b.fake);
    let silent = Receiver::start("127.0.0.1:0");
    add_check(s, p, "qa", &silent);
    let opened_at = Instant::now();
    assert_eq!(mr_hook(s, p, &fixture("mr_open")), "applied");
    expect_state(fake, OPENED, AGGREGATE, "pending");
    expect_state(fake, OPENED, "status-checks/qa", "pending");
    let failed = fake.wait_until(
        |f| {
            f.latest_state(OPENED, AGGREGATE).as_deref() == Some("failed")
                && f.latest_state(OPENED, "status-checks/qa").as_deref() == Some("failed")
        },
        Duration::from_secs(12),
    );
    assert!(failed, "{:#?}", fake.status_requests());
    assert!(
        opened_at.elapsed() >= Duration::from_millis(2500),
        "not before the timeout: {:?}",
        opened_at.elapsed()
    );
    assert_eq!(silent.received.lock().unwrap().len(), 1);
    assert!(eventually(WAIT, || all_delivered(s, p)));
}

#[test]
fn a_forge_that_is_down_gets_the_state_of_the_moment_it_is_back() {
    let b = linked(&[]);
    let (s, p, fake) = (&b.service, b.p, &b.fake);
    let qa = Receiver::start("127.0.0.1:0");
    let c = add_check(s, p, "qa", &qa);
    fake.set_down(true);
    assert_eq!(mr_hook(s, p, &fixture("mr_open")), "applied");
    respond(s, p, c, OPENED, "passed");
    let refused = |f: &FakeGitlab| {
        f.status_requests()
            .iter()
            .filter(|r| r.answered == 503)
            .count()
    };
    assert!(fake.wait_until(|f| refused(f) >= 3, WAIT));
    assert!(
        eventually(WAIT, || posts(s, p)
            .iter()
            .any(|post| post["status"] == "pending"
                && post["last_error"] == "HTTP 503: 503 Service Unavailable"
                && post["next_attempt_at"].is_string())),
        "{:#?}",
        posts(s, p)
    );
    // Retried with backoff: 1 s after the first attempt, 2 s after the second.
    assert!(
        eventually(WAIT, || posts(s, p)
            .iter()
            .any(|post| post["attempts"].as_i64() >= Some(2))),
        "{:#?}",
        posts(s, p)
    );
    // A post being sent at the moment of the read shows its claim instead (its lease): read until none is.
    let backed_off = |post: &Value| {
        let attempts = post["attempts"].as_i64().unwrap();
        let last = epoch_millis(post["last_attempt_at"].as_str().unwrap());
        let next = epoch_millis(post["next_attempt_at"].as_str().unwrap());
        let backoff = 1000 << (attempts - 1);
        (backoff - 250..=backoff + 50).contains(&(next - last))
    };
    assert!(
        eventually(WAIT, || {
            let retried: Vec<Value> = posts(s, p)
                .into_iter()
                .filter(|post| post["status"] == "pending" && post["attempts"].as_i64() > Some(0))
                .collect();
            !retried.is_empty() && retried.iter().all(backed_off)
        }),
        "retries are not backed off 1 s, 2 s, …: {:#?}",
        posts(s, p)
    );
    fake.set_down(false);
    expect_state(fake, OPENED, AGGREGATE, "success");
    expect_state(fake, OPENED, "status-checks/qa", "success");
    assert!(
        eventually(WAIT, || all_delivered(s, p)),
        "{:#?}",
        posts(s, p)
    );
    let all = posts(s, p);
    assert!(
        all.iter().any(|post| post["attempts"].as_i64() > Some(1)),
        "{all:#?}"
    );
    assert!(all.iter().all(|post| post["last_error"].is_null()));
    // The state is worked out when sent: GitLab never heard a stale pending.
    assert!(
        fake.statuses().iter().all(|post| post.state == "success"),
        "{:#?}",
        fake.statuses()
    );
}

#[test]
fn a_locked_commit_status_is_retried() {
    let b = linked(&[]);
    let (s, p, fake) = (&b.service, b.p, &b.fake);
    let qa = Receiver::start("127.0.0.1:0");
    let c = add_check(s, p, "qa", &qa);
    fake.lock_next(2);
    assert_eq!(mr_hook(s, p, &fixture("mr_open")), "applied");
    expect_state(fake, OPENED, AGGREGATE, "pending");
    expect_state(fake, OPENED, "status-checks/qa", "pending");
    let conflicts = fake
        .status_requests()
        .iter()
        .filter(|r| r.answered == 409)
        .count();
    assert_eq!(conflicts, 2);
    assert!(eventually(WAIT, || settled(s, p)), "{:#?}", posts(s, p));
    assert!(
        posts(s, p)
            .iter()
            .any(|post| post["attempts"].as_i64() >= Some(2))
    );
    respond(s, p, c, OPENED, "passed");
    expect_state(fake, OPENED, AGGREGATE, "success");
}

#[test]
fn a_refused_token_makes_the_post_dead_without_showing_it() {
    let wrong = "glpat-wrongToken-Zz9QvR1";
    let b = linked_with(&[], &GL_PROJECT.to_string(), wrong);
    let (s, p, fake) = (&b.service, b.p, &b.fake);
    assert_eq!(mr_hook(s, p, &fixture("mr_open")), "applied");
    assert!(
        eventually(WAIT, || {
            let all = posts(s, p);
            !all.is_empty() && all.iter().all(|post| post["status"] == "dead")
        }),
        "{:#?}",
        posts(s, p)
    );
    let all = posts(s, p);
    for post in &all {
        let error = post["last_error"].as_str().unwrap();
        assert!(error.contains("401"), "{error}");
        assert_eq!(error, "HTTP 401: 401 Unauthorized");
        assert_eq!(post["attempts"], 1, "a 401 is not retried");
        assert!(post["next_attempt_at"].is_null());
    }
    let listed = serde_json::to_string(&all).unwrap();
    assert!(!listed.contains(wrong));
    assert!(fake.statuses().is_empty());
    let tried = fake.status_requests();
    assert!(!tried.is_empty());
    assert!(
        tried
            .iter()
            .all(|r| r.answered == 401 && r.header("private-token") == Some(wrong))
    );
    let logs = s.logs.lock().unwrap().join("\n");
    assert!(!logs.contains(wrong), "the token is logged");
    assert!(!logs.contains(SECRET), "the webhook secret is logged");
}

#[test]
fn a_repeated_pending_is_never_a_failure() {
    let b = linked(&[]);
    let (s, p, fake) = (&b.service, b.p, &b.fake);
    let qa = Receiver::start("127.0.0.1:0");
    let c = add_check(s, p, "qa", &qa);
    // GitLab already shows a pending job there (an earlier installation posted it).
    fake.preset_job(OPENED, AGGREGATE, BRANCH, "pending");
    assert_eq!(mr_hook(s, p, &fixture("mr_open")), "applied");
    expect_state(fake, OPENED, "status-checks/qa", "pending");
    assert!(
        fake.wait_until(
            |f| f.status_requests().iter().any(|r| r.answered == 400),
            WAIT
        ),
        "GitLab refused the repeated pending: {:#?}",
        fake.status_requests()
    );
    assert!(eventually(WAIT, || settled(s, p)), "{:#?}", posts(s, p));

    // Back and forth: a push, then the first HEAD again (GitLab's newer snapshot).
    assert_eq!(mr_hook(s, p, &fixture("mr_push")), "applied");
    expect_state(fake, PUSHED, AGGREGATE, "pending");
    let back = with(
        fixture("mr_push"),
        &[
            ("/object_attributes/last_commit/id", json!(OPENED)),
            ("/object_attributes/oldrev", json!(PUSHED)),
            (
                "/object_attributes/updated_at",
                json!("2022-01-17 15:48:30 UTC"),
            ),
            (
                "/changes/updated_at/current",
                json!("2022-01-17 15:48:30 UTC"),
            ),
        ],
    );
    assert_eq!(mr_hook(s, p, &back), "applied");
    assert_eq!(merge_request(s, p, IID)["sha"], OPENED);
    // Two pipelines for the HEAD, the first announced twice.
    let pipeline = fixture("pipeline_mr");
    assert_eq!(hook(s, p, "Pipeline Hook", &pipeline), "applied");
    assert_eq!(hook(s, p, "Pipeline Hook", &pipeline), "unchanged");
    let second = with(pipeline, &[("/object_attributes/id", json!(PIPELINE + 1))]);
    assert_eq!(hook(s, p, "Pipeline Hook", &second), "applied");
    assert!(fake.wait_until(
        |f| {
            f.statuses()
                .iter()
                .any(|post| post.pipeline_id == Some(PIPELINE + 1) && post.name == AGGREGATE)
        },
        WAIT
    ));
    assert!(eventually(WAIT, || settled(s, p)), "{:#?}", posts(s, p));
    assert_eq!(
        fake.latest_state(OPENED, AGGREGATE).as_deref(),
        Some("pending")
    );
    respond(s, p, c, OPENED, "passed");
    expect_state(fake, OPENED, AGGREGATE, "success");
    assert!(eventually(WAIT, || settled(s, p)), "{:#?}", posts(s, p));
    assert!(
        posts(s, p).iter().all(|post| post["status"] != "dead"),
        "{:#?}",
        posts(s, p)
    );
}

#[test]
fn statuses_go_into_the_merge_request_pipeline() {
    let b = linked(&[]);
    let (s, p, fake) = (&b.service, b.p, &b.fake);
    let qa = Receiver::start("127.0.0.1:0");
    let c = add_check(s, p, "qa", &qa);
    assert_eq!(mr_hook(s, p, &fixture("mr_open")), "applied");
    expect_state(fake, OPENED, AGGREGATE, "pending");
    expect_state(fake, OPENED, "status-checks/qa", "pending");
    assert!(eventually(WAIT, || settled(s, p)));

    // A pipeline for another commit than the HEAD changes nothing.
    let elsewhere = with(
        fixture("pipeline_mr"),
        &[("/object_attributes/sha", json!(PUSHED))],
    );
    assert_eq!(hook(s, p, "Pipeline Hook", &elsewhere), "unchanged");
    let before = fake.statuses().len();
    assert_eq!(
        hook(s, p, "Pipeline Hook", &fixture("pipeline_mr")),
        "applied"
    );
    assert!(fake.wait_until(
        |f| {
            f.statuses()[before..]
                .iter()
                .filter(|post| post.state == "pending")
                .count()
                >= 2
        },
        WAIT
    ));
    respond(s, p, c, OPENED, "passed");
    assert!(fake.wait_until(
        |f| {
            f.statuses()[before..]
                .iter()
                .any(|post| post.name == AGGREGATE && post.state == "success")
        },
        WAIT
    ));
    let after = &fake.statuses()[before..];
    assert!(after.len() >= 3, "{after:#?}");
    for post in after {
        assert_eq!(post.pipeline_id, Some(PIPELINE), "{post:#?}");
        assert!(post.body.get("ref").is_none(), "{post:#?}");
        assert_eq!(post.sha, OPENED);
    }
    expect_state(fake, OPENED, AGGREGATE, "success");
    expect_state(fake, OPENED, "status-checks/qa", "success");
}

#[test]
fn a_new_link_mirrors_every_open_merge_request_over_all_pages() {
    let (_dir, db) = database();
    let fake = FakeGitlab::start(FORGE_TOKEN, GL_PROJECT, GL_PATH);
    let listed = |iid: i64, sha: &str, branch: &str, title: &str| {
        with(
            fixture("api_merge_request"),
            &[
                ("/iid", json!(iid)),
                ("/id", json!(134400600 + iid)),
                ("/sha", json!(sha)),
                ("/source_branch", json!(branch)),
                ("/title", json!(title)),
                (
                    "/web_url",
                    json!(format!(
                        "https://gitlab.com/{GL_PATH}/-/merge_requests/{iid}"
                    )),
                ),
            ],
        )
    };
    let open = [
        (
            5,
            "5555555555555555555555555555555555555555",
            "feature-a",
            "A",
        ),
        (
            7,
            "7777777777777777777777777777777777777777",
            "feature-b",
            "B",
        ),
        (
            12,
            "1212121212121212121212121212121212121212",
            "feature-c",
            "C",
        ),
    ];
    let mut items: Vec<Value> = open
        .iter()
        .map(|(iid, sha, branch, title)| listed(*iid, sha, branch, title))
        .collect();
    // A closed one is not asked for.
    items.push(with(
        listed(2, "2222222222222222222222222222222222222222", "old", "Old"),
        &[("/state", json!("closed"))],
    ));
    fake.set_merge_requests(items);
    fake.set_page_size(2);
    let service = Service::start(&db, &["--allow-local-requests"]);
    let s = &service;
    let p = create_project(s);
    put_link(s, p, link_body(&fake, GL_PATH, FORGE_TOKEN)).expect(201);

    assert!(
        eventually(WAIT, || merge_requests(s, p).as_array().unwrap().len() == 3),
        "{}",
        merge_requests(s, p)
    );
    let mirrored = merge_requests(s, p);
    let mut found: Vec<(i64, String, String, String)> = mirrored
        .as_array()
        .unwrap()
        .iter()
        .map(|mr| {
            (
                mr["iid"].as_i64().unwrap(),
                mr["sha"].as_str().unwrap().to_owned(),
                mr["source_branch"].as_str().unwrap().to_owned(),
                mr["title"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    found.sort();
    let expected: Vec<(i64, String, String, String)> = open
        .iter()
        .map(|(iid, sha, branch, title)| {
            (
                *iid,
                (*sha).to_owned(),
                (*branch).to_owned(),
                (*title).to_owned(),
            )
        })
        .collect();
    assert_eq!(found, expected);

    let lists: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET")
        .collect();
    assert_eq!(lists.len(), 2, "two pages: {lists:#?}");
    for (request, page) in lists.iter().zip(["1", "2"]) {
        assert_eq!(
            request.path,
            "/api/v4/projects/anbraten%2Fwoodpecker/merge_requests"
        );
        assert_eq!(request.param("state"), Some("opened"));
        assert_eq!(request.param("page"), Some(page));
        assert_eq!(request.header("private-token"), Some(FORGE_TOKEN));
    }
    // No check applies: each HEAD reads success, posted in the source project.
    for (_, sha, _, _) in &open {
        expect_state(&fake, sha, AGGREGATE, "success");
    }
    assert!(
        fake.statuses()
            .iter()
            .all(|post| post.project == GL_PROJECT.to_string())
    );

    s.json(
        Method::POST,
        &format!("/api/v4/projects/{p}/forge/sync"),
        ROOT_TOKEN,
        json!({}),
    )
    .expect(202);
    assert!(fake.wait_until(
        |f| f.requests().iter().filter(|r| r.method == "GET").count() >= 4,
        WAIT
    ));
    assert_eq!(merge_requests(s, p).as_array().unwrap().len(), 3);
}

#[test]
fn a_status_post_survives_sigkill_right_after_the_webhook() {
    let b = linked(&[]);
    let Bridge {
        dir: _dir,
        db,
        service,
        fake,
        p,
    } = b;
    // GitLab answers nothing but 503 until the restart, so the post that reaches it is the restarted
    // service's, read from the outbox the webhook's answer committed.
    fake.set_down(true);
    assert_eq!(mr_hook(&service, p, &fixture("mr_open")), "applied");
    service.kill();
    assert!(fake.statuses().is_empty());
    fake.set_down(false);
    let again = Service::start(&db, &["--allow-local-requests"]);
    // A post the killed service had claimed comes due again when its claim ends (30 s).
    expect_state_within(&fake, OPENED, AGGREGATE, "success", Duration::from_secs(45));
    assert!(
        eventually(WAIT, || all_delivered(&again, p)),
        "{:#?}",
        posts(&again, p)
    );
    assert_eq!(merge_request(&again, p, IID)["sha"], OPENED);
}

/// A project with a check `qa` scoped to `main` and an unscoped check `lint`, and the merge request opened
/// into `main`; answers the ids of `qa` and `lint` and their receivers.
fn two_checks_one_scoped(b: &Bridge) -> (i64, i64, Receiver, Receiver) {
    let (s, p) = (&b.service, b.p);
    let main = s
        .json(
            Method::POST,
            &format!("/api/v4/projects/{p}/protected_branches"),
            ROOT_TOKEN,
            json!({"name": "main"}),
        )
        .expect(201)["id"]
        .clone();
    let (qa, lint) = (
        Receiver::start("127.0.0.1:0"),
        Receiver::start("127.0.0.1:0"),
    );
    let scoped = json!({
        "name": "qa",
        "external_url": format!("http://{}/qa", qa.address),
        "protected_branch_ids": [main],
    });
    let c_qa = s
        .json(
            Method::POST,
            &format!("/api/v4/projects/{p}/external_status_checks"),
            ROOT_TOKEN,
            scoped,
        )
        .expect(201)["id"]
        .as_i64()
        .unwrap();
    let c_lint = add_check(s, p, "lint", &lint);
    assert_eq!(mr_hook(s, p, &fixture("mr_open")), "applied");
    for context in [AGGREGATE, "status-checks/qa", "status-checks/lint"] {
        expect_state(&b.fake, OPENED, context, "pending");
    }
    (c_qa, c_lint, qa, lint)
}

#[test]
fn a_retargeted_merge_request_clears_the_status_of_a_check_that_no_longer_applies() {
    let b = linked(&[]);
    let (s, p, fake) = (&b.service, b.p, &b.fake);
    let (c_qa, _, _qa, _lint) = two_checks_one_scoped(&b);
    respond(s, p, c_qa, OPENED, "failed");
    expect_state(fake, OPENED, "status-checks/qa", "failed");
    expect_state(fake, OPENED, AGGREGATE, "failed");

    // Retargeted away from main, same HEAD: qa no longer applies, so its failure must stop blocking.
    let retarget = with(
        fixture("mr_target"),
        &[
            ("/object_attributes/last_commit/id", json!(OPENED)),
            ("/object_attributes/title", json!("Update client.go")),
        ],
    );
    assert_eq!(mr_hook(s, p, &retarget), "applied");
    assert_eq!(merge_request(s, p, IID)["target_branch"], "release-2.0");
    expect_state(fake, OPENED, AGGREGATE, "pending");
    expect_state(fake, OPENED, "status-checks/qa", "success");
}

#[test]
fn a_deleted_check_stops_blocking() {
    let b = linked(&[]);
    let (s, p, fake) = (&b.service, b.p, &b.fake);
    let (c_qa, c_lint, _qa, _lint) = two_checks_one_scoped(&b);
    respond(s, p, c_qa, OPENED, "passed");
    expect_state(fake, OPENED, "status-checks/qa", "success");
    s.send(s.request(
        Method::DELETE,
        &format!("/api/v4/projects/{p}/external_status_checks/{c_lint}"),
        Some(ROOT_TOKEN),
    ))
    .expect(204);
    expect_state(fake, OPENED, "status-checks/lint", "success");
    expect_state(fake, OPENED, AGGREGATE, "success");
    let lint_post = fake
        .statuses()
        .into_iter()
        .rev()
        .find(|post| post.name == "status-checks/lint")
        .unwrap();
    assert_eq!(lint_post.body["description"], "no longer applies");
}
