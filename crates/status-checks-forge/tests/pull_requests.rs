//! Gitea, Forgejo and GitHub `pull_request` deliveries read into the core's words: the payloads of
//! `tests/fixtures/gitea/` and `tests/fixtures/github/` (modelled on real deliveries), signed as each forge
//! signs them, through [`read_delivery`] — authentication over the raw bytes, the action's snapshot, the
//! actions and events that are ignored, and the key a replay shares.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a panic is how a test fails"
)]

use chrono::{TimeZone, Utc};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use status_checks_core::forges::{ForgeEvent, ForgeEventKind, ForgeKind, ForgeLink, ForgeSecret};
use status_checks_core::{MergeRequestIid, MergeRequestState, ProjectId, UserId};
use status_checks_forge::inbound::{Inbound, InboundError, read_delivery};
use std::path::Path;

const SECRET: &str = "pr-hook-secret-0123456789";

/// The pull request of the Gitea fixtures: its number, HEADs and branches.
const GITEA_REPO: &str = "octo-team/status-demo";
const GITEA_NUMBER: i64 = 7;
const GITEA_OPENED: &str = "1f7a3c9e2b4d6f8a0c1e3b5d7f9a2c4e6b8d0f13";
const GITEA_PUSHED: &str = "8e2d4c6a0b1f3e5d7c9a2b4f6e8d0c1a3b5f7e92";
const GITEA_BRANCH: &str = "fix-retry-429";
const GITEA_URL: &str = "https://gitea.example.org/octo-team/status-demo/pulls/7";

/// The pull request of the GitHub fixtures (from the fork `octocat/hello-world`).
const GITHUB_REPO: &str = "octo-org/hello-world";
const GITHUB_NUMBER: i64 = 1347;
const GITHUB_OPENED: &str = "6dcb09b5b57875f334f61aebed695e2e4193db5e";
const GITHUB_PUSHED: &str = "c2a5f7d94be3e1a0b8d6f4c2e0a9b7d5f3e1c9a7";
const GITHUB_BRANCH: &str = "new-topic";
const GITHUB_URL: &str = "https://github.com/octo-org/hello-world/pull/1347";

fn link(forge: ForgeKind) -> ForgeLink {
    let (api_url, repository) = match forge {
        ForgeKind::Github => ("https://api.github.com", GITHUB_REPO),
        _ => ("https://gitea.example.org/api/v1", GITEA_REPO),
    };
    ForgeLink {
        project_id: ProjectId(1),
        forge,
        api_url: api_url.into(),
        repository: repository.into(),
        token: ForgeSecret::from_stored("forge-api-token-0123".into()),
        webhook_secret: ForgeSecret::from_stored(SECRET.into()),
        status_name: "status-checks".into(),
        per_check_statuses: true,
        author_id: UserId(1),
        last_event_at: None,
        created_at: Default::default(),
        updated_at: Default::default(),
    }
}

/// The raw bytes of a fixture, as the forge sent them: Gitea and Forgejo indent their JSON, GitHub does not.
fn body(forge: ForgeKind, name: &str) -> Vec<u8> {
    let folder = if forge == ForgeKind::Github {
        "github"
    } else {
        "gitea"
    };
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures")
        .join(folder)
        .join(format!("{name}.json"));
    let value: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    if forge == ForgeKind::Github {
        serde_json::to_vec(&value).unwrap()
    } else {
        serde_json::to_vec_pretty(&value).unwrap()
    }
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

/// Headers as a lookup by lowercase name.
type Headers = Vec<(String, String)>;

fn lookup(headers: &Headers) -> impl Fn(&str) -> Option<String> + '_ {
    move |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    }
}

/// The headers `forge` sends with `body` for `event` (`X-Gitea-Event-Type` `event_type`), signed with
/// `secret`, delivery `id`. Gitea also sends the Gogs and GitHub families; Forgejo sends its own and all of
/// Gitea's.
fn signed(
    forge: ForgeKind,
    event: &str,
    event_type: &str,
    id: &str,
    secret: &str,
    body: &[u8],
) -> Headers {
    let signature = hmac_hex(secret, body);
    let mut headers: Vec<(&str, String)> = vec![("content-type", "application/json".into())];
    match forge {
        ForgeKind::Github => headers.extend([
            ("user-agent", "GitHub-Hookshot/9e7c7c2".into()),
            ("x-github-delivery", id.into()),
            ("x-github-event", event.into()),
            ("x-github-hook-id", "530114286".into()),
            ("x-github-hook-installation-target-id", "1296269".into()),
            (
                "x-github-hook-installation-target-type",
                "repository".into(),
            ),
            ("x-hub-signature-256", format!("sha256={signature}")),
        ]),
        _ => {
            if forge == ForgeKind::Forgejo {
                headers.extend([
                    ("x-forgejo-delivery", id.into()),
                    ("x-forgejo-event", event.into()),
                    ("x-forgejo-event-type", event_type.into()),
                    ("x-forgejo-signature", signature.clone()),
                ]);
            }
            headers.extend([
                ("user-agent", "Go-http-client/1.1".into()),
                ("x-gitea-delivery", id.into()),
                ("x-gitea-event", event.into()),
                ("x-gitea-event-type", event_type.into()),
                ("x-gitea-signature", signature.clone()),
                ("x-gogs-delivery", id.into()),
                ("x-gogs-event", event.into()),
                ("x-gogs-event-type", event_type.into()),
                ("x-gogs-signature", signature.clone()),
                ("x-github-delivery", id.into()),
                ("x-github-event", event.into()),
                ("x-github-event-type", event_type.into()),
                ("x-hub-signature-256", format!("sha256={signature}")),
            ]);
        }
    }
    headers
        .into_iter()
        .map(|(n, v)| (n.to_owned(), v))
        .collect()
}

/// A `pull_request` delivery of fixture `name`, signed with the link's secret.
fn pr_headers(forge: ForgeKind, event_type: &str, id: &str, body: &[u8]) -> Headers {
    signed(forge, "pull_request", event_type, id, SECRET, body)
}

fn read(forge: ForgeKind, headers: &Headers, body: &[u8]) -> Result<Inbound, InboundError> {
    read_delivery(&link(forge), &lookup(headers), body)
}

fn event_of(forge: ForgeKind, name: &str, event_type: &str) -> ForgeEvent {
    let body = body(forge, name);
    let headers = pr_headers(
        forge,
        event_type,
        "d2a1f5c4-0b3e-4a7d-9c8e-1f2a3b4c5d6e",
        &body,
    );
    match read(forge, &headers, &body) {
        Ok(Inbound::Event(event)) => *event,
        other => panic!("{forge} {name}: {other:?}"),
    }
}

/// What a fixture reads as: state, HEAD, target branch, title.
fn summary(event: &ForgeEvent) -> (MergeRequestState, String, String, String) {
    let ForgeEventKind::MergeRequest { snapshot, .. } = &event.kind else {
        panic!("not a pull request: {event:?}")
    };
    (
        snapshot.state,
        snapshot.sha.as_str().to_owned(),
        snapshot.target_branch.clone(),
        snapshot.title.clone(),
    )
}

const GITEA_FORGES: [ForgeKind; 2] = [ForgeKind::Gitea, ForgeKind::Forgejo];

#[test]
fn gitea_and_forgejo_actions_map_to_the_pull_request_now() {
    use MergeRequestState::{Closed, Merged, Opened};
    let first = "Retry the forge client on 429";
    let retitled = "Retry status posts when the forge rate-limits";
    let cases = [
        (
            "pr_opened",
            "pull_request",
            Opened,
            GITEA_OPENED,
            "main",
            first,
        ),
        (
            "pr_synchronized",
            "pull_request_sync",
            Opened,
            GITEA_PUSHED,
            "main",
            first,
        ),
        (
            "pr_edited_title",
            "pull_request",
            Opened,
            GITEA_PUSHED,
            "main",
            retitled,
        ),
        (
            "pr_edited_base",
            "pull_request",
            Opened,
            GITEA_PUSHED,
            "release-1.4",
            retitled,
        ),
        (
            "pr_closed",
            "pull_request",
            Closed,
            GITEA_PUSHED,
            "release-1.4",
            retitled,
        ),
        (
            "pr_reopened",
            "pull_request",
            Opened,
            GITEA_PUSHED,
            "release-1.4",
            retitled,
        ),
        (
            "pr_merged",
            "pull_request",
            Merged,
            GITEA_PUSHED,
            "release-1.4",
            retitled,
        ),
    ];
    for forge in GITEA_FORGES {
        for (name, event_type, state, sha, target, title) in cases {
            let event = event_of(forge, name, event_type);
            assert_eq!(
                summary(&event),
                (state, sha.to_owned(), target.to_owned(), title.to_owned()),
                "{forge} {name}"
            );
            let ForgeEventKind::MergeRequest {
                snapshot,
                source_project,
                web_url,
            } = &event.kind
            else {
                unreachable!()
            };
            assert_eq!(snapshot.number, MergeRequestIid(GITEA_NUMBER), "{name}");
            assert_eq!(snapshot.source_branch, GITEA_BRANCH, "{name}");
            assert!(
                snapshot
                    .description
                    .starts_with("GitHub and Gitea answer 429"),
                "{name}: {}",
                snapshot.description
            );
            assert_eq!(
                source_project, GITEA_REPO,
                "statuses go to the base repository"
            );
            assert_eq!(web_url, GITEA_URL);
            assert_eq!(event.repository.id.as_deref(), Some("42"));
            assert_eq!(event.repository.path, GITEA_REPO);
        }
    }
}

#[test]
fn gitea_times_with_an_offset_are_read_in_utc() {
    let event = event_of(ForgeKind::Gitea, "pr_opened", "pull_request");
    let ForgeEventKind::MergeRequest { snapshot, .. } = &event.kind else {
        unreachable!()
    };
    // `2025-03-10T09:15:02+01:00`.
    assert_eq!(
        snapshot.updated_at,
        Utc.with_ymd_and_hms(2025, 3, 10, 8, 15, 2).unwrap()
    );
}

#[test]
fn the_sender_is_who_did_it_on_the_forge() {
    let opened = event_of(ForgeKind::Gitea, "pr_opened", "pull_request");
    assert_eq!(
        (
            opened.sender.id,
            opened.sender.username.as_str(),
            opened.sender.name.as_str()
        ),
        (UserId(3), "alice", "Alice Moreau")
    );
    // No full name: the login.
    let merged = event_of(ForgeKind::Gitea, "pr_merged", "pull_request");
    assert_eq!(
        (merged.sender.username.as_str(), merged.sender.name.as_str()),
        ("bob", "bob")
    );
    let github = event_of(ForgeKind::Github, "pr_merged", "");
    assert_eq!(
        (
            github.sender.id,
            github.sender.username.as_str(),
            github.sender.name.as_str()
        ),
        (UserId(2151735), "monalisa", "monalisa")
    );
}

#[test]
fn github_actions_map_to_the_pull_request_now() {
    use MergeRequestState::{Closed, Merged, Opened};
    let first = "Amazing new feature";
    let retitled = "Amazing new feature, rate-limit aware";
    let cases = [
        ("pr_opened", Opened, GITHUB_OPENED, "main", first),
        ("pr_synchronize", Opened, GITHUB_PUSHED, "main", first),
        ("pr_edited_title", Opened, GITHUB_PUSHED, "main", retitled),
        (
            "pr_edited_base",
            Opened,
            GITHUB_PUSHED,
            "release-1.4",
            retitled,
        ),
        ("pr_closed", Closed, GITHUB_PUSHED, "release-1.4", retitled),
        (
            "pr_reopened",
            Opened,
            GITHUB_PUSHED,
            "release-1.4",
            retitled,
        ),
        ("pr_merged", Merged, GITHUB_PUSHED, "release-1.4", retitled),
    ];
    for (name, state, sha, target, title) in cases {
        let event = event_of(ForgeKind::Github, name, "");
        assert_eq!(
            summary(&event),
            (state, sha.to_owned(), target.to_owned(), title.to_owned()),
            "{name}"
        );
        let ForgeEventKind::MergeRequest {
            snapshot,
            source_project,
            web_url,
        } = &event.kind
        else {
            unreachable!()
        };
        assert_eq!(snapshot.number, MergeRequestIid(GITHUB_NUMBER));
        assert_eq!(snapshot.source_branch, GITHUB_BRANCH);
        assert_eq!(
            snapshot.description,
            "Please pull these awesome changes in!"
        );
        // The head lives in the fork `octocat/hello-world`; statuses go to the base repository.
        assert_eq!(source_project, GITHUB_REPO, "{name}");
        assert_eq!(web_url, GITHUB_URL);
        assert_eq!(event.repository.id.as_deref(), Some("1296269"));
        assert_eq!(event.repository.path, GITHUB_REPO);
        assert_eq!(
            event.delivery_key.as_deref(),
            Some("github:d2a1f5c4-0b3e-4a7d-9c8e-1f2a3b4c5d6e")
        );
    }
}

#[test]
fn a_pull_request_from_a_deleted_fork_is_read() {
    let event = event_of(ForgeKind::Github, "pr_fork_deleted", "");
    let ForgeEventKind::MergeRequest {
        snapshot,
        source_project,
        web_url,
    } = &event.kind
    else {
        panic!("{event:?}")
    };
    assert_eq!(snapshot.number, MergeRequestIid(1350));
    assert_eq!(snapshot.state, MergeRequestState::Opened);
    assert_eq!(
        snapshot.sha.as_str(),
        "9a7c5e3b1d0f8e6c4a2b0d9f7e5c3a1b8d6f4e20"
    );
    assert_eq!(snapshot.source_branch, "patch-2");
    assert_eq!(snapshot.target_branch, "main");
    assert_eq!(source_project, GITHUB_REPO);
    assert_eq!(web_url, "https://github.com/octo-org/hello-world/pull/1350");
}

#[test]
fn actions_and_events_the_bridge_does_not_act_on_are_ignored() {
    for forge in GITEA_FORGES {
        let labelled = body(forge, "pr_label_updated");
        let headers = pr_headers(forge, "pull_request_label", "a1", &labelled);
        assert_eq!(
            read(forge, &headers, &labelled),
            Ok(Inbound::Ignored),
            "{forge}"
        );
        // Another event: a push (Gitea's "Test Delivery" is one), an issue comment on the pull request.
        let opened = body(forge, "pr_opened");
        for event in ["push", "issue_comment", "pull_request_approved"] {
            let headers = signed(forge, event, event, "a2", SECRET, &opened);
            assert_eq!(
                read(forge, &headers, &opened),
                Ok(Inbound::Ignored),
                "{forge} {event}"
            );
        }
    }
    let requested = body(ForgeKind::Github, "pr_review_requested");
    let headers = pr_headers(ForgeKind::Github, "", "b1", &requested);
    assert_eq!(
        read(ForgeKind::Github, &headers, &requested),
        Ok(Inbound::Ignored)
    );
    for action in [
        "assigned",
        "labeled",
        "unlabeled",
        "review_request_removed",
        "auto_merge_enabled",
        "enqueued",
        "locked",
    ] {
        let mut payload: Value =
            serde_json::from_slice(&body(ForgeKind::Github, "pr_opened")).unwrap();
        payload["action"] = json!(action);
        let raw = serde_json::to_vec(&payload).unwrap();
        let headers = pr_headers(ForgeKind::Github, "", "b2", &raw);
        assert_eq!(
            read(ForgeKind::Github, &headers, &raw),
            Ok(Inbound::Ignored),
            "{action}"
        );
    }
}

#[test]
fn a_github_ping_is_ignored_once_authenticated() {
    let ping = body(ForgeKind::Github, "ping");
    let headers = signed(ForgeKind::Github, "ping", "", "c1", SECRET, &ping);
    assert_eq!(
        read(ForgeKind::Github, &headers, &ping),
        Ok(Inbound::Ignored)
    );
    let wrong = signed(
        ForgeKind::Github,
        "ping",
        "",
        "c1",
        "not-the-hook-secret-000",
        &ping,
    );
    assert_eq!(
        read(ForgeKind::Github, &wrong, &ping),
        Err(InboundError::Unauthorized)
    );
}

#[test]
fn a_body_altered_after_signing_is_refused() {
    let cases = [
        (ForgeKind::Gitea, "pr_opened"),
        (ForgeKind::Forgejo, "pr_opened"),
        (ForgeKind::Github, "pr_opened"),
    ];
    for (forge, name) in cases {
        let original = body(forge, name);
        let headers = pr_headers(forge, "pull_request", "e1", &original);
        assert!(matches!(
            read(forge, &headers, &original),
            Ok(Inbound::Event(_))
        ));
        // Another HEAD put in after signing.
        let text = String::from_utf8(original.clone()).unwrap();
        let sha = if forge == ForgeKind::Github {
            GITHUB_OPENED
        } else {
            GITEA_OPENED
        };
        let tampered = text.replacen(sha, &"0".repeat(40), 1).into_bytes();
        assert_ne!(tampered, original);
        assert_eq!(
            read(forge, &headers, &tampered),
            Err(InboundError::Unauthorized),
            "{forge}"
        );
        // The same JSON, re-serialized: one byte of white space is enough.
        let mut spaced = original.clone();
        spaced.push(b'\n');
        assert_eq!(
            read(forge, &headers, &spaced),
            Err(InboundError::Unauthorized),
            "{forge}"
        );
    }
}

/// `headers` with `name` set to `value` (or removed with `None`).
fn set(headers: &Headers, name: &str, value: Option<&str>) -> Headers {
    let mut out: Headers = headers.iter().filter(|(n, _)| n != name).cloned().collect();
    if let Some(value) = value {
        out.push((name.to_owned(), value.to_owned()));
    }
    out
}

#[test]
fn a_missing_empty_or_wrong_signature_is_refused() {
    let gitea_body = body(ForgeKind::Gitea, "pr_opened");
    let gitea = pr_headers(ForgeKind::Gitea, "pull_request", "f1", &gitea_body);
    let good = lookup(&gitea)("x-gitea-signature").unwrap();
    for bad in [
        set(&gitea, "x-gitea-signature", Some("")),
        set(&gitea, "x-gitea-signature", None),
        set(&gitea, "x-gitea-signature", Some(&good[..63])),
        set(&gitea, "x-gitea-signature", Some(&format!("sha256={good}"))),
        set(
            &gitea,
            "x-gitea-signature",
            Some(&hmac_hex("another-secret-0123456", &gitea_body)),
        ),
    ] {
        assert_eq!(
            read(ForgeKind::Gitea, &bad, &gitea_body),
            Err(InboundError::Unauthorized),
            "{bad:?}"
        );
    }
    // A Gitea link does not read the GitHub-style signature Gitea also sends.
    let only_hub = set(&gitea, "x-gitea-signature", None);
    assert!(lookup(&only_hub)("x-hub-signature-256").is_some());
    assert_eq!(
        read(ForgeKind::Gitea, &only_hub, &gitea_body),
        Err(InboundError::Unauthorized)
    );
    // Hex in upper case is the same signature.
    let upper = set(&gitea, "x-gitea-signature", Some(&good.to_uppercase()));
    assert!(matches!(
        read(ForgeKind::Gitea, &upper, &gitea_body),
        Ok(Inbound::Event(_))
    ));

    let github_body = body(ForgeKind::Github, "pr_opened");
    let github = pr_headers(ForgeKind::Github, "", "f2", &github_body);
    let hub = lookup(&github)("x-hub-signature-256").unwrap();
    let bare = hub.trim_start_matches("sha256=").to_owned();
    for bad in [
        set(&github, "x-hub-signature-256", Some("")),
        set(&github, "x-hub-signature-256", Some("sha256=")),
        set(&github, "x-hub-signature-256", None),
        // Without its `sha256=` prefix.
        set(&github, "x-hub-signature-256", Some(&bare)),
        set(
            &github,
            "x-hub-signature-256",
            Some(&format!("sha1={bare}")),
        ),
    ] {
        assert_eq!(
            read(ForgeKind::Github, &bad, &github_body),
            Err(InboundError::Unauthorized),
            "{bad:?}"
        );
    }
}

#[test]
fn forgejo_signs_with_its_own_header_or_gitea_s() {
    let raw = body(ForgeKind::Forgejo, "pr_opened");
    let both = pr_headers(ForgeKind::Forgejo, "pull_request", "g1", &raw);
    let only_forgejo = set(&both, "x-gitea-signature", None);
    let only_gitea = set(&both, "x-forgejo-signature", None);
    for link_forge in GITEA_FORGES {
        for headers in [&both, &only_forgejo, &only_gitea] {
            assert!(
                matches!(read(link_forge, headers, &raw), Ok(Inbound::Event(_))),
                "a {link_forge} link"
            );
        }
    }
    let empty = set(&both, "x-forgejo-signature", Some(""));
    assert_eq!(
        read(ForgeKind::Forgejo, &empty, &raw),
        Err(InboundError::Unauthorized)
    );
    let neither = set(&only_gitea, "x-gitea-signature", None);
    assert_eq!(
        read(ForgeKind::Forgejo, &neither, &raw),
        Err(InboundError::Unauthorized)
    );
}

#[test]
fn a_delivery_of_another_forge_is_refused_even_when_signed() {
    let gitea_body = body(ForgeKind::Gitea, "pr_opened");
    let gitea = pr_headers(ForgeKind::Gitea, "pull_request", "h1", &gitea_body);
    // Gitea also sends `X-GitHub-Event` and `X-Hub-Signature-256`, both right: still Gitea's delivery.
    assert_eq!(
        read(ForgeKind::Github, &gitea, &gitea_body),
        Err(InboundError::Unauthorized)
    );
    let github_body = body(ForgeKind::Github, "pr_opened");
    let github = pr_headers(ForgeKind::Github, "", "h2", &github_body);
    for forge in GITEA_FORGES {
        assert_eq!(
            read(forge, &github, &github_body),
            Err(InboundError::Unauthorized)
        );
    }
    assert_eq!(
        read(ForgeKind::Gitlab, &github, &github_body),
        Err(InboundError::Unauthorized)
    );
}

#[test]
fn a_gitea_redelivery_shares_its_key_and_github_s_is_its_delivery_id() {
    for forge in GITEA_FORGES {
        let raw = body(forge, "pr_synchronized");
        let key = |id: &str| match read(
            forge,
            &pr_headers(forge, "pull_request_sync", id, &raw),
            &raw,
        ) {
            Ok(Inbound::Event(event)) => event.delivery_key,
            other => panic!("{other:?}"),
        };
        let first = key("6f0c8a4e-1d2b-4c3a-8e9f-0a1b2c3d4e5f");
        let again = key("9b7d5c3a-2e4f-4a6b-8c0d-1e2f3a4b5c6d");
        assert!(first.as_deref().is_some_and(|k| k.starts_with("sha256:")));
        assert_eq!(first, again, "{forge}: a redelivery has a new id");
        // Another snapshot is another key.
        let other = body(forge, "pr_opened");
        let Ok(Inbound::Event(event)) = read(
            forge,
            &pr_headers(forge, "pull_request", "x", &other),
            &other,
        ) else {
            panic!()
        };
        assert_ne!(event.delivery_key, first);
    }
    let raw = body(ForgeKind::Github, "pr_synchronize");
    let key = |id: &str| match read(
        ForgeKind::Github,
        &pr_headers(ForgeKind::Github, "", id, &raw),
        &raw,
    ) {
        Ok(Inbound::Event(event)) => event.delivery_key,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        key("72d3162e-cc78-11e3-81ab-4c9367dc0958").as_deref(),
        Some("github:72d3162e-cc78-11e3-81ab-4c9367dc0958")
    );
    assert_ne!(key("a"), key("b"), "a GitHub delivery id is the key");
}

#[test]
fn a_pull_request_that_cannot_be_applied_is_unprocessable() {
    let mutate = |forge: ForgeKind, pointer: &str, value: Value| {
        let mut payload: Value = serde_json::from_slice(&body(forge, "pr_opened")).unwrap();
        *payload.pointer_mut(pointer).unwrap() = value;
        let raw = serde_json::to_vec(&payload).unwrap();
        let headers = pr_headers(forge, "pull_request", "u1", &raw);
        read(forge, &headers, &raw)
    };
    for forge in [ForgeKind::Gitea, ForgeKind::Github] {
        for (pointer, value) in [
            ("/pull_request/head/sha", json!("not-a-sha")),
            ("/pull_request/head/sha", Value::Null),
            ("/pull_request/state", json!("draft")),
            ("/pull_request/updated_at", json!("yesterday")),
            ("/pull_request/number", json!(0)),
            ("/pull_request", json!("#7")),
        ] {
            assert!(
                matches!(
                    mutate(forge, pointer, value.clone()),
                    Err(InboundError::Unprocessable(_))
                ),
                "{forge} {pointer} = {value}"
            );
        }
    }
    let raw = b"{\"action\": \"opened\"".to_vec();
    let headers = pr_headers(ForgeKind::Gitea, "pull_request", "u2", &raw);
    assert!(matches!(
        read(ForgeKind::Gitea, &headers, &raw),
        Err(InboundError::Unprocessable(_))
    ));
}
