//! The retry schedule of a delivery that failed: exponential back-off with a cap (docs/notifications.md).

use std::time::Duration;

/// The wait before the next attempt after `attempts_made` failed ones: 1 s, 2 s, 4 s, … capped at 5 minutes.
pub fn retry_delay(attempts_made: u32) -> Duration {
    const CAP: Duration = Duration::from_secs(300);
    let exponent = attempts_made.saturating_sub(1).min(16);
    Duration::from_secs(1u64 << exponent).min(CAP)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn backoff_schedule() {
        let secs: Vec<u64> = (1..=10).map(|n| retry_delay(n).as_secs()).collect();
        assert_eq!(secs, vec![1, 2, 4, 8, 16, 32, 64, 128, 256, 300]);
        assert_eq!(retry_delay(1000), Duration::from_secs(300));
    }

    proptest! {
        #[test]
        fn backoff_never_shrinks_and_is_capped(n in 0u32..10_000) {
            prop_assert!(retry_delay(n) <= retry_delay(n + 1));
            prop_assert!(retry_delay(n) <= Duration::from_secs(300));
            prop_assert!(retry_delay(n) >= Duration::from_secs(1));
        }
    }
}
