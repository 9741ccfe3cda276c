//! Project members and the rules for changing them.

use crate::Timestamp;
use crate::access::AccessLevel;
use crate::users::User;

/// A user's membership of a project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The member.
    pub user: User,
    /// Their role.
    pub access_level: AccessLevel,
    /// When they joined.
    pub created_at: Timestamp,
}

/// What `POST /projects/:id/members` asks for, after parameter parsing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewMemberInput {
    /// Who.
    pub user_id: crate::UserId,
    /// Which role.
    pub access_level: AccessLevel,
}

/// Whether a change of one member's level from `from` to `to` (`None` = removed) would leave the project
/// without an Owner, given how many Owners it has now.
pub fn leaves_no_owner(owners_now: u64, from: AccessLevel, to: Option<AccessLevel>) -> bool {
    from == AccessLevel::Owner && to != Some(AccessLevel::Owner) && owners_now <= 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn only_the_last_owner_is_protected(owners in 0u64..4, from in 0usize..5, to in proptest::option::of(0usize..5)) {
            let from = AccessLevel::ALL[from];
            let to = to.map(|i| AccessLevel::ALL[i]);
            let after = owners - u64::from(from == AccessLevel::Owner && owners > 0)
                + u64::from(to == Some(AccessLevel::Owner) && from == AccessLevel::Owner);
            let expected = from == AccessLevel::Owner && after == 0;
            prop_assert_eq!(leaves_no_owner(owners, from, to), expected);
        }
    }
}
