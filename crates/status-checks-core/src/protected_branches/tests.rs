//! Use-case tests of protected branches, against mocks of the ports.

use crate::service::fixtures::*;

#[tokio::test]
async fn protected_branches_conflict_with_gitlabs_message_and_need_maintainers() {
    let mut mocks = Mocks::member(AccessLevel::Maintainer);
    mocks
        .branches
        .expect_create_protected_branch()
        .returning(|_, _, _| Err(RepoError::Duplicate(Duplicate::ProtectedBranch)));
    assert_eq!(
        mocks
            .service()
            .protect_branch(&actor(3), &here(), Ok("release/*".into()))
            .await,
        Err(DomainError::Conflict(
            "Protected branch 'release/*' already exists".into()
        ))
    );
    let service = Mocks::member(AccessLevel::Developer).service();
    assert_eq!(
        service
            .protect_branch(&actor(3), &here(), Ok("main".into()))
            .await,
        Err(DomainError::Forbidden)
    );
    let mut mocks = Mocks::member(AccessLevel::Reporter);
    mocks.branches.expect_list_protected_branches().never();
    assert_eq!(
        mocks
            .service()
            .list_protected_branches(&actor(3), &here(), PageRequest::default())
            .await,
        Err(DomainError::Forbidden)
    );
}
