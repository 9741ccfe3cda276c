//! Use-case tests of projects, against mocks of the ports.

use crate::service::fixtures::*;

#[tokio::test]
async fn project_paths_are_unique_and_only_owners_delete() {
    let mut mocks = Mocks::new();
    mocks
        .projects
        .expect_create_project()
        .withf(|new, owner| {
            new.path == "my-project" && new.namespace == "user3" && *owner == UserId(3)
        })
        .returning(|_, _| Err(RepoError::Duplicate(Duplicate::ProjectPath)));
    let err = mocks
        .service()
        .create_project(
            &actor(3),
            Ok(NewProjectInput {
                name: "My Project".into(),
                ..Default::default()
            }),
        )
        .await;
    assert!(
        matches!(err, Err(DomainError::InvalidAttributes(m)) if m["path"] == vec!["has already been taken".to_owned()])
    );

    let service = Mocks::member(AccessLevel::Maintainer).service();
    assert_eq!(
        service.delete_project(&actor(3), &here()).await,
        Err(DomainError::Forbidden)
    );
    assert_eq!(
        service
            .update_project(&read_only(3), &here(), Ok(ProjectUpdate::default()))
            .await,
        Err(DomainError::InsufficientScope)
    );
}

#[tokio::test]
async fn storage_failures_surface_as_internal_errors() {
    let mut mocks = Mocks::new();
    mocks
        .projects
        .expect_find_project_with_access()
        .returning(|_, _| Err(RepoError::Internal("disk I/O error".into())));
    assert_eq!(
        mocks.service().get_project(&actor(3), &here()).await,
        Err(DomainError::Internal("disk I/O error".into()))
    );
}
