//! # status-checks-core
//!
//! The pure domain core of **status-checks**, a GitLab-compatible *External Status Checks* service.
//!
//! It holds every rule of the feature and nothing else:
//!
//! - **entities and validated values** — users and [`AccessLevel`]s, personal access tokens, projects,
//!   members, protected branches ([`BranchPattern`]), merge requests ([`CommitSha`]), external status checks
//!   ([`CheckName`], [`ExternalUrl`], [`SharedSecret`]) and their responses;
//! - **rules** as pure functions — branch-pattern matching, applicability of a check to a merge request,
//!   the status of a check at a merge request's HEAD (with the pending timeout), merge gating, URL redaction,
//!   URL validation and the SSRF address classification ([`ssrf`]);
//! - **the permission policy** ([`policy`]) — the one place that answers "may this actor do this here";
//! - **ports** ([`ports`]) — `async-trait` traits for storage, the clock and randomness, which adapters
//!   implement;
//! - **use cases** ([`service::StatusChecksService`]) — every operation of the REST contract, taking an
//!   authenticated [`Actor`], enforcing the policy and the rules through the ports, and answering with domain
//!   values or a [`DomainError`].
//!
//! ## What this crate must never depend on
//! Nothing that does IO or belongs to a framework: no tokio, axum, hyper, diesel, reqwest or SQLite. CI checks
//! this with `cargo tree -p status-checks-core -e normal`. Time comes from the [`ports::Clock`] port and
//! randomness from the [`ports::SecretGenerator`] port, so every rule is deterministic under test.
//!
//! ## Features
//! - `mock`: [`mockall`](https://docs.rs/mockall) mocks of every port (`ports::MockUserRepository`, …) for
//!   adapters' and embedders' own tests.
//! - `testkit`: proptest strategies for the domain values ([`testkit::strategies`]), for embedders who
//!   property-test their own code against ours.

pub mod access;
pub mod deliveries;
pub mod error;
pub mod ids;
pub mod links;
pub mod members;
pub mod merge_requests;
pub mod pagination;
pub mod policy;
pub mod ports;
pub mod projects;
pub mod protected_branches;
pub mod service;
pub mod ssrf;
pub mod status_checks;
pub mod users;

#[cfg(any(test, feature = "testkit"))]
pub mod testkit;

pub use access::AccessLevel;
pub use error::{DomainError, ParamErrors, RepoError};
pub use ids::*;
pub use merge_requests::{DetailedMergeStatus, MergeRequest, MergeRequestHead, MergeRequestState};
pub use pagination::{Page, PageRequest};
pub use policy::Actor;
pub use protected_branches::{BranchPattern, ProtectedBranch};
pub use status_checks::{CheckName, CheckStatus, ExternalStatusCheck, ExternalUrl, SharedSecret};

/// The module paths from before the one-folder-per-concept layout (docs/architecture.md), kept so that
/// embedders' code written against them still compiles. New code uses the concept modules.
#[doc(hidden)]
pub mod branch {
    pub use crate::protected_branches::*;
}
#[doc(hidden)]
pub mod delivery {
    pub use crate::deliveries::*;
}
#[doc(hidden)]
pub mod member {
    pub use crate::members::*;
}
#[doc(hidden)]
pub mod merge_request {
    pub use crate::ids::CommitSha;
    pub use crate::merge_requests::*;
}
#[doc(hidden)]
pub mod project {
    pub use crate::projects::*;
}
#[doc(hidden)]
pub mod response {
    pub use crate::status_checks::*;
}
#[doc(hidden)]
pub mod status_check {
    pub use crate::status_checks::*;
}
#[doc(hidden)]
pub mod token {
    pub use crate::users::*;
}
#[doc(hidden)]
pub mod user {
    pub use crate::users::*;
}

/// A point in time, always UTC. The HTTP layer renders it as RFC 3339 with milliseconds.
pub type Timestamp = chrono::DateTime<chrono::Utc>;
