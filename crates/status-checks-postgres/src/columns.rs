//! Conversions of the column values several tables share: times, commit shas and access levels.
//!
//! Reading a value validates it again with the core's constructors: a value the domain refuses means the
//! database was changed behind our back, and is reported as an internal error rather than served.

use crate::error::corrupt;
use status_checks_core::ids::CommitSha;
use status_checks_core::{AccessLevel, RepoError, Timestamp};

/// Milliseconds since the Unix epoch, the stored form of every time.
pub(crate) fn millis(at: Timestamp) -> i64 {
    at.timestamp_millis()
}

pub(crate) fn from_millis(ms: i64) -> Result<Timestamp, RepoError> {
    chrono::DateTime::from_timestamp_millis(ms).ok_or_else(|| corrupt("timestamp", ms))
}

pub(crate) fn from_millis_opt(ms: Option<i64>) -> Result<Option<Timestamp>, RepoError> {
    ms.map(from_millis).transpose()
}

pub(crate) fn commit_sha(raw: &str) -> Result<CommitSha, RepoError> {
    CommitSha::parse(raw).map_err(|_| corrupt("sha", raw))
}

pub(crate) fn access_level(value: i32) -> Result<AccessLevel, RepoError> {
    AccessLevel::from_value(i64::from(value)).ok_or_else(|| corrupt("access level", value))
}
