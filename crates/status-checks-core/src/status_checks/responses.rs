//! Status check responses and the status of a check at a merge request's HEAD.
//!
//! The rule (docs/api.md §5, "Status at HEAD" and "Pending timeout"): the status of a check on a merge request is the status of the **newest**
//! response for that merge request, that check and the merge request's **current HEAD sha**; no response
//! means `pending`. Answers for other SHAs never count, so a push makes every check pending again, and a
//! return to an earlier SHA makes its answers count again. A check still `pending` longer than the pending
//! timeout reads `failed`; the clock starts when the HEAD was recorded and restarts with every `pending`
//! response (a retry records one). The rule is computed from timestamps, so it holds without any sweep.

use crate::Timestamp;
use crate::error::ParamErrors;
use crate::ids::CommitSha;
use crate::ids::{MergeRequestId, ResponseId, StatusCheckId};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The status of a check, or of one response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    /// The external service approved this HEAD.
    Passed,
    /// The external service rejected this HEAD, or it did not answer within the pending timeout.
    Failed,
    /// Not answered yet.
    Pending,
}

impl CheckStatus {
    /// GitLab's name.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckStatus::Passed => "passed",
            CheckStatus::Failed => "failed",
            CheckStatus::Pending => "pending",
        }
    }

    /// The status with this name (`passed`, `failed`, `pending`).
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "passed" => Some(CheckStatus::Passed),
            "failed" => Some(CheckStatus::Failed),
            "pending" => Some(CheckStatus::Pending),
            _ => None,
        }
    }
}

/// A stored answer of an external service about one SHA of one merge request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusCheckResponse {
    /// Its id; ids grow with insertion.
    pub id: ResponseId,
    /// The merge request answered about.
    pub merge_request_id: MergeRequestId,
    /// The check that answered.
    pub external_status_check_id: StatusCheckId,
    /// The commit the answer is about.
    pub sha: CommitSha,
    /// The answer.
    pub status: CheckStatus,
    /// When it was recorded.
    pub created_at: Timestamp,
    /// Set on the `pending` row a retry records.
    pub retried_at: Option<Timestamp>,
}

/// A response to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewResponse {
    /// The merge request.
    pub merge_request_id: MergeRequestId,
    /// The check.
    pub external_status_check_id: StatusCheckId,
    /// The commit.
    pub sha: CommitSha,
    /// The answer.
    pub status: CheckStatus,
    /// Recording time.
    pub created_at: Timestamp,
    /// Set by a retry.
    pub retried_at: Option<Timestamp>,
    /// What the external service said with its answer, if anything.
    pub details: Option<ResponseDetails>,
}

/// What an external service may say with its answer (E6's optional `target_url` and `description`): a
/// linked forge shows them on the check's own commit status.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResponseDetails {
    /// Where its report is.
    pub target_url: Option<String>,
    /// Its answer in words.
    pub description: Option<String>,
}

impl ResponseDetails {
    /// The most characters of either (GitLab's limit on a status's `target_url` and `description`).
    pub const MAX_CHARS: usize = 255;

    /// Reads E6's `target_url` (an http or https URL) and `description`, each at most
    /// [`Self::MAX_CHARS`]: `None` when neither is given, 400 `<param> is invalid` otherwise.
    pub fn parse(
        target_url: Option<String>,
        description: Option<String>,
    ) -> Result<Option<Self>, ParamErrors> {
        let mut errors = ParamErrors::new();
        let target_url = target_url.filter(|u| !u.trim().is_empty());
        if let Some(url) = &target_url {
            let parsed = url::Url::parse(url).ok();
            let web = parsed.is_some_and(|u| {
                matches!(u.scheme(), "http" | "https")
                    && u.host_str().is_some_and(|h| !h.is_empty())
            });
            if !web || url.chars().count() > Self::MAX_CHARS {
                errors.invalid("target_url");
            }
        }
        let description = description.filter(|d| !d.trim().is_empty());
        if description
            .as_ref()
            .is_some_and(|d| d.chars().count() > Self::MAX_CHARS || d.chars().any(char::is_control))
        {
            errors.invalid("description");
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(
            (target_url.is_some() || description.is_some()).then_some(ResponseDetails {
                target_url,
                description,
            }),
        )
    }
}

/// What E6 asks for, after parameter parsing. The SHA is compared with HEAD as given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseInput {
    /// The check answering.
    pub external_status_check_id: StatusCheckId,
    /// The commit answered about; must be the merge request's HEAD.
    pub sha: String,
    /// The answer.
    pub status: CheckStatus,
    /// The optional `target_url` and `description`.
    pub details: Option<ResponseDetails>,
}

/// The newest of `responses` about `head`, by (created_at, id).
pub fn newest_at_head<'a>(
    responses: impl IntoIterator<Item = &'a StatusCheckResponse>,
    head: &CommitSha,
) -> Option<&'a StatusCheckResponse> {
    responses
        .into_iter()
        .filter(|r| &r.sha == head)
        .max_by_key(|r| (r.created_at, r.id))
}

/// The status of one check at a merge request's HEAD.
///
/// `responses` are that check's responses for that merge request (any SHA, any order; others are ignored
/// only if they are about another SHA, so pass one check's rows). `head_recorded_at` is when the HEAD was
/// recorded; `now` and `timeout` decide whether a pending check has timed out.
pub fn status_at_head<'a>(
    responses: impl IntoIterator<Item = &'a StatusCheckResponse>,
    head: &CommitSha,
    head_recorded_at: Timestamp,
    now: Timestamp,
    timeout: Duration,
) -> CheckStatus {
    let pending_since = match pending_since(responses, head, head_recorded_at) {
        Ok(since) => since,
        Err(answer) => return answer,
    };
    if timed_out(pending_since, now, timeout) {
        CheckStatus::Failed
    } else {
        CheckStatus::Pending
    }
}

/// Since when one check has been pending at HEAD (its pending timeout's start), or its final answer.
fn pending_since<'a>(
    responses: impl IntoIterator<Item = &'a StatusCheckResponse>,
    head: &CommitSha,
    head_recorded_at: Timestamp,
) -> Result<Timestamp, CheckStatus> {
    match newest_at_head(responses, head) {
        Some(r) if r.status != CheckStatus::Pending => Err(r.status),
        Some(r) => Ok(r.created_at.max(head_recorded_at)),
        None => Ok(head_recorded_at),
    }
}

/// When one check, pending at HEAD, turns failed by the pending timeout: the last instant it still reads
/// pending ([`status_at_head`] reads failed from just after it). `None` after a final answer, or for a
/// timeout beyond chrono's range (it never passes).
pub fn pending_deadline<'a>(
    responses: impl IntoIterator<Item = &'a StatusCheckResponse>,
    head: &CommitSha,
    head_recorded_at: Timestamp,
    timeout: Duration,
) -> Option<Timestamp> {
    let since = pending_since(responses, head, head_recorded_at).ok()?;
    since.checked_add_signed(chrono::TimeDelta::from_std(timeout).ok()?)
}

/// Whether more than `timeout` has passed between `since` and `now`.
pub fn timed_out(since: Timestamp, now: Timestamp, timeout: Duration) -> bool {
    match chrono::TimeDelta::from_std(timeout) {
        Ok(timeout) => now.signed_duration_since(since) > timeout,
        // A timeout beyond chrono's range never passes.
        Err(_) => false,
    }
}

/// Whether E7 may retry a check in this status: only a failed check can be retried.
pub fn retry_allowed(status: CheckStatus) -> bool {
    status == CheckStatus::Failed
}

/// E6's SHA rule: an answer is accepted only about the merge request's current HEAD. The given SHA is
/// compared case-insensitively (SHAs are hex); anything that is not a SHA never matches.
pub fn sha_matches_head(given: &str, head: &CommitSha) -> bool {
    CommitSha::parse(given).is_ok_and(|sha| &sha == head)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::strategies::{commit_sha, timestamp};
    use chrono::TimeDelta;
    use proptest::prelude::*;

    const TIMEOUT: Duration = Duration::from_secs(120);

    fn sha(c: char) -> CommitSha {
        CommitSha::parse(&c.to_string().repeat(40)).unwrap_or_else(|_| panic!("bad sha {c}"))
    }

    fn response(
        id: i64,
        sha: &CommitSha,
        status: CheckStatus,
        at: Timestamp,
    ) -> StatusCheckResponse {
        StatusCheckResponse {
            id: ResponseId(id),
            merge_request_id: MergeRequestId(1),
            external_status_check_id: StatusCheckId(1),
            sha: sha.clone(),
            status,
            created_at: at,
            retried_at: None,
        }
    }

    fn t0() -> Timestamp {
        chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default()
    }

    #[test]
    fn no_response_is_pending_until_the_timeout() {
        let head = sha('a');
        let at = |s| t0() + TimeDelta::seconds(s);
        assert_eq!(
            status_at_head([], &head, t0(), at(0), TIMEOUT),
            CheckStatus::Pending
        );
        assert_eq!(
            status_at_head([], &head, t0(), at(120), TIMEOUT),
            CheckStatus::Pending
        );
        assert_eq!(
            status_at_head([], &head, t0(), at(121), TIMEOUT),
            CheckStatus::Failed
        );
    }

    #[test]
    fn newest_at_head_wins_and_other_shas_never_count() {
        let (head, old) = (sha('a'), sha('b'));
        let rows = [
            response(1, &head, CheckStatus::Failed, t0()),
            response(2, &head, CheckStatus::Passed, t0() + TimeDelta::seconds(1)),
            response(3, &old, CheckStatus::Failed, t0() + TimeDelta::seconds(2)),
        ];
        assert_eq!(
            status_at_head(&rows, &head, t0(), t0(), TIMEOUT),
            CheckStatus::Passed
        );
        // After a push to a new SHA nothing counts: pending.
        assert_eq!(
            status_at_head(&rows, &sha('c'), t0(), t0(), TIMEOUT),
            CheckStatus::Pending
        );
        // Back on the old SHA, its answers count again.
        assert_eq!(
            status_at_head(&rows, &old, t0(), t0(), TIMEOUT),
            CheckStatus::Failed
        );
    }

    #[test]
    fn same_time_ties_go_to_the_higher_id() {
        let head = sha('a');
        let rows = [
            response(8, &head, CheckStatus::Passed, t0()),
            response(7, &head, CheckStatus::Failed, t0()),
        ];
        assert_eq!(
            status_at_head(&rows, &head, t0(), t0(), TIMEOUT),
            CheckStatus::Passed
        );
    }

    #[test]
    fn a_pending_response_or_retry_restarts_the_clock() {
        let head = sha('a');
        let retried = t0() + TimeDelta::seconds(600);
        let rows = [
            response(1, &head, CheckStatus::Failed, t0()),
            response(2, &head, CheckStatus::Pending, retried),
        ];
        let at = |s| retried + TimeDelta::seconds(s);
        assert_eq!(
            status_at_head(&rows, &head, t0(), at(100), TIMEOUT),
            CheckStatus::Pending
        );
        assert_eq!(
            status_at_head(&rows, &head, t0(), at(121), TIMEOUT),
            CheckStatus::Failed
        );
    }

    #[test]
    fn an_old_pending_response_does_not_shorten_a_new_heads_clock() {
        // The HEAD went a -> b -> a: the old pending answer about `a` predates the new recording.
        let head = sha('a');
        let rows = [response(1, &head, CheckStatus::Pending, t0())];
        let recorded = t0() + TimeDelta::seconds(1000);
        assert_eq!(
            status_at_head(
                &rows,
                &head,
                recorded,
                recorded + TimeDelta::seconds(60),
                TIMEOUT
            ),
            CheckStatus::Pending
        );
    }

    #[test]
    fn retry_only_when_failed() {
        assert!(retry_allowed(CheckStatus::Failed));
        assert!(!retry_allowed(CheckStatus::Passed));
        assert!(!retry_allowed(CheckStatus::Pending));
    }

    #[test]
    fn sha_rule() {
        let head = sha('a');
        assert!(sha_matches_head(&"a".repeat(40), &head));
        assert!(sha_matches_head(&"A".repeat(40), &head));
        assert!(!sha_matches_head(&"b".repeat(40), &head));
        assert!(!sha_matches_head("", &head));
        assert!(!sha_matches_head(&"a".repeat(39), &head));
    }

    fn status_strategy() -> impl Strategy<Value = CheckStatus> {
        prop_oneof![
            Just(CheckStatus::Passed),
            Just(CheckStatus::Failed),
            Just(CheckStatus::Pending)
        ]
    }

    proptest! {
        #[test]
        fn invariant_to_order_and_to_answers_about_other_shas(
            head in commit_sha(),
            others in proptest::collection::vec((commit_sha(), status_strategy(), 0i64..10_000), 0..8),
            at_head in proptest::collection::vec((status_strategy(), 0i64..10_000), 0..4),
            recorded in timestamp(),
            now_offset in 0i64..20_000,
            seed in any::<u64>(),
        ) {
            let mut rows: Vec<StatusCheckResponse> = at_head.iter().enumerate()
                .map(|(i, (s, off))| response(i as i64, &head, *s, recorded + TimeDelta::seconds(*off)))
                .collect();
            let only_head = rows.clone();
            rows.extend(others.iter().enumerate().filter(|(_, (sha, _, _))| sha != &head)
                .map(|(i, (sha, s, off))| response(100 + i as i64, sha, *s, recorded + TimeDelta::seconds(*off))));
            // A deterministic shuffle from the seed.
            let mut shuffled = rows.clone();
            let n = shuffled.len();
            for i in 0..n {
                let j = (seed.wrapping_mul(i as u64 + 1).wrapping_add(7) % n as u64) as usize;
                shuffled.swap(i, j);
            }
            let now = recorded + TimeDelta::seconds(now_offset);
            let expected = status_at_head(&only_head, &head, recorded, now, TIMEOUT);
            prop_assert_eq!(status_at_head(&rows, &head, recorded, now, TIMEOUT), expected);
            prop_assert_eq!(status_at_head(&shuffled, &head, recorded, now, TIMEOUT), expected);
        }

        /// A pending check reads pending up to its deadline and failed just after; a final answer has none.
        #[test]
        fn the_deadline_is_where_pending_turns_failed(
            head in commit_sha(),
            at_head in proptest::collection::vec((status_strategy(), 0i64..10_000), 0..4),
            recorded in timestamp(),
            timeout in 1u64..100_000,
        ) {
            let rows: Vec<StatusCheckResponse> = at_head.iter().enumerate()
                .map(|(i, (s, off))| response(i as i64, &head, *s, recorded + TimeDelta::seconds(*off)))
                .collect();
            let timeout = Duration::from_secs(timeout);
            match pending_deadline(&rows, &head, recorded, timeout) {
                Some(deadline) => {
                    prop_assert_eq!(status_at_head(&rows, &head, recorded, deadline, timeout), CheckStatus::Pending);
                    let after = deadline + TimeDelta::milliseconds(1);
                    prop_assert_eq!(status_at_head(&rows, &head, recorded, after, timeout), CheckStatus::Failed);
                }
                None => {
                    // No deadline: a final answer, which reads the same at once and ten years on.
                    let at_once = status_at_head(&rows, &head, recorded, recorded, timeout);
                    let far = recorded + TimeDelta::days(3650);
                    prop_assert_ne!(at_once, CheckStatus::Pending);
                    prop_assert_eq!(status_at_head(&rows, &head, recorded, far, timeout), at_once);
                }
            }
        }

        #[test]
        fn a_final_answer_never_times_out(head in commit_sha(), passed in any::<bool>(), later in 0i64..10_000_000) {
            let status = if passed { CheckStatus::Passed } else { CheckStatus::Failed };
            let rows = [response(1, &head, status, t0())];
            prop_assert_eq!(status_at_head(&rows, &head, t0(), t0() + TimeDelta::seconds(later), TIMEOUT), status);
        }

        #[test]
        fn pending_turns_failed_exactly_after_the_timeout(head in commit_sha(), secs in 0i64..1000, timeout in 1u64..600) {
            let status = status_at_head([], &head, t0(), t0() + TimeDelta::seconds(secs), Duration::from_secs(timeout));
            let expected = if secs > timeout as i64 { CheckStatus::Failed } else { CheckStatus::Pending };
            prop_assert_eq!(status, expected);
        }
    }
}
