//! The snapshot rule of a mirrored merge request: a forge's webhook is applied as the merge request's state at
//! that moment (title, description, branches, HEAD, state), never as a diff, so duplicate, replayed and
//! out-of-order deliveries converge. A snapshot older than the last one applied changes nothing (an equal time
//! is applied: applying the same snapshot twice changes nothing either), and one equal to what is stored
//! notifies nobody. The forge's action only labels the notification; the state decides.

use crate::Timestamp;
use crate::deliveries::{self, DeliveryDraft, Event, HookAction};
use crate::forges::{ForgeKind, StatusDraft};
use crate::ids::{CommitSha, MergeRequestId, MergeRequestIid, ProjectId};
use crate::merge_requests::transitions::Transition;
use crate::merge_requests::{
    MergeRequest, MergeRequestChanges, MergeRequestState, NewMergeRequest,
};
use serde_json::Map;

/// A merge (pull) request as a forge's webhook shows it, in our words: every forge's payload is read into
/// this before any rule applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForgeMergeRequest {
    /// The forge's number (GitLab `iid`, Gitea/Forgejo/GitHub `number`): the mirrored merge request's iid.
    pub number: MergeRequestIid,
    /// Title.
    pub title: String,
    /// Description (empty when the forge sends none).
    pub description: String,
    /// The branch being merged.
    pub source_branch: String,
    /// The branch merged into: the one checks are scoped by.
    pub target_branch: String,
    /// The HEAD commit of the source branch.
    pub sha: CommitSha,
    /// Open, closed, or merged (by the forge).
    pub state: MergeRequestState,
    /// The forge's time of this state: what orders snapshots.
    pub updated_at: Timestamp,
}

/// What the bridge keeps about a mirrored merge request besides the merge request itself: where its
/// statuses go and which snapshot it was last brought to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MirrorDetails {
    /// The forge project the source branch lives in (GitLab: the source project's id, which differs from
    /// the linked one for a fork); statuses are posted there on GitLab.
    pub source_project: String,
    /// The merge request's page on the forge: the `target_url` of its statuses.
    pub web_url: String,
    /// The forge's time of the last snapshot applied.
    pub snapshot_at: Timestamp,
    /// The newest pipeline seen for the merge request, if any (GitLab). In a write, `None` keeps the one
    /// stored: only a pipeline event sets it.
    pub pipeline: Option<HeadPipeline>,
}

/// A GitLab pipeline seen for a merge request (from a `Pipeline Hook`): statuses go into it while it is
/// at the HEAD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeadPipeline {
    /// Its id.
    pub id: i64,
    /// The commit it runs for.
    pub sha: CommitSha,
    /// Whether it is a merge-request pipeline (source `merge_request_event`): such a pipeline is the
    /// merge request's head pipeline whenever it exists, so statuses must be added to it by id.
    pub merge_request_event: bool,
}

/// A mirror write: the merge request change a forge delivery causes, with the notifications and status
/// posts it schedules, and the delivery's key — one transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MirrorWrite {
    /// The linked project.
    pub project_id: ProjectId,
    /// The delivery's key (a replay is recognized by it); `None` for a sync.
    pub delivery_key: Option<String>,
    /// When the delivery arrived.
    pub received_at: Timestamp,
    /// The change.
    pub change: MirrorChange,
    /// The details to keep (`None`: keep those stored).
    pub details: Option<MirrorDetails>,
    /// Notifications, rendered against the merge request written.
    pub deliveries: Vec<DeliveryDraft>,
    /// Status posts, rendered against the merge request written.
    pub statuses: Vec<StatusDraft>,
}

impl MirrorWrite {
    /// A write that records only a delivery's key: where every decision about a delivery starts.
    pub fn only_key(
        project_id: ProjectId,
        delivery_key: Option<String>,
        received_at: Timestamp,
    ) -> Self {
        MirrorWrite {
            project_id,
            delivery_key,
            received_at,
            change: MirrorChange::Nothing,
            details: None,
            deliveries: Vec::new(),
            statuses: Vec::new(),
        }
    }
}

/// The merge request side of a [`MirrorWrite`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MirrorChange {
    /// Create the merge request with the forge's number as its iid.
    Open {
        /// The forge's number.
        iid: MergeRequestIid,
        /// The merge request.
        new: NewMergeRequest,
    },
    /// Change the merge request read with this `updated_at` (if it changed since, the write is refused as
    /// [`MirrorOutcome::Raced`] and decided again).
    Update {
        /// The merge request.
        id: MergeRequestId,
        /// Its `updated_at` as read.
        read_at: Timestamp,
        /// What changes (`None`: only the details and the key are recorded).
        changes: Option<MergeRequestChanges>,
    },
    /// Only the delivery's key is recorded.
    Nothing,
}

/// How a [`MirrorWrite`] went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MirrorOutcome {
    /// Written: the merge request as it is now, if one was written.
    Applied(Option<Box<MergeRequest>>),
    /// The delivery's key was recorded before: nothing was written.
    Seen,
    /// The merge request changed (or was created) since it was read: nothing was written.
    Raced,
}

/// GitLab's merge-request actions that change nothing the bridge mirrors: approvals.
const GITLAB_IGNORED_ACTIONS: [&str; 4] = ["approved", "unapproved", "approval", "unapproval"];

/// Gitea's, Forgejo's and GitHub's pull-request actions that change nothing the bridge mirrors:
/// assignments, labels, milestones, reviews, auto-merge and merge-queue bookkeeping, locks.
/// (`ready_for_review` and `converted_to_draft` are read as updates.)
const PULL_REQUEST_IGNORED_ACTIONS: [&str; 17] = [
    "assigned",
    "unassigned",
    "label_updated",
    "label_cleared",
    "labeled",
    "unlabeled",
    "milestoned",
    "demilestoned",
    "reviewed",
    "review_requested",
    "review_request_removed",
    "auto_merge_enabled",
    "auto_merge_disabled",
    "enqueued",
    "dequeued",
    "locked",
    "unlocked",
];

/// Whether a delivery whose action is `action` is answered `ignored` without being applied: its action
/// changes nothing the bridge mirrors (every other action is applied as a snapshot, which is unchanged when
/// nothing the bridge keeps moved).
pub fn ignores_action(forge: ForgeKind, action: &str) -> bool {
    match forge {
        ForgeKind::Gitlab => GITLAB_IGNORED_ACTIONS.contains(&action),
        ForgeKind::Gitea | ForgeKind::Forgejo | ForgeKind::Github => {
            PULL_REQUEST_IGNORED_ACTIONS.contains(&action)
        }
    }
}

/// Whether a snapshot of time `at` is older than the last one applied. Times are compared to the second:
/// GitLab's hooks carry whole seconds while its API carries milliseconds, so a hook about a change made in
/// the second a sync read must not read as older than that sync.
pub fn is_older(at: Timestamp, last_applied: Option<Timestamp>) -> bool {
    last_applied.is_some_and(|last| at.timestamp() < last.timestamp())
}

/// What a snapshot does to the mirrored merge request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mirror {
    /// The number is not mirrored yet: open it as the snapshot shows it (every applicable check is told).
    Open,
    /// The mirrored merge request changes, and the checks are told.
    Change(Box<Transition>),
    /// Nothing changes and nobody is told: the snapshot is older than the last one applied, or shows what is
    /// stored already.
    Unchanged,
}

/// The effect of `snapshot` on `stored` (the mirrored merge request, if any), whose last applied snapshot
/// was of `last_applied` (the forge's time); `now` stamps the change and starts a new HEAD's pending
/// timeout, while a merge or a close keeps the forge's time of it.
///
/// A merge recorded by the forge is final, as in GitLab: a later snapshot cannot reopen or move it, and a
/// merge is recorded whatever the checks say (the forge's own gate decided). Closing, reopening, a new HEAD
/// (with the previous one as `oldrev`), and title, description or target-branch changes follow the
/// snapshot; the hook action is `merge`, `close` or `reopen` when the state changed, else `update`.
pub fn mirror(
    stored: Option<&MergeRequest>,
    last_applied: Option<Timestamp>,
    snapshot: &ForgeMergeRequest,
    now: Timestamp,
) -> Mirror {
    let Some(mr) = stored else {
        return Mirror::Open;
    };
    if is_older(snapshot.updated_at, last_applied) || mr.state == MergeRequestState::Merged {
        return Mirror::Unchanged;
    }
    let mut changes = MergeRequestChanges::at(now);
    let mut payload = Map::new();
    if snapshot.title != mr.title {
        payload.insert(
            "title".into(),
            deliveries::change(&mr.title, &snapshot.title),
        );
        changes.title = Some(snapshot.title.clone());
    }
    if snapshot.description != mr.description {
        payload.insert(
            "description".into(),
            deliveries::change(&mr.description, &snapshot.description),
        );
        changes.description = Some(snapshot.description.clone());
    }
    if snapshot.target_branch != mr.target_branch {
        payload.insert(
            "target_branch".into(),
            deliveries::change(&mr.target_branch, &snapshot.target_branch),
        );
        changes.target_branch = Some(snapshot.target_branch.clone());
    }
    let oldrev = (snapshot.sha != mr.sha).then(|| {
        changes.head = Some((snapshot.sha.clone(), now));
        mr.sha.clone()
    });
    let state_action = match (mr.state, snapshot.state) {
        (from, to) if from == to => None,
        (_, MergeRequestState::Merged) => {
            // When the forge merged it, not when we heard.
            changes.merged_at = Some(snapshot.updated_at);
            Some(HookAction::Merge)
        }
        (_, MergeRequestState::Closed) => {
            changes.closed_at = Some(snapshot.updated_at);
            Some(HookAction::Close)
        }
        (_, MergeRequestState::Opened) => Some(HookAction::Reopen),
    };
    if state_action.is_some() {
        changes.state = Some(snapshot.state);
    }
    if payload.is_empty() && oldrev.is_none() && state_action.is_none() {
        return Mirror::Unchanged;
    }
    Mirror::Change(Box::new(Transition {
        changes,
        event: Event {
            action: state_action.or(Some(HookAction::Update)),
            changes: payload,
            oldrev,
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merge_requests::transitions::tests::{mr, state};
    use crate::testkit::strategies::{commit_sha, timestamp};
    use proptest::prelude::*;

    fn snapshot() -> impl Strategy<Value = ForgeMergeRequest> {
        (
            prop_oneof![Just("T".to_owned()), "[a-z ]{1,8}"],
            prop_oneof![Just(String::new()), "[a-z]{1,4}"],
            prop_oneof![Just("main".to_owned()), Just("release".to_owned())],
            commit_sha(),
            state(),
            timestamp(),
        )
            .prop_map(
                |(title, description, target_branch, sha, state, updated_at)| ForgeMergeRequest {
                    number: MergeRequestIid(7),
                    title,
                    description,
                    source_branch: "feature".into(),
                    target_branch,
                    sha,
                    state,
                    updated_at,
                },
            )
    }

    #[test]
    fn an_unknown_number_is_opened() {
        let snap = ForgeMergeRequest {
            number: MergeRequestIid(3),
            title: "T".into(),
            description: String::new(),
            source_branch: "f".into(),
            target_branch: "main".into(),
            sha: CommitSha::parse(&"a".repeat(40)).unwrap_or_else(|_| panic!("sha")),
            state: MergeRequestState::Opened,
            updated_at: Timestamp::default(),
        };
        assert_eq!(
            mirror(None, None, &snap, Timestamp::default()),
            Mirror::Open
        );
    }

    #[test]
    fn approvals_labels_and_reviews_are_ignored_pushes_are_not() {
        assert!(ignores_action(ForgeKind::Gitlab, "approved"));
        assert!(!ignores_action(ForgeKind::Gitlab, "update"));
        assert!(!ignores_action(ForgeKind::Gitlab, "assigned"));
        for forge in [ForgeKind::Gitea, ForgeKind::Forgejo, ForgeKind::Github] {
            assert!(ignores_action(forge, "labeled"));
            assert!(ignores_action(forge, "review_requested"));
            for applied in [
                "opened",
                "synchronize",
                "synchronized",
                "edited",
                "closed",
                "reopened",
                "ready_for_review",
            ] {
                assert!(!ignores_action(forge, applied), "{forge} {applied}");
            }
        }
    }

    #[test]
    fn times_compare_to_the_second() {
        let synced = Timestamp::default() + chrono::TimeDelta::milliseconds(39_500);
        let hook = Timestamp::default() + chrono::TimeDelta::seconds(39);
        assert!(
            !is_older(hook, Some(synced)),
            "a hook of the sync's second is not older"
        );
        assert!(is_older(hook, Some(synced + chrono::TimeDelta::seconds(1))));
        assert!(!is_older(hook, None));
    }

    proptest! {
        /// Applying a snapshot's change brings the stored merge request to the snapshot's state, unless it was
        /// merged (final); applying it again changes nothing.
        #[test]
        fn a_snapshot_is_converged_to(
            from in state(),
            head in commit_sha(),
            at in timestamp(),
            snap in snapshot(),
            now in timestamp(),
        ) {
            let before = mr(from, head.clone(), at);
            match mirror(Some(&before), None, &snap, now) {
                Mirror::Open => prop_assert!(false, "a stored merge request is never opened again"),
                Mirror::Unchanged => {
                    let same = before.title == snap.title
                        && before.description == snap.description
                        && before.target_branch == snap.target_branch
                        && before.sha == snap.sha
                        && before.state == snap.state;
                    prop_assert!(same || from == MergeRequestState::Merged);
                }
                Mirror::Change(transition) => {
                    prop_assert_ne!(from, MergeRequestState::Merged, "a merge is final");
                    let after = transition.changes.apply_to(&before);
                    prop_assert_eq!(&after.title, &snap.title);
                    prop_assert_eq!(&after.description, &snap.description);
                    prop_assert_eq!(&after.target_branch, &snap.target_branch);
                    prop_assert_eq!(&after.sha, &snap.sha);
                    prop_assert_eq!(after.state, snap.state);
                    if from != snap.state && snap.state == MergeRequestState::Merged {
                        prop_assert_eq!(after.merged_at, Some(snap.updated_at), "the forge's time of the merge");
                    }
                    prop_assert_eq!(transition.event.oldrev.is_some(), snap.sha != head);
                    let expected_action = match (from, snap.state) {
                        (a, b) if a == b => HookAction::Update,
                        (_, MergeRequestState::Merged) => HookAction::Merge,
                        (_, MergeRequestState::Closed) => HookAction::Close,
                        (_, MergeRequestState::Opened) => HookAction::Reopen,
                    };
                    prop_assert_eq!(transition.event.action, Some(expected_action));
                    prop_assert_eq!(
                        mirror(Some(&after), Some(snap.updated_at), &snap, now),
                        Mirror::Unchanged,
                        "the same snapshot twice changes nothing"
                    );
                }
            }
        }

        /// A snapshot older than the last one applied changes nothing: out-of-order deliveries never roll a
        /// HEAD back.
        #[test]
        fn an_older_snapshot_changes_nothing(
            head in commit_sha(),
            at in timestamp(),
            snap in snapshot(),
            newer_by in 1i64..1_000_000,
        ) {
            let before = mr(MergeRequestState::Opened, head, at);
            // A second later at least: times are compared to the second.
            let last = snap.updated_at + chrono::TimeDelta::seconds(newer_by);
            prop_assert_eq!(mirror(Some(&before), Some(last), &snap, at), Mirror::Unchanged);
        }
    }
}
