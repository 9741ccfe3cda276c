//! Merge gating: may a merge request merge, given its state, its project's setting and the statuses of the
//! checks that apply to it at its HEAD (docs/api.md §5, "Merge gating").

use crate::merge_requests::MergeRequestState;
use crate::status_checks::CheckStatus;
use serde::{Deserialize, Serialize};

/// GitLab's `detailed_merge_status`, restricted to what this service decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DetailedMergeStatus {
    /// Nothing stands in the way.
    Mergeable,
    /// The project requires every applicable status check to pass, and one has not.
    StatusChecksMustPass,
    /// The merge request is closed or merged.
    NotOpen,
}

impl DetailedMergeStatus {
    /// GitLab's name.
    pub fn as_str(self) -> &'static str {
        match self {
            DetailedMergeStatus::Mergeable => "mergeable",
            DetailedMergeStatus::StatusChecksMustPass => "status_checks_must_pass",
            DetailedMergeStatus::NotOpen => "not_open",
        }
    }

    /// GitLab's legacy `merge_status` field that goes with it.
    pub fn merge_status(self) -> &'static str {
        match self {
            DetailedMergeStatus::Mergeable => "can_be_merged",
            _ => "cannot_be_merged",
        }
    }
}

/// Merge gating: may this merge request merge, given its state, the project's setting and the statuses
/// of the checks that apply to it (at its HEAD)?
pub fn detailed_merge_status(
    state: MergeRequestState,
    only_allow_merge_if_all_status_checks_passed: bool,
    applicable_statuses: impl IntoIterator<Item = CheckStatus>,
) -> DetailedMergeStatus {
    if state != MergeRequestState::Opened {
        DetailedMergeStatus::NotOpen
    } else if only_allow_merge_if_all_status_checks_passed
        && applicable_statuses
            .into_iter()
            .any(|s| s != CheckStatus::Passed)
    {
        DetailedMergeStatus::StatusChecksMustPass
    } else {
        DetailedMergeStatus::Mergeable
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn gating() {
        use CheckStatus::*;
        let open = MergeRequestState::Opened;
        assert_eq!(
            detailed_merge_status(open, true, [Passed, Passed]),
            DetailedMergeStatus::Mergeable
        );
        assert_eq!(
            detailed_merge_status(open, true, [Passed, Pending]),
            DetailedMergeStatus::StatusChecksMustPass
        );
        assert_eq!(
            detailed_merge_status(open, true, [Failed]),
            DetailedMergeStatus::StatusChecksMustPass
        );
        assert_eq!(
            detailed_merge_status(open, false, [Failed]),
            DetailedMergeStatus::Mergeable
        );
        assert_eq!(
            detailed_merge_status(open, true, []),
            DetailedMergeStatus::Mergeable
        );
        assert_eq!(
            detailed_merge_status(MergeRequestState::Closed, false, []),
            DetailedMergeStatus::NotOpen
        );
        assert_eq!(
            detailed_merge_status(MergeRequestState::Merged, true, [Passed]),
            DetailedMergeStatus::NotOpen
        );
    }

    proptest! {
        #[test]
        fn gating_blocks_iff_required_and_one_not_passed(
            required in any::<bool>(),
            statuses in proptest::collection::vec(prop_oneof![Just(CheckStatus::Passed), Just(CheckStatus::Failed), Just(CheckStatus::Pending)], 0..6),
        ) {
            let status = detailed_merge_status(MergeRequestState::Opened, required, statuses.clone());
            let blocked = required && statuses.iter().any(|s| *s != CheckStatus::Passed);
            prop_assert_eq!(status == DetailedMergeStatus::StatusChecksMustPass, blocked);
        }
    }
}
