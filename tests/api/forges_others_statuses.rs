//! What Gitea, Forgejo and GitHub hear from the bridge, once per forge: a pull request opened, pushed to,
//! retitled, retargeted, closed, reopened and merged is mirrored, its checks are told, and their answers are
//! posted as commit statuses on the base repository (`pending`, `success`, `failure`); the pending timeout
//! fails them with no other event; a forge that is down gets the state of the moment it is back; a refused
//! token makes the post dead, and neither it nor a forge's echo of it is shown.

use crate::forge_support::{
    AGGREGATE, WAIT, add_check_on_main, eventually, notified_actions, with,
};
use crate::forges_others::{Forge, SECRET, Step, linked, linked_with, per_forge};
use serde_json::{Value, json};
use status_checks_tests::Receiver;
use status_checks_tests::fake_forge::FakeForge;
use status_checks_tests::fake_server::Fake;
use std::time::{Duration, Instant};

per_forge!(
    the_forge_hears_what_the_checks_say,
    the_mirror_follows_the_forge,
    a_merge_by_the_forge_while_checks_are_pending_is_recorded,
    the_pending_timeout_reaches_the_forge_with_no_other_event,
    a_retargeted_pull_request_clears_the_status_of_a_check_that_no_longer_applies,
    a_forge_that_is_down_gets_the_state_of_the_moment_it_is_back,
    a_refused_token_makes_the_post_dead_without_showing_it,
);

fn the_forge_hears_what_the_checks_say(forge: Forge) {
    let b = linked(forge, &[]);
    let story = forge.story();
    let (qa, security) = (
        Receiver::start("127.0.0.1:0"),
        Receiver::start("127.0.0.1:0"),
    );
    let c_qa = b.add_check("qa", &qa);
    let c_sec = b.add_check("security", &security);
    let (qa_context, sec_context) = ("status-checks/qa", "status-checks/security");

    assert_eq!(b.step(Step::Opened), "applied");
    let mr = b.merge_request(story.number);
    assert_eq!(
        (
            &mr["iid"],
            &mr["sha"],
            &mr["source_branch"],
            &mr["target_branch"],
            &mr["state"],
            &mr["title"],
        ),
        (
            &json!(story.number),
            &json!(story.opened),
            &json!(story.branch),
            &json!("main"),
            &json!("opened"),
            &json!(story.title),
        )
    );
    for receiver in [&qa, &security] {
        let got = receiver.wait_for(1);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].header("x-gitlab-event"), Some("Merge Request Hook"));
        let body: Value = serde_json::from_slice(&got[0].body).unwrap();
        assert_eq!(body["object_attributes"]["action"], "open");
        assert_eq!(body["object_attributes"]["iid"], story.number);
        assert_eq!(body["object_attributes"]["last_commit"]["id"], story.opened);
        assert_eq!(body["user"]["username"], story.author, "who did it");
    }
    for context in [AGGREGATE, qa_context, sec_context] {
        b.expect_state(story.opened, context, "pending");
    }

    b.respond(c_qa, story.opened, "passed");
    b.expect_state(story.opened, qa_context, "success");
    assert_eq!(
        b.fake.latest_state(story.opened, AGGREGATE).as_deref(),
        Some("pending"),
        "one of two passed"
    );
    b.respond(c_sec, story.opened, "passed");
    b.expect_state(story.opened, sec_context, "success");
    b.expect_state(story.opened, AGGREGATE, "success");

    // A push: the new HEAD starts pending; the old one keeps what it showed.
    let before_push = b.fake.statuses().len();
    assert_eq!(b.step(Step::Pushed), "applied");
    assert_eq!(b.merge_request(story.number)["sha"], story.pushed);
    for receiver in [&qa, &security] {
        let got = receiver.wait_for(2);
        assert_eq!(got.len(), 2);
        let body: Value = serde_json::from_slice(&got[1].body).unwrap();
        assert_eq!(body["object_attributes"]["action"], "update");
        assert_eq!(body["object_attributes"]["oldrev"], story.opened);
        assert_eq!(body["object_attributes"]["last_commit"]["id"], story.pushed);
    }
    for context in [AGGREGATE, qa_context, sec_context] {
        b.expect_state(story.pushed, context, "pending");
    }
    b.respond(c_sec, story.pushed, "failed");
    b.expect_state(story.pushed, sec_context, "failure");
    b.expect_state(story.pushed, AGGREGATE, "failure");
    assert_eq!(
        b.fake.latest_state(story.pushed, qa_context).as_deref(),
        Some("pending")
    );
    assert!(
        b.fake.statuses()[before_push..]
            .iter()
            .all(|post| post.sha == story.pushed),
        "nothing is posted on the old HEAD after the push"
    );
    for context in [AGGREGATE, qa_context, sec_context] {
        assert_eq!(
            b.fake.latest_state(story.opened, context).as_deref(),
            Some("success")
        );
    }
    assert!(eventually(WAIT, || b.settled()), "{:#?}", b.posts());
    assert!(
        b.fake.status_requests().iter().all(|r| r.answered == 201),
        "no post was refused: {:#?}",
        b.fake.status_requests()
    );
    b.assert_posts_well_formed(story.url);
    let aggregate = b
        .fake
        .statuses()
        .into_iter()
        .rev()
        .find(|post| post.context == AGGREGATE)
        .unwrap();
    assert_eq!(
        aggregate.description.as_deref(),
        Some("0 of 2 passed, 1 failed, 1 pending")
    );
}

fn the_mirror_follows_the_forge(forge: Forge) {
    let b = linked(forge, &[]);
    let story = forge.story();
    let qa = Receiver::start("127.0.0.1:0");
    b.add_check("qa", &qa);
    assert_eq!(b.step(Step::Opened), "applied");
    assert_eq!(qa.wait_for(1).len(), 1);

    let steps = [
        (Step::Pushed, "update", "sha", json!(story.pushed)),
        (Step::Retitled, "update", "title", json!(story.retitled)),
        (
            Step::Retargeted,
            "update",
            "target_branch",
            json!("release-1.4"),
        ),
        (Step::Closed, "close", "state", json!("closed")),
        (Step::Reopened, "reopen", "state", json!("opened")),
        (Step::Merged, "merge", "state", json!("merged")),
    ];
    for (i, (step, action, field, value)) in steps.iter().enumerate() {
        if *step == Step::Retitled {
            // An action the bridge does not act on, between two it does.
            assert_eq!(b.step(Step::Ignored), "ignored");
        }
        assert_eq!(b.step(*step), "applied", "{step:?}");
        assert_eq!(&b.merge_request(story.number)[*field], value, "{step:?}");
        let got = qa.wait_for(i + 2);
        assert_eq!(got.len(), i + 2, "{step:?} is told to the check");
        let body: Value = serde_json::from_slice(&got[i + 1].body).unwrap();
        assert_eq!(body["object_attributes"]["action"], *action, "{step:?}");
    }
    let mr = b.merge_request(story.number);
    assert_eq!(
        (&mr["title"], &mr["target_branch"], &mr["sha"]),
        (
            &json!(story.retitled),
            &json!("release-1.4"),
            &json!(story.pushed)
        )
    );
    assert!(mr["merged_at"].is_string(), "{mr}");
    // A merge is final: a late reopen cannot undo it.
    let late_reopen = with(
        forge.fixture(Step::Reopened),
        &[(
            "/pull_request/updated_at",
            json!(match forge {
                Forge::Github => "2025-03-10T08:53:00Z",
                _ => "2025-03-10T09:53:00+01:00",
            }),
        )],
    );
    assert_eq!(b.pr(Step::Reopened, &late_reopen), "unchanged");
    assert_eq!(b.merge_request(story.number)["state"], "merged");
    assert_eq!(
        notified_actions(&qa),
        [
            "open", "update", "update", "update", "close", "reopen", "merge"
        ]
    );
    assert!(eventually(WAIT, || b.settled()), "{:#?}", b.posts());
    assert!(
        b.fake
            .statuses()
            .iter()
            .all(|post| post.sha != story.opened || post.state == "pending"),
        "only pending was posted for the first HEAD"
    );
    b.assert_posts_well_formed(story.url);
}

fn a_merge_by_the_forge_while_checks_are_pending_is_recorded(forge: Forge) {
    let b = linked(forge, &[]);
    let story = forge.story();
    let qa = Receiver::start("127.0.0.1:0");
    b.add_check("qa", &qa);
    assert_eq!(b.step(Step::Opened), "applied");
    b.expect_state(story.opened, AGGREGATE, "pending");
    b.expect_state(story.opened, "status-checks/qa", "pending");

    // Merged on the forge at the HEAD it was opened with, into `main`, before qa answered.
    let merged = with(
        forge.fixture(Step::Merged),
        &[
            ("/pull_request/head/sha", json!(story.opened)),
            ("/pull_request/base/ref", json!("main")),
            ("/pull_request/title", json!(story.title)),
        ],
    );
    assert_eq!(b.pr(Step::Merged, &merged), "applied");
    let mr = b.merge_request(story.number);
    assert_eq!(mr["state"], "merged", "{mr}");
    assert!(mr["merged_at"].is_string(), "{mr}");
    assert_eq!(mr["sha"], story.opened);
    let got = qa.wait_for(2);
    assert_eq!(got.len(), 2);
    let body: Value = serde_json::from_slice(&got[1].body).unwrap();
    assert_eq!(body["object_attributes"]["action"], "merge");
    assert_eq!(body["object_attributes"]["state"], "merged");
    assert!(eventually(WAIT, || b.settled()), "{:#?}", b.posts());
    assert!(
        b.fake.statuses().iter().all(|post| post.state == "pending"),
        "no check answered, so nothing but pending: {:#?}",
        b.fake.statuses()
    );
}

fn the_pending_timeout_reaches_the_forge_with_no_other_event(forge: Forge) {
    let b = linked(forge, &["--pending-timeout", "3s"]);
    let story = forge.story();
    let silent = Receiver::start("127.0.0.1:0");
    b.add_check("qa", &silent);
    let opened_at = Instant::now();
    assert_eq!(b.step(Step::Opened), "applied");
    b.expect_state(story.opened, AGGREGATE, "pending");
    b.expect_state(story.opened, "status-checks/qa", "pending");
    let failed = b.fake.wait_until(
        |f| {
            f.latest_state(story.opened, AGGREGATE).as_deref() == Some("failure")
                && f.latest_state(story.opened, "status-checks/qa").as_deref() == Some("failure")
        },
        Duration::from_secs(12),
    );
    assert!(failed, "{:#?}", b.fake.status_requests());
    assert!(
        opened_at.elapsed() >= Duration::from_millis(2500),
        "not before the timeout: {:?}",
        opened_at.elapsed()
    );
    assert_eq!(silent.received.lock().unwrap().len(), 1);
    assert!(eventually(WAIT, || b.all_delivered()), "{:#?}", b.posts());
    b.assert_posts_well_formed(story.url);
}

fn a_retargeted_pull_request_clears_the_status_of_a_check_that_no_longer_applies(forge: Forge) {
    let b = linked(forge, &[]);
    let (s, p) = (&b.service, b.p);
    let story = forge.story();
    let (qa, lint) = (
        Receiver::start("127.0.0.1:0"),
        Receiver::start("127.0.0.1:0"),
    );
    let c_qa = add_check_on_main(s, p, "qa", &qa);
    b.add_check("lint", &lint);
    assert_eq!(b.step(Step::Opened), "applied");
    for context in [AGGREGATE, "status-checks/qa", "status-checks/lint"] {
        b.expect_state(story.opened, context, "pending");
    }
    b.respond(c_qa, story.opened, "failed");
    b.expect_state(story.opened, "status-checks/qa", "failure");
    b.expect_state(story.opened, AGGREGATE, "failure");

    // Retargeted away from main, same HEAD: qa no longer applies, so its failure must stop blocking.
    let retarget = with(
        forge.fixture(Step::Retargeted),
        &[
            ("/pull_request/head/sha", json!(story.opened)),
            ("/pull_request/title", json!(story.title)),
        ],
    );
    assert_eq!(b.pr(Step::Retargeted, &retarget), "applied");
    assert_eq!(
        b.merge_request(story.number)["target_branch"],
        "release-1.4"
    );
    b.expect_state(story.opened, AGGREGATE, "pending");
    b.expect_state(story.opened, "status-checks/qa", "success");
    let qa_post = b
        .fake
        .statuses()
        .into_iter()
        .rev()
        .find(|post| post.context == "status-checks/qa")
        .unwrap();
    assert_eq!(qa_post.description.as_deref(), Some("no longer applies"));
    b.assert_posts_well_formed(story.url);
}

fn a_forge_that_is_down_gets_the_state_of_the_moment_it_is_back(forge: Forge) {
    let b = linked(forge, &[]);
    let story = forge.story();
    let qa = Receiver::start("127.0.0.1:0");
    let c = b.add_check("qa", &qa);
    b.fake.set_down(true);
    assert_eq!(b.step(Step::Opened), "applied");
    b.respond(c, story.opened, "passed");
    let refused = |f: &FakeForge| {
        f.status_requests()
            .iter()
            .filter(|r| r.answered == 503)
            .count()
    };
    assert!(b.fake.wait_until(|f| refused(f) >= 3, WAIT));
    assert!(
        eventually(WAIT, || b
            .posts()
            .iter()
            .any(|post| post["status"] == "pending"
                && post["last_error"] == "HTTP 503: Service Unavailable"
                && post["next_attempt_at"].is_string())),
        "{:#?}",
        b.posts()
    );
    b.fake.set_down(false);
    b.expect_state(story.opened, AGGREGATE, "success");
    b.expect_state(story.opened, "status-checks/qa", "success");
    assert!(eventually(WAIT, || b.all_delivered()), "{:#?}", b.posts());
    let all = b.posts();
    assert!(
        all.iter().any(|post| post["attempts"].as_i64() > Some(1)),
        "{all:#?}"
    );
    assert!(all.iter().all(|post| post["last_error"].is_null()));
    // The state is worked out when sent: the forge never heard a stale pending.
    assert!(
        b.fake.statuses().iter().all(|post| post.state == "success"),
        "{:#?}",
        b.fake.statuses()
    );
    b.assert_posts_well_formed(story.url);
}

fn a_refused_token_makes_the_post_dead_without_showing_it(forge: Forge) {
    let wrong = match forge {
        Forge::Github => "ghp_revokedToken0000000000000000000000",
        _ => "0000000000000000000000000000000000000000",
    };
    let b = linked_with(forge, &[], wrong);
    let s = &b.service;
    assert_eq!(b.step(Step::Opened), "applied");
    assert!(
        eventually(WAIT, || {
            let all = b.posts();
            !all.is_empty() && all.iter().all(|post| post["status"] == "dead")
        }),
        "{:#?}",
        b.posts()
    );
    let all = b.posts();
    for post in &all {
        let error = post["last_error"].as_str().unwrap();
        assert!(error.starts_with("HTTP 401: "), "{error}");
        assert_eq!(post["attempts"], 1, "a 401 is not retried");
        assert!(post["next_attempt_at"].is_null());
    }
    let listed = serde_json::to_string(&all).unwrap();
    assert!(!listed.contains(wrong));
    assert!(b.fake.statuses().is_empty());
    let tried = b.fake.status_requests();
    assert!(!tried.is_empty());
    let sent = match forge {
        Forge::Github => format!("Bearer {wrong}"),
        _ => format!("token {wrong}"),
    };
    assert!(
        tried
            .iter()
            .all(|r| r.answered == 401 && r.header("authorization") == Some(sent.as_str())),
        "{tried:#?}"
    );
    let logs = s.logs.lock().unwrap().join("\n");
    assert!(!logs.contains(wrong), "the token is logged");
    assert!(!logs.contains(SECRET), "the webhook secret is logged");
}

#[test]
fn a_message_of_the_forge_that_echoes_the_token_is_redacted() {
    let forge = Forge::Gitea;
    let story = forge.story();
    let b = linked(forge, &[]);
    b.fake.status_once(
        400,
        &[],
        json!({"message": format!("invalid header Authorization: token {}", story.token), "url": "https://gitea.example.org/api/swagger"}),
    );
    assert_eq!(b.step(Step::Opened), "applied");
    assert!(
        eventually(WAIT, || b
            .posts()
            .iter()
            .any(|post| post["status"] == "dead")),
        "{:#?}",
        b.posts()
    );
    let listed = serde_json::to_string(&b.posts()).unwrap();
    assert!(!listed.contains(story.token), "{listed}");
    let dead = b
        .posts()
        .into_iter()
        .find(|post| post["status"] == "dead")
        .unwrap();
    assert_eq!(
        dead["last_error"],
        "HTTP 400: invalid header Authorization: token [redacted]"
    );
    let logs = b.service.logs.lock().unwrap().join("\n");
    assert!(!logs.contains(story.token), "the token is logged");
}
