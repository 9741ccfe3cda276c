//! Gitea, Forgejo and GitHub deliveries must prove the link's secret (an HMAC-SHA256 of the raw body, in
//! each forge's header), once per forge: anything else is 401 and leaves nothing behind; a replay — GitHub's
//! same `X-GitHub-Delivery`, Gitea's and Forgejo's same body under a new id — is "already applied" and tells
//! nobody; a late snapshot rolls nothing back. Gitea and Forgejo links take each other's deliveries.

use crate::forge_support::{AGGREGATE, WAIT, eventually, notifications, with};
use crate::forges_others::{
    Forge, SECRET, Signature, Step, delivery_id, fresh_signed_headers, headers, linked, per_forge,
    post_webhook,
};
use serde_json::{Value, json};
use status_checks_tests::hmac::hmac_sha256_hex;
use status_checks_tests::{ROOT_TOKEN, Receiver};
use std::time::Duration;

const UNAUTHORIZED: &str = r#"{"message":"401 Unauthorized"}"#;

per_forge!(
    replayed_deliveries_change_nothing,
    webhooks_must_be_signed_with_the_secret,
);

fn replayed_deliveries_change_nothing(forge: Forge) {
    let b = linked(forge, &[]);
    let (s, p) = (&b.service, b.p);
    let story = forge.story();
    let qa = Receiver::start("127.0.0.1:0");
    b.add_check("qa", &qa);
    let open = forge.bytes(&forge.fixture(Step::Opened));
    let signed = |id: &str, body: &[u8]| {
        headers(
            forge,
            "pull_request",
            "pull_request",
            id,
            &Signature::Of(SECRET),
            body,
        )
    };
    let first_id = delivery_id();
    let first = post_webhook(s, p, &signed(&first_id, &open), &open);
    assert_eq!(first.expect(200), json!({"message": "applied"}));
    // A replay: GitHub redelivers under the same id; Gitea and Forgejo redeliver the same body under a new id.
    let replay_id = match forge {
        Forge::Github => first_id.clone(),
        Forge::Gitea | Forge::Forgejo => delivery_id(),
    };
    let replay = post_webhook(s, p, &signed(&replay_id, &open), &open);
    assert_eq!(replay.expect(200), json!({"message": "already applied"}));
    // The same snapshot in other bytes under a new id (a second hook of the same event): nothing changes.
    let other_bytes = match forge {
        Forge::Github => open.clone(),
        Forge::Gitea | Forge::Forgejo => serde_json::to_vec(&forge.fixture(Step::Opened)).unwrap(),
    };
    let again = post_webhook(s, p, &signed(&delivery_id(), &other_bytes), &other_bytes);
    assert_eq!(again.expect(200), json!({"message": "unchanged"}));
    assert_eq!(qa.wait_for(1).len(), 1);
    b.expect_state(story.opened, AGGREGATE, "pending");
    assert!(eventually(WAIT, || b.settled()), "{:#?}", b.posts());
    // The posts about the first HEAD: the replays add none.
    let on_sha = |sha: &str| -> Vec<Value> {
        let mut ids: Vec<Value> = b
            .posts()
            .into_iter()
            .filter(|post| post["sha"] == sha)
            .map(|post| json!([post["id"], post["context"], post["state"]]))
            .collect();
        ids.sort_by_key(Value::to_string);
        ids
    };
    let first_posts = on_sha(story.opened);

    assert_eq!(b.step(Step::Pushed), "applied");
    assert_eq!(qa.wait_for(2).len(), 2);
    // A push the forge sent earlier arrives late: older updated_at, another HEAD.
    let older_sha = "0a1b2c3d4e5f60718293a4b5c6d7e8f901234567";
    let late = with(
        forge.fixture(Step::Pushed),
        &[
            ("/pull_request/head/sha", json!(older_sha)),
            (
                "/pull_request/updated_at",
                json!(match forge {
                    Forge::Github => "2025-03-10T08:18:00Z",
                    _ => "2025-03-10T09:18:00+01:00",
                }),
            ),
        ],
    );
    assert_eq!(b.pr(Step::Pushed, &late), "unchanged");
    assert_eq!(
        b.merge_request(story.number)["sha"],
        story.pushed,
        "no roll back"
    );
    let late_replay = post_webhook(s, p, &signed(&replay_id, &open), &open);
    assert_eq!(late_replay.expect(200)["message"], "already applied");
    assert_eq!(b.merge_request(story.number)["sha"], story.pushed);

    b.expect_state(story.pushed, AGGREGATE, "pending");
    assert!(eventually(WAIT, || b.settled()), "{:#?}", b.posts());
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(
        qa.received.lock().unwrap().len(),
        2,
        "no other notification: {:#?}",
        notifications(&qa)
    );
    assert!(
        b.fake.statuses().iter().all(|post| post.sha != older_sha),
        "nothing is posted on the late HEAD"
    );
    assert_eq!(on_sha(story.opened), first_posts, "{:#?}", b.posts());
    assert!(on_sha(older_sha).is_empty(), "{:#?}", b.posts());
    // The push's: one post a context, delivered (beside the pending timeout's re-posts, not yet due).
    let delivered: Vec<Value> = b
        .posts()
        .into_iter()
        .filter(|post| post["sha"] == story.pushed && post["status"] == "delivered")
        .collect();
    assert_eq!(delivered.len(), 2, "{delivered:#?}");
}

fn webhooks_must_be_signed_with_the_secret(forge: Forge) {
    let b = linked(forge, &[]);
    let (s, p) = (&b.service, b.p);
    let story = forge.story();
    let open = forge.bytes(&forge.fixture(Step::Opened));
    let send = |headers: Vec<(String, String)>, body: &[u8]| post_webhook(s, p, &headers, body);
    let pr_headers = |signature: Signature, body: &[u8]| {
        headers(
            forge,
            "pull_request",
            "pull_request",
            &delivery_id(),
            &signature,
            body,
        )
    };
    let unauthorized: Value = serde_json::from_str(UNAUTHORIZED).unwrap();
    let good = hmac_sha256_hex(SECRET.as_bytes(), &open);

    let mut refused = vec![
        (
            "no signature",
            send(pr_headers(Signature::Missing, &open), &open),
        ),
        (
            "an empty signature",
            send(pr_headers(Signature::Raw(String::new()), &open), &open),
        ),
        (
            "another secret",
            send(
                pr_headers(Signature::Of("e2e-pr-webhook-secret-0123456788"), &open),
                &open,
            ),
        ),
    ];
    // Signed, then altered: another HEAD put in the body.
    let signed_headers = pr_headers(Signature::Of(SECRET), &open);
    let tampered = String::from_utf8(open.clone())
        .unwrap()
        .replacen(story.opened, "0a1b2c3d4e5f60718293a4b5c6d7e8f901234567", 1)
        .into_bytes();
    refused.push((
        "a body altered after signing",
        send(signed_headers.clone(), &tampered),
    ));
    // The same JSON in other bytes: the signature is over the raw body.
    let mut reserialized = open.clone();
    reserialized.push(b'\n');
    refused.push(("one byte more", send(signed_headers.clone(), &reserialized)));
    let hex_elsewhere = match forge {
        // GitHub's header without its `sha256=` prefix.
        Forge::Github => Signature::Raw(good.clone()),
        // Gitea's header with a prefix it never has.
        Forge::Gitea | Forge::Forgejo => Signature::Raw(format!("sha256={good}")),
    };
    refused.push((
        "a malformed signature",
        send(pr_headers(hex_elsewhere, &open), &open),
    ));
    if forge == Forge::Forgejo {
        // Forgejo's own signature is wrong, Gitea's right.
        let mixed: Vec<(String, String)> = signed_headers
            .iter()
            .map(|(n, v)| {
                let v = if n == "x-forgejo-signature" {
                    "0".repeat(64)
                } else {
                    v.clone()
                };
                (n.clone(), v)
            })
            .collect();
        refused.push(("a wrong X-Forgejo-Signature", send(mixed, &open)));
    }
    // A delivery in another forge's headers, signed right.
    let foreign = match forge {
        Forge::Github => fresh_signed_headers(Forge::Gitea, "pull_request", "pull_request", &open),
        Forge::Gitea | Forge::Forgejo => {
            fresh_signed_headers(Forge::Github, "pull_request", "", &open)
        }
    };
    refused.push(("another forge's headers", send(foreign, &open)));
    let no_event: Vec<(String, String)> = signed_headers
        .iter()
        .filter(|(n, _)| !n.ends_with("-event") && !n.ends_with("-event-type"))
        .cloned()
        .collect();
    refused.push(("no event header", send(no_event, &open)));
    for (what, answer) in refused {
        assert_eq!(answer.status.as_u16(), 401, "{what}: {}", answer.body);
        assert_eq!(answer.body, unauthorized, "{what}");
    }
    assert_eq!(b.merge_requests(), json!([]), "nothing is mirrored");
    assert!(b.posts().is_empty(), "nothing is scheduled");
    let link = s
        .get(&format!("/api/v4/projects/{p}/forge"), ROOT_TOKEN)
        .expect(200);
    assert!(link["last_event_at"].is_null(), "{link}");

    // Signed right, about another repository: 422.
    let elsewhere = with(
        forge.fixture(Step::Opened),
        &[
            ("/repository/id", json!(777001)),
            ("/repository/full_name", json!("someone/else")),
            ("/repository/name", json!("else")),
        ],
    );
    let body = forge.bytes(&elsewhere);
    let answer = send(pr_headers(Signature::Of(SECRET), &body), &body);
    assert_eq!(answer.status.as_u16(), 422, "{}", answer.body);
    assert_eq!(b.merge_requests(), json!([]));

    // The very delivery, signed right, is applied: the refusals were the signature's.
    assert_eq!(
        send(signed_headers, &open).expect(200)["message"],
        "applied"
    );
    assert_eq!(b.merge_requests().as_array().unwrap().len(), 1);
    b.expect_state(story.opened, AGGREGATE, "success");
    let logs = s.logs.lock().unwrap().join("\n");
    assert!(!logs.contains(SECRET), "the webhook secret is logged");
    assert!(!logs.contains(&good), "a signature is logged");
}

#[test]
fn gitea_and_forgejo_links_take_each_other_s_deliveries() {
    for (link_as, sent_as) in [
        (Forge::Gitea, Forge::Forgejo),
        (Forge::Forgejo, Forge::Gitea),
    ] {
        let b = linked(link_as, &[]);
        let story = link_as.story();
        let open = sent_as.bytes(&sent_as.fixture(Step::Opened));
        let h = fresh_signed_headers(sent_as, "pull_request", "pull_request", &open);
        let answer = post_webhook(&b.service, b.p, &h, &open);
        assert_eq!(
            answer.expect(200),
            json!({"message": "applied"}),
            "a {link_as:?} link, a {sent_as:?} delivery"
        );
        b.expect_state(story.opened, AGGREGATE, "success");
        // A GitHub delivery, signed right, is not theirs.
        let github = fresh_signed_headers(Forge::Github, "pull_request", "", &open);
        assert_eq!(
            post_webhook(&b.service, b.p, &github, &open)
                .status
                .as_u16(),
            401
        );
    }
}
