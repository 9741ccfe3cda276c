//! # status-checks-core
//!
//! The pure domain core of **status-checks**, a GitLab-compatible *External Status Checks* service.
//!
//! It holds every rule of the feature and nothing else, **one folder per concept**, each with its types, its
//! pure decisions, its use cases and their tests — the same names as the HTTP handlers, the storage
//! repositories and the contract suite (docs/architecture.md):
//!
//! | concept | holds |
//! |---|---|
//! | [`users`] | users, personal access tokens, authentication |
//! | [`projects`] | projects, their names and paths, how they are referred to |
//! | [`members`] | who has which [`AccessLevel`] in a project; the last-Owner rule |
//! | [`protected_branches`] | branch names and `*` patterns ([`BranchPattern`]): the scope of checks |
//! | [`merge_requests`] | merge requests and their HEAD ([`CommitSha`]), merge gating, the plans of every write ([`merge_requests::transitions`]) |
//! | [`status_checks`] | checks ([`CheckName`], [`ExternalUrl`], [`SharedSecret`]), their answers and the status at HEAD with the pending timeout, URL redaction, the validation E2 and E3 share ([`status_checks::fields`]) |
//! | [`deliveries`] | notifications: outbox records, the signed GitLab payload, the retry schedule |
//! | [`forges`] | forge links: the bridge's credentials, the aggregate reported to a forge and its words |
//!
//! Shared pieces stay flat: [`ids`], [`error`] (one enum per layer, and the one translation between them),
//! [`pagination`], [`policy`] (the one place that answers "may this actor do this here"), [`ssrf`] (address
//! classification), [`links`] (`web_url`s), [`ports`] (the `async-trait` traits adapters implement) and
//! [`service::StatusChecksService`] (the use cases' shared state: every operation of the REST contract takes
//! an authenticated [`Actor`], reads through the ports, decides with pure functions, and answers with domain
//! values or a [`DomainError`]).

//! ## What this crate must never depend on
//! Nothing that does IO or belongs to a framework: no tokio, axum, hyper, diesel, reqwest or SQLite. CI checks
//! this with `cargo tree -p status-checks-core -e normal`. Time comes from the [`ports::Clock`] port and
//! randomness from the [`ports::SecretGenerator`] port, so every rule is deterministic under test.
//!
//! ## Features
//! - `mock`: [`mockall`](https://docs.rs/mockall) mocks of every port (`ports::MockUserRepository`, …) for
//!   adapters' and embedders' own tests.
//! - `testkit`: proptest strategies for the domain values ([`testkit::strategies`]), deterministic clock and
//!   secrets, and the ports' contract suite ([`testkit::contract`], [`port_contract_tests!`]) to run against
//!   an adapter.

pub mod access;
pub mod deliveries;
pub mod error;
pub mod forges;
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
macro_rules! former_paths {
    ($($old:ident => $new:ident $(+ $extra:path)?),* $(,)?) => {$(
        #[doc(hidden)]
        pub mod $old {
            pub use crate::$new::*;
            $(pub use $extra;)?
        }
    )*};
}

former_paths! {
    branch => protected_branches,
    delivery => deliveries,
    member => members,
    merge_request => merge_requests + crate::ids::CommitSha,
    project => projects,
    response => status_checks,
    status_check => status_checks,
    token => users,
    user => users,
}

/// The README's Rust examples, run as doc tests; they use the `mock` and `testkit` features, so they run only
/// with both (`cargo test -p status-checks-core --all-features --doc`).
#[cfg(all(doctest, feature = "mock", feature = "testkit"))]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;

/// A point in time, always UTC. The HTTP layer renders it as RFC 3339 with milliseconds.
pub type Timestamp = chrono::DateTime<chrono::Utc>;
