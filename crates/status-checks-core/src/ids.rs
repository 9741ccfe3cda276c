//! Identifiers: newtypes, so that a project id can never be passed where a user id is expected, and the
//! commit SHA that names a merge request's HEAD.
//!
//! Every numeric id is the database's 64-bit integer, rendered as a JSON number.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! id_type {
    ($(#[$doc:meta] $name:ident),* $(,)?) => {$(
        #[$doc]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    )*};
}

id_type! {
    /// A user's id.
    UserId,
    /// A personal access token's id.
    TokenId,
    /// A project's id.
    ProjectId,
    /// A protected branch's id (global, not per project).
    ProtectedBranchId,
    /// A merge request's global id (`id`, not `iid`).
    MergeRequestId,
    /// A merge request's number within its project (`iid`, counting from 1).
    MergeRequestIid,
    /// An external status check's id.
    StatusCheckId,
    /// A status check response's id.
    ResponseId,
    /// An outgoing notification's id.
    DeliveryId,
    /// A commit status post's id (the forge bridge's outbox).
    ForgeStatusId,
}

/// A commit SHA: 40 hex characters (SHA-1) or 64 (SHA-256 repositories), kept in lower case.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CommitSha(String);

/// A string that is not a commit SHA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("sha is invalid")]
pub struct InvalidSha;

impl CommitSha {
    /// Validates 40 or 64 hex characters, in either case; stores lower case.
    pub fn parse(raw: &str) -> Result<Self, InvalidSha> {
        if (raw.len() == 40 || raw.len() == 64) && raw.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(CommitSha(raw.to_ascii_lowercase()))
        } else {
            Err(InvalidSha)
        }
    }

    /// The SHA in lower-case hex.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for CommitSha {
    type Error = InvalidSha;
    fn try_from(raw: String) -> Result<Self, Self::Error> {
        CommitSha::parse(&raw)
    }
}

impl From<CommitSha> for String {
    fn from(sha: CommitSha) -> String {
        sha.0
    }
}

impl fmt::Display for CommitSha {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn sha_examples() {
        assert!(CommitSha::parse(&"a".repeat(40)).is_ok());
        assert!(CommitSha::parse(&"0".repeat(64)).is_ok());
        assert_eq!(
            CommitSha::parse(&"AB".repeat(20)).map(|s| s.0),
            Ok("ab".repeat(20))
        );
        assert!(CommitSha::parse(&"a".repeat(41)).is_err());
        assert!(CommitSha::parse(&"g".repeat(40)).is_err());
        assert!(CommitSha::parse("").is_err());
        // Non-ASCII must not sneak past a length check measured in bytes.
        assert!(CommitSha::parse(&"é".repeat(20)).is_err());
    }

    proptest! {
        #[test]
        fn sha_accepts_exactly_40_or_64_hex(raw in "[0-9a-fA-Fg-z]{0,70}") {
            let expected = (raw.len() == 40 || raw.len() == 64) && raw.chars().all(|c| c.is_ascii_hexdigit());
            let parsed = CommitSha::parse(&raw);
            prop_assert_eq!(parsed.is_ok(), expected);
            if let Ok(sha) = parsed {
                prop_assert_eq!(sha.as_str(), raw.to_ascii_lowercase());
            }
        }
    }
}
