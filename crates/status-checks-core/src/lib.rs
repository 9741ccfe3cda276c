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
pub mod branch;
pub mod delivery;
pub mod error;
pub mod ids;
pub mod links;
pub mod member;
pub mod merge_request;
pub mod pagination;
pub mod policy;
pub mod ports;
pub mod project;
pub mod response;
pub mod service;
pub mod ssrf;
pub mod status_check;
pub mod token;
pub mod user;

#[cfg(any(test, feature = "testkit"))]
pub mod testkit;

pub use access::AccessLevel;
pub use branch::{BranchPattern, ProtectedBranch};
pub use error::{DomainError, ParamErrors, RepoError};
pub use ids::*;
pub use merge_request::{
    CommitSha, DetailedMergeStatus, MergeRequest, MergeRequestHead, MergeRequestState,
};
pub use pagination::{Page, PageRequest};
pub use policy::Actor;
pub use response::CheckStatus;
pub use status_check::{CheckName, ExternalStatusCheck, ExternalUrl, SharedSecret};

/// The README's Rust examples, run as doc tests; they use the `mock` and `testkit` features, so they run only
/// with both (`cargo test -p status-checks-core --all-features --doc`).
#[cfg(all(doctest, feature = "mock", feature = "testkit"))]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;

/// A point in time, always UTC. The HTTP layer renders it as RFC 3339 with milliseconds.
pub type Timestamp = chrono::DateTime<chrono::Utc>;
