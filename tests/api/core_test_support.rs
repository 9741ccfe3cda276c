//! The core's `mock` and `testkit` features, used from another crate.

use proptest::prelude::*;
use status_checks_core::ports::*;
use status_checks_core::projects::ProjectRef;
use status_checks_core::service::{Ports, Settings, StatusChecksService};
use status_checks_core::testkit::strategies;
use status_checks_core::{Actor, DomainError, ProjectId, UserId};
use std::sync::Arc;

fn service_with(projects: MockProjectRepository) -> StatusChecksService {
    let ports = Ports {
        users: Arc::new(MockUserRepository::new()),
        tokens: Arc::new(MockTokenRepository::new()),
        projects: Arc::new(projects),
        members: Arc::new(MockMemberRepository::new()),
        protected_branches: Arc::new(MockProtectedBranchRepository::new()),
        merge_requests: Arc::new(MockMergeRequestRepository::new()),
        status_checks: Arc::new(MockStatusCheckRepository::new()),
        responses: Arc::new(MockResponseRepository::new()),
        deliveries: Arc::new(MockDeliveryRepository::new()),
        forges: Arc::new(MockForgeRepository::new()),
        clock: Arc::new(MockClock::new()),
        secrets: Arc::new(MockSecretGenerator::new()),
    };
    StatusChecksService::new(ports, Settings::default())
}

#[tokio::test]
async fn the_mocks_drive_the_use_cases_from_outside_the_crate() {
    let mut projects = MockProjectRepository::new();
    projects
        .expect_find_project_with_access()
        .times(1)
        .returning(|_, _| Ok(None));
    let service = service_with(projects);
    let actor = Actor {
        user_id: UserId(1),
        username: "u".into(),
        name: "U".into(),
        is_admin: false,
        can_write: true,
    };
    let result = service
        .get_project(&actor, &ProjectRef::Id(ProjectId(1)))
        .await;
    assert_eq!(result, Err(DomainError::ProjectNotFound));
}

proptest! {
    #[test]
    fn the_strategies_generate_values_that_the_rules_accept(
        sha in strategies::commit_sha(),
        pattern in strategies::branch_pattern(),
        url in strategies::external_url(),
    ) {
        prop_assert!(matches!(sha.as_str().len(), 40 | 64));
        prop_assert!(pattern.matches(pattern.as_str()) || pattern.is_wildcard());
        prop_assert!(url.as_str().starts_with("https://"));
    }
}
