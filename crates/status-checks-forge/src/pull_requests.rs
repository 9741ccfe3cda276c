//! Pull requests as Gitea, Forgejo and GitHub show them: their `pull_request` webhook payloads and the items of
//! their pull-request lists share one shape (number, title, body, state with `merged`, `head` and `base` with
//! `ref` and `sha`, `updated_at`, `html_url`), read here into the core's [`ForgeMergeRequest`].
//!
//! The forges differ only in which actions exist (`synchronized` on Gitea and Forgejo, `synchronize` on
//! GitHub) and in their headers; the snapshot rule makes the action a label, so one reader serves all three.

use crate::inbound::{Inbound, InboundError, delivery_key};
use serde::Deserialize;
use status_checks_core::deliveries::HookUser;
use status_checks_core::forges::{
    DeliveredRepository, ForgeEvent, ForgeEventKind, ForgeKind, ForgeMergeRequest, ignores_action,
};
use status_checks_core::{CommitSha, MergeRequestIid, MergeRequestState, Timestamp, UserId};

/// The branch end of a pull request (`head` or `base`).
#[derive(Deserialize)]
pub(crate) struct Branch {
    #[serde(rename = "ref")]
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) sha: Option<String>,
}

/// A pull request, in a payload or a list.
#[derive(Deserialize)]
pub(crate) struct PullRequest {
    pub(crate) number: i64,
    pub(crate) title: String,
    #[serde(default)]
    pub(crate) body: Option<String>,
    pub(crate) state: String,
    #[serde(default)]
    pub(crate) merged: Option<bool>,
    pub(crate) head: Branch,
    pub(crate) base: Branch,
    #[serde(default)]
    pub(crate) html_url: Option<String>,
    pub(crate) updated_at: String,
}

#[derive(Deserialize)]
struct Repository {
    #[serde(default)]
    id: Option<i64>,
    full_name: String,
}

#[derive(Deserialize)]
struct Sender {
    #[serde(default)]
    id: Option<i64>,
    #[serde(default)]
    login: Option<String>,
    #[serde(default)]
    full_name: Option<String>,
}

#[derive(Deserialize)]
struct Payload {
    pull_request: PullRequest,
    repository: Repository,
    #[serde(default)]
    sender: Option<Sender>,
}

/// Reads an authenticated delivery of `family` (Gitea, Forgejo or GitHub) whose event is `event`.
pub(crate) fn read(
    family: ForgeKind,
    event: Option<&str>,
    header: &dyn Fn(&str) -> Option<String>,
    body: &[u8],
) -> Result<Inbound, InboundError> {
    if event != Some("pull_request") {
        // A ping, a push, an issue comment…: answered 200 so that the forge keeps the hook enabled.
        return Ok(Inbound::Ignored);
    }
    // The action first: an event the bridge ignores is answered 200 whatever else its payload holds.
    #[derive(Deserialize)]
    struct Action {
        #[serde(default)]
        action: Option<String>,
    }
    let action: Option<Action> = serde_json::from_slice(body).ok();
    if action
        .and_then(|a| a.action)
        .is_some_and(|action| ignores_action(family, &action))
    {
        return Ok(Inbound::Ignored);
    }
    let payload: Payload = serde_json::from_slice(body).map_err(|e| {
        InboundError::Unprocessable(format!("The payload is not a pull request event: {e}"))
    })?;
    let web_url = payload.pull_request.html_url.clone().unwrap_or_default();
    let snapshot = snapshot(payload.pull_request)?;
    let sender = payload.sender.unwrap_or(Sender {
        id: None,
        login: None,
        full_name: None,
    });
    let username = sender.login.unwrap_or_default();
    Ok(Inbound::Event(Box::new(ForgeEvent {
        delivery_key: delivery_key(family, header, body),
        repository: DeliveredRepository {
            id: payload.repository.id.map(|id| id.to_string()),
            path: payload.repository.full_name.clone(),
        },
        sender: HookUser {
            id: UserId(sender.id.unwrap_or(0)),
            name: sender
                .full_name
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| username.clone()),
            username,
        },
        kind: ForgeEventKind::MergeRequest {
            snapshot,
            // Statuses go to the base repository on these forges: the linked one.
            source_project: payload.repository.full_name,
            web_url,
        },
    })))
}

/// A pull request in the core's words: `open` is opened; `closed` is merged when `merged` is true, else
/// closed.
pub(crate) fn snapshot(pr: PullRequest) -> Result<ForgeMergeRequest, InboundError> {
    let state = match (pr.state.as_str(), pr.merged) {
        ("open", _) => MergeRequestState::Opened,
        ("closed", Some(true)) => MergeRequestState::Merged,
        ("closed", _) => MergeRequestState::Closed,
        (other, _) => {
            return Err(InboundError::Unprocessable(format!(
                "{other:.40} is not a pull request state"
            )));
        }
    };
    let sha = pr.head.sha.ok_or_else(|| {
        InboundError::Unprocessable("The pull request has no HEAD commit (head.sha)".into())
    })?;
    let sha = CommitSha::parse(&sha).map_err(|_| {
        InboundError::Unprocessable(format!("The HEAD {sha:.80} is not a commit SHA"))
    })?;
    if pr.number < 1 {
        return Err(InboundError::Unprocessable(format!(
            "{} is not a pull request number",
            pr.number
        )));
    }
    Ok(ForgeMergeRequest {
        number: MergeRequestIid(pr.number),
        title: pr.title,
        description: pr.body.unwrap_or_default(),
        source_branch: pr.head.name,
        target_branch: pr.base.name,
        sha,
        state,
        updated_at: time(&pr.updated_at)?,
    })
}

fn time(raw: &str) -> Result<Timestamp, InboundError> {
    chrono::DateTime::parse_from_rfc3339(raw)
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|_| InboundError::Unprocessable(format!("updated_at {raw:.40} is not a time")))
}

/// The `rel="next"` target of an RFC 8288 `Link` header, if any.
pub(crate) fn next_link(header: &str) -> Option<String> {
    header.split(',').find_map(|part| {
        let mut pieces = part.split(';');
        let target = pieces.next()?.trim();
        let is_next = pieces.any(|p| {
            let p = p.trim();
            p.eq_ignore_ascii_case("rel=\"next\"") || p.eq_ignore_ascii_case("rel=next")
        });
        is_next.then(|| {
            target
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_owned()
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_page_of_a_link_header() {
        let link = "<https://api.github.com/repositories/1/pulls?state=open&page=2>; rel=\"next\", \
                    <https://api.github.com/repositories/1/pulls?state=open&page=5>; rel=\"last\"";
        assert_eq!(
            next_link(link).as_deref(),
            Some("https://api.github.com/repositories/1/pulls?state=open&page=2")
        );
        assert_eq!(next_link("<https://x/?page=1>; rel=\"prev\""), None);
        assert_eq!(next_link(""), None);
    }
}
