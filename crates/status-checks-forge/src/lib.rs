//! # status-checks-forge
//!
//! The forge bridge's adapter (docs/forges.md): the service in front of the forge a team already uses.
//!
//! - [`inbound`] reads a webhook delivery: the forge its headers show, its authentication over the raw
//!   body (GitLab's `X-Gitlab-Token`, the others' HMAC-SHA256 signatures, compared in constant time), the
//!   key a replay shares, and its payload in the core's words ([`gitlab::hooks`] for GitLab,
//!   [`pull_requests`] for Gitea, Forgejo and GitHub).
//! - [`reporter::Reporter`] posts commit statuses from the status outbox — the state worked out at send
//!   time by the core, never a stale one — and syncs linked projects' open merge requests
//!   ([`gitlab::api`]; [`repos_api`] for the API Gitea, Forgejo and GitHub share).
//! - [`client::ForgeClient`] calls forges behind the same SSRF guard as notifications, and sorts failures
//!   into retried and final ones, never quoting a credential.
//!
//! ## What this crate must never depend on
//! Storage or HTTP serving: it reads and writes only through the core's ports and use cases. What a
//! delivery does, what is reported and when, are the core's rules ([`status_checks_core::forges`]); this
//! crate only speaks each forge's wire format.

pub mod client;
pub mod gitlab;
pub mod inbound;
pub mod pull_requests;
pub mod reporter;
pub mod repos_api;

pub use client::{ClientError, Failure, ForgeClient};
pub use inbound::{Inbound, InboundError, read_delivery};
pub use reporter::{Reporter, ReporterConfig};
