//! GitLab's project access levels.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A member's role in a project, ordered from least to most powerful, with GitLab's numeric values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(into = "i32", try_from = "i32")]
pub enum AccessLevel {
    /// 10: may see the project.
    Guest,
    /// 20: may read merge requests and their status checks (URLs hidden).
    Reporter,
    /// 30: may open and update merge requests and answer status checks.
    Developer,
    /// 40: may manage status checks, protected branches and members.
    Maintainer,
    /// 50: may also delete the project.
    Owner,
}

impl AccessLevel {
    /// Every level, from least to most powerful.
    pub const ALL: [AccessLevel; 5] = [
        AccessLevel::Guest,
        AccessLevel::Reporter,
        AccessLevel::Developer,
        AccessLevel::Maintainer,
        AccessLevel::Owner,
    ];

    /// GitLab's numeric value (10, 20, 30, 40, 50).
    pub fn value(self) -> i32 {
        match self {
            AccessLevel::Guest => 10,
            AccessLevel::Reporter => 20,
            AccessLevel::Developer => 30,
            AccessLevel::Maintainer => 40,
            AccessLevel::Owner => 50,
        }
    }

    /// The level with this numeric value, if it is one of GitLab's five.
    pub fn from_value(value: i64) -> Option<AccessLevel> {
        AccessLevel::ALL
            .into_iter()
            .find(|level| i64::from(level.value()) == value)
    }
}

impl From<AccessLevel> for i32 {
    fn from(level: AccessLevel) -> i32 {
        level.value()
    }
}

impl TryFrom<i32> for AccessLevel {
    type Error = String;
    fn try_from(value: i32) -> Result<Self, Self::Error> {
        AccessLevel::from_value(i64::from(value))
            .ok_or_else(|| format!("{value} is not an access level"))
    }
}

impl fmt::Display for AccessLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            AccessLevel::Guest => "Guest",
            AccessLevel::Reporter => "Reporter",
            AccessLevel::Developer => "Developer",
            AccessLevel::Maintainer => "Maintainer",
            AccessLevel::Owner => "Owner",
        };
        f.write_str(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn values_are_gitlabs() {
        let values: Vec<i32> = AccessLevel::ALL.iter().map(|l| l.value()).collect();
        assert_eq!(values, vec![10, 20, 30, 40, 50]);
    }

    proptest! {
        #[test]
        fn from_value_round_trips_and_rejects_others(v in -100i64..100) {
            match AccessLevel::from_value(v) {
                Some(level) => prop_assert_eq!(i64::from(level.value()), v),
                None => prop_assert!(![10, 20, 30, 40, 50].contains(&v)),
            }
        }

        #[test]
        fn order_follows_values(a in 0usize..5, b in 0usize..5) {
            let (a, b) = (AccessLevel::ALL[a], AccessLevel::ALL[b]);
            prop_assert_eq!(a.cmp(&b), a.value().cmp(&b.value()));
        }
    }
}
