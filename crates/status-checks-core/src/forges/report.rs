//! What the bridge reports to a forge about a merge request's HEAD: the aggregate of the applicable checks'
//! statuses, its words, and the names of the commit statuses (contexts) it is posted under.
//!
//! The aggregate is `failed` if any applicable check failed (a timed-out check included), else `pending` if any
//! is pending, else `passed` — also when no check applies, so that a context the forge requires never hangs.

use crate::Timestamp;
use crate::forges::{ForgeKind, ForgeLink};
use crate::ids::StatusCheckId;
use crate::merge_requests::MergeRequestHead;
use crate::status_checks::{
    CheckStatus, ExternalStatusCheck, StatusCheckResponse, applicable_deadlines,
};

/// The most characters of a status description: GitHub refuses longer ones (GitLab allows 255).
pub const MAX_DESCRIPTION_CHARS: usize = 140;

/// The most characters of a context (a commit status's name) the bridge posts.
pub const MAX_CONTEXT_CHARS: usize = 100;

/// The aggregate of the applicable checks at a HEAD, and its description in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// `failed`, `pending` or `passed`, as a check's status reads.
    pub status: CheckStatus,
    /// `2 of 3 passed, 1 pending`; at most [`MAX_DESCRIPTION_CHARS`].
    pub description: String,
}

/// The aggregate of `statuses`, the statuses of the checks that apply at a HEAD.
pub fn aggregate(statuses: impl IntoIterator<Item = CheckStatus>) -> Report {
    let (mut passed, mut failed, mut pending) = (0usize, 0usize, 0usize);
    for status in statuses {
        match status {
            CheckStatus::Passed => passed += 1,
            CheckStatus::Failed => failed += 1,
            CheckStatus::Pending => pending += 1,
        }
    }
    let total = passed + failed + pending;
    let status = if failed > 0 {
        CheckStatus::Failed
    } else if pending > 0 {
        CheckStatus::Pending
    } else {
        CheckStatus::Passed
    };
    let description = if total == 0 {
        "no status check applies".to_owned()
    } else {
        let mut words = format!("{passed} of {total} passed");
        for (count, word) in [(failed, "failed"), (pending, "pending")] {
            if count > 0 {
                words.push_str(&format!(", {count} {word}"));
            }
        }
        words
    };
    Report {
        status,
        description: truncated(&description, MAX_DESCRIPTION_CHARS),
    }
}

/// One commit status the bridge shows on a merge request's HEAD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedStatus {
    /// The context: the link's status name, or `<status name>/<check name>`.
    pub context: String,
    /// The check of a per-check context; `None` for the aggregate.
    pub external_status_check_id: Option<StatusCheckId>,
    /// The status.
    pub status: CheckStatus,
    /// In words.
    pub description: String,
    /// When a pending status turns failed by the pending timeout, if it will: it must be posted again then.
    pub deadline: Option<Timestamp>,
}

/// The statuses to show on `mr`'s HEAD under `link`: the aggregate first, then (with per-check statuses)
/// one per applicable check, in the order of `checks`.
pub fn planned_statuses(
    link: &ForgeLink,
    checks: &[ExternalStatusCheck],
    mr: &MergeRequestHead,
    responses: &[StatusCheckResponse],
    now: Timestamp,
    timeout: std::time::Duration,
) -> Vec<PlannedStatus> {
    let each = applicable_deadlines(checks, mr, responses, now, timeout);
    let report = aggregate(each.iter().map(|(_, status, _)| *status));
    let deadline = each.iter().filter_map(|(_, _, d)| *d).min();
    let mut planned = vec![PlannedStatus {
        context: link.status_name.clone(),
        external_status_check_id: None,
        status: report.status,
        description: report.description,
        deadline: deadline.filter(|_| report.status == CheckStatus::Pending),
    }];
    if link.per_check_statuses {
        planned.extend(
            each.into_iter()
                .map(|(check, status, deadline)| PlannedStatus {
                    context: check_context(&link.status_name, check.name.as_str()),
                    external_status_check_id: Some(check.id),
                    status,
                    description: check_description(check.name.as_str(), status),
                    deadline,
                }),
        );
    }
    planned
}

/// The description of one check's status at a HEAD, for its own context.
pub fn check_description(check_name: &str, status: CheckStatus) -> String {
    truncated(
        &format!("{check_name}: {}", status.as_str()),
        MAX_DESCRIPTION_CHARS,
    )
}

/// The word a forge's status API takes for `status`: `pending`, `success`, and for a failure GitLab's
/// `failed` or the others' `failure` (never `warning`, which Gitea no longer counts as blocking).
pub fn state_word(forge: ForgeKind, status: CheckStatus) -> &'static str {
    match (status, forge) {
        (CheckStatus::Pending, _) => "pending",
        (CheckStatus::Passed, _) => "success",
        (CheckStatus::Failed, ForgeKind::Gitlab) => "failed",
        (CheckStatus::Failed, ForgeKind::Gitea | ForgeKind::Forgejo | ForgeKind::Github) => {
            "failure"
        }
    }
}

/// The context of one check's own status: `<status_name>/<check name>`, with the characters a Gitea or
/// Forgejo required-context pattern would read as glob syntax (`*?[]{}\`) replaced by `_`, and cut to
/// [`MAX_CONTEXT_CHARS`].
pub fn check_context(status_name: &str, check_name: &str) -> String {
    let safe: String = check_name
        .chars()
        .map(|c| {
            if matches!(c, '*' | '?' | '[' | ']' | '{' | '}' | '\\') || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect();
    truncated(&format!("{status_name}/{safe}"), MAX_CONTEXT_CHARS)
}

/// `text` cut to at most `max` characters (never inside a character), ending with `…` when cut.
pub(crate) fn truncated(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::strategies::check_status;
    use CheckStatus::*;
    use proptest::prelude::*;

    #[test]
    fn aggregate_examples() {
        assert_eq!(
            aggregate([Passed, Pending, Passed]),
            Report {
                status: Pending,
                description: "2 of 3 passed, 1 pending".into()
            }
        );
        assert_eq!(
            aggregate([Failed, Pending]),
            Report {
                status: Failed,
                description: "0 of 2 passed, 1 failed, 1 pending".into()
            }
        );
        assert_eq!(aggregate([Passed]).status, Passed);
        assert_eq!(
            aggregate([]),
            Report {
                status: Passed,
                description: "no status check applies".into()
            },
            "no applicable check passes, so that a required context never hangs"
        );
    }

    #[test]
    fn forges_words() {
        assert_eq!(state_word(ForgeKind::Gitlab, Failed), "failed");
        for forge in [ForgeKind::Gitea, ForgeKind::Forgejo, ForgeKind::Github] {
            assert_eq!(state_word(forge, Failed), "failure");
            assert_eq!(state_word(forge, Pending), "pending");
            assert_eq!(state_word(forge, Passed), "success");
        }
    }

    #[test]
    fn contexts_are_safe_for_glob_patterns_and_bounded() {
        assert_eq!(
            check_context("status-checks", "QA sign-off"),
            "status-checks/QA sign-off"
        );
        assert_eq!(
            check_context("status-checks", "scan [*]"),
            "status-checks/scan ___"
        );
        let long = check_context("status-checks", &"é".repeat(300));
        assert_eq!(long.chars().count(), MAX_CONTEXT_CHARS);
        assert!(long.ends_with('…'));
    }

    proptest! {
        /// Failed wins over pending, pending over passed; the counts in the words add up; the words fit.
        #[test]
        fn the_aggregate_is_the_worst_status(statuses in proptest::collection::vec(check_status(), 0..300)) {
            let report = aggregate(statuses.clone());
            let expected = if statuses.contains(&Failed) {
                Failed
            } else if statuses.contains(&Pending) {
                Pending
            } else {
                Passed
            };
            prop_assert_eq!(report.status, expected);
            prop_assert!(report.description.chars().count() <= MAX_DESCRIPTION_CHARS);
            let passed = statuses.iter().filter(|s| **s == Passed).count();
            if !statuses.is_empty() {
                let prefix = format!("{passed} of {} passed", statuses.len());
                prop_assert!(report.description.starts_with(&prefix), "{}", report.description);
            }
        }

        #[test]
        fn check_descriptions_fit(name in "\\PC{0,300}", status in check_status()) {
            prop_assert!(check_description(&name, status).chars().count() <= MAX_DESCRIPTION_CHARS);
        }
    }
}
