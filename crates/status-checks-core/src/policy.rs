//! The permission policy: the one place that answers "may this actor do this on this project?".
//!
//! Outcomes follow GitLab: someone who is not a member of a project (and not an administrator) must not
//! learn that it exists — `404 Project Not Found`; a member whose role is too low gets `403 Forbidden`.
//! Administrators may do everything everywhere.

use crate::access::AccessLevel;
use crate::ids::UserId;
use crate::status_checks::UrlVisibility;

/// Who is calling: the authenticated user and what their token allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// The user.
    pub user_id: UserId,
    /// Their username.
    pub username: String,
    /// Their display name.
    pub name: String,
    /// Whether they are an administrator.
    pub is_admin: bool,
    /// Whether the token has the `api` scope (a `read_api` token may only read).
    pub can_write: bool,
}

/// Something one can do within a project.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProjectAction {
    /// See the project.
    ReadProject,
    /// Change its settings.
    UpdateProject,
    /// Delete it.
    DeleteProject,
    /// List its members.
    ReadMembers,
    /// Add, change or remove members.
    ManageMembers,
    /// List protected branches.
    ReadProtectedBranches,
    /// Protect or unprotect branches.
    ManageProtectedBranches,
    /// Read merge requests.
    ReadMergeRequests,
    /// Open, update and merge merge requests.
    WriteMergeRequests,
    /// E1–E4: list, create, update and delete status checks; list deliveries.
    ManageStatusChecks,
    /// E5: see the status checks of a merge request.
    ReadStatusChecks,
    /// E6: answer a status check.
    RespondToStatusChecks,
    /// E7: retry a failed status check.
    RetryStatusChecks,
    /// Link the project to its forge, change or remove the link, sync, list status posts.
    ManageForgeLink,
}

impl ProjectAction {
    /// Every action.
    pub const ALL: [ProjectAction; 14] = [
        ProjectAction::ReadProject,
        ProjectAction::UpdateProject,
        ProjectAction::DeleteProject,
        ProjectAction::ReadMembers,
        ProjectAction::ManageMembers,
        ProjectAction::ReadProtectedBranches,
        ProjectAction::ManageProtectedBranches,
        ProjectAction::ReadMergeRequests,
        ProjectAction::WriteMergeRequests,
        ProjectAction::ManageStatusChecks,
        ProjectAction::ReadStatusChecks,
        ProjectAction::RespondToStatusChecks,
        ProjectAction::RetryStatusChecks,
        ProjectAction::ManageForgeLink,
    ];

    /// The lowest role that may do it.
    pub fn required_level(self) -> AccessLevel {
        use ProjectAction::*;
        match self {
            ReadProject | ReadMembers => AccessLevel::Guest,
            ReadMergeRequests | ReadStatusChecks => AccessLevel::Reporter,
            ReadProtectedBranches
            | WriteMergeRequests
            | RespondToStatusChecks
            | RetryStatusChecks => AccessLevel::Developer,
            UpdateProject
            | ManageMembers
            | ManageProtectedBranches
            | ManageStatusChecks
            | ManageForgeLink => AccessLevel::Maintainer,
            DeleteProject => AccessLevel::Owner,
        }
    }
}

/// Why the policy said no.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denial {
    /// Not a member: the project must look as if it did not exist (404).
    NotFound,
    /// A member without the role (403).
    Forbidden,
}

/// Whether the actor may see the project at all (any membership, or administrator).
pub fn can_see_project(actor: &Actor, membership: Option<AccessLevel>) -> bool {
    actor.is_admin || membership.is_some()
}

/// May `actor`, with `membership` in a project (`None` for non-members), do `action` there?
pub fn authorize(
    actor: &Actor,
    membership: Option<AccessLevel>,
    action: ProjectAction,
) -> Result<(), Denial> {
    if actor.is_admin {
        return Ok(());
    }
    match membership {
        None => Err(Denial::NotFound),
        Some(level) if level >= action.required_level() => Ok(()),
        Some(_) => Err(Denial::Forbidden),
    }
}

/// How much of a check's URL an actor sees where checks are shown on merge requests (E5, E6): Reporters
/// nothing, Developers and above (administrators included) the URL without its query string.
pub fn url_visibility_on_merge_requests(
    actor: &Actor,
    membership: Option<AccessLevel>,
) -> UrlVisibility {
    if actor.is_admin || membership.is_some_and(|level| level >= AccessLevel::Developer) {
        UrlVisibility::WithoutQuery
    } else {
        UrlVisibility::Hidden
    }
}

/// May `actor` give a member the level `new` (or remove them, `new == None`), when that member has
/// `current` (`None` if not yet a member)? Nobody may grant more than their own level, nor change a member
/// who ranks above them; administrators may do anything. Members may always remove themselves.
pub fn may_change_member(
    actor: &Actor,
    own: Option<AccessLevel>,
    target: UserId,
    current: Option<AccessLevel>,
    new: Option<AccessLevel>,
) -> bool {
    if actor.is_admin {
        return true;
    }
    if new.is_none() && target == actor.user_id && own.is_some() {
        return true;
    }
    let Some(own) = own.filter(|level| *level >= AccessLevel::Maintainer) else {
        return false;
    };
    new.is_none_or(|level| level <= own) && current.is_none_or(|level| level <= own)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn actor(is_admin: bool) -> Actor {
        Actor {
            user_id: UserId(7),
            username: "u".into(),
            name: "U".into(),
            is_admin,
            can_write: true,
        }
    }

    fn level() -> impl Strategy<Value = Option<AccessLevel>> {
        proptest::option::of((0usize..5).prop_map(|i| AccessLevel::ALL[i]))
    }

    fn action() -> impl Strategy<Value = ProjectAction> {
        (0usize..ProjectAction::ALL.len()).prop_map(|i| ProjectAction::ALL[i])
    }

    #[test]
    fn the_contracts_matrix() {
        use AccessLevel::*;
        use ProjectAction::*;
        let a = actor(false);
        // (action, lowest allowed level)
        for (act, lowest) in [
            (ManageStatusChecks, Maintainer),
            (ReadStatusChecks, Reporter),
            (RespondToStatusChecks, Developer),
            (RetryStatusChecks, Developer),
            (ReadProtectedBranches, Developer),
            (ManageProtectedBranches, Maintainer),
            (ReadMergeRequests, Reporter),
            (WriteMergeRequests, Developer),
            (UpdateProject, Maintainer),
            (DeleteProject, Owner),
            (ManageMembers, Maintainer),
            (ReadProject, Guest),
        ] {
            for l in AccessLevel::ALL {
                let expected = if l >= lowest {
                    Ok(())
                } else {
                    Err(Denial::Forbidden)
                };
                assert_eq!(authorize(&a, Some(l), act), expected, "{act:?} as {l}");
            }
            assert_eq!(authorize(&a, None, act), Err(Denial::NotFound));
            assert_eq!(authorize(&actor(true), None, act), Ok(()));
        }
    }

    #[test]
    fn url_visibility() {
        let a = actor(false);
        assert_eq!(
            url_visibility_on_merge_requests(&a, Some(AccessLevel::Reporter)),
            UrlVisibility::Hidden
        );
        assert_eq!(
            url_visibility_on_merge_requests(&a, Some(AccessLevel::Developer)),
            UrlVisibility::WithoutQuery
        );
        assert_eq!(
            url_visibility_on_merge_requests(&a, Some(AccessLevel::Owner)),
            UrlVisibility::WithoutQuery
        );
        assert_eq!(
            url_visibility_on_merge_requests(&actor(true), None),
            UrlVisibility::WithoutQuery
        );
    }

    #[test]
    fn member_changes() {
        use AccessLevel::*;
        let a = actor(false);
        let other = UserId(8);
        assert!(may_change_member(
            &a,
            Some(Maintainer),
            other,
            None,
            Some(Maintainer)
        ));
        assert!(!may_change_member(
            &a,
            Some(Maintainer),
            other,
            None,
            Some(Owner)
        ));
        assert!(!may_change_member(
            &a,
            Some(Maintainer),
            other,
            Some(Owner),
            Some(Guest)
        ));
        assert!(!may_change_member(
            &a,
            Some(Developer),
            other,
            None,
            Some(Guest)
        ));
        assert!(may_change_member(&a, Some(Owner), other, Some(Owner), None));
        assert!(may_change_member(
            &a,
            Some(Guest),
            a.user_id,
            Some(Guest),
            None
        ));
        assert!(may_change_member(
            &actor(true),
            None,
            other,
            None,
            Some(Owner)
        ));
    }

    proptest! {
        #[test]
        fn monotonic_in_access_level(low in level(), high in level(), act in action()) {
            prop_assume!(low <= high); // None < Some(_): a non-member ranks below every member.
            let a = actor(false);
            if authorize(&a, low, act).is_ok() {
                prop_assert!(authorize(&a, high, act).is_ok());
            }
        }

        #[test]
        fn non_members_always_get_not_found(act in action()) {
            prop_assert_eq!(authorize(&actor(false), None, act), Err(Denial::NotFound));
        }

        #[test]
        fn members_are_never_told_not_found(l in level(), act in action()) {
            prop_assume!(l.is_some());
            prop_assert_ne!(authorize(&actor(false), l, act), Err(Denial::NotFound));
        }

        #[test]
        fn admins_may_do_everything(l in level(), act in action()) {
            prop_assert_eq!(authorize(&actor(true), l, act), Ok(()));
        }

        #[test]
        fn visibility_is_monotonic(low in level(), high in level()) {
            prop_assume!(low <= high);
            let a = actor(false);
            prop_assert!(url_visibility_on_merge_requests(&a, low) <= url_visibility_on_merge_requests(&a, high));
        }

        #[test]
        fn nobody_grants_above_their_own_level(own in level(), new in level(), current in level()) {
            let a = actor(false);
            if may_change_member(&a, own, UserId(99), current, new) {
                prop_assert!(own.is_some());
                prop_assert!(new <= own);
                prop_assert!(current <= own);
            }
        }
    }
}
