//! Use-case tests of project members and the last-Owner rule, against mocks of the ports.

use crate::service::fixtures::*;

fn member(id: i64, level: AccessLevel) -> Member {
    Member {
        user: user(id),
        access_level: level,
        created_at: t0(),
    }
}

#[tokio::test]
async fn members_cannot_be_granted_above_ones_own_level_nor_leave_no_owner() {
    let service = Mocks::member(AccessLevel::Maintainer)
        .with_users()
        .service();
    let grant = |level| {
        Ok(NewMemberInput {
            user_id: UserId(9),
            access_level: level,
        })
    };
    assert_eq!(
        service
            .add_member(&actor(3), &here(), grant(AccessLevel::Owner))
            .await,
        Err(DomainError::Forbidden)
    );

    let mut mocks = Mocks::member(AccessLevel::Owner);
    mocks
        .members
        .expect_find_member()
        .returning(|_, id| Ok(Some(member(id.0, AccessLevel::Owner))));
    mocks
        .members
        .expect_remove_member()
        .returning(|_, _| Err(RepoError::LastOwner));
    mocks
        .members
        .expect_update_member()
        .returning(|_, _, _| Err(RepoError::LastOwner));
    let service = mocks.service();
    assert_eq!(
        service.remove_member(&actor(3), &here(), UserId(3)).await,
        Err(DomainError::Forbidden)
    );
    assert_eq!(
        service
            .update_member(&actor(3), &here(), UserId(3), Ok(AccessLevel::Developer))
            .await,
        Err(DomainError::Forbidden)
    );

    let mut mocks = Mocks::member(AccessLevel::Maintainer).with_users();
    mocks
        .members
        .expect_add_member()
        .returning(|_, _, _, _| Err(RepoError::Duplicate(Duplicate::Member)));
    assert_eq!(
        mocks
            .service()
            .add_member(&actor(3), &here(), grant(AccessLevel::Developer))
            .await,
        Err(DomainError::Conflict("Member already exists".into()))
    );
}
