//! External status checks: the checks a project registers (name, URL, shared secret, branch scope), the
//! answers of the external services (the status of a check at a merge request's HEAD, [`status_at_head`]),
//! the statuses of the checks that apply to a merge request at its HEAD ([`applicable_statuses`]),
//! URL redaction, the one validation of a check's fields that creating and updating share ([`fields`]),
//! and the use cases of GitLab's external status check endpoints (docs/api.md, E1–E7).

mod applicability;
mod check;
pub mod fields;
mod redaction;
mod responses;
mod use_cases;

#[cfg(test)]
mod tests;

pub use applicability::*;
pub use check::*;
pub use redaction::*;
pub use responses::*;
pub use use_cases::{MergeRequestStatusCheck, RecordedResponse, StatusCheckView};
