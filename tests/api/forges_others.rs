//! The forge bridge through the real binary for Gitea, Forgejo and GitHub, against a fake forge (a real HTTP
//! server, [`FakeForge`]): their signed `pull_request` deliveries (`tests/fixtures/gitea/`, used by Forgejo
//! too with its own headers, and `tests/fixtures/github/`) mirrored as merge requests, and what the checks
//! say posted as commit statuses on the base repository — `pending`, `success`, `failure`, never GitLab's
//! `failed` — retried while the forge is down, dead on a refused token, and failed by the pending timeout
//! with no other event.
//!
//! This module is their support: the fixtures' story per forge, deliveries signed as each forge signs them,
//! a service linked to a fake forge, and [`per_forge!`], which runs one test body once per forge where the
//! three behave alike. The tests: `forges_others_statuses` (what the forge hears), `forges_others_webhooks`
//! (signatures, replays), `forges_others_sync` (a new link's pages) and `forges_others_github` (GitHub's own
//! rules: rate limits, ping, a deleted fork).

use crate::forge_support::{
    AGGREGATE, WAIT, add_check, all_delivered, merge_request, merge_requests, posts, respond,
    settled, start_linked,
};
use reqwest::Method;
use serde_json::{Value, json};
use status_checks_tests::fake_forge::{FakeForge, Flavour};
use status_checks_tests::fake_server::Fake;
use status_checks_tests::hmac::hmac_sha256_hex;
use status_checks_tests::{Answer, Receiver, Service};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// The link's webhook secret.
pub(crate) const SECRET: &str = "e2e-pr-webhook-secret-0123456789";
/// The names of the projects linked here: `pr-bridged-<n>`.
pub(crate) const PROJECT_PREFIX: &str = "pr-bridged";

/// One test body per forge: `per_forge!(name, …)` makes `name::gitea`, `name::forgejo` and `name::github`,
/// each calling `name(Forge::…)`.
macro_rules! per_forge {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[test]
                fn gitea() {
                    super::$name(super::Forge::Gitea)
                }
                #[test]
                fn forgejo() {
                    super::$name(super::Forge::Forgejo)
                }
                #[test]
                fn github() {
                    super::$name(super::Forge::Github)
                }
            }
        )*
    };
}
pub(crate) use per_forge;

/// The forge a test speaks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Forge {
    Gitea,
    Forgejo,
    Github,
}

/// What the fixtures of a forge tell: one pull request, opened, pushed to, retitled, retargeted, closed,
/// reopened and merged.
pub(crate) struct Story {
    /// The base repository (`owner/repo`) and its id.
    pub(crate) repository: &'static str,
    pub(crate) repository_id: i64,
    /// The pull request's number, branch and page.
    pub(crate) number: i64,
    pub(crate) branch: &'static str,
    pub(crate) url: &'static str,
    /// Its HEAD when opened, and after the push.
    pub(crate) opened: &'static str,
    pub(crate) pushed: &'static str,
    /// Its title when opened, and after the edit.
    pub(crate) title: &'static str,
    pub(crate) retitled: &'static str,
    /// Who opened it.
    pub(crate) author: &'static str,
    /// The token the fake forge accepts.
    pub(crate) token: &'static str,
}

const GITEA: Story = Story {
    repository: "octo-team/status-demo",
    repository_id: 42,
    number: 7,
    branch: "fix-retry-429",
    url: "https://gitea.example.org/octo-team/status-demo/pulls/7",
    opened: "1f7a3c9e2b4d6f8a0c1e3b5d7f9a2c4e6b8d0f13",
    pushed: "8e2d4c6a0b1f3e5d7c9a2b4f6e8d0c1a3b5f7e92",
    title: "Retry the forge client on 429",
    retitled: "Retry status posts when the forge rate-limits",
    author: "alice",
    token: "5f0c3a8e1b7d4f2a9c6e0b3d8f1a4c7e2b5d9f06",
};

const GITHUB: Story = Story {
    repository: "octo-org/hello-world",
    repository_id: 1296269,
    number: 1347,
    branch: "new-topic",
    url: "https://github.com/octo-org/hello-world/pull/1347",
    opened: "6dcb09b5b57875f334f61aebed695e2e4193db5e",
    pushed: "c2a5f7d94be3e1a0b8d6f4c2e0a9b7d5f3e1c9a7",
    title: "Amazing new feature",
    retitled: "Amazing new feature, rate-limit aware",
    author: "octocat",
    token: "ghp_e2eForgeToken7Hq2xZpL0123456789abc",
};

/// A step of the story.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    Opened,
    Pushed,
    Retitled,
    Retargeted,
    Closed,
    Reopened,
    Merged,
    /// An action the bridge ignores (Gitea `label_updated`, GitHub `review_requested`).
    Ignored,
}

impl Forge {
    pub(crate) fn flavour(self) -> Flavour {
        match self {
            Forge::Gitea => Flavour::Gitea,
            Forge::Forgejo => Flavour::Forgejo,
            Forge::Github => Flavour::Github,
        }
    }

    pub(crate) fn story(self) -> &'static Story {
        match self {
            Forge::Github => &GITHUB,
            Forge::Gitea | Forge::Forgejo => &GITEA,
        }
    }

    /// The fixture of a step.
    pub(crate) fn fixture(self, step: Step) -> Value {
        let name = match (self, step) {
            (_, Step::Opened) => "pr_opened",
            (Forge::Github, Step::Pushed) => "pr_synchronize",
            (_, Step::Pushed) => "pr_synchronized",
            (_, Step::Retitled) => "pr_edited_title",
            (_, Step::Retargeted) => "pr_edited_base",
            (_, Step::Closed) => "pr_closed",
            (_, Step::Reopened) => "pr_reopened",
            (_, Step::Merged) => "pr_merged",
            (Forge::Github, Step::Ignored) => "pr_review_requested",
            (_, Step::Ignored) => "pr_label_updated",
        };
        self.named(name)
    }

    /// A fixture by its file name.
    pub(crate) fn named(self, name: &str) -> Value {
        let folder = match self {
            Forge::Github => "github",
            Forge::Gitea | Forge::Forgejo => "gitea",
        };
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures")
            .join(folder)
            .join(format!("{name}.json"));
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
    }

    /// The bytes the forge sends for `payload`: Gitea and Forgejo indent their JSON, GitHub does not.
    pub(crate) fn bytes(self, payload: &Value) -> Vec<u8> {
        match self {
            Forge::Github => serde_json::to_vec(payload).unwrap(),
            Forge::Gitea | Forge::Forgejo => serde_json::to_vec_pretty(payload).unwrap(),
        }
    }

    /// Gitea's `X-Gitea-Event-Type` of a step (`pull_request_sync` for a push).
    fn event_type(self, step: Step) -> &'static str {
        match step {
            Step::Pushed => "pull_request_sync",
            Step::Ignored => "pull_request_label",
            _ => "pull_request",
        }
    }
}

/// A fresh delivery id, shaped like the forges' UUIDs.
pub(crate) fn delivery_id() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(1);
    format!(
        "3f2b8c1e-{:04x}-4d5e-9a7b-{:012x}",
        std::process::id() & 0xffff,
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// The signature header a delivery carries.
#[derive(Debug, Clone)]
pub(crate) enum Signature {
    /// The HMAC-SHA256 of the body with this secret, as the forge sends it.
    Of(&'static str),
    /// This value, as is.
    Raw(String),
    /// None.
    Missing,
}

/// The headers `forge` sends for an `event` delivery (`X-Gitea-Event-Type` `event_type`) with delivery `id`
/// and `signature` over `body`. Gitea also sends the Gogs and GitHub families and `X-Hub-Signature-256`;
/// Forgejo sends its own and all of Gitea's.
pub(crate) fn headers(
    forge: Forge,
    event: &str,
    event_type: &str,
    id: &str,
    signature: &Signature,
    body: &[u8],
) -> Vec<(String, String)> {
    let hex = match signature {
        Signature::Of(secret) => Some(hmac_sha256_hex(secret.as_bytes(), body)),
        Signature::Raw(value) => Some(value.clone()),
        Signature::Missing => None,
    };
    let mut out: Vec<(&str, Option<String>)> =
        vec![("content-type", Some("application/json".into()))];
    match forge {
        Forge::Github => out.extend([
            ("user-agent", Some("GitHub-Hookshot/9e7c7c2".into())),
            ("x-github-delivery", Some(id.into())),
            ("x-github-event", Some(event.into())),
            ("x-github-hook-id", Some("530114286".into())),
            (
                "x-github-hook-installation-target-id",
                Some("1296269".into()),
            ),
            (
                "x-github-hook-installation-target-type",
                Some("repository".into()),
            ),
            (
                "x-hub-signature-256",
                hex.as_ref().map(|h| {
                    if matches!(signature, Signature::Raw(_)) {
                        h.clone()
                    } else {
                        format!("sha256={h}")
                    }
                }),
            ),
        ]),
        Forge::Gitea | Forge::Forgejo => {
            if forge == Forge::Forgejo {
                out.extend([
                    ("x-forgejo-delivery", Some(id.into())),
                    ("x-forgejo-event", Some(event.into())),
                    ("x-forgejo-event-type", Some(event_type.into())),
                    ("x-forgejo-signature", hex.clone()),
                ]);
            }
            // What Gitea signs with the GitHub-style header: always right, so a wrong `X-Gitea-Signature`
            // is refused even beside a right GitHub one.
            let hub = format!("sha256={}", hmac_sha256_hex(SECRET.as_bytes(), body));
            out.extend([
                ("user-agent", Some("Go-http-client/1.1".into())),
                ("x-gitea-delivery", Some(id.into())),
                ("x-gitea-event", Some(event.into())),
                ("x-gitea-event-type", Some(event_type.into())),
                ("x-gitea-signature", hex.clone()),
                ("x-gogs-delivery", Some(id.into())),
                ("x-gogs-event", Some(event.into())),
                ("x-gogs-event-type", Some(event_type.into())),
                ("x-gogs-signature", hex.clone()),
                ("x-github-delivery", Some(id.into())),
                ("x-github-event", Some(event.into())),
                ("x-github-event-type", Some(event_type.into())),
                ("x-hub-signature-256", Some(hub)),
            ]);
        }
    }
    out.into_iter()
        .filter_map(|(name, value)| value.map(|v| (name.to_owned(), v)))
        .collect()
}

/// The headers `forge` sends for an `event` delivery (`X-Gitea-Event-Type` `event_type`) with a fresh id,
/// signed with the link's secret.
pub(crate) fn fresh_signed_headers(
    forge: Forge,
    event: &str,
    event_type: &str,
    body: &[u8],
) -> Vec<(String, String)> {
    headers(
        forge,
        event,
        event_type,
        &delivery_id(),
        &Signature::Of(SECRET),
        body,
    )
}

/// Posts `body` with `headers` to the webhook of `p`.
pub(crate) fn post_webhook(
    service: &Service,
    p: i64,
    headers: &[(String, String)],
    body: &[u8],
) -> Answer {
    let mut request = service.request(
        Method::POST,
        &format!("/api/v4/projects/{p}/forge/webhook"),
        None,
    );
    for (name, value) in headers {
        request = request.header(name, value);
    }
    service.send(request.body(body.to_vec()))
}

/// A service with a project linked to a fake forge.
pub(crate) struct Bridge {
    pub(crate) _dir: tempfile::TempDir,
    pub(crate) service: Service,
    pub(crate) fake: FakeForge,
    pub(crate) p: i64,
    pub(crate) forge: Forge,
}

/// The fake forge of `forge`, hosting the story's repository.
pub(crate) fn fake_of(forge: Forge) -> FakeForge {
    let story = forge.story();
    FakeForge::start(
        forge.flavour(),
        story.token,
        story.repository,
        story.repository_id,
    )
}

/// The body of a `PUT …/forge` linking to `fake` as `forge` with `token`.
pub(crate) fn link_body(forge: Forge, fake: &FakeForge, token: &str) -> Value {
    json!({
        "forge": forge.flavour().name(),
        "api_url": fake.api_url(),
        "repository": forge.story().repository,
        "token": token,
        "webhook_secret": SECRET,
    })
}

/// A fake forge, the service (`--allow-local-requests` and `extra`), a project linked with `token`;
/// returns once the link's first sync reached the fake.
pub(crate) fn linked_with(forge: Forge, extra: &[&str], token: &str) -> Bridge {
    let fake = fake_of(forge);
    let linked = start_linked(
        extra,
        PROJECT_PREFIX,
        link_body(forge, &fake, token),
        || fake.requests().iter().any(|r| r.method == "GET"),
        "pull requests",
    );
    Bridge {
        _dir: linked.dir,
        service: linked.service,
        fake,
        p: linked.p,
        forge,
    }
}

pub(crate) fn linked(forge: Forge, extra: &[&str]) -> Bridge {
    linked_with(forge, extra, forge.story().token)
}

impl Bridge {
    /// Delivers `payload` as `event` with a fresh id and the right signature; answers the message.
    pub(crate) fn deliver(&self, event: &str, event_type: &str, payload: &Value) -> String {
        let body = self.forge.bytes(payload);
        let headers = fresh_signed_headers(self.forge, event, event_type, &body);
        let answer = post_webhook(&self.service, self.p, &headers, &body);
        answer.expect(200)["message"].as_str().unwrap().to_owned()
    }

    /// Delivers a `pull_request` `payload` of `step`'s kind.
    pub(crate) fn pr(&self, step: Step, payload: &Value) -> String {
        self.deliver("pull_request", self.forge.event_type(step), payload)
    }

    /// Delivers `step`'s fixture.
    pub(crate) fn step(&self, step: Step) -> String {
        self.pr(step, &self.forge.fixture(step))
    }

    /// An external status check answered by `receiver`.
    pub(crate) fn add_check(&self, name: &str, receiver: &Receiver) -> i64 {
        add_check(&self.service, self.p, name, receiver)
    }

    /// E6: the answer of check `c` for `sha` on pull request `number`.
    pub(crate) fn respond_on(&self, number: i64, c: i64, sha: &str, status: &str) {
        respond(&self.service, self.p, number, c, sha, status);
    }

    /// E6 on the story's pull request.
    pub(crate) fn respond(&self, c: i64, sha: &str, status: &str) {
        self.respond_on(self.forge.story().number, c, sha, status);
    }

    /// `GET …/forge/deliveries`: every status post, newest first.
    pub(crate) fn posts(&self) -> Vec<Value> {
        posts(&self.service, self.p)
    }

    /// Whether every status post is delivered.
    pub(crate) fn all_delivered(&self) -> bool {
        all_delivered(&self.service, self.p)
    }

    /// Whether every status post is done: delivered, or untried and not due for at least 30 s (the pending
    /// timeout's re-post of a context posted `pending`). None failed, none dead.
    pub(crate) fn settled(&self) -> bool {
        settled(&self.service, self.p)
    }

    pub(crate) fn merge_request(&self, number: i64) -> Value {
        merge_request(&self.service, self.p, number)
    }

    pub(crate) fn merge_requests(&self) -> Value {
        merge_requests(&self.service, self.p)
    }

    /// Waits until the fake shows `state` for `context` on `sha`.
    #[track_caller]
    pub(crate) fn expect_state(&self, sha: &str, context: &str, state: &str) {
        self.expect_state_within(sha, context, state, WAIT);
    }

    #[track_caller]
    pub(crate) fn expect_state_within(
        &self,
        sha: &str,
        context: &str,
        state: &str,
        wait: Duration,
    ) {
        let shown = self.fake.wait_until(
            |f| f.latest_state(sha, context).as_deref() == Some(state),
            wait,
        );
        assert!(
            shown,
            "{:?}: {context} on {sha}: expected {state}, the forge shows {:?}; posts: {:#?}",
            self.forge,
            self.fake.latest_state(sha, context),
            self.fake.status_requests()
        );
    }

    /// Every status post the fake got went where and as the forge wants it: the base repository's
    /// `statuses/:sha`, the token as the flavour takes it (with GitHub's media type and API version), a state
    /// of the forge's (`pending`, `success`, `failure`), a description within GitHub's 140 characters, and
    /// the pull request's page as `target_url`.
    pub(crate) fn assert_posts_well_formed(&self, target_url: &str) {
        let story = self.forge.story();
        let prefix = match self.forge {
            Forge::Github => String::new(),
            Forge::Gitea | Forge::Forgejo => "/api/v1".to_owned(),
        };
        for request in self.fake.status_requests() {
            let sha = request.path.rsplit('/').next().unwrap().to_owned();
            assert_eq!(
                request.path,
                format!("{prefix}/repos/{}/statuses/{sha}", story.repository),
                "the base repository"
            );
            assert_eq!(
                request.header("authorization"),
                Some(self.fake.authorization().as_str())
            );
            if self.forge == Forge::Github {
                assert_eq!(
                    request.header("accept"),
                    Some("application/vnd.github+json")
                );
                assert_eq!(request.header("x-github-api-version"), Some("2022-11-28"));
            }
            assert!(
                request
                    .header("content-type")
                    .is_some_and(|t| t.starts_with("application/json")),
                "{request:?}"
            );
            let state = request.body["state"].as_str().unwrap();
            assert!(
                ["pending", "success", "failure"].contains(&state),
                "never GitLab's words nor `warning`: {state}"
            );
            let description = request.body["description"].as_str().unwrap();
            assert!(description.chars().count() <= 140, "{description}");
            assert!(
                request.body["context"]
                    .as_str()
                    .unwrap()
                    .starts_with(AGGREGATE)
            );
            assert_eq!(request.body["target_url"], target_url, "{request:?}");
        }
    }
}

#[test]
fn the_test_hmac_is_rfc_4231_s() {
    // RFC 4231, test cases 2 and 6 (a key longer than a block).
    assert_eq!(
        hmac_sha256_hex(b"Jefe", b"what do ya want for nothing?"),
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    );
    assert_eq!(
        hmac_sha256_hex(
            &[0xaa; 131],
            b"Test Using Larger Than Block-Size Key - Hash Key First"
        ),
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
    );
}
