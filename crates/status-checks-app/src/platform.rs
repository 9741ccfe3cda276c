//! The platform adapters of the core's ports: the system clock and operating-system randomness.

use status_checks_core::Timestamp;
use status_checks_core::ports::{Clock, SecretGenerator};

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        chrono::Utc::now()
    }
}

/// Secrets from the operating system's random source.
#[derive(Debug, Default, Clone, Copy)]
pub struct OsSecrets;

const TOKEN_ALPHABET: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

impl SecretGenerator for OsSecrets {
    /// `glpat-` and 26 characters from a 64-letter alphabet: 156 random bits.
    fn personal_access_token(&self) -> String {
        let mut bytes = [0u8; 26];
        if let Err(e) = getrandom::fill(&mut bytes) {
            // Without randomness no token is safe; the OS source failing is not recoverable.
            panic!("operating-system randomness unavailable: {e}");
        }
        let suffix: String = bytes
            .iter()
            .map(|b| char::from(TOKEN_ALPHABET[usize::from(*b & 63)]))
            .collect();
        format!("glpat-{suffix}")
    }

    fn idempotency_key(&self) -> String {
        uuid::Uuid::new_v4().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_distinct_and_url_safe() {
        let (a, b) = (
            OsSecrets.personal_access_token(),
            OsSecrets.personal_access_token(),
        );
        assert_ne!(a, b);
        assert_eq!(a.len(), 32);
        assert!(a.starts_with("glpat-"));
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
        assert_ne!(OsSecrets.idempotency_key(), OsSecrets.idempotency_key());
    }
}
