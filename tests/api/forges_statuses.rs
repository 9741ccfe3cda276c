//! What GitLab hears from the bridge through the real binary, against a fake GitLab: what the checks say,
//! reported as commit statuses — computed at send time, retried with backoff on 409 and 503, dead on other
//! 4xx, kept across SIGKILL, posted into a merge-request pipeline when one runs, and failed by the pending
//! timeout with no other event; a check that no longer applies, or is deleted, stops blocking.

use crate::forge_support::{
    AGGREGATE, WAIT, add_check, add_check_on_main, all_delivered, epoch_millis, eventually,
    merge_request, posts, respond, settled, with,
};
use crate::forges::{
    BRANCH, Bridge, FORGE_TOKEN, GL_PROJECT, IID, MR_URL, OPENED, PIPELINE, PUSHED, SECRET,
    expect_state, expect_state_within, fixture, hook, linked, linked_with, mr_hook,
};
use reqwest::Method;
use serde_json::{Value, json};
use status_checks_tests::fake_gitlab::FakeGitlab;
use status_checks_tests::fake_server::Fake;
use status_checks_tests::{ROOT_TOKEN, Receiver, Service};
use std::time::{Duration, Instant};

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

    respond(s, p, IID, c_qa, OPENED, "passed");
    expect_state(fake, OPENED, qa_context, "success");
    assert_eq!(
        fake.latest_state(OPENED, AGGREGATE).as_deref(),
        Some("pending"),
        "one of two passed"
    );
    respond(s, p, IID, c_sec, OPENED, "passed");
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
    respond(s, p, IID, c_sec, PUSHED, "failed");
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
    respond(s, p, IID, c, OPENED, "passed");
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
    respond(s, p, IID, c, OPENED, "passed");
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
    respond(s, p, IID, c, OPENED, "passed");
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
    respond(s, p, IID, c, OPENED, "passed");
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
    let (qa, lint) = (
        Receiver::start("127.0.0.1:0"),
        Receiver::start("127.0.0.1:0"),
    );
    let c_qa = add_check_on_main(s, p, "qa", &qa);
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
    respond(s, p, IID, c_qa, OPENED, "failed");
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
    respond(s, p, IID, c_qa, OPENED, "passed");
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
