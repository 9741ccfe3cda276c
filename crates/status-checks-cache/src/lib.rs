//! # status-checks-cache
//!
//! Read-through caches of the lookups nearly every request makes — the token (authentication), the project
//! with the caller's access level, a project's checks with their scopes, and its forge link — as one
//! decorator over the core's ports ([`cached`]), shared by every storage backend, and [`Invalidation`]
//! with [`Caches::forget`]: the one table of which write forgets which entries.
//!
//! ## Why they are correct
//! - **Writes through this instance** forget what they changed as soon as the port call returns, whether it
//!   succeeded or not (a failure may have committed; forgetting too much only costs a miss).
//! - **A read racing a write**: a generation counter per cache closes the race between a reader that read
//!   before a write committed and that write's invalidation — a reader may fill the cache only if no
//!   invalidation happened since it started reading.
//! - **Writes through other instances** (PostgreSQL): the store hears them and calls [`Caches::forget`] with
//!   what they changed, and a write through the cached ports returns only once its change was heard by
//!   every listening instance ([`Propagation`]), so the very next request to any of them sees it; while it might be missing some (its listening connection is down, or not yet up) it
//!   calls [`Caches::bypass`] and every read goes to the database, and once it listens again
//!   [`Caches::resume`] forgets everything before serving from the caches again. SQLite has one writer, this
//!   process, and its caches are in use from the start. How each backend wires this: `docs/architecture.md`.
//! - **A belt**: no entry is served older than [`MAX_AGE`], whatever happened.
//!
//! ## What this crate must never depend on
//! A storage engine, a runtime or HTTP: it sees only the core's ports, so that both backends (and an
//! embedder's own) share one cache and one invalidation table.

mod caches;
mod forges;
mod invalidation;
mod members;
mod projects;
mod protected_branches;
mod status_checks;
mod tokens;
mod users;

pub use caches::{Caches, MAX_AGE, Propagation};
pub use invalidation::Invalidation;

use status_checks_core::service::Ports;
use std::sync::Arc;

/// `ports` with the cached lookups served from `caches` and every write that changes them forgetting what
/// it changed. Merge requests, responses and the outboxes pass through untouched.
pub fn cached(ports: Ports, caches: Arc<Caches>) -> Ports {
    Ports {
        users: Arc::new(users::CachedUsers {
            inner: ports.users,
            caches: caches.clone(),
        }),
        tokens: Arc::new(tokens::CachedTokens {
            inner: ports.tokens,
            caches: caches.clone(),
        }),
        projects: Arc::new(projects::CachedProjects {
            inner: ports.projects,
            caches: caches.clone(),
        }),
        members: Arc::new(members::CachedMembers {
            inner: ports.members,
            caches: caches.clone(),
        }),
        protected_branches: Arc::new(protected_branches::CachedProtectedBranches {
            inner: ports.protected_branches,
            caches: caches.clone(),
        }),
        status_checks: Arc::new(status_checks::CachedStatusChecks {
            inner: ports.status_checks,
            caches: caches.clone(),
        }),
        forges: Arc::new(forges::CachedForges {
            inner: ports.forges,
            caches,
        }),
        merge_requests: ports.merge_requests,
        responses: ports.responses,
        deliveries: ports.deliveries,
        clock: ports.clock,
        secrets: ports.secrets,
    }
}

#[cfg(test)]
mod tests;
