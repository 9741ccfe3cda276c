//! The bridge's outbox: commit status posts to a forge. A post names a merge request's HEAD and a context;
//! what state it carries is worked out again when it is sent ([`crate::forges::report`]), so a retried or
//! late post never leaves a stale state on the forge.

use crate::Timestamp;
use crate::deliveries::{AttemptOutcome, DeliveryStatus};
use crate::ids::{
    CommitSha, ForgeStatusId, MergeRequestId, MergeRequestIid, ProjectId, StatusCheckId,
};

/// A status post to schedule with a merge-request write, rendered by the store against the merge request
/// it wrote (its id, iid and HEAD).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusDraft {
    /// The context (`status-checks` or `status-checks/<check name>`).
    pub context: String,
    /// The check of a per-check context; `None` for the aggregate.
    pub external_status_check_id: Option<StatusCheckId>,
    /// The forge's word for the state as planned (shown until it is sent).
    pub state: String,
    /// When it is due.
    pub due_at: Timestamp,
}

/// A status post to insert in the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewForgeStatus {
    /// The project.
    pub project_id: ProjectId,
    /// The merge request.
    pub merge_request_id: MergeRequestId,
    /// Its iid.
    pub merge_request_iid: MergeRequestIid,
    /// The HEAD the status is about.
    pub sha: CommitSha,
    /// What to post.
    pub draft: StatusDraft,
    /// When it was scheduled.
    pub created_at: Timestamp,
}

/// A status post in the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForgeStatus {
    /// Its id.
    pub id: ForgeStatusId,
    /// The project.
    pub project_id: ProjectId,
    /// The merge request.
    pub merge_request_id: MergeRequestId,
    /// Its iid.
    pub merge_request_iid: MergeRequestIid,
    /// The commit the status is on.
    pub sha: CommitSha,
    /// The context.
    pub context: String,
    /// The check of a per-check context; `None` for the aggregate.
    pub external_status_check_id: Option<StatusCheckId>,
    /// The forge's word that was, or will be, posted.
    pub state: String,
    /// Where it stands: pending, delivered (posted, or found already posted), dead.
    pub status: DeliveryStatus,
    /// Attempts made.
    pub attempts: u32,
    /// Why the last attempt failed (the forge's message; never a credential).
    pub last_error: Option<String>,
    /// When the last attempt was made.
    pub last_attempt_at: Option<Timestamp>,
    /// When the next attempt is due (pending only).
    pub next_attempt_at: Option<Timestamp>,
    /// When it was scheduled.
    pub created_at: Timestamp,
}

/// One attempt at a status post, as the outbox records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusAttempt {
    /// The post attempted.
    pub id: ForgeStatusId,
    /// The end of the lease it was claimed under (its `next_attempt_at` as claimed): recorded only while
    /// the post is still held by that claim, as for deliveries ([`crate::deliveries::Attempt`]).
    pub claimed_until: Timestamp,
    /// When the attempt ended.
    pub at: Timestamp,
    /// The state worked out at send time.
    pub state: String,
    /// How it ended (`Delivered` also when nothing needed posting).
    pub outcome: AttemptOutcome,
    /// Posts to schedule with the outcome: the same context again at a pending-timeout deadline.
    pub follow_up: Vec<NewForgeStatus>,
}

/// The state the forge was last told for a (sha, context) at a target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostedKey {
    /// The project.
    pub project_id: ProjectId,
    /// The commit.
    pub sha: CommitSha,
    /// The context.
    pub context: String,
    /// Where on the forge (`pipeline:<id>` or `ref:<branch>` on GitLab, `repo` elsewhere).
    pub target: String,
}
