//! Test kit for embedders and adapters (feature `testkit`):
//!
//! - [`strategies`]: proptest strategies for the domain values;
//! - [`contract`]: the ports' contract test suite, written once and generic over the adapter, so that every
//!   storage adapter — ours and an embedder's — runs the very same checks (`port_contract_tests!`);
//! - [`FixedClock`] and [`SequentialSecrets`]: deterministic clock and randomness ports.

pub mod contract;
pub mod strategies;

use crate::Timestamp;
use crate::ports::{Clock, SecretGenerator};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// A clock that says what it is told. Starts at 2023-11-14T22:13:20Z.
#[derive(Debug)]
pub struct FixedClock(Mutex<Timestamp>);

impl Default for FixedClock {
    fn default() -> Self {
        FixedClock(Mutex::new(
            chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default(),
        ))
    }
}

impl FixedClock {
    /// A clock at `at`.
    pub fn at(at: Timestamp) -> Self {
        FixedClock(Mutex::new(at))
    }

    /// Moves the clock.
    pub fn set(&self, at: Timestamp) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = at;
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: std::time::Duration) {
        let mut now = self.0.lock().unwrap_or_else(|e| e.into_inner());
        *now += chrono::TimeDelta::from_std(by).unwrap_or_default();
    }
}

impl Clock for FixedClock {
    fn now(&self) -> Timestamp {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Predictable secrets: `glpat-test-000…1`, `key-1`, … — unique, never random.
#[derive(Debug, Default)]
pub struct SequentialSecrets(AtomicU64);

impl SecretGenerator for SequentialSecrets {
    fn personal_access_token(&self) -> String {
        format!(
            "glpat-test-{:020}",
            self.0.fetch_add(1, Ordering::Relaxed) + 1
        )
    }

    fn idempotency_key(&self) -> String {
        format!("key-{}", self.0.fetch_add(1, Ordering::Relaxed) + 1)
    }
}
