//! The decisions of the merge-request writes, as pure functions: from the merge request as read, the input
//! and the time, what is stored, which notification it causes, or which error the contract answers. The use
//! cases load, authorize, call one of these and persist what it planned; proptest reaches every rule here
//! without mocks.
//!
//! Errors keep GitLab's order within a write: attribute errors (400) first, then the same-branch rule (422),
//! then the rules of the merge request's state.

use crate::Timestamp;
use crate::deliveries::{self, Event, HookAction};
use crate::error::DomainError;
use crate::ids::{ProjectId, UserId};
use crate::merge_requests::{
    DetailedMergeStatus, MergeRequest, MergeRequestChanges, MergeRequestState,
    MergeRequestUpdateInput, NewMergeRequest, NewMergeRequestInput, StateEvent,
};
use crate::protected_branches::validate_branch_name;
use crate::status_checks::sha_matches_head;
use serde_json::Map;

/// The longest title accepted, in characters.
pub const MAX_TITLE_CHARS: usize = 255;

const SAME_BRANCH: &str = "You can't use same project/branch for source and target";
const MERGED_IS_FINAL: &str = "A merged merge request cannot change its HEAD or target branch";

/// A change to store and the notification it causes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    /// The fields the store changes.
    pub changes: MergeRequestChanges,
    /// What the notifications say about it.
    pub event: Event,
}

fn check_title(title: &str, errors: &mut Vec<(&'static str, String)>) {
    if title.trim().is_empty() {
        errors.push(("title", "can't be blank".into()));
    } else if title.chars().count() > MAX_TITLE_CHARS {
        errors.push(("title", "is too long (maximum is 255 characters)".into()));
    }
}

fn check_branch(field: &'static str, branch: &str, errors: &mut Vec<(&'static str, String)>) {
    if let Err(e) = validate_branch_name(branch) {
        errors.push((field, e.to_string()));
    }
}

fn attribute_errors(errors: Vec<(&'static str, String)>) -> Result<(), DomainError> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(DomainError::attributes(errors))
    }
}

/// Opening: a title, two valid and distinct branches. The new merge request's HEAD is recorded `now`.
pub fn open(
    project: ProjectId,
    author: UserId,
    input: NewMergeRequestInput,
    now: Timestamp,
) -> Result<NewMergeRequest, DomainError> {
    let mut errors = Vec::new();
    check_title(&input.title, &mut errors);
    check_branch("source_branch", &input.source_branch, &mut errors);
    check_branch("target_branch", &input.target_branch, &mut errors);
    attribute_errors(errors)?;
    if input.source_branch == input.target_branch {
        return Err(DomainError::Validation(vec![SAME_BRANCH.into()]));
    }
    Ok(NewMergeRequest {
        project_id: project,
        title: input.title,
        description: input.description.unwrap_or_default(),
        source_branch: input.source_branch,
        target_branch: input.target_branch,
        sha: input.sha,
        author_id: author,
        created_at: now,
    })
}

/// An update (`PUT /merge_requests/:iid`): title, description, target branch, a new HEAD (a push) and
/// `state_event`. `Ok(None)` when nothing would change: nothing is stored and nobody is notified.
///
/// Closing a closed merge request, reopening an open one, or either on a merged one are no-ops, as in
/// GitLab; a merged merge request keeps its HEAD and target branch.
pub fn update(
    mr: &MergeRequest,
    input: MergeRequestUpdateInput,
    now: Timestamp,
) -> Result<Option<Transition>, DomainError> {
    let mut errors = Vec::new();
    if let Some(title) = &input.title {
        check_title(title, &mut errors);
    }
    if let Some(target) = &input.target_branch {
        check_branch("target_branch", target, &mut errors);
    }
    attribute_errors(errors)?;
    if input.target_branch.as_ref() == Some(&mr.source_branch) {
        return Err(DomainError::Validation(vec![SAME_BRANCH.into()]));
    }
    let moves_head = input.sha.as_ref().is_some_and(|sha| sha != &mr.sha);
    let retargets = input
        .target_branch
        .as_ref()
        .is_some_and(|target| target != &mr.target_branch);
    if mr.state == MergeRequestState::Merged && (moves_head || retargets) {
        return Err(DomainError::Validation(vec![MERGED_IS_FINAL.into()]));
    }

    let mut changes = MergeRequestChanges::at(now);
    let mut payload = Map::new();
    if let Some(title) = input.title.filter(|t| t != &mr.title) {
        payload.insert("title".into(), deliveries::change(&mr.title, &title));
        changes.title = Some(title);
    }
    if let Some(description) = input.description.filter(|d| d != &mr.description) {
        payload.insert(
            "description".into(),
            deliveries::change(&mr.description, &description),
        );
        changes.description = Some(description);
    }
    if let Some(target) = input.target_branch.filter(|t| t != &mr.target_branch) {
        payload.insert(
            "target_branch".into(),
            deliveries::change(&mr.target_branch, &target),
        );
        changes.target_branch = Some(target);
    }
    let oldrev = match input.sha.filter(|sha| sha != &mr.sha) {
        Some(sha) => {
            changes.head = Some((sha, now));
            Some(mr.sha.clone())
        }
        None => None,
    };
    let state_action = match (input.state_event, mr.state) {
        (Some(StateEvent::Close), MergeRequestState::Opened) => {
            changes.state = Some(MergeRequestState::Closed);
            changes.closed_at = Some(now);
            Some(HookAction::Close)
        }
        (Some(StateEvent::Reopen), MergeRequestState::Closed) => {
            changes.state = Some(MergeRequestState::Opened);
            Some(HookAction::Reopen)
        }
        _ => None,
    };
    if payload.is_empty() && oldrev.is_none() && state_action.is_none() {
        return Ok(None);
    }
    Ok(Some(Transition {
        changes,
        event: Event {
            action: state_action.or(Some(HookAction::Update)),
            changes: payload,
            oldrev,
        },
    }))
}

/// What may be checked before merge gating is read: only an open merge request merges (405), and a `sha`
/// given with the merge must be its HEAD (409).
pub fn may_try_to_merge(mr: &MergeRequest, sha: Option<&str>) -> Result<(), DomainError> {
    if mr.state != MergeRequestState::Opened {
        return Err(DomainError::NotAllowed);
    }
    match sha {
        Some(sha) if !sha_matches_head(sha, &mr.sha) => Err(DomainError::sha_mismatch(&mr.sha)),
        _ => Ok(()),
    }
}

/// Merging, once gating says `detailed`: 405 unless mergeable. The change applies only while the merge
/// request is still open when written, so of two concurrent merges one wins.
pub fn merge(detailed: DetailedMergeStatus, now: Timestamp) -> Result<Transition, DomainError> {
    if detailed != DetailedMergeStatus::Mergeable {
        return Err(DomainError::NotAllowed);
    }
    let mut changes = MergeRequestChanges::at(now);
    changes.require_state = Some(MergeRequestState::Opened);
    changes.state = Some(MergeRequestState::Merged);
    changes.merged_at = Some(now);
    Ok(Transition {
        changes,
        event: Event::plain(Some(HookAction::Merge)),
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::ids::{CommitSha, MergeRequestId, MergeRequestIid};
    use crate::testkit::strategies::{commit_sha, timestamp};
    use proptest::prelude::*;

    /// An open merge request `feature` → `main` at `sha`, recorded `at`, in `state`.
    pub(crate) fn mr(state: MergeRequestState, sha: CommitSha, at: Timestamp) -> MergeRequest {
        MergeRequest {
            id: MergeRequestId(1),
            iid: MergeRequestIid(1),
            project_id: ProjectId(1),
            title: "T".into(),
            description: String::new(),
            source_branch: "feature".into(),
            target_branch: "main".into(),
            sha,
            head_recorded_at: at,
            state,
            author_id: UserId(1),
            created_at: at,
            updated_at: at,
            merged_at: None,
            closed_at: None,
        }
    }

    /// Any state of a merge request.
    pub(crate) fn state() -> impl Strategy<Value = MergeRequestState> {
        prop_oneof![
            Just(MergeRequestState::Opened),
            Just(MergeRequestState::Closed),
            Just(MergeRequestState::Merged),
        ]
    }

    fn state_event() -> impl Strategy<Value = Option<StateEvent>> {
        prop_oneof![
            Just(None),
            Just(Some(StateEvent::Close)),
            Just(Some(StateEvent::Reopen)),
        ]
    }

    fn input() -> impl Strategy<Value = MergeRequestUpdateInput> {
        (
            proptest::option::of(prop_oneof![Just("T".to_owned()), "[a-z ]{0,8}"]),
            proptest::option::of("[a-z]{0,3}"),
            proptest::option::of(prop_oneof![
                Just("main".to_owned()),
                Just("feature".to_owned()),
                "[a-z]{1,4}"
            ]),
            state_event(),
            proptest::option::of(commit_sha()),
        )
            .prop_map(|(title, description, target_branch, state_event, sha)| {
                MergeRequestUpdateInput {
                    title,
                    description,
                    target_branch,
                    state_event,
                    sha,
                }
            })
    }

    proptest! {
        /// An update either changes nothing (and plans nothing), or every field it plans differs from the
        /// merge request as read; a push names the previous HEAD and restarts the pending clock.
        #[test]
        fn updates_plan_exactly_what_differs(
            state in state(),
            head in commit_sha(),
            at in timestamp(),
            now in timestamp(),
            input in input(),
        ) {
            let before = mr(state, head.clone(), at);
            match update(&before, input.clone(), now) {
                Ok(None) => {
                    prop_assert!(input.title.as_ref().is_none_or(|t| t == &before.title));
                    prop_assert!(input.description.as_ref().is_none_or(|d| d == &before.description));
                    prop_assert!(input.target_branch.as_ref().is_none_or(|t| t == &before.target_branch));
                    prop_assert!(input.sha.as_ref().is_none_or(|s| s == &head));
                }
                Ok(Some(plan)) => {
                    let after = plan.changes.apply_to(&before);
                    prop_assert_eq!(&after.title, input.title.as_ref().unwrap_or(&before.title));
                    prop_assert_eq!(&after.target_branch, input.target_branch.as_ref().unwrap_or(&before.target_branch));
                    prop_assert_eq!(&after.sha, input.sha.as_ref().unwrap_or(&head));
                    prop_assert_eq!(after.updated_at, now);
                    let pushed = input.sha.as_ref().is_some_and(|s| s != &head);
                    prop_assert_eq!(plan.event.oldrev.is_some(), pushed);
                    prop_assert_eq!(after.head_recorded_at, if pushed { now } else { at });
                    for field in plan.event.changes.keys() {
                        prop_assert!(["title", "description", "target_branch"].contains(&field.as_str()));
                    }
                    if state == MergeRequestState::Merged {
                        prop_assert_eq!(after.state, MergeRequestState::Merged);
                        prop_assert_eq!(&after.sha, &head);
                    }
                }
                Err(DomainError::InvalidAttributes(fields)) => {
                    prop_assert!(fields.contains_key("title") || fields.contains_key("target_branch"));
                }
                Err(DomainError::Validation(messages)) => {
                    let same = input.target_branch.as_deref() == Some("feature");
                    let merged_moves = state == MergeRequestState::Merged;
                    prop_assert!(same || merged_moves, "{messages:?}");
                }
                Err(other) => prop_assert!(false, "unexpected {other:?}"),
            }
        }

        /// Only close of an open, and reopen of a closed, merge request change its state.
        #[test]
        fn state_events_follow_the_state_machine(state in state(), event in state_event(), head in commit_sha(), at in timestamp()) {
            let before = mr(state, head, at);
            let input = MergeRequestUpdateInput { state_event: event, ..Default::default() };
            let planned = update(&before, input, at).ok().flatten().and_then(|plan| plan.changes.state);
            let expected = match (event, state) {
                (Some(StateEvent::Close), MergeRequestState::Opened) => Some(MergeRequestState::Closed),
                (Some(StateEvent::Reopen), MergeRequestState::Closed) => Some(MergeRequestState::Opened),
                _ => None,
            };
            prop_assert_eq!(planned, expected);
        }

        /// Merging needs an open merge request, its HEAD when a sha is given, and gating's consent.
        #[test]
        fn merging_needs_open_head_and_consent(state in state(), head in commit_sha(), given in proptest::option::of(commit_sha()), at in timestamp()) {
            let before = mr(state, head.clone(), at);
            let tried = may_try_to_merge(&before, given.as_ref().map(CommitSha::as_str));
            match tried {
                Err(DomainError::NotAllowed) => prop_assert_ne!(state, MergeRequestState::Opened),
                Err(DomainError::Conflict(_)) => prop_assert!(given.is_some_and(|g| g != head)),
                Ok(()) => prop_assert_eq!(state, MergeRequestState::Opened),
                Err(other) => prop_assert!(false, "unexpected {other:?}"),
            }
            prop_assert_eq!(merge(DetailedMergeStatus::StatusChecksMustPass, at), Err(DomainError::NotAllowed));
            let plan = merge(DetailedMergeStatus::Mergeable, at).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(plan.changes.require_state, Some(MergeRequestState::Opened));
            prop_assert_eq!(plan.changes.apply_to(&before).state, MergeRequestState::Merged);
        }
    }

    #[test]
    fn opening_refuses_one_branch_for_both_sides_after_attribute_errors() {
        let at = Timestamp::default();
        let sha = CommitSha::parse(&"a".repeat(40)).unwrap_or_else(|_| panic!("sha"));
        let input = |title: &str, source: &str, target: &str| NewMergeRequestInput {
            source_branch: source.into(),
            target_branch: target.into(),
            title: title.into(),
            sha: sha.clone(),
            description: None,
        };
        assert_eq!(
            open(ProjectId(1), UserId(1), input("T", "main", "main"), at),
            Err(DomainError::Validation(vec![SAME_BRANCH.into()]))
        );
        assert!(matches!(
            open(ProjectId(1), UserId(1), input(" ", "main", "main"), at),
            Err(DomainError::InvalidAttributes(_))
        ));
        let opened = open(ProjectId(1), UserId(2), input("T", "a", "b"), at);
        assert_eq!(
            opened.map(|new| (new.author_id, new.description, new.created_at)),
            Ok((UserId(2), String::new(), at))
        );
    }
}
