//! Merge requests: the stored entity, its HEAD as a status read needs it, and the inputs and changes of
//! its writes.

use crate::Timestamp;
use crate::ids::{CommitSha, MergeRequestId, MergeRequestIid, ProjectId, UserId};
use serde::{Deserialize, Serialize};

/// What a status read needs of a merge request: its HEAD, the branch it targets and when the HEAD was
/// recorded. E5 reads this instead of the whole merge request: a description can be long, and E5 is polled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeRequestHead {
    /// Global id.
    pub id: MergeRequestId,
    /// The branch merged into: the one status checks are scoped by.
    pub target_branch: String,
    /// The HEAD commit of the source branch.
    pub sha: CommitSha,
    /// When the current HEAD was recorded: the start of the pending timeout.
    pub head_recorded_at: Timestamp,
}

/// A merge request's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MergeRequestState {
    /// Open: may receive pushes, responses and be merged.
    Opened,
    /// Closed without merging; may be reopened.
    Closed,
    /// Merged; final.
    Merged,
}

impl MergeRequestState {
    /// GitLab's name of the state.
    pub fn as_str(self) -> &'static str {
        match self {
            MergeRequestState::Opened => "opened",
            MergeRequestState::Closed => "closed",
            MergeRequestState::Merged => "merged",
        }
    }

    /// The state with this name.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "opened" => Some(MergeRequestState::Opened),
            "closed" => Some(MergeRequestState::Closed),
            "merged" => Some(MergeRequestState::Merged),
            _ => None,
        }
    }
}

/// A merge request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeRequest {
    /// Global id.
    pub id: MergeRequestId,
    /// Number within the project, from 1.
    pub iid: MergeRequestIid,
    /// Its project.
    pub project_id: ProjectId,
    /// What the change is, in a line.
    pub title: String,
    /// Free text (may be empty).
    pub description: String,
    /// The branch being merged.
    pub source_branch: String,
    /// The branch merged into: the one status checks are scoped by.
    pub target_branch: String,
    /// The HEAD commit of the source branch.
    pub sha: CommitSha,
    /// When the current HEAD was recorded: the start of the pending timeout.
    pub head_recorded_at: Timestamp,
    /// Open, closed or merged.
    pub state: MergeRequestState,
    /// Who opened it.
    pub author_id: UserId,
    /// When it was opened.
    pub created_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
    /// When it was merged.
    pub merged_at: Option<Timestamp>,
    /// When it was last closed.
    pub closed_at: Option<Timestamp>,
}

impl MergeRequest {
    /// Its HEAD, as a status read needs it.
    pub fn head(&self) -> MergeRequestHead {
        MergeRequestHead {
            id: self.id,
            target_branch: self.target_branch.clone(),
            sha: self.sha.clone(),
            head_recorded_at: self.head_recorded_at,
        }
    }
}

/// A merge request to store; the store allocates `id` and the next `iid` of the project atomically.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMergeRequest {
    /// Its project.
    pub project_id: ProjectId,
    /// What the change is, in a line.
    pub title: String,
    /// Free text (may be empty).
    pub description: String,
    /// The branch being merged.
    pub source_branch: String,
    /// The branch merged into.
    pub target_branch: String,
    /// HEAD of the source branch.
    pub sha: CommitSha,
    /// Who opens it.
    pub author_id: UserId,
    /// Creation time (also when the HEAD was recorded).
    pub created_at: Timestamp,
}

/// What `POST /projects/:id/merge_requests` asks for, after parameter parsing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMergeRequestInput {
    /// Required.
    pub source_branch: String,
    /// Required.
    pub target_branch: String,
    /// Required.
    pub title: String,
    /// Required here (GitLab reads it from the repository).
    pub sha: CommitSha,
    /// Optional.
    pub description: Option<String>,
}

/// `state_event` of `PUT /merge_requests/:iid`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateEvent {
    /// Close an open merge request.
    Close,
    /// Reopen a closed one.
    Reopen,
}

impl StateEvent {
    /// The event with this name.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "close" => Some(StateEvent::Close),
            "reopen" => Some(StateEvent::Reopen),
            _ => None,
        }
    }
}

/// What `PUT /projects/:id/merge_requests/:iid` asks for, after parameter parsing.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MergeRequestUpdateInput {
    /// New title.
    pub title: Option<String>,
    /// New description.
    pub description: Option<String>,
    /// New target branch.
    pub target_branch: Option<String>,
    /// Close or reopen.
    pub state_event: Option<StateEvent>,
    /// A push to the source branch: the new HEAD.
    pub sha: Option<CommitSha>,
}

/// The fields a store changes on a merge request; `None` leaves a field alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeRequestChanges {
    /// New title.
    pub title: Option<String>,
    /// New description.
    pub description: Option<String>,
    /// New target branch.
    pub target_branch: Option<String>,
    /// New state.
    pub state: Option<MergeRequestState>,
    /// New HEAD, and when it was recorded.
    pub head: Option<(CommitSha, Timestamp)>,
    /// Set when merged.
    pub merged_at: Option<Timestamp>,
    /// Set when closed.
    pub closed_at: Option<Timestamp>,
    /// Always set: the time of the change.
    pub updated_at: Timestamp,
    /// If set, the change applies only while the merge request is in this state (else the store answers
    /// `NotFound`): a guard against concurrent transitions such as two merges.
    pub require_state: Option<MergeRequestState>,
}

impl MergeRequestChanges {
    /// No change but the time stamp.
    pub fn at(updated_at: Timestamp) -> Self {
        MergeRequestChanges {
            title: None,
            description: None,
            target_branch: None,
            state: None,
            head: None,
            merged_at: None,
            closed_at: None,
            updated_at,
            require_state: None,
        }
    }

    /// The merge request as it is after these changes: the one definition stores and tests share.
    pub fn apply_to(&self, mr: &MergeRequest) -> MergeRequest {
        let mut out = mr.clone();
        if let Some(title) = &self.title {
            out.title.clone_from(title);
        }
        if let Some(description) = &self.description {
            out.description.clone_from(description);
        }
        if let Some(target) = &self.target_branch {
            out.target_branch.clone_from(target);
        }
        if let Some(state) = self.state {
            out.state = state;
        }
        if let Some((sha, at)) = &self.head {
            out.sha = sha.clone();
            out.head_recorded_at = *at;
        }
        if self.merged_at.is_some() {
            out.merged_at = self.merged_at;
        }
        if self.closed_at.is_some() {
            out.closed_at = self.closed_at;
        }
        out.updated_at = self.updated_at;
        out
    }
}
