//! Reading a forge's webhook delivery: which forge sent it (its header family), whether it proves it knows
//! the link's secret (over the raw body bytes, in constant time), its key for recognizing a replay, and its
//! payload in the core's words (docs/forges.md §2).
//!
//! Only what is specific to a forge's wire format lives here; what a delivery does is the core's
//! ([`status_checks_core::forges`]).

use crate::gitlab;
use crate::pull_requests;
use sha2::{Digest, Sha256};
use status_checks_core::forges::{ForgeEvent, ForgeKind, ForgeLink};
use status_checks_notify::signature::sign;

/// A delivery read: an event to apply, or one the bridge does not act on (answered 200 `ignored`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inbound {
    /// Apply it.
    Event(Box<ForgeEvent>),
    /// Not an event the bridge handles (a ping, a push, an approval, …).
    Ignored,
}

/// Why a delivery is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InboundError {
    /// 401: no forge header family, another forge than the link's, or a missing or wrong token or
    /// signature. Nothing is recorded.
    #[error("the delivery did not authenticate")]
    Unauthorized,
    /// 422: an event the bridge handles, whose payload cannot be applied; the reason says why.
    #[error("{0}")]
    Unprocessable(String),
}

/// The forge a delivery's headers show, the most specific first: `X-Forgejo-Event`, `X-Gitea-Event`,
/// `X-GitHub-Event`, `X-Gitlab-Event` (Gitea and Forgejo also send GitHub-style headers).
pub fn family(header: &dyn Fn(&str) -> Option<String>) -> Option<ForgeKind> {
    [
        ("x-forgejo-event", ForgeKind::Forgejo),
        ("x-gitea-event", ForgeKind::Gitea),
        ("x-github-event", ForgeKind::Github),
        ("x-gitlab-event", ForgeKind::Gitlab),
    ]
    .into_iter()
    .find(|(name, _)| header(name).is_some())
    .map(|(_, forge)| forge)
}

/// Authenticates and reads a delivery to `link`'s webhook. `header` looks a header up by its lowercase
/// name; `body` is the raw body, exactly as received.
pub fn read_delivery(
    link: &ForgeLink,
    header: &dyn Fn(&str) -> Option<String>,
    body: &[u8],
) -> Result<Inbound, InboundError> {
    let family = family(header).ok_or(InboundError::Unauthorized)?;
    if !link.forge.accepts_deliveries_of(family) {
        return Err(InboundError::Unauthorized);
    }
    let secret = link.webhook_secret.expose();
    let authentic = match family {
        ForgeKind::Gitlab => header("x-gitlab-token")
            .is_some_and(|token| constant_time_eq(token.as_bytes(), secret.as_bytes())),
        ForgeKind::Forgejo => ["x-forgejo-signature", "x-gitea-signature"]
            .iter()
            .find_map(|name| header(name))
            .is_some_and(|signature| signed(secret, body, &signature)),
        ForgeKind::Gitea => {
            header("x-gitea-signature").is_some_and(|signature| signed(secret, body, &signature))
        }
        ForgeKind::Github => header("x-hub-signature-256").is_some_and(|signature| {
            signature
                .strip_prefix("sha256=")
                .is_some_and(|hex| signed(secret, body, hex))
        }),
    };
    if !authentic {
        return Err(InboundError::Unauthorized);
    }
    match family {
        ForgeKind::Gitlab => gitlab::hooks::read(header, body),
        ForgeKind::Gitea | ForgeKind::Forgejo | ForgeKind::Github => {
            let event = match family {
                ForgeKind::Forgejo => header("x-forgejo-event").or_else(|| header("x-gitea-event")),
                ForgeKind::Gitea => header("x-gitea-event"),
                _ => header("x-github-event"),
            };
            pull_requests::read(family, event.as_deref(), header, body)
        }
    }
}

/// The key of a delivery that a replay shares: GitLab `Idempotency-Key` (else `X-Gitlab-Event-UUID`),
/// GitHub `X-GitHub-Delivery`, Gitea and Forgejo the body's SHA-256 (their redeliveries carry a new id).
pub fn delivery_key(
    family: ForgeKind,
    header: &dyn Fn(&str) -> Option<String>,
    body: &[u8],
) -> Option<String> {
    match family {
        ForgeKind::Gitlab => header("idempotency-key")
            .or_else(|| header("x-gitlab-event-uuid"))
            .map(|key| format!("gitlab:{key}")),
        ForgeKind::Github => header("x-github-delivery").map(|key| format!("github:{key}")),
        ForgeKind::Gitea | ForgeKind::Forgejo => {
            let digest = Sha256::digest(body);
            Some(format!("sha256:{}", hex(&digest)))
        }
    }
}

/// Whether `signature` (lowercase or uppercase hex) is the HMAC-SHA256 of `body` keyed with `secret` — the
/// signature notifications carry too ([`sign`]) — compared in constant time.
fn signed(secret: &str, body: &[u8], signature: &str) -> bool {
    let given = signature.trim().to_ascii_lowercase();
    !given.is_empty() && constant_time_eq(sign(secret, body).as_bytes(), given.as_bytes())
}

/// Equality of two byte strings in time that depends only on their lengths' digests: both are hashed
/// first, so neither a prefix nor a length leaks through timing.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let (a, b) = (Sha256::digest(a), Sha256::digest(b));
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use hmac::{Hmac, KeyInit, Mac};
    use status_checks_core::forges::ForgeSecret;
    use status_checks_core::{ProjectId, Timestamp, UserId};

    const SECRET: &str = "a-webhook-secret-of-some-length";

    fn link(forge: ForgeKind) -> ForgeLink {
        ForgeLink {
            project_id: ProjectId(1),
            forge,
            api_url: "https://forge.example/api".into(),
            repository: "group/project".into(),
            token: ForgeSecret::from_stored("token".into()),
            webhook_secret: ForgeSecret::from_stored(SECRET.into()),
            status_name: "status-checks".into(),
            per_check_statuses: true,
            author_id: UserId(1),
            last_event_at: None,
            created_at: Timestamp::default(),
            updated_at: Timestamp::default(),
        }
    }

    fn headers(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        }
    }

    fn hmac_hex(body: &[u8]) -> String {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap_or_else(|_| panic!("key"));
        mac.update(body);
        hex(&mac.finalize().into_bytes())
    }

    #[test]
    fn the_most_specific_family_wins() {
        let h = headers(&[
            ("x-github-event", "pull_request"),
            ("x-gitea-event", "pull_request"),
        ]);
        assert_eq!(family(&h), Some(ForgeKind::Gitea));
        let h = headers(&[
            ("x-github-event", "pull_request"),
            ("x-gitea-event", "pull_request"),
            ("x-forgejo-event", "pull_request"),
        ]);
        assert_eq!(family(&h), Some(ForgeKind::Forgejo));
        assert_eq!(family(&headers(&[])), None);
    }

    #[test]
    fn a_gitlab_token_must_equal_the_secret() {
        let body = br#"{"object_kind":"push"}"#;
        let ok = headers(&[("x-gitlab-event", "Push Hook"), ("x-gitlab-token", SECRET)]);
        assert_eq!(
            read_delivery(&link(ForgeKind::Gitlab), &ok, body),
            Ok(Inbound::Ignored)
        );
        for bad in [
            headers(&[("x-gitlab-event", "Push Hook")]),
            headers(&[("x-gitlab-event", "Push Hook"), ("x-gitlab-token", "")]),
            headers(&[
                ("x-gitlab-event", "Push Hook"),
                ("x-gitlab-token", &SECRET[1..]),
            ]),
            headers(&[("x-gitlab-token", SECRET)]),
        ] {
            assert_eq!(
                read_delivery(&link(ForgeKind::Gitlab), &bad, body),
                Err(InboundError::Unauthorized)
            );
        }
        // A GitLab delivery to a GitHub link, even with the right secret.
        assert_eq!(
            read_delivery(&link(ForgeKind::Github), &ok, body),
            Err(InboundError::Unauthorized)
        );
    }

    #[test]
    fn signatures_are_checked_over_the_raw_bytes() {
        let body = br#"{"action":"opened"}"#;
        let good = hmac_hex(body);
        let github = headers(&[
            ("x-github-event", "ping"),
            ("x-hub-signature-256", &format!("sha256={good}")),
        ]);
        assert_eq!(
            read_delivery(&link(ForgeKind::Github), &github, body),
            Ok(Inbound::Ignored),
            "an authenticated ping is answered 200"
        );
        // One byte more (a re-serialized body) fails.
        assert_eq!(
            read_delivery(
                &link(ForgeKind::Github),
                &github,
                br#"{"action": "opened"}"#
            ),
            Err(InboundError::Unauthorized)
        );
        let forgejo = headers(&[
            ("x-forgejo-event", "pull_request"),
            ("x-gitea-signature", &good),
        ]);
        assert!(!matches!(
            read_delivery(&link(ForgeKind::Gitea), &forgejo, body),
            Err(InboundError::Unauthorized)
        ));
        let empty = headers(&[("x-gitea-event", "pull_request"), ("x-gitea-signature", "")]);
        assert_eq!(
            read_delivery(&link(ForgeKind::Gitea), &empty, body),
            Err(InboundError::Unauthorized)
        );
    }

    #[test]
    fn replay_keys() {
        let h = headers(&[("idempotency-key", "k1"), ("x-gitlab-event-uuid", "u1")]);
        assert_eq!(
            delivery_key(ForgeKind::Gitlab, &h, b""),
            Some("gitlab:k1".into())
        );
        let h = headers(&[("x-gitlab-event-uuid", "u1")]);
        assert_eq!(
            delivery_key(ForgeKind::Gitlab, &h, b""),
            Some("gitlab:u1".into())
        );
        let a = delivery_key(
            ForgeKind::Gitea,
            &headers(&[("x-gitea-delivery", "1")]),
            b"x",
        );
        let b = delivery_key(
            ForgeKind::Gitea,
            &headers(&[("x-gitea-delivery", "2")]),
            b"x",
        );
        assert_eq!(a, b, "a Gitea redelivery has a new id but the same body");
    }
}
