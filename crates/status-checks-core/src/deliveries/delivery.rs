//! The outbox's records: a delivery to insert ([`NewDelivery`]) and a stored one ([`Delivery`]), with its
//! hook action and where it stands.

use crate::Timestamp;
use crate::ids::{DeliveryId, MergeRequestId, MergeRequestIid, ProjectId, StatusCheckId};

/// The `action` of a merge-request hook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HookAction {
    /// The merge request was opened.
    Open,
    /// Its title, target branch or HEAD changed.
    Update,
    /// It was closed.
    Close,
    /// It was reopened.
    Reopen,
    /// It was merged.
    Merge,
}

impl HookAction {
    /// GitLab's name.
    pub fn as_str(self) -> &'static str {
        match self {
            HookAction::Open => "open",
            HookAction::Update => "update",
            HookAction::Close => "close",
            HookAction::Reopen => "reopen",
            HookAction::Merge => "merge",
        }
    }

    /// The action with this name.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "open" => Some(HookAction::Open),
            "update" => Some(HookAction::Update),
            "close" => Some(HookAction::Close),
            "reopen" => Some(HookAction::Reopen),
            "merge" => Some(HookAction::Merge),
            _ => None,
        }
    }
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryStatus {
    /// Not sent yet, or to be retried.
    Pending,
    /// The external service answered 2xx.
    Delivered,
    /// Every attempt failed; kept for inspection, never retried.
    Dead,
}

impl DeliveryStatus {
    /// The name shown by the API.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Dead => "dead",
        }
    }

    /// The status with this name.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "pending" => Some(DeliveryStatus::Pending),
            "delivered" => Some(DeliveryStatus::Delivered),
            "dead" => Some(DeliveryStatus::Dead),
            _ => None,
        }
    }
}

/// A delivery to insert in the outbox, rendered from a draft and the stored merge request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDelivery {
    /// The project.
    pub project_id: ProjectId,
    /// The check notified.
    pub external_status_check_id: StatusCheckId,
    /// The merge request.
    pub merge_request_id: MergeRequestId,
    /// Its iid.
    pub merge_request_iid: MergeRequestIid,
    /// The hook action, if any.
    pub action: Option<HookAction>,
    /// The idempotency key.
    pub idempotency_key: String,
    /// The exact JSON body to send.
    pub body: String,
    /// When it was recorded; also its first due time.
    pub created_at: Timestamp,
}

/// A delivery in the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Its id.
    pub id: DeliveryId,
    /// The project.
    pub project_id: ProjectId,
    /// The check notified.
    pub external_status_check_id: StatusCheckId,
    /// The merge request.
    pub merge_request_id: MergeRequestId,
    /// Its iid.
    pub merge_request_iid: MergeRequestIid,
    /// The hook action, if any.
    pub action: Option<HookAction>,
    /// Where it stands.
    pub status: DeliveryStatus,
    /// Attempts made so far.
    pub attempts: u32,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// When the last attempt was made.
    pub last_attempt_at: Option<Timestamp>,
    /// When the next attempt is due (pending deliveries only).
    pub next_attempt_at: Option<Timestamp>,
    /// Stable across attempts.
    pub idempotency_key: String,
    /// The exact JSON body to send.
    pub body: String,
    /// When it was recorded.
    pub created_at: Timestamp,
}

/// One attempt at a delivery, as the outbox records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// The delivery attempted.
    pub id: DeliveryId,
    /// The end of the lease it was claimed under (its `next_attempt_at` as claimed): the claim's name. A
    /// delivery is claimed again only once its lease has ended, always with a later end, so the outbox
    /// records the attempt only while the delivery is still held by this claim — an attempt that outlived
    /// its lease, the delivery since claimed by another sender, changes nothing.
    pub claimed_until: Timestamp,
    /// When the attempt ended.
    pub at: Timestamp,
    /// How it ended.
    pub outcome: AttemptOutcome,
}

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// The external service answered 2xx: the delivery is delivered.
    Delivered,
    /// It failed with `error`; it is tried again at `retry_at`, or, with `None`, never again (dead).
    Failed {
        /// Why, for `last_error`.
        error: String,
        /// When to try again; `None` marks the delivery dead.
        retry_at: Option<Timestamp>,
    },
}

impl AttemptOutcome {
    /// What an outbox stores for this outcome: where the record stands, when it is due again (pending ones
    /// only), and the error kept as `last_error`.
    pub fn settle(self) -> (DeliveryStatus, Option<Timestamp>, Option<String>) {
        match self {
            AttemptOutcome::Delivered => (DeliveryStatus::Delivered, None, None),
            AttemptOutcome::Failed {
                error,
                retry_at: Some(at),
            } => (DeliveryStatus::Pending, Some(at), Some(error)),
            AttemptOutcome::Failed {
                error,
                retry_at: None,
            } => (DeliveryStatus::Dead, None, Some(error)),
        }
    }
}
