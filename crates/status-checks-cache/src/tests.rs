//! The decorator against mocks of the ports: what is served from the caches, what goes through, and what
//! each write forgets.

use crate::Invalidation;
use crate::caches::Caches;
use crate::forges::CachedForges;
use crate::members::CachedMembers;
use crate::projects::CachedProjects;
use crate::status_checks::CachedStatusChecks;
use crate::tokens::CachedTokens;
use status_checks_core::ports::{
    ForgeRepository, MemberRepository, MockForgeRepository, MockMemberRepository,
    MockProjectRepository, MockStatusCheckRepository, MockTokenRepository, ProjectRepository,
    StatusCheckRepository, TokenRepository,
};
use status_checks_core::projects::ProjectRef;
use status_checks_core::users::TokenHash;
use status_checks_core::{ProjectId, RepoError, StatusCheckId, UserId};
use std::sync::Arc;

const P: ProjectId = ProjectId(1);

fn checks(inner: MockStatusCheckRepository, caches: &Arc<Caches>) -> CachedStatusChecks {
    CachedStatusChecks {
        inner: Arc::new(inner),
        caches: caches.clone(),
    }
}

#[tokio::test]
async fn a_projects_checks_are_read_once_until_a_check_changes() {
    let mut inner = MockStatusCheckRepository::new();
    inner
        .expect_all_checks()
        .times(2)
        .returning(|_| Ok(Arc::from(Vec::new())));
    inner
        .expect_delete_check()
        .times(1)
        .returning(|_, _| Ok(true));
    let caches = Arc::new(Caches::new());
    let port = checks(inner, &caches);

    port.all_checks(P).await.unwrap();
    // Served from the cache: a page and a lookup by id too.
    port.list_checks(P, Default::default()).await.unwrap();
    assert_eq!(port.find_check(P, StatusCheckId(9)).await.unwrap(), None);
    port.delete_check(P, StatusCheckId(9)).await.unwrap();
    port.all_checks(P).await.unwrap();
}

#[tokio::test]
async fn a_failed_write_forgets_too() {
    let mut inner = MockStatusCheckRepository::new();
    inner
        .expect_all_checks()
        .times(2)
        .returning(|_| Ok(Arc::from(Vec::new())));
    inner
        .expect_delete_check()
        .times(1)
        .returning(|_, _| Err(RepoError::Unavailable("commit unknown".into())));
    let caches = Arc::new(Caches::new());
    let port = checks(inner, &caches);

    port.all_checks(P).await.unwrap();
    assert!(port.delete_check(P, StatusCheckId(9)).await.is_err());
    port.all_checks(P).await.unwrap();
}

#[tokio::test]
async fn errors_are_not_cached() {
    let mut inner = MockStatusCheckRepository::new();
    inner
        .expect_all_checks()
        .times(2)
        .returning(|_| Err(RepoError::Unavailable("down".into())));
    let caches = Arc::new(Caches::new());
    let port = checks(inner, &caches);
    assert!(port.all_checks(P).await.is_err());
    assert!(port.all_checks(P).await.is_err());
}

#[tokio::test]
async fn bypassed_caches_send_every_read_to_the_store() {
    let mut inner = MockStatusCheckRepository::new();
    inner
        .expect_all_checks()
        .times(3)
        .returning(|_| Ok(Arc::from(Vec::new())));
    let caches = Arc::new(Caches::bypassed());
    let port = checks(inner, &caches);
    port.all_checks(P).await.unwrap();
    port.all_checks(P).await.unwrap();
    caches.resume();
    port.all_checks(P).await.unwrap();
    port.all_checks(P).await.unwrap();
}

#[tokio::test]
async fn an_invalidation_heard_from_elsewhere_forgets_only_its_project() {
    let mut inner = MockStatusCheckRepository::new();
    inner
        .expect_all_checks()
        .withf(|p| *p == P)
        .times(2)
        .returning(|_| Ok(Arc::from(Vec::new())));
    inner
        .expect_all_checks()
        .withf(|p| *p == ProjectId(2))
        .times(1)
        .returning(|_| Ok(Arc::from(Vec::new())));
    let caches = Arc::new(Caches::new());
    let port = checks(inner, &caches);
    port.all_checks(P).await.unwrap();
    port.all_checks(ProjectId(2)).await.unwrap();
    caches.forget(Invalidation::parse("status_checks:1"));
    port.all_checks(P).await.unwrap();
    port.all_checks(ProjectId(2)).await.unwrap();
}

#[tokio::test]
async fn tokens_not_found_are_asked_again_and_a_revocation_forgets() {
    let mut inner = MockTokenRepository::new();
    inner
        .expect_find_token_by_hash()
        .times(2)
        .returning(|_| Ok(None));
    inner.expect_revoke_token().times(1).returning(|_| Ok(true));
    let port = CachedTokens {
        inner: Arc::new(inner),
        caches: Arc::new(Caches::new()),
    };
    let hash = TokenHash::of("glpat-nothing");
    assert!(port.find_token_by_hash(&hash).await.unwrap().is_none());
    assert!(port.find_token_by_hash(&hash).await.unwrap().is_none());
    assert!(
        port.revoke_token(status_checks_core::TokenId(1))
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn no_such_project_is_cached_by_path_without_case_until_a_project_is_created() {
    let mut projects = MockProjectRepository::new();
    projects
        .expect_find_project_with_access()
        .times(2)
        .returning(|_, _| Ok(None));
    projects
        .expect_create_project()
        .times(1)
        .returning(|_, _| Err(RepoError::Unavailable("commit unknown".into())));
    let caches = Arc::new(Caches::new());
    let port = CachedProjects {
        inner: Arc::new(projects),
        caches: caches.clone(),
    };
    let user = UserId(5);
    let path = |p: &str| ProjectRef::Path(p.to_owned());
    assert!(
        port.find_project_with_access(&path("g/P"), user)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        port.find_project_with_access(&path("G/p"), user)
            .await
            .unwrap()
            .is_none()
    );
    let new = status_checks_core::projects::NewProject {
        name: "p".into(),
        path: "p".into(),
        namespace: "g".into(),
        only_allow_merge_if_all_status_checks_passed: false,
        created_at: chrono::DateTime::UNIX_EPOCH,
    };
    assert!(port.create_project(new, user).await.is_err());
    assert!(
        port.find_project_with_access(&path("g/p"), user)
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn a_member_change_forgets_every_access_entry() {
    let mut projects = MockProjectRepository::new();
    projects
        .expect_find_project_with_access()
        .times(2)
        .returning(|_, _| Ok(None));
    let mut members = MockMemberRepository::new();
    members
        .expect_remove_member()
        .times(1)
        .returning(|_, _| Ok(false));
    let caches = Arc::new(Caches::new());
    let projects = CachedProjects {
        inner: Arc::new(projects),
        caches: caches.clone(),
    };
    let members = CachedMembers {
        inner: Arc::new(members),
        caches: caches.clone(),
    };
    let reference = ProjectRef::Id(P);
    projects
        .find_project_with_access(&reference, UserId(5))
        .await
        .unwrap();
    projects
        .find_project_with_access(&reference, UserId(5))
        .await
        .unwrap();
    members.remove_member(P, UserId(6)).await.unwrap();
    projects
        .find_project_with_access(&reference, UserId(5))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_link_is_forgotten_when_a_delivery_is_applied_but_not_when_seen_before() {
    use status_checks_core::forges::MirrorOutcome;
    let mut inner = MockForgeRepository::new();
    inner.expect_find_link().times(2).returning(|_| Ok(None));
    let mut outcomes = vec![MirrorOutcome::Applied(None), MirrorOutcome::Seen];
    inner
        .expect_apply_mirror()
        .times(2)
        .returning(move |_| Ok(outcomes.pop().unwrap_or(MirrorOutcome::Raced)));
    let port = CachedForges {
        inner: Arc::new(inner),
        caches: Arc::new(Caches::new()),
    };
    let write = || {
        status_checks_core::forges::MirrorWrite::only_key(
            P,
            Some("key".into()),
            chrono::DateTime::UNIX_EPOCH,
        )
    };
    port.find_link(P).await.unwrap();
    // Seen: the link is still cached.
    port.apply_mirror(write()).await.unwrap();
    port.find_link(P).await.unwrap();
    // Applied: forgotten.
    port.apply_mirror(write()).await.unwrap();
    port.find_link(P).await.unwrap();
}
