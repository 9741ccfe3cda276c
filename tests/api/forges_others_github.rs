//! GitHub's own rules through the real binary, against the fake GitHub: its rate limits (a 403 or 429 with
//! `Retry-After`, a 403 with `x-ratelimit-remaining: 0` and `x-ratelimit-reset`, a bare secondary-limit 403)
//! are waited out — as long as GitHub asks, a minute when it does not say — and the status delivered; any
//! other 403, a 401 and a 422 are final, with GitHub's message and no credential; a `ping` is answered 200
//! and ignored; a form-encoded delivery is refused as unreadable; a pull request whose fork was deleted
//! (`head.repo: null`) is mirrored.

use crate::forge_support::{AGGREGATE, WAIT, eventually};
use crate::forges_others::{
    Bridge, Forge, Signature, Step, delivery_id, fresh_signed_headers, headers, linked,
    post_webhook,
};
use serde_json::{Value, json};
use status_checks_tests::Receiver;
use status_checks_tests::fake_forge::Scripted;
use status_checks_tests::fake_server::{Fake, Request};
use std::time::{Duration, UNIX_EPOCH};

const FORGE: Forge = Forge::Github;

/// The status posts of `context`, in arrival order.
fn tries(requests: &[Request], context: &str) -> Vec<Request> {
    requests
        .iter()
        .filter(|r| r.is_status_post() && r.body["context"] == context)
        .cloned()
        .collect()
}

/// Waits (8 s at most) until the context of `refusal` was tried again; answers the context and its tries.
fn retried(b: &Bridge, refusal: &Request) -> (String, Vec<Request>) {
    let context = refusal.body["context"].as_str().unwrap().to_owned();
    assert!(
        b.fake.wait_until(
            |f| tries(&f.requests(), &context).len() >= 2,
            Duration::from_secs(8)
        ),
        "{context} was not retried: {:#?}",
        b.fake.status_requests()
    );
    let tried = tries(&b.fake.requests(), &context);
    (context, tried)
}

/// A linked service, a check `qa`, and the pull request opened with the fake answering `script` first.
fn opened_against(script: Vec<Scripted>) -> Bridge {
    let b = linked(FORGE, &[]);
    let qa = Receiver::start("127.0.0.1:0");
    b.add_check("qa", &qa);
    b.fake.script(script);
    assert_eq!(b.step(Step::Opened), "applied");
    b
}

#[test]
fn rate_limits_are_waited_out_and_the_status_delivered() {
    let story = FORGE.story();
    let b = opened_against(vec![
        Scripted::retry_after(403, 1),
        Scripted::retry_after(429, 1),
        Scripted::rate_limited(1),
    ]);
    b.expect_state(story.opened, AGGREGATE, "pending");
    b.expect_state(story.opened, "status-checks/qa", "pending");
    assert!(eventually(WAIT, || b.settled()), "{:#?}", b.posts());
    let requests = b.fake.requests();
    let refused: Vec<u16> = requests
        .iter()
        .filter(|r| r.is_status_post() && r.answered != 201)
        .map(|r| r.answered)
        .collect();
    assert_eq!(refused, [403, 429, 403], "{requests:#?}");
    let all = b.posts();
    assert!(
        all.iter().any(|post| post["attempts"].as_i64() >= Some(2)),
        "{all:#?}"
    );
    assert!(
        all.iter().all(|post| post["status"] != "dead"),
        "a rate limit is not final: {all:#?}"
    );
    // Each refusal was retried no sooner than GitHub asked (1 s, with the clock's rounding).
    for context in [AGGREGATE, "status-checks/qa"] {
        let tried = tries(&requests, context);
        for pair in tried.windows(2) {
            if pair[0].answered != 201 {
                let waited = pair[1].at.duration_since(pair[0].at);
                assert!(
                    waited >= Duration::from_millis(900),
                    "{context}: retried after {waited:?}"
                );
            }
        }
        assert_eq!(tried.last().unwrap().answered, 201, "{context}: {tried:#?}");
    }
    b.assert_posts_well_formed(story.url);
}

#[test]
fn a_retry_after_longer_than_the_backoff_is_honoured() {
    let story = FORGE.story();
    let b = opened_against(vec![Scripted::retry_after(403, 3)]);
    assert!(
        b.fake.wait_until(
            |f| f
                .status_requests()
                .iter()
                .filter(|r| r.answered == 201)
                .count()
                >= 2,
            WAIT
        ),
        "{:#?}",
        b.fake.status_requests()
    );
    let requests = b.fake.requests();
    let refusal = requests
        .iter()
        .find(|r| r.is_status_post() && r.answered == 403)
        .unwrap();
    let (context, tried) = retried(&b, refusal);
    let waited = tried[1].at.duration_since(tried[0].at);
    assert!(
        waited >= Duration::from_millis(2900),
        "Retry-After: 3 was not honoured: retried after {waited:?}"
    );
    assert_eq!(tried[1].answered, 201);
    b.expect_state(story.opened, &context, "pending");
    assert!(eventually(WAIT, || b.settled()), "{:#?}", b.posts());
}

#[test]
fn a_primary_rate_limit_is_retried_at_its_reset() {
    let limited = Scripted::rate_limited(3);
    let reset: u64 = limited
        .headers
        .iter()
        .find(|(name, _)| name == "x-ratelimit-reset")
        .unwrap()
        .1
        .parse()
        .unwrap();
    let b = opened_against(vec![limited]);
    assert!(b.fake.wait_until(
        |f| f.status_requests().iter().any(|r| r.answered == 403),
        WAIT
    ));
    let refusal = b
        .fake
        .status_requests()
        .into_iter()
        .find(|r| r.answered == 403)
        .unwrap();
    let (_, tried) = retried(&b, &refusal);
    let reset_at = UNIX_EPOCH + Duration::from_secs(reset);
    assert!(
        tried[1].received >= reset_at,
        "retried {:?} before x-ratelimit-reset (refused {:?} before it)",
        reset_at
            .duration_since(tried[1].received)
            .unwrap_or_default(),
        reset_at
            .duration_since(tried[0].received)
            .unwrap_or_default(),
    );
    assert_eq!(tried[1].answered, 201);
    assert!(eventually(WAIT, || b.settled()), "{:#?}", b.posts());
}

/// Waits until the post of the refused context is dead and answers it; checks no other try followed.
fn dead_post(b: &Bridge, status: u16) -> Value {
    assert!(
        b.fake.wait_until(
            |f| f.status_requests().iter().any(|r| r.answered == status),
            WAIT
        ),
        "{:#?}",
        b.fake.status_requests()
    );
    let refused = b
        .fake
        .status_requests()
        .into_iter()
        .find(|r| r.answered == status)
        .unwrap();
    let context = refused.body["context"].as_str().unwrap().to_owned();
    assert!(
        eventually(WAIT, || b.posts().iter().any(|post| post["context"]
            == context.as_str()
            && post["status"] == "dead")),
        "{:#?}",
        b.posts()
    );
    // Final: not tried again (well past the first backoff).
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        tries(&b.fake.requests(), &context).len(),
        1,
        "{context} was tried again: {:#?}",
        b.fake.status_requests()
    );
    b.posts()
        .into_iter()
        .find(|post| post["context"] == context.as_str())
        .unwrap()
}

#[test]
fn a_context_at_its_maximum_of_statuses_is_dead_with_github_s_message() {
    let story = FORGE.story();
    let b = opened_against(vec![Scripted::max_statuses()]);
    let post = dead_post(&b, 422);
    let error = post["last_error"].as_str().unwrap();
    assert!(
        error.starts_with("HTTP 422: Validation Failed")
            && error.contains("reached the maximum number of statuses"),
        "the reason GitHub gives in errors[].message is kept: {error}"
    );
    assert_eq!(post["attempts"], 1, "{post}");
    assert!(post["next_attempt_at"].is_null());
    assert!(!error.contains(story.token), "{error}");
    let listed = serde_json::to_string(&b.posts()).unwrap();
    assert!(!listed.contains(story.token));
    let logs = b.service.logs.lock().unwrap().join("\n");
    assert!(!logs.contains(story.token), "the token is logged");
    // The other context was posted.
    assert!(eventually(WAIT, || b
        .posts()
        .iter()
        .any(|post| post["status"] == "delivered")));
}

#[test]
fn a_403_that_is_no_rate_limit_is_final() {
    let b = opened_against(vec![Scripted::forbidden()]);
    let post = dead_post(&b, 403);
    assert_eq!(
        post["last_error"],
        "HTTP 403: Resource not accessible by integration"
    );
    assert_eq!(post["attempts"], 1);
}

#[test]
fn a_ping_is_answered_and_ignored() {
    let b = linked(FORGE, &[]);
    let ping = FORGE.bytes(&FORGE.named("ping"));
    let signed = fresh_signed_headers(FORGE, "ping", "", &ping);
    assert_eq!(
        post_webhook(&b.service, b.p, &signed, &ping).expect(200),
        json!({"message": "ignored"})
    );
    let unsigned = headers(
        FORGE,
        "ping",
        "",
        &delivery_id(),
        &Signature::Missing,
        &ping,
    );
    assert_eq!(
        post_webhook(&b.service, b.p, &unsigned, &ping).expect(401),
        json!({"message": "401 Unauthorized"})
    );
    assert_eq!(b.merge_requests(), json!([]));
    assert!(b.posts().is_empty());
}

#[test]
fn a_pull_request_from_a_deleted_fork_is_mirrored() {
    let b = linked(FORGE, &[]);
    let qa = Receiver::start("127.0.0.1:0");
    let c = b.add_check("qa", &qa);
    let sha = "9a7c5e3b1d0f8e6c4a2b0d9f7e5c3a1b8d6f4e20";
    let payload = FORGE.named("pr_fork_deleted");
    assert!(payload["pull_request"]["head"]["repo"].is_null());
    assert_eq!(b.pr(Step::Retitled, &payload), "applied");
    let mr = b.merge_request(1350);
    assert_eq!(
        (
            &mr["sha"],
            &mr["source_branch"],
            &mr["target_branch"],
            &mr["state"]
        ),
        (
            &json!(sha),
            &json!("patch-2"),
            &json!("main"),
            &json!("opened")
        )
    );
    b.expect_state(sha, AGGREGATE, "pending");
    b.respond_on(1350, c, sha, "passed");
    b.expect_state(sha, AGGREGATE, "success");
    b.expect_state(sha, "status-checks/qa", "success");
    b.assert_posts_well_formed("https://github.com/octo-org/hello-world/pull/1350");
}

#[test]
fn a_token_revoked_after_the_link_was_made_is_final() {
    let story = FORGE.story();
    let b = opened_against(vec![Scripted::bad_credentials()]);
    let post = dead_post(&b, 401);
    assert_eq!(post["last_error"], "HTTP 401: Bad credentials");
    assert_eq!(post["attempts"], 1);
    assert!(
        !serde_json::to_string(&b.posts())
            .unwrap()
            .contains(story.token)
    );
}

/// Waits until a post was refused once and is due again; answers it.
fn retried_post(b: &Bridge) -> Value {
    assert!(
        eventually(WAIT, || b
            .posts()
            .iter()
            .any(|post| post["status"] == "pending"
                && post["attempts"] == 1
                && post["last_error"].is_string())),
        "{:#?}",
        b.posts()
    );
    b.posts()
        .into_iter()
        .find(|post| post["status"] == "pending" && post["attempts"] == 1)
        .unwrap()
}

/// Milliseconds from a post's last attempt to its next.
fn due_after(post: &Value) -> i64 {
    crate::forge_support::epoch_millis(post["next_attempt_at"].as_str().unwrap())
        - crate::forge_support::epoch_millis(post["last_attempt_at"].as_str().unwrap())
}

#[test]
fn a_secondary_rate_limit_without_retry_after_waits_a_minute() {
    let mut bare = Scripted::retry_after(403, 1);
    bare.headers.clear();
    let b = opened_against(vec![bare]);
    let post = retried_post(&b);
    let error = post["last_error"].as_str().unwrap();
    assert!(
        error.starts_with("HTTP 403: You have exceeded a secondary rate limit"),
        "{error}"
    );
    let wait = due_after(&post);
    assert!(
        (59_000..=61_000).contains(&wait),
        "due {wait} ms later: {post}"
    );
}

#[test]
fn a_primary_rate_limit_far_ahead_is_waited_until_its_reset() {
    let b = opened_against(vec![Scripted::rate_limited(1800)]);
    let post = retried_post(&b);
    let wait = due_after(&post);
    assert!(
        (1_797_000..=1_801_000).contains(&wait),
        "due {wait} ms later, not at the reset: {post}"
    );
    assert!(
        post["last_error"]
            .as_str()
            .unwrap()
            .starts_with("HTTP 403: API rate limit exceeded")
    );
}

#[test]
fn a_form_encoded_delivery_is_unprocessable_not_applied() {
    // GitHub's other content type, `application/x-www-form-urlencoded` (`payload=<JSON>`): docs/forges.md
    // asks for `application/json`; such a delivery must be refused as unreadable, never half applied.
    let b = linked(FORGE, &[]);
    let json = FORGE.bytes(&FORGE.fixture(Step::Opened));
    let form: String = std::iter::once("payload=".to_owned())
        .chain(json.iter().map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                (*byte as char).to_string()
            }
            b' ' => "+".to_owned(),
            other => format!("%{other:02X}"),
        }))
        .collect();
    let mut h = fresh_signed_headers(FORGE, "pull_request", "", form.as_bytes());
    for (name, value) in &mut h {
        if name == "content-type" {
            *value = "application/x-www-form-urlencoded".to_owned();
        }
    }
    let answer = post_webhook(&b.service, b.p, &h, form.as_bytes());
    assert_eq!(answer.status.as_u16(), 422, "{}", answer.body);
    assert!(answer.body["message"].is_string(), "{}", answer.body);
    assert_eq!(b.merge_requests(), json!([]));
    assert!(b.posts().is_empty());
}
