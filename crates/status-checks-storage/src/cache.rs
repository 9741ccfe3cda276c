//! Read-through caches of the lookups nearly every request makes: the token (authentication), the project
//! with the caller's access level, a project's checks with their scopes, and its forge link; and [`Invalidation`], the one
//! table of which write forgets which entries.
//!
//! They are correct because this process is the only writer of what they hold: every write of those rows goes
//! through this store, which names its [`Invalidation`] and clears the affected cache after committing.
//! (Offline commands in another process only create users and tokens, which a cache never holds as
//! "missing".) A generation counter closes the race between a reader that read before a write committed and
//! that write's invalidation: a reader may fill the cache only if no invalidation happened since it started
//! reading. Run one `serve` process per database.

use status_checks_core::forges::ForgeLink;
use status_checks_core::ports::TokenWithOwner;
use status_checks_core::projects::{Project, ProjectRef};
use status_checks_core::status_checks::ExternalStatusCheck;
use status_checks_core::{AccessLevel, ProjectId, UserId};
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// Entries per cache before it is emptied (a crude bound on memory; misses are cheap).
const MAX_ENTRIES: usize = 10_000;

/// One cache: a map and the generation of its last invalidation.
pub(crate) struct Cache<K, V> {
    map: RwLock<HashMap<K, V>>,
    generation: AtomicU64,
}

impl<K: Eq + Hash, V: Clone> Cache<K, V> {
    fn new() -> Self {
        Cache {
            map: RwLock::new(HashMap::new()),
            generation: AtomicU64::new(0),
        }
    }

    /// The cached value, if any.
    pub(crate) fn get(&self, key: &K) -> Option<V> {
        self.map.read().ok()?.get(key).cloned()
    }

    /// The generation to pass to [`Cache::put`], taken before reading the database.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Remembers `value`, unless an invalidation happened since `generation` was taken.
    pub(crate) fn put(&self, key: K, value: V, generation: u64) {
        if let Ok(mut map) = self.map.write()
            && self.generation.load(Ordering::Acquire) == generation
        {
            if map.len() >= MAX_ENTRIES {
                map.clear();
            }
            map.insert(key, value);
        }
    }

    /// Forgets everything.
    fn clear(&self) {
        if let Ok(mut map) = self.map.write() {
            self.generation.fetch_add(1, Ordering::AcqRel);
            map.clear();
        }
    }

    /// Forgets one key.
    fn remove(&self, key: &K) {
        if let Ok(mut map) = self.map.write() {
            self.generation.fetch_add(1, Ordering::AcqRel);
            map.remove(key);
        }
    }
}

/// How a project was named, normalised (paths match without regard to case).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum ProjectKey {
    Id(i64),
    Path(String),
}

impl ProjectKey {
    pub(crate) fn of(reference: &ProjectRef) -> Self {
        match reference {
            ProjectRef::Id(id) => ProjectKey::Id(id.0),
            // ASCII only, exactly as SQLite's NOCASE compares the column.
            ProjectRef::Path(path) => ProjectKey::Path(path.to_ascii_lowercase()),
        }
    }
}

/// A project and the caller's level in it, or `None` when there is no such project.
pub(crate) type ProjectAccess = Option<(Project, Option<AccessLevel>)>;

/// The store's caches.
pub(crate) struct Caches {
    /// Token hash → token and owner (hits only).
    pub(crate) tokens: Cache<String, TokenWithOwner>,
    /// (project, user) → the project and the user's level, or `None` for no such project.
    pub(crate) access: Cache<(ProjectKey, UserId), ProjectAccess>,
    /// Project → its checks with their protected branches.
    /// Shared: a hit costs a reference count, not a copy of every check.
    pub(crate) checks: Cache<ProjectId, std::sync::Arc<[ExternalStatusCheck]>>,
    /// Project → its forge link, or `None` for a project not linked (E6, retries and merge-request writes
    /// ask on every call).
    pub(crate) links: Cache<ProjectId, Option<ForgeLink>>,
}

impl Caches {
    pub(crate) fn new() -> Self {
        Caches {
            tokens: Cache::new(),
            access: Cache::new(),
            checks: Cache::new(),
            links: Cache::new(),
        }
    }

    /// Forgets what `write` made stale: the table of which write invalidates which entries.
    pub(crate) fn forget(&self, write: Invalidation) {
        match write {
            Invalidation::UserDeleted => {
                self.tokens.clear();
                self.access.clear();
            }
            Invalidation::TokenRevoked => self.tokens.clear(),
            Invalidation::ProjectCreated
            | Invalidation::ProjectUpdated
            | Invalidation::MembersChanged => self.access.clear(),
            Invalidation::ProjectDeleted(project) => {
                self.access.clear();
                self.checks.remove(&project);
                self.links.remove(&project);
            }
            Invalidation::ForgeLinkChanged(project) => self.links.remove(&project),
            Invalidation::ChecksChanged(project)
            | Invalidation::ProtectedBranchDeleted(project) => self.checks.remove(&project),
        }
    }
}

/// The writes that change what a cache holds; [`Caches::forget`] says what each one forgets. The other writes
/// leave the caches alone: a new user or token (tokens are cached only when found), a new protected branch (no
/// check is scoped to it yet), merge requests, responses, deliveries and status posts (never cached), and a
/// link's sync schedule (not part of the link read).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Invalidation {
    /// A user deleted, with their tokens and memberships.
    UserDeleted,
    /// A token revoked (tokens are cached by hash, not id: all are forgotten).
    TokenRevoked,
    /// A project created: its id or path may be cached as "no such project".
    ProjectCreated,
    /// A project's name or merge setting changed.
    ProjectUpdated,
    /// A project deleted, with its members and checks.
    ProjectDeleted(ProjectId),
    /// A member added, given another level, or removed.
    MembersChanged,
    /// A check of the project created, updated or deleted.
    ChecksChanged(ProjectId),
    /// A protected branch of the project deleted, and with it the scopes of the checks that named it.
    ProtectedBranchDeleted(ProjectId),
    /// The project's forge link saved or deleted, or a delivery applied (its `last_event_at`).
    ForgeLinkChanged(ProjectId),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reader_that_started_before_an_invalidation_cannot_fill_the_cache() {
        let cache: Cache<u8, u8> = Cache::new();
        let before = cache.generation();
        cache.clear();
        cache.put(1, 1, before);
        assert_eq!(cache.get(&1), None);
        let now = cache.generation();
        cache.put(1, 2, now);
        assert_eq!(cache.get(&1), Some(2));
        cache.remove(&1);
        assert_eq!(cache.get(&1), None);
    }

    #[test]
    fn the_cache_stays_bounded() {
        let cache: Cache<usize, usize> = Cache::new();
        for i in 0..(MAX_ENTRIES + 10) {
            cache.put(i, i, cache.generation());
        }
        assert!(cache.map.read().map(|m| m.len()).unwrap_or(0) <= MAX_ENTRIES);
    }
}
