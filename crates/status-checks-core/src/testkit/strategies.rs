//! proptest strategies for domain values.

use crate::Timestamp;
use crate::access::AccessLevel;
use crate::ids::CommitSha;
use crate::protected_branches::BranchPattern;
use crate::status_checks::CheckStatus;
use crate::status_checks::{CheckName, ExternalUrl};
use proptest::prelude::*;

/// A commit SHA: 40 (mostly) or 64 lower-case hex characters.
pub fn commit_sha() -> impl Strategy<Value = CommitSha> {
    prop_oneof![4 => "[0-9a-f]{40}", 1 => "[0-9a-f]{64}"]
        .prop_filter_map("valid sha", |raw| CommitSha::parse(&raw).ok())
}

/// A time between 2001 and 2286, at millisecond precision (what storage keeps).
pub fn timestamp() -> impl Strategy<Value = Timestamp> {
    (1_000_000_000_000i64..10_000_000_000_000)
        .prop_filter_map("in range", chrono::DateTime::from_timestamp_millis)
}

/// One of the five access levels.
pub fn access_level() -> impl Strategy<Value = AccessLevel> {
    (0usize..AccessLevel::ALL.len()).prop_map(|i| AccessLevel::ALL[i])
}

/// A status.
pub fn check_status() -> impl Strategy<Value = CheckStatus> {
    prop_oneof![
        Just(CheckStatus::Passed),
        Just(CheckStatus::Failed),
        Just(CheckStatus::Pending)
    ]
}

/// A branch name such as `main`, `release/1.2` or `feature/x-y`.
pub fn branch_name() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9]{0,6}(/[a-z0-9][a-z0-9.-]{0,6}){0,2}"
}

/// A protected-branch pattern: a branch name, possibly with `*` wildcards.
pub fn branch_pattern() -> impl Strategy<Value = BranchPattern> {
    "[a-z*][a-z0-9*]{0,5}(/[a-z0-9*.-]{1,6}){0,2}"
        .prop_filter_map("valid pattern", |raw| BranchPattern::new(raw).ok())
}

/// A valid check name.
pub fn check_name() -> impl Strategy<Value = CheckName> {
    "[A-Za-z][A-Za-z0-9 _-]{0,30}".prop_filter_map("valid name", |raw| CheckName::parse(&raw).ok())
}

/// A valid public https URL, sometimes with a port, path and query string.
pub fn external_url() -> impl Strategy<Value = ExternalUrl> {
    (
        "[a-z]{1,10}",
        "(:[1-9][0-9]{1,3})?",
        "(/[a-z0-9]{1,6}){0,3}",
        "(\\?[a-z]{1,5}=[a-z0-9]{1,8})?",
    )
        .prop_filter_map("valid url", |(host, port, path, query)| {
            ExternalUrl::parse(
                &format!("https://{host}.example.com{port}{path}{query}"),
                false,
            )
            .ok()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest! {
        #[test]
        fn generated_values_are_valid(
            sha in commit_sha(),
            pattern in branch_pattern(),
            branch in branch_name(),
            url in external_url(),
        ) {
            prop_assert!(CommitSha::parse(sha.as_str()).is_ok());
            prop_assert!(BranchPattern::new(pattern.as_str()).is_ok());
            prop_assert!(BranchPattern::new(branch.clone()).is_ok_and(|p| p.matches(&branch)));
            prop_assert!(ExternalUrl::parse(url.as_str(), false).is_ok());
        }
    }
}
