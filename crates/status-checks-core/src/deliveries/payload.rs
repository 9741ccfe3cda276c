//! The payload of a notification: GitLab's merge-request hook, rendered from a [`DeliveryDraft`] against the
//! merge request as stored (docs/notifications.md).

use crate::Timestamp;
use crate::deliveries::{HookAction, NewDelivery};
use crate::ids::{CommitSha, ProjectId, StatusCheckId, UserId};
use crate::links;
use crate::merge_requests::{DetailedMergeStatus, MergeRequest};
use chrono::SecondsFormat;
use serde_json::{Map, Value, json};

/// What a notification is about: the hook action, the payload's `changes` and `oldrev`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// `open`, `update`, …; `None` for a retry.
    pub action: Option<HookAction>,
    /// The payload's `changes` (`{field: {previous, current}}`).
    pub changes: Map<String, Value>,
    /// The previous HEAD, for a push.
    pub oldrev: Option<CommitSha>,
}

impl Event {
    /// An event with no `changes` nor `oldrev`.
    pub fn plain(action: Option<HookAction>) -> Self {
        Event {
            action,
            changes: Map::new(),
            oldrev: None,
        }
    }
}

/// The user shown in a payload: who caused the event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookUser {
    /// Their id.
    pub id: UserId,
    /// Their display name.
    pub name: String,
    /// Their username.
    pub username: String,
}

impl HookUser {
    /// The payload's view of the actor who caused an event through the API.
    pub fn of(actor: &crate::policy::Actor) -> Self {
        HookUser {
            id: actor.user_id,
            name: actor.name.clone(),
            username: actor.username.clone(),
        }
    }
}

/// The project shown in a payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookProject {
    /// Its id.
    pub id: ProjectId,
    /// Its name.
    pub name: String,
    /// Its full path.
    pub path_with_namespace: String,
}

impl HookProject {
    /// The payload's view of `project`.
    pub fn of(project: &crate::projects::Project) -> Self {
        HookProject {
            id: project.id,
            name: project.name.clone(),
            path_with_namespace: project.path_with_namespace(),
        }
    }
}

/// A notification to record, before the merge request it is about is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryDraft {
    /// The check to notify.
    pub external_status_check_id: StatusCheckId,
    /// Its name, for `external_approval_rule`.
    pub check_name: String,
    /// Its full URL (the destination, and `external_approval_rule.external_url`).
    pub check_url: String,
    /// The project.
    pub project: HookProject,
    /// Who caused the event.
    pub user: HookUser,
    /// `open`, `update`, …; `None` for a retry.
    pub action: Option<HookAction>,
    /// `changes` of the payload (an object, possibly empty).
    pub changes: Map<String, Value>,
    /// The previous HEAD, for a push.
    pub oldrev: Option<CommitSha>,
    /// The merge request's `detailed_merge_status` after the change.
    pub detailed_merge_status: DetailedMergeStatus,
    /// Base of `web_url`s.
    pub base_url: String,
    /// Stable across every attempt of this delivery.
    pub idempotency_key: String,
    /// When the event happened.
    pub created_at: Timestamp,
}

fn rfc3339(at: Timestamp) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

impl DeliveryDraft {
    /// Renders the GitLab merge-request hook payload for `mr` (the merge request as stored) and the
    /// outbox row that carries it.
    pub fn render(&self, mr: &MergeRequest) -> NewDelivery {
        let project_url = links::project_web_url(&self.base_url, &self.project.path_with_namespace);
        let mut attributes = json!({
            "id": mr.id,
            "iid": mr.iid,
            "title": mr.title,
            "description": mr.description,
            "state": mr.state.as_str(),
            "source_branch": mr.source_branch,
            "target_branch": mr.target_branch,
            "source_project_id": mr.project_id,
            "target_project_id": mr.project_id,
            "author_id": mr.author_id,
            "last_commit": { "id": mr.sha.as_str() },
            "url": links::merge_request_web_url(&self.base_url, &self.project.path_with_namespace, mr.iid),
            "detailed_merge_status": self.detailed_merge_status.as_str(),
            "merge_status": self.detailed_merge_status.merge_status(),
            "created_at": rfc3339(mr.created_at),
            "updated_at": rfc3339(mr.updated_at),
        });
        if let Value::Object(fields) = &mut attributes {
            if let Some(action) = self.action {
                fields.insert("action".into(), json!(action.as_str()));
            }
            if let Some(oldrev) = &self.oldrev {
                fields.insert("oldrev".into(), json!(oldrev.as_str()));
            }
        }
        let body = json!({
            "object_kind": "merge_request",
            "event_type": "merge_request",
            "user": {
                "id": self.user.id,
                "name": self.user.name,
                "username": self.user.username,
                "avatar_url": Value::Null,
            },
            "project": {
                "id": self.project.id,
                "name": self.project.name,
                "path_with_namespace": self.project.path_with_namespace,
                "web_url": project_url,
            },
            "object_attributes": attributes,
            "labels": [],
            "changes": self.changes,
            "external_approval_rule": {
                "id": self.external_status_check_id,
                "name": self.check_name,
                "external_url": self.check_url,
            },
        });
        NewDelivery {
            project_id: self.project.id,
            external_status_check_id: self.external_status_check_id,
            merge_request_id: mr.id,
            merge_request_iid: mr.iid,
            action: self.action,
            idempotency_key: self.idempotency_key.clone(),
            body: body.to_string(),
            created_at: self.created_at,
        }
    }
}

/// `changes.<field> = {"previous", "current"}` of a payload.
pub fn change(previous: &str, current: &str) -> Value {
    json!({ "previous": previous, "current": current })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{MergeRequestId, MergeRequestIid};
    use crate::merge_requests::MergeRequestState;
    use proptest::prelude::*;

    fn mr() -> MergeRequest {
        let at = chrono::DateTime::from_timestamp(1_600_000_000, 787_000_000).unwrap_or_default();
        MergeRequest {
            id: MergeRequestId(11),
            iid: MergeRequestIid(3),
            project_id: ProjectId(5),
            title: "Fix it".into(),
            description: String::new(),
            source_branch: "fix".into(),
            target_branch: "main".into(),
            sha: CommitSha::parse(&"c".repeat(40)).unwrap_or_else(|_| panic!("sha")),
            head_recorded_at: at,
            state: MergeRequestState::Opened,
            author_id: UserId(1),
            created_at: at,
            updated_at: at,
            merged_at: None,
            closed_at: None,
        }
    }

    fn draft(action: Option<HookAction>) -> DeliveryDraft {
        let mut changes = Map::new();
        changes.insert("title".into(), change("old", "Fix it"));
        DeliveryDraft {
            external_status_check_id: StatusCheckId(9),
            check_name: "compliance".into(),
            check_url: "https://ci.example.com/hook?token=x".into(),
            project: HookProject {
                id: ProjectId(5),
                name: "Proj".into(),
                path_with_namespace: "grp/proj".into(),
            },
            user: HookUser {
                id: UserId(1),
                name: "Root".into(),
                username: "root".into(),
            },
            action,
            changes,
            oldrev: None,
            detailed_merge_status: DetailedMergeStatus::Mergeable,
            base_url: "http://sc.example".into(),
            idempotency_key: "key-1".into(),
            created_at: Timestamp::default(),
        }
    }

    #[test]
    fn payload_has_gitlabs_shape() {
        let delivery = draft(Some(HookAction::Update)).render(&mr());
        let body: Value = serde_json::from_str(&delivery.body).unwrap_or_default();
        assert_eq!(body["object_kind"], "merge_request");
        assert_eq!(body["event_type"], "merge_request");
        assert_eq!(body["user"]["username"], "root");
        assert_eq!(body["project"]["web_url"], "http://sc.example/grp/proj");
        let attrs = &body["object_attributes"];
        assert_eq!(attrs["action"], "update");
        assert_eq!(attrs["iid"], 3);
        assert_eq!(attrs["last_commit"]["id"], "c".repeat(40));
        assert_eq!(
            attrs["url"],
            "http://sc.example/grp/proj/-/merge_requests/3"
        );
        assert_eq!(attrs["detailed_merge_status"], "mergeable");
        assert_eq!(attrs["created_at"], "2020-09-13T12:26:40.787Z");
        assert_eq!(body["changes"]["title"]["previous"], "old");
        assert_eq!(body["external_approval_rule"]["id"], 9);
        assert_eq!(
            body["external_approval_rule"]["external_url"],
            "https://ci.example.com/hook?token=x"
        );
        assert_eq!(delivery.merge_request_iid, MergeRequestIid(3));
        assert_eq!(delivery.idempotency_key, "key-1");
    }

    #[test]
    fn a_retry_carries_no_action() {
        let delivery = draft(None).render(&mr());
        let body: Value = serde_json::from_str(&delivery.body).unwrap_or_default();
        assert!(body["object_attributes"].get("action").is_none());
        assert_eq!(delivery.action, None);
    }

    proptest! {
        #[test]
        fn body_is_valid_json_for_any_title(title in "\\PC{0,50}") {
            let mut m = mr();
            m.title = title.clone();
            let body: Value = serde_json::from_str(&draft(Some(HookAction::Open)).render(&m).body)
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(body["object_attributes"]["title"].as_str(), Some(title.as_str()));
        }
    }
}
