//! Personal access tokens: only a hash is kept; scopes `api` and `read_api`; expiry; revocation.

use crate::Timestamp;
use crate::ids::{TokenId, UserId};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenScope {
    /// Everything the user may do.
    Api,
    /// Only reads (GET).
    ReadApi,
}

impl TokenScope {
    /// GitLab's name of the scope.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenScope::Api => "api",
            TokenScope::ReadApi => "read_api",
        }
    }

    /// The scope with this name.
    pub fn parse(raw: &str) -> Option<TokenScope> {
        match raw {
            "api" => Some(TokenScope::Api),
            "read_api" => Some(TokenScope::ReadApi),
            _ => None,
        }
    }
}

/// The SHA-256 of a token, as 64 lowercase hex characters. The only form in which a token is stored.
///
/// Tokens are long random strings, so a fast unsalted hash is what GitLab uses too: nobody can guess a
/// preimage, and it allows an indexed lookup.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TokenHash(String);

impl TokenHash {
    /// The hash of a raw token.
    pub fn of(raw_token: &str) -> Self {
        // Every authenticated request hashes its token: hex digits from a table, not `write!`, which the
        // profile of E5 showed to cost as much as its SQLite read (docs/benchmarks.md).
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let digest = Sha256::digest(raw_token.as_bytes());
        let mut hex = String::with_capacity(64);
        for byte in digest {
            hex.push(char::from(DIGITS[usize::from(byte >> 4)]));
            hex.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
        }
        TokenHash(hex)
    }

    /// A hash read back from storage.
    pub fn from_stored(hex: String) -> Self {
        TokenHash(hex)
    }

    /// The hex digest.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Equality in time independent of where the first difference is.
    pub fn constant_time_eq(&self, other: &TokenHash) -> bool {
        let (a, b) = (self.0.as_bytes(), other.0.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

/// A personal access token (never the token itself: that is shown once, at creation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonalAccessToken {
    /// Its id.
    pub id: TokenId,
    /// Whose token it is.
    pub user_id: UserId,
    /// A label.
    pub name: String,
    /// Its scopes, at least one, sorted.
    pub scopes: Vec<TokenScope>,
    /// The date from whose start (00:00 UTC) it no longer works.
    pub expires_at: Option<NaiveDate>,
    /// Revoked tokens never work again.
    pub revoked: bool,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it was last used, if ever.
    pub last_used_at: Option<Timestamp>,
}

impl PersonalAccessToken {
    /// Whether the token has passed its expiry date at `now`: it stops working at 00:00 UTC on that date.
    pub fn is_expired_at(&self, now: Timestamp) -> bool {
        self.expires_at.is_some_and(|date| now.date_naive() >= date)
    }

    /// Whether the token works at `now`: not revoked and not expired.
    pub fn is_active_at(&self, now: Timestamp) -> bool {
        !self.revoked && !self.is_expired_at(now)
    }

    /// Whether the token may write (`api` scope).
    pub fn can_write(&self) -> bool {
        self.scopes.contains(&TokenScope::Api)
    }
}

/// A token to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewToken {
    /// Whose token it is.
    pub user_id: UserId,
    /// A label.
    pub name: String,
    /// The hash of the raw token.
    pub hash: TokenHash,
    /// At least one scope, sorted, without duplicates.
    pub scopes: Vec<TokenScope>,
    /// Optional expiry date.
    pub expires_at: Option<NaiveDate>,
    /// Creation time.
    pub created_at: Timestamp,
}

/// What `POST /users/:id/personal_access_tokens` asks for, after parameter parsing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTokenInput {
    /// Required, not blank.
    pub name: String,
    /// Required, at least one.
    pub scopes: Vec<TokenScope>,
    /// Optional; must be in the future.
    pub expires_at: Option<NaiveDate>,
}

/// A token just created: its record and the raw token, to be shown exactly once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedToken {
    /// The stored record.
    pub token: PersonalAccessToken,
    /// The secret itself.
    pub raw: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use proptest::prelude::*;

    fn token(expires_at: Option<NaiveDate>, revoked: bool) -> PersonalAccessToken {
        PersonalAccessToken {
            id: TokenId(1),
            user_id: UserId(1),
            name: "t".into(),
            scopes: vec![TokenScope::ReadApi],
            expires_at,
            revoked,
            created_at: Utc.timestamp_opt(0, 0).single().unwrap_or_default(),
            last_used_at: None,
        }
    }

    #[test]
    fn hash_is_sha256_hex() {
        assert_eq!(
            TokenHash::of("abc").as_str(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn expiry_starts_at_midnight_utc() {
        let date = NaiveDate::from_ymd_opt(2026, 1, 2);
        let t = token(date, false);
        let before = Utc
            .with_ymd_and_hms(2026, 1, 1, 23, 59, 59)
            .single()
            .unwrap_or_default();
        let at = Utc
            .with_ymd_and_hms(2026, 1, 2, 0, 0, 0)
            .single()
            .unwrap_or_default();
        assert!(t.is_active_at(before));
        assert!(!t.is_active_at(at));
        assert!(!token(None, true).is_active_at(before));
        assert!(token(None, false).is_active_at(at));
        assert!(!token(None, false).can_write());
    }

    proptest! {
        #[test]
        fn constant_time_eq_is_equality(a in "[0-9a-f]{0,8}", b in "[0-9a-f]{0,8}") {
            let (ha, hb) = (TokenHash::from_stored(a.clone()), TokenHash::from_stored(b.clone()));
            prop_assert_eq!(ha.constant_time_eq(&hb), a == b);
        }

        #[test]
        fn different_tokens_hash_differently(a in "\\PC{1,30}", b in "\\PC{1,30}") {
            prop_assume!(a != b);
            prop_assert_ne!(TokenHash::of(&a), TokenHash::of(&b));
        }
    }
}
