//! The forge bridge through the real binary, against a fake GitLab (a real HTTP server): managing a link,
//! authenticating webhooks, and mirroring merge requests from GitLab's payloads (`tests/fixtures/gitlab/`).
//!
//! This module is also the GitLab suites' support: the fixtures' merge request, deliveries as GitLab sends
//! them, and a service linked to a fake GitLab. The other GitLab tests: `forges_statuses` (what GitLab hears)
//! and `forges_sync` (a new link's pages).

use crate::forge_support::{
    AGGREGATE, WAIT, add_check, create_project, eventually, merge_request, merge_requests,
    notifications, notified_actions, posts, settled, start_linked, with,
};
use reqwest::Method;
use serde_json::{Value, json};
use status_checks_tests::fake_gitlab::FakeGitlab;
use status_checks_tests::fake_server::Fake;
use status_checks_tests::{Answer, ROOT_TOKEN, Receiver, Service, database};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// The GitLab project of the fixtures.
pub(crate) const GL_PROJECT: i64 = 32059612;
pub(crate) const GL_PATH: &str = "anbraten/woodpecker";
/// The merge request of the fixtures: its iid, branch, page and HEADs.
pub(crate) const IID: i64 = 3;
pub(crate) const BRANCH: &str = "anbraten-main-patch-05373";
pub(crate) const MR_URL: &str = "https://gitlab.com/anbraten/woodpecker/-/merge_requests/3";
pub(crate) const OPENED: &str = "8b641937b7340066d882b9d8a8cc5b0573a207de";
pub(crate) const PUSHED: &str = "c136499ec574e1034b24c5d306de9acda3005367";
pub(crate) const PIPELINE: i64 = 451230912;
/// The token the fake GitLab accepts, and the link's webhook secret.
pub(crate) const FORGE_TOKEN: &str = "glpat-e2eForgeToken-7Hq2xZpL";
pub(crate) const SECRET: &str = "e2e-webhook-secret-0123456789";

/// A GitLab payload of `tests/fixtures/gitlab/`.
pub(crate) fn fixture(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/gitlab")
        .join(format!("{name}.json"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// The body of a `PUT …/forge` creating a link to the fake GitLab's project.
pub(crate) fn link_body(fake: &FakeGitlab, repository: &str, token: &str) -> Value {
    json!({
        "forge": "gitlab",
        "api_url": fake.api_url(),
        "repository": repository,
        "token": token,
        "webhook_secret": SECRET,
    })
}

/// A service with a project linked to a fake GitLab.
pub(crate) struct Bridge {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) db: PathBuf,
    pub(crate) service: Service,
    pub(crate) fake: FakeGitlab,
    pub(crate) p: i64,
}

/// A fake GitLab, the service (`--allow-local-requests` and `extra`), a project linked with `token`; returns
/// once the link's first sync reached the fake.
pub(crate) fn linked_with(extra: &[&str], repository: &str, token: &str) -> Bridge {
    let fake = FakeGitlab::start(FORGE_TOKEN, GL_PROJECT, GL_PATH);
    let linked = start_linked(
        extra,
        "bridged",
        link_body(&fake, repository, token),
        || fake.requests().iter().any(|r| r.method == "GET"),
        "merge requests",
    );
    Bridge {
        dir: linked.dir,
        db: linked.db,
        service: linked.service,
        fake,
        p: linked.p,
    }
}

pub(crate) fn linked(extra: &[&str]) -> Bridge {
    linked_with(extra, &GL_PROJECT.to_string(), FORGE_TOKEN)
}

/// A webhook delivery as GitLab sends it: `token` is `X-Gitlab-Token`, `key` the `Idempotency-Key`.
pub(crate) fn deliver(
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
pub(crate) fn key() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(1);
    format!(
        "7a3b9c1e-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Delivers a `Merge Request Hook` (or `event`) with the right secret and a fresh key; answers the message.
pub(crate) fn hook(service: &Service, p: i64, event: &str, payload: &Value) -> String {
    let answer = deliver(service, p, Some(event), payload, Some(SECRET), &key());
    answer.expect(200)["message"].as_str().unwrap().to_owned()
}

pub(crate) fn mr_hook(service: &Service, p: i64, payload: &Value) -> String {
    hook(service, p, "Merge Request Hook", payload)
}

/// Waits until the fake shows `state` for `context` on `sha`, with what it shows in the failure message.
#[track_caller]
pub(crate) fn expect_state(fake: &FakeGitlab, sha: &str, context: &str, state: &str) {
    expect_state_within(fake, sha, context, state, WAIT);
}

/// [`expect_state`] with its own patience.
pub(crate) fn expect_state_within(
    fake: &FakeGitlab,
    sha: &str,
    context: &str,
    state: &str,
    wait: Duration,
) {
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
    let p = create_project(s, "bridged");
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
    let other = create_project(s, "bridged");
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
    assert_eq!(
        notified_actions(&qa),
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
