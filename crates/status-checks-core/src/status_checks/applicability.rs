//! Applicability at a merge request's HEAD: the checks that apply to a merge request (by its target branch)
//! with their statuses at its HEAD, the deadlines of those still pending, and the next instant one of them
//! turns failed by the pending timeout.

use crate::Timestamp;
use crate::status_checks::ExternalStatusCheck;

/// The statuses of the checks that apply to `mr`, in the order of `checks`, at its current HEAD.
///
/// `responses` may hold rows of several merge requests and checks (what one batched query returns); only
/// those of `mr` and of each check are considered, with the rule of [`crate::status_checks::status_at_head`].
pub fn applicable_statuses<'c>(
    checks: &'c [ExternalStatusCheck],
    mr: &crate::MergeRequestHead,
    responses: &[crate::status_checks::StatusCheckResponse],
    now: Timestamp,
    timeout: std::time::Duration,
) -> Vec<(&'c ExternalStatusCheck, crate::CheckStatus)> {
    let mut statuses = Vec::new();
    each_applicable(checks, mr, responses, |check, rows| {
        let status = crate::status_checks::status_at_head(
            rows.iter().copied(),
            &mr.sha,
            mr.head_recorded_at,
            now,
            timeout,
        );
        statuses.push((check, status));
    });
    statuses
}

/// [`applicable_statuses`] with, for each check still pending, the instant its pending timeout turns it
/// failed (`None` once it is final, or if that instant has passed).
pub fn applicable_deadlines<'c>(
    checks: &'c [ExternalStatusCheck],
    mr: &crate::MergeRequestHead,
    responses: &[crate::status_checks::StatusCheckResponse],
    now: Timestamp,
    timeout: std::time::Duration,
) -> Vec<(
    &'c ExternalStatusCheck,
    crate::CheckStatus,
    Option<Timestamp>,
)> {
    let mut statuses = Vec::new();
    each_applicable(checks, mr, responses, |check, rows| {
        let status = crate::status_checks::status_at_head(
            rows.iter().copied(),
            &mr.sha,
            mr.head_recorded_at,
            now,
            timeout,
        );
        let deadline = crate::status_checks::pending_deadline(
            rows.iter().copied(),
            &mr.sha,
            mr.head_recorded_at,
            timeout,
        )
        .filter(|d| *d >= now && status == crate::CheckStatus::Pending);
        statuses.push((check, status, deadline));
    });
    statuses
}

/// Calls `each` with every check that applies to `mr`, in the order of `checks`, and that check's rows of
/// `mr` among `responses`.
fn each_applicable<'c, 'r>(
    checks: &'c [ExternalStatusCheck],
    mr: &crate::MergeRequestHead,
    responses: &'r [crate::status_checks::StatusCheckResponse],
    mut each: impl FnMut(&'c ExternalStatusCheck, &[&'r crate::status_checks::StatusCheckResponse]),
) {
    // This merge request's rows ordered by check, then one range per check: rows × log(rows), not
    // rows × checks, with one allocation (a map of vectors cost a dozen on E5's path).
    let mut own: Vec<&crate::status_checks::StatusCheckResponse> = responses
        .iter()
        .filter(|r| r.merge_request_id == mr.id)
        .collect();
    own.sort_unstable_by_key(|r| r.external_status_check_id);
    for check in checks
        .iter()
        .filter(|check| check.applies_to_branch(&mr.target_branch))
    {
        let start = own.partition_point(|r| r.external_status_check_id < check.id);
        let end = own.partition_point(|r| r.external_status_check_id <= check.id);
        each(check, own.get(start..end).unwrap_or_default());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MergeRequestId;
    use crate::ids::{CommitSha, StatusCheckId};
    use crate::service::fixtures::check;
    use crate::status_checks::{CheckStatus, StatusCheckResponse, status_at_head};
    use proptest::prelude::*;

    /// Responses from `(merge request, check, about HEAD?, status, seconds after t0)`, ids in order.
    fn response_rows(
        rows: &[(i64, i64, bool, CheckStatus, i64)],
        head: &CommitSha,
        other: &CommitSha,
        t0: Timestamp,
    ) -> Vec<StatusCheckResponse> {
        rows.iter()
            .enumerate()
            .map(
                |(i, &(mr, check, at_head, status, secs))| StatusCheckResponse {
                    id: crate::ResponseId(i as i64 + 1),
                    merge_request_id: MergeRequestId(mr),
                    external_status_check_id: StatusCheckId(check),
                    sha: if at_head { head.clone() } else { other.clone() },
                    status,
                    created_at: t0 + chrono::TimeDelta::seconds(secs),
                    retried_at: None,
                },
            )
            .collect()
    }

    proptest! {
        /// Rows of several merge requests and checks, in any order: each applicable check gets the status
        /// of its own rows for this merge request, as if they had been passed alone.
        #[test]
        fn applicable_statuses_are_each_checks_own_status(
            rows in proptest::collection::vec(
                (1i64..4, 1i64..6, any::<bool>(), crate::testkit::strategies::check_status(), 0i64..50),
                0..40,
            ),
            scoped in proptest::collection::vec(any::<bool>(), 5),
        ) {
            let t0 = Timestamp::default();
            let head = CommitSha::parse(&"a".repeat(40)).unwrap_or_else(|e| panic!("{e}"));
            let other = CommitSha::parse(&"b".repeat(40)).unwrap_or_else(|e| panic!("{e}"));
            let responses = response_rows(&rows, &head, &other, t0);
            let checks: Vec<ExternalStatusCheck> = scoped
                .iter()
                .enumerate()
                .map(|(i, &scoped)| check(i as i64 + 1, if scoped { &["other"] } else { &[] }))
                .collect();
            let mr = crate::MergeRequestHead {
                id: MergeRequestId(2),
                target_branch: "main".into(),
                sha: head.clone(),
                head_recorded_at: t0,
            };
            let now = t0 + chrono::TimeDelta::seconds(30);
            let timeout = std::time::Duration::from_secs(20);
            let got: Vec<(StatusCheckId, CheckStatus)> =
                applicable_statuses(&checks, &mr, &responses, now, timeout)
                    .into_iter()
                    .map(|(check, status)| (check.id, status))
                    .collect();
            let expected: Vec<(StatusCheckId, CheckStatus)> = checks
                .iter()
                .filter(|check| check.protected_branches.is_empty())
                .map(|check| {
                    let own = responses.iter().filter(|r| {
                        r.merge_request_id == mr.id && r.external_status_check_id == check.id
                    });
                    (check.id, status_at_head(own, &head, t0, now, timeout))
                })
                .collect();
            prop_assert_eq!(got, expected);
        }

        /// Nothing any applicable check reads changes before the earliest of `applicable_deadlines`; just
        /// after it, a pending check reads failed; without one, nothing changes however long one waits.
        #[test]
        fn statuses_change_only_at_the_earliest_deadline(
            rows in proptest::collection::vec(
                (1i64..6, any::<bool>(), crate::testkit::strategies::check_status(), 0i64..50),
                0..30,
            ),
            now_offset in 0i64..120,
        ) {
            let t0 = Timestamp::default();
            let head = CommitSha::parse(&"a".repeat(40)).unwrap_or_else(|e| panic!("{e}"));
            let other = CommitSha::parse(&"b".repeat(40)).unwrap_or_else(|e| panic!("{e}"));
            let rows: Vec<_> = rows.iter().map(|&(c, h, s, secs)| (2, c, h, s, secs)).collect();
            let responses = response_rows(&rows, &head, &other, t0);
            let checks: Vec<ExternalStatusCheck> = (1..=5)
                .map(|id| check(id, &[]))
                .collect();
            let mr = crate::MergeRequestHead {
                id: MergeRequestId(2),
                target_branch: "main".into(),
                sha: head.clone(),
                head_recorded_at: t0,
            };
            let timeout = std::time::Duration::from_secs(20);
            let now = t0 + chrono::TimeDelta::seconds(now_offset);
            let at = |when| -> Vec<CheckStatus> {
                applicable_statuses(&checks, &mr, &responses, when, timeout)
                    .into_iter()
                    .map(|(_, status)| status)
                    .collect()
            };
            let today = at(now);
            let earliest = applicable_deadlines(&checks, &mr, &responses, now, timeout)
                .into_iter()
                .filter_map(|(_, _, deadline)| deadline)
                .min();
            match earliest {
                Some(deadline) => {
                    prop_assert!(deadline >= now);
                    prop_assert_eq!(at(deadline), today.clone(), "nothing changes up to the deadline");
                    let after = at(deadline + chrono::TimeDelta::milliseconds(1));
                    prop_assert!(
                        after.iter().zip(&today).any(|(a, b)| *b == CheckStatus::Pending && *a == CheckStatus::Failed),
                        "a pending check reads failed just after the deadline"
                    );
                }
                None => prop_assert_eq!(at(now + chrono::TimeDelta::days(365)), today),
            }
        }
    }
}
