//! GitLab's webhook payloads (any edition and tier): `Merge Request Hook` (also as a `System Hook`) and
//! `Pipeline Hook`, read into the core's [`ForgeEvent`] (docs/forges.md §2).

use crate::inbound::{Inbound, InboundError, delivery_key};
use serde::Deserialize;
use status_checks_core::deliveries::HookUser;
use status_checks_core::forges::{
    DeliveredRepository, ForgeEvent, ForgeEventKind, ForgeKind, ForgeMergeRequest, HeadPipeline,
    ignores_action,
};
use status_checks_core::{CommitSha, MergeRequestIid, MergeRequestState, Timestamp, UserId};

#[derive(Deserialize)]
struct Project {
    id: Option<i64>,
    path_with_namespace: String,
}

#[derive(Deserialize)]
struct User {
    id: Option<i64>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    username: Option<String>,
}

#[derive(Deserialize)]
struct LastCommit {
    id: String,
}

#[derive(Deserialize)]
struct MergeRequestAttributes {
    iid: i64,
    title: String,
    #[serde(default)]
    description: Option<String>,
    source_branch: String,
    target_branch: String,
    state: String,
    #[serde(default)]
    action: Option<String>,
    #[serde(default)]
    last_commit: Option<LastCommit>,
    #[serde(default)]
    source_project_id: Option<i64>,
    #[serde(default)]
    url: Option<String>,
    updated_at: String,
}

#[derive(Deserialize)]
struct MergeRequestHook {
    object_kind: String,
    #[serde(default)]
    user: Option<User>,
    project: Project,
    object_attributes: MergeRequestAttributes,
}

#[derive(Deserialize)]
struct PipelineAttributes {
    id: i64,
    sha: String,
    #[serde(rename = "ref", default)]
    branch: Option<String>,
    #[serde(default)]
    tag: Option<bool>,
    #[serde(default)]
    source: Option<String>,
}

#[derive(Deserialize)]
struct PipelineMergeRequest {
    iid: i64,
}

#[derive(Deserialize)]
struct PipelineHook {
    #[serde(default)]
    user: Option<User>,
    project: Project,
    object_attributes: PipelineAttributes,
    #[serde(default)]
    merge_request: Option<PipelineMergeRequest>,
}

/// Reads an authenticated GitLab delivery.
pub fn read(header: &dyn Fn(&str) -> Option<String>, body: &[u8]) -> Result<Inbound, InboundError> {
    let event = header("x-gitlab-event").unwrap_or_default();
    let key = delivery_key(ForgeKind::Gitlab, header, body);
    match event.as_str() {
        "Merge Request Hook" => merge_request(body, key),
        // A system hook carries every kind of event: only merge-request ones are read.
        "System Hook" => {
            let kind: serde_json::Value = serde_json::from_slice(body).map_err(unreadable)?;
            if kind.get("object_kind").and_then(|k| k.as_str()) == Some("merge_request") {
                merge_request(body, key)
            } else {
                Ok(Inbound::Ignored)
            }
        }
        "Pipeline Hook" => pipeline(body, key),
        _ => Ok(Inbound::Ignored),
    }
}

fn unreadable(e: serde_json::Error) -> InboundError {
    InboundError::Unprocessable(format!("The payload is not a GitLab event: {e}"))
}

fn sender(user: Option<User>) -> HookUser {
    let user = user.unwrap_or(User {
        id: None,
        name: None,
        username: None,
    });
    HookUser {
        id: UserId(user.id.unwrap_or(0)),
        name: user.name.unwrap_or_default(),
        username: user.username.unwrap_or_default(),
    }
}

fn repository(project: Project) -> DeliveredRepository {
    DeliveredRepository {
        id: project.id.map(|id| id.to_string()),
        path: project.path_with_namespace,
    }
}

fn merge_request(body: &[u8], key: Option<String>) -> Result<Inbound, InboundError> {
    let hook: MergeRequestHook = serde_json::from_slice(body).map_err(unreadable)?;
    if hook.object_kind != "merge_request" {
        return Ok(Inbound::Ignored);
    }
    let attributes = hook.object_attributes;
    if attributes
        .action
        .as_deref()
        .is_some_and(|a| ignores_action(ForgeKind::Gitlab, a))
    {
        return Ok(Inbound::Ignored);
    }
    let source_project = attributes
        .source_project_id
        .or(hook.project.id)
        .map(|id| id.to_string())
        .unwrap_or_else(|| hook.project.path_with_namespace.clone());
    let web_url = attributes.url.clone().unwrap_or_default();
    let snapshot = snapshot(
        attributes.iid,
        attributes.title,
        attributes.description,
        attributes.source_branch,
        attributes.target_branch,
        &attributes.state,
        attributes.last_commit.map(|c| c.id),
        &attributes.updated_at,
    )?;
    Ok(Inbound::Event(Box::new(ForgeEvent {
        delivery_key: key,
        repository: repository(hook.project),
        sender: sender(hook.user),
        kind: ForgeEventKind::MergeRequest {
            snapshot,
            source_project,
            web_url,
        },
    })))
}

fn pipeline(body: &[u8], key: Option<String>) -> Result<Inbound, InboundError> {
    let hook: PipelineHook = serde_json::from_slice(body).map_err(unreadable)?;
    let attributes = hook.object_attributes;
    let number = hook.merge_request.map(|mr| number(mr.iid)).transpose()?;
    if number.is_none() && attributes.tag == Some(true) {
        // A tag pipeline is no merge request's.
        return Ok(Inbound::Ignored);
    }
    let sha = CommitSha::parse(&attributes.sha).map_err(|_| {
        InboundError::Unprocessable("object_attributes.sha is not a commit SHA".into())
    })?;
    Ok(Inbound::Event(Box::new(ForgeEvent {
        delivery_key: key,
        repository: repository(hook.project),
        sender: sender(hook.user),
        kind: ForgeEventKind::Pipeline {
            number,
            branch: attributes.branch.unwrap_or_default(),
            pipeline: HeadPipeline {
                id: attributes.id,
                sha,
                merge_request_event: attributes.source.as_deref() == Some("merge_request_event"),
            },
        },
    })))
}

fn number(iid: i64) -> Result<MergeRequestIid, InboundError> {
    if iid >= 1 {
        Ok(MergeRequestIid(iid))
    } else {
        Err(InboundError::Unprocessable(format!(
            "{iid} is not a merge request number"
        )))
    }
}

/// A merge request as GitLab shows it (a hook's `object_attributes`, or an item of the API's list), in
/// the core's words.
#[allow(clippy::too_many_arguments)]
pub(crate) fn snapshot(
    iid: i64,
    title: String,
    description: Option<String>,
    source_branch: String,
    target_branch: String,
    state: &str,
    sha: Option<String>,
    updated_at: &str,
) -> Result<ForgeMergeRequest, InboundError> {
    let state = match state {
        "opened" | "locked" => MergeRequestState::Opened,
        "closed" => MergeRequestState::Closed,
        "merged" => MergeRequestState::Merged,
        other => {
            return Err(InboundError::Unprocessable(format!(
                "{other} is not a merge request state"
            )));
        }
    };
    let sha = sha.ok_or_else(|| {
        InboundError::Unprocessable("The merge request has no HEAD commit (last_commit)".into())
    })?;
    let sha = CommitSha::parse(&sha).map_err(|_| {
        InboundError::Unprocessable(format!("The HEAD {sha:.80} is not a commit SHA"))
    })?;
    Ok(ForgeMergeRequest {
        number: number(iid)?,
        title,
        description: description.unwrap_or_default(),
        source_branch,
        target_branch,
        sha,
        state,
        updated_at: time(updated_at)?,
    })
}

/// GitLab's times: `2022-01-17 15:47:39 UTC` in hooks, ISO 8601 in the API.
fn time(raw: &str) -> Result<Timestamp, InboundError> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(raw) {
        return Ok(t.with_timezone(&chrono::Utc));
    }
    for format in ["%Y-%m-%d %H:%M:%S UTC", "%Y-%m-%d %H:%M:%S%.f UTC"] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(raw, format) {
            return Ok(t.and_utc());
        }
    }
    if let Ok(t) = chrono::DateTime::parse_from_str(raw, "%Y-%m-%d %H:%M:%S %z") {
        return Ok(t.with_timezone(&chrono::Utc));
    }
    Err(InboundError::Unprocessable(format!(
        "updated_at {raw:.40} is not a time"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_in_both_spellings() {
        let hook = time("2022-01-17 15:47:39 UTC").unwrap_or_else(|e| panic!("{e}"));
        let api = time("2022-01-17T15:47:39.000Z").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(hook, api);
        assert!(time("2022-01-17 15:47:39 +0100").is_ok());
        assert!(time("yesterday").is_err());
    }
}
