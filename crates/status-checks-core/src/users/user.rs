//! Users: the people and bots that call the API.

use crate::Timestamp;
use crate::ids::UserId;
use serde::{Deserialize, Serialize};

/// The longest username, name or e-mail accepted, in characters.
pub const MAX_USER_FIELD_CHARS: usize = 255;

/// A username: 1 to 255 characters from `[A-Za-z0-9_.-]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Username(String);

/// A username that breaks the rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("username is invalid")]
pub struct InvalidUsername;

impl Username {
    /// Validates a username.
    pub fn new(raw: impl Into<String>) -> Result<Self, InvalidUsername> {
        let raw = raw.into();
        let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-');
        if raw.is_empty() || raw.len() > MAX_USER_FIELD_CHARS || !raw.chars().all(allowed) {
            return Err(InvalidUsername);
        }
        Ok(Username(raw))
    }

    /// The username.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Username {
    type Error = InvalidUsername;
    fn try_from(raw: String) -> Result<Self, Self::Error> {
        Username::new(raw)
    }
}

impl From<Username> for String {
    fn from(name: Username) -> String {
        name.0
    }
}

/// A user account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Its id.
    pub id: UserId,
    /// Unique login name.
    pub username: Username,
    /// Display name.
    pub name: String,
    /// E-mail address, if known.
    pub email: Option<String>,
    /// Administrators may do everything everywhere.
    pub is_admin: bool,
    /// When the account was created.
    pub created_at: Timestamp,
}

impl User {
    /// GitLab's account state; every account here is `active` (blocking is not supported).
    pub fn state(&self) -> &'static str {
        "active"
    }
}

/// A user to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUser {
    /// Unique login name.
    pub username: Username,
    /// Display name.
    pub name: String,
    /// E-mail address.
    pub email: Option<String>,
    /// Whether the user is an administrator.
    pub is_admin: bool,
    /// Creation time.
    pub created_at: Timestamp,
}

/// What `POST /users` asks for, before the rules are applied.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NewUserInput {
    /// Required.
    pub username: String,
    /// Defaults to the username.
    pub name: Option<String>,
    /// Optional.
    pub email: Option<String>,
    /// Defaults to false.
    pub admin: bool,
}

/// Whether an e-mail address looks like one: `local@domain`, no white space, at most 255 characters.
pub fn is_plausible_email(raw: &str) -> bool {
    let Some((local, domain)) = raw.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.is_empty()
        && !domain.contains('@')
        && raw.len() <= MAX_USER_FIELD_CHARS
        && !raw.chars().any(|c| c.is_whitespace() || c.is_control())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn usernames() {
        assert!(Username::new("root").is_ok());
        assert!(Username::new("a.b-c_d9").is_ok());
        assert!(Username::new("").is_err());
        assert!(Username::new("a b").is_err());
        assert!(Username::new("a/b").is_err());
        assert!(Username::new("é").is_err());
        assert!(Username::new("x".repeat(256)).is_err());
    }

    #[test]
    fn emails() {
        assert!(is_plausible_email("a@b.c"));
        assert!(!is_plausible_email("ab.c"));
        assert!(!is_plausible_email("@b"));
        assert!(!is_plausible_email("a@"));
        assert!(!is_plausible_email("a b@c"));
        assert!(!is_plausible_email("a@b@c"));
    }

    proptest! {
        #[test]
        fn username_accepts_exactly_the_allowed_alphabet(raw in "\\PC{0,20}") {
            let allowed = !raw.is_empty()
                && raw.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
            prop_assert_eq!(Username::new(raw.clone()).is_ok(), allowed);
        }
    }
}
