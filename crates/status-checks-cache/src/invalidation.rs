//! [`Invalidation`]: what a write changed, and [`Caches::forget`], the one table of which entries each
//! change makes stale. The same values travel between instances as text ([`Invalidation::payload`],
//! [`Invalidation::parse`]): the PostgreSQL adapter's triggers send them, its listener hands them here.

use crate::caches::Caches;
use status_checks_core::ProjectId;

/// What a write changed, as far as a cache is concerned. The writes not named here leave the caches alone:
/// merge requests, responses, deliveries, status posts and a link's sync schedule are never cached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invalidation {
    /// A user changed or deleted (with their tokens and memberships). Payload `users`.
    Users,
    /// A token created, changed, revoked or deleted (tokens are cached by hash, not id). Payload `tokens`.
    Tokens,
    /// A project created, changed or deleted (with its members, checks and link); `None` when which one is
    /// not known. Payload `projects:<id>`.
    Project(Option<ProjectId>),
    /// A member of the project added, given another level or removed. Payload `members:<id>`.
    Members(ProjectId),
    /// A protected branch of the project created or deleted (with the check scopes that named it). Payload
    /// `protected_branches:<id>`.
    ProtectedBranches(ProjectId),
    /// A check of the project created, updated or deleted, or its scope changed. Payload `status_checks:<id>`.
    StatusChecks(ProjectId),
    /// The project's forge link saved or deleted, or a delivery applied (its `last_event_at`). Payload
    /// `forge_links:<id>`.
    ForgeLink(ProjectId),
    /// Anything: what to forget when it is not known what changed. Payload `*`.
    All,
}

impl Invalidation {
    /// The text form, as sent between instances: a kind, and for project data `:` and the project's id.
    pub fn payload(&self) -> String {
        let (kind, project) = match self {
            Invalidation::Users => return "users".to_owned(),
            Invalidation::Tokens => return "tokens".to_owned(),
            Invalidation::All | Invalidation::Project(None) => return "*".to_owned(),
            Invalidation::Project(Some(p)) => ("projects", p),
            Invalidation::Members(p) => ("members", p),
            Invalidation::ProtectedBranches(p) => ("protected_branches", p),
            Invalidation::StatusChecks(p) => ("status_checks", p),
            Invalidation::ForgeLink(p) => ("forge_links", p),
        };
        format!("{kind}:{}", project.0)
    }

    /// The invalidation a payload names; [`Invalidation::All`] for one not understood (forgetting too
    /// much costs misses; forgetting too little would serve stale data).
    pub fn parse(payload: &str) -> Invalidation {
        let (kind, project) = match payload.split_once(':') {
            Some((kind, id)) => match id.parse::<i64>() {
                Ok(id) => (kind, Some(ProjectId(id))),
                Err(_) => return Invalidation::All,
            },
            None => (payload, None),
        };
        match (kind, project) {
            ("users", None) => Invalidation::Users,
            ("tokens", None) => Invalidation::Tokens,
            ("projects", Some(p)) => Invalidation::Project(Some(p)),
            ("members", Some(p)) => Invalidation::Members(p),
            ("protected_branches", Some(p)) => Invalidation::ProtectedBranches(p),
            ("status_checks", Some(p)) => Invalidation::StatusChecks(p),
            ("forge_links", Some(p)) => Invalidation::ForgeLink(p),
            _ => Invalidation::All,
        }
    }
}

impl Caches {
    /// Forgets what `change` made stale: **the** table of which change invalidates which entries. The
    /// access cache is keyed by how the project was named (an id or a path), so a change to one project's
    /// access forgets every access entry.
    pub fn forget(&self, change: Invalidation) {
        match change {
            Invalidation::Users => {
                self.tokens.clear();
                self.access.clear();
            }
            Invalidation::Tokens => self.tokens.clear(),
            Invalidation::Members(_) => self.access.clear(),
            Invalidation::Project(Some(project)) => {
                self.access.clear();
                self.checks.remove(&project);
                self.links.remove(&project);
            }
            Invalidation::ProtectedBranches(project) | Invalidation::StatusChecks(project) => {
                self.checks.remove(&project)
            }
            Invalidation::ForgeLink(project) => self.links.remove(&project),
            Invalidation::Project(None) | Invalidation::All => {
                self.tokens.clear();
                self.access.clear();
                self.checks.clear();
                self.links.clear();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_invalidation_survives_its_payload() {
        let p = Some(ProjectId(42));
        for change in [
            Invalidation::Users,
            Invalidation::Tokens,
            Invalidation::Project(p),
            Invalidation::Members(ProjectId(42)),
            Invalidation::ProtectedBranches(ProjectId(42)),
            Invalidation::StatusChecks(ProjectId(42)),
            Invalidation::ForgeLink(ProjectId(42)),
            Invalidation::All,
        ] {
            assert_eq!(Invalidation::parse(&change.payload()), change, "{change:?}");
        }
        assert_eq!(Invalidation::Project(None).payload(), "*");
    }

    #[test]
    fn a_payload_not_understood_forgets_everything() {
        for payload in [
            "",
            "users:1",
            "members",
            "members:x",
            "checks:1",
            "status_checks:1:2",
        ] {
            assert_eq!(
                Invalidation::parse(payload),
                Invalidation::All,
                "{payload:?}"
            );
        }
    }
}
