//! The caches themselves: maps guarded by a generation counter, and the switch that bypasses them all while
//! the instance may have missed an invalidation.

use crate::invalidation::Invalidation;
use status_checks_core::forges::ForgeLink;
use status_checks_core::ports::TokenWithOwner;
use status_checks_core::projects::{Project, ProjectRef};
use status_checks_core::status_checks::ExternalStatusCheck;
use status_checks_core::{AccessLevel, ProjectId, UserId};
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::{Duration, Instant};

/// Entries per cache before it is emptied (a crude bound on memory; misses are cheap).
pub(crate) const MAX_ENTRIES: usize = 10_000;

/// How long an entry is served at most, invalidated or not: a belt that bounds the damage a missed
/// invalidation could do. Correctness does not rest on it (see the crate's documentation).
pub const MAX_AGE: Duration = Duration::from_secs(60);

/// One cache: a map, the generation of its last invalidation, and the switch shared by all caches.
pub(crate) struct Cache<K, V> {
    map: RwLock<HashMap<K, (V, Instant)>>,
    generation: AtomicU64,
    usable: Arc<AtomicBool>,
}

impl<K: Eq + Hash, V: Clone> Cache<K, V> {
    fn new(usable: Arc<AtomicBool>) -> Self {
        Cache {
            map: RwLock::new(HashMap::new()),
            generation: AtomicU64::new(0),
            usable,
        }
    }

    /// The cached value, if any (never while the caches are bypassed).
    pub(crate) fn get(&self, key: &K) -> Option<V> {
        if !self.usable.load(Ordering::Acquire) {
            return None;
        }
        let map = self.map.read().ok()?;
        let (value, at) = map.get(key)?;
        (at.elapsed() < MAX_AGE).then(|| value.clone())
    }

    /// The generation to pass to [`Cache::put`], taken before reading the database.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Remembers `value`, unless an invalidation happened since `generation` was taken or the caches are
    /// bypassed.
    pub(crate) fn put(&self, key: K, value: V, generation: u64) {
        if let Ok(mut map) = self.map.write()
            && self.generation.load(Ordering::Acquire) == generation
            && self.usable.load(Ordering::Acquire)
        {
            if map.len() >= MAX_ENTRIES {
                map.clear();
            }
            map.insert(key, (value, Instant::now()));
        }
    }

    /// Forgets everything.
    pub(crate) fn clear(&self) {
        // (A poisoned lock disables the cache: `get` and `put` give up on it.)
        if let Ok(mut map) = self.map.write() {
            self.generation.fetch_add(1, Ordering::AcqRel);
            map.clear();
        }
    }

    /// Forgets one key.
    pub(crate) fn remove(&self, key: &K) {
        if let Ok(mut map) = self.map.write() {
            self.generation.fetch_add(1, Ordering::AcqRel);
            map.remove(key);
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.map.read().map(|m| m.len()).unwrap_or(0)
    }
}

/// How a project was named, normalised: paths match without regard to (ASCII) case, as both backends
/// compare them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum ProjectKey {
    Id(i64),
    Path(String),
}

impl ProjectKey {
    pub(crate) fn of(reference: &ProjectRef) -> Self {
        match reference {
            ProjectRef::Id(id) => ProjectKey::Id(id.0),
            ProjectRef::Path(path) => ProjectKey::Path(path.to_ascii_lowercase()),
        }
    }
}

/// A project and the caller's level in it, or `None` when there is no such project.
pub(crate) type ProjectAccess = Option<(Project, Option<AccessLevel>)>;

/// The caches of one instance. Shared (`Arc`) between the cached ports ([`crate::cached`]) and whatever
/// hears other instances' writes (the PostgreSQL adapter's listener).
pub struct Caches {
    /// Token hash → token and owner (hits only).
    pub(crate) tokens: Cache<String, TokenWithOwner>,
    /// (project, user) → the project and the user's level, or `None` for no such project.
    pub(crate) access: Cache<(ProjectKey, UserId), ProjectAccess>,
    /// Project → its checks with their protected branches. Shared: a hit costs a reference count, not a
    /// copy of every check.
    pub(crate) checks: Cache<ProjectId, Arc<[ExternalStatusCheck]>>,
    /// Project → its forge link, or `None` for a project not linked (E6, retries and merge-request writes
    /// ask on every call).
    pub(crate) links: Cache<ProjectId, Option<ForgeLink>>,
    usable: Arc<AtomicBool>,
    /// How the backend spreads this instance's invalidations to the others before a write is
    /// acknowledged; none for a backend with one instance.
    propagation: OnceLock<Arc<dyn Propagation>>,
}

/// How a backend with several instances makes a write's invalidation reach the other instances before the
/// write is acknowledged, so that the very next request to any of them sees it.
#[async_trait::async_trait]
pub trait Propagation: Send + Sync {
    /// Returns once what this instance has committed so far has been heard by every listening instance —
    /// or as soon as that cannot be told (this instance is not listening), or after a bound of the
    /// backend's choosing.
    async fn propagated(&self);
}

impl std::fmt::Debug for Caches {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Caches")
            .field("usable", &self.usable())
            .finish_non_exhaustive()
    }
}

impl Caches {
    /// Caches in use from the start: for a store that is the only writer of its data (SQLite, one process).
    pub fn new() -> Self {
        Self::with(true)
    }

    /// Caches bypassed until [`Caches::resume`]: for a store that must first hear other writers (PostgreSQL,
    /// once its listener listens).
    pub fn bypassed() -> Self {
        Self::with(false)
    }

    fn with(usable: bool) -> Self {
        let usable = Arc::new(AtomicBool::new(usable));
        Caches {
            tokens: Cache::new(usable.clone()),
            access: Cache::new(usable.clone()),
            checks: Cache::new(usable.clone()),
            links: Cache::new(usable.clone()),
            usable,
            propagation: OnceLock::new(),
        }
    }

    /// Has every write through the cached ports wait for `propagation` before it returns. Set once; a
    /// second call changes nothing.
    pub fn propagate_with(&self, propagation: Arc<dyn Propagation>) {
        let _ = self.propagation.set(propagation);
    }

    /// Forgets what `change` made stale here, then waits until it is forgotten everywhere (see
    /// [`Propagation`]).
    pub(crate) async fn forget_everywhere(&self, change: Invalidation) {
        self.forget(change);
        if let Some(propagation) = self.propagation.get() {
            propagation.propagated().await;
        }
    }

    /// Whether reads are served from the caches (false while bypassed).
    pub fn usable(&self) -> bool {
        self.usable.load(Ordering::Acquire)
    }

    /// Stops serving from and filling the caches, and forgets them: from now on every read goes to the
    /// database. For the moment an instance may stop hearing other instances' writes.
    pub fn bypass(&self) {
        self.usable.store(false, Ordering::Release);
        self.forget(Invalidation::All);
    }

    /// Forgets everything, then serves from the caches again. For the moment the instance hears other
    /// instances' writes again: call it only once listening, so that no write falls between the two.
    pub fn resume(&self) {
        self.forget(Invalidation::All);
        self.usable.store(true, Ordering::Release);
    }
}

impl Default for Caches {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache() -> Cache<usize, usize> {
        Cache::new(Arc::new(AtomicBool::new(true)))
    }

    #[test]
    fn a_reader_that_started_before_an_invalidation_cannot_fill_the_cache() {
        let cache = cache();
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
        let cache = cache();
        for i in 0..(MAX_ENTRIES + 10) {
            cache.put(i, i, cache.generation());
        }
        assert!(cache.len() <= MAX_ENTRIES);
    }

    #[test]
    fn bypassed_caches_neither_serve_nor_fill_and_resume_empty() {
        let caches = Caches::new();
        let id = ProjectId(7);
        caches.links.put(id, None, caches.links.generation());
        assert_eq!(caches.links.get(&id), Some(None));

        let before = caches.links.generation();
        caches.bypass();
        assert!(!caches.usable());
        assert_eq!(caches.links.get(&id), None, "not served while bypassed");
        caches.links.put(id, None, caches.links.generation());
        assert_eq!(caches.links.len(), 0, "not filled while bypassed");

        caches.resume();
        assert!(caches.usable());
        assert_eq!(caches.links.get(&id), None, "forgotten on resume");
        caches.links.put(id, None, before);
        assert_eq!(
            caches.links.get(&id),
            None,
            "a read begun before the bypass cannot fill the cache after it"
        );
    }

    #[test]
    fn project_keys_ignore_ascii_case() {
        assert_eq!(
            ProjectKey::of(&ProjectRef::Path("Group/Proj".into())),
            ProjectKey::of(&ProjectRef::Path("group/PROJ".into()))
        );
    }
}
