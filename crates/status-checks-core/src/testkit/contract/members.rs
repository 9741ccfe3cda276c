//! Contract of the members port (`MemberRepository`): one membership per user and project, only existing
//! users, and never a project without an Owner.

use super::fixtures::*;
use crate::AccessLevel;
use crate::error::{Duplicate, RepoError};
use crate::ids::*;
use crate::projects::ProjectRef;
use crate::service::Ports;

/// Members: unique per project, only existing users, and never a project without an Owner.
pub async fn members_and_the_last_owner(ports: &Ports) {
    let alice = user(ports, "alice").await;
    let bob = user(ports, "bob").await;
    let p = project(ports, &alice, "proj").await;

    let before = access(ports, &ProjectRef::Id(p.id), bob.id, "before joining").await;
    assert_eq!(before.and_then(|(_, level)| level), None);
    let m = ok(
        ports
            .members
            .add_member(p.id, bob.id, AccessLevel::Developer, at(11))
            .await,
        "add",
    );
    let after = access(ports, &ProjectRef::Id(p.id), bob.id, "after joining").await;
    assert_eq!(
        after.and_then(|(_, level)| level),
        Some(AccessLevel::Developer),
        "membership is seen at once"
    );
    assert_eq!(
        (m.user.id, m.access_level, m.created_at),
        (bob.id, AccessLevel::Developer, at(11))
    );
    assert_eq!(
        ports
            .members
            .add_member(p.id, bob.id, AccessLevel::Guest, at(11))
            .await,
        Err(RepoError::Duplicate(Duplicate::Member))
    );
    assert_eq!(
        ports
            .members
            .add_member(p.id, UserId(999_999), AccessLevel::Guest, at(11))
            .await,
        Err(RepoError::NotFound)
    );

    let listed = ok(ports.members.list_members(p.id, page(1, 20)).await, "list");
    assert_eq!(
        listed
            .items
            .iter()
            .map(|m| (m.user.id, m.access_level))
            .collect::<Vec<_>>(),
        vec![
            (alice.id, AccessLevel::Owner),
            (bob.id, AccessLevel::Developer)
        ]
    );

    assert_eq!(
        ports
            .members
            .update_member(p.id, alice.id, AccessLevel::Maintainer)
            .await,
        Err(RepoError::LastOwner)
    );
    assert_eq!(
        ports.members.remove_member(p.id, alice.id).await,
        Err(RepoError::LastOwner)
    );
    assert_eq!(
        ok(
            ports.members.find_member(p.id, alice.id).await,
            "owner stays"
        )
        .map(|m| m.access_level),
        Some(AccessLevel::Owner)
    );

    ok(
        ports
            .members
            .update_member(p.id, bob.id, AccessLevel::Owner)
            .await,
        "promote",
    );
    let demoted = ok(
        ports
            .members
            .update_member(p.id, alice.id, AccessLevel::Maintainer)
            .await,
        "demote one of two owners",
    );
    assert_eq!(demoted.access_level, AccessLevel::Maintainer);
    deletes_once("remove", || ports.members.remove_member(p.id, alice.id)).await;
    assert_eq!(
        ports
            .members
            .update_member(p.id, alice.id, AccessLevel::Guest)
            .await,
        Err(RepoError::NotFound)
    );
    assert_eq!(
        access(ports, &ProjectRef::Id(p.id), alice.id, "access")
            .await
            .and_then(|(_, l)| l),
        None
    );
}
