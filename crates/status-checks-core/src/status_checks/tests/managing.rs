//! E1–E4: managing a project's checks (Maintainers only; validation; uniqueness; scope).

use crate::service::fixtures::*;

fn check_input(name: &str, url: &str) -> Params<StatusCheckInput> {
    Ok(StatusCheckInput {
        name: name.into(),
        external_url: url.into(),
        shared_secret: None,
        protected_branch_ids: vec![],
    })
}

/// A check's input protecting the branches `ids`.
fn scoped_input(name: &str, url: &str, ids: &[i64]) -> StatusCheckInput {
    StatusCheckInput {
        protected_branch_ids: ids.iter().map(|id| ProtectedBranchId(*id)).collect(),
        ..check_input(name, url).unwrap_or_else(|_| panic!("input"))
    }
}

/// A Maintainer of the project, whose checks are `checks`.
fn maintainer(checks: Vec<ExternalStatusCheck>) -> Mocks {
    Mocks::member(AccessLevel::Maintainer).with_checks(checks)
}

async fn create(
    service: &StatusChecksService,
    input: Params<StatusCheckInput>,
) -> DomainResult<StatusCheckView> {
    service.create_status_check(&actor(3), &here(), input).await
}

async fn update(
    service: &StatusChecksService,
    id: i64,
    input: StatusCheckUpdateInput,
) -> DomainResult<StatusCheckView> {
    service
        .update_status_check(&actor(3), &here(), StatusCheckId(id), Ok(input))
        .await
}

#[tokio::test]
async fn e1_to_e4_are_for_maintainers_only() {
    for level in [
        AccessLevel::Guest,
        AccessLevel::Reporter,
        AccessLevel::Developer,
    ] {
        let service = Mocks::member(level).service();
        let a = actor(3);
        assert_eq!(
            service
                .list_status_checks(&a, &here(), PageRequest::default())
                .await,
            Err(DomainError::Forbidden)
        );
        assert_eq!(
            service
                .create_status_check(&a, &here(), check_input("n", "https://e.com"))
                .await,
            Err(DomainError::Forbidden)
        );
        assert_eq!(
            service
                .update_status_check(
                    &a,
                    &here(),
                    StatusCheckId(1),
                    Ok(StatusCheckUpdateInput::default())
                )
                .await,
            Err(DomainError::Forbidden)
        );
        assert_eq!(
            service
                .delete_status_check(&a, &here(), StatusCheckId(1))
                .await,
            Err(DomainError::Forbidden)
        );
    }
}

#[tokio::test]
async fn e2_collects_every_validation_message() {
    let service = maintainer(vec![]).service();
    let err = create(&service, check_input(" ", "ftp://x")).await;
    assert_eq!(
        err,
        Err(invalid(&[
            "Name can't be blank",
            "External url must be a valid URL"
        ]))
    );
    let err = create(&service, check_input("n", "http://127.1/hook")).await;
    assert!(
        matches!(err, Err(DomainError::Validation(m)) if m.len() == 1 && m[0].starts_with("External url is blocked: "))
    );
}

#[tokio::test]
async fn e2_name_and_url_are_unique_per_project() {
    let existing = check(1, &[]);
    let service = maintainer(vec![existing.clone()]).service();
    let input = check_input(existing.name.as_str(), existing.external_url.as_str());
    assert_eq!(
        create(&service, input).await,
        Err(invalid(&[
            "Name has already been taken",
            "External url has already been taken"
        ]))
    );
}

#[tokio::test]
async fn e2_a_race_lost_at_the_unique_index_is_still_a_422() {
    let mut mocks = maintainer(vec![]);
    mocks
        .checks
        .expect_create_check()
        .returning(|_| Err(RepoError::Duplicate(Duplicate::CheckUrl)));
    let err = create(&mocks.service(), check_input("n", "https://e.com")).await;
    assert_eq!(err, Err(invalid(&["External url has already been taken"])));
}

#[tokio::test]
async fn e2_protected_branches_must_exist_in_the_project() {
    let service = maintainer(vec![]).with_main_branch().service();
    let err = create(&service, Ok(scoped_input("n", "https://e.com", &[1, 2]))).await;
    assert_eq!(
        err,
        Err(invalid(&[
            "all protected branches must exist within the project"
        ]))
    );
}

#[tokio::test]
async fn e2_creates_and_shows_the_full_url_to_maintainers() {
    let mut mocks = maintainer(vec![]).with_main_branch();
    mocks
        .checks
        .expect_create_check()
        .times(1)
        .returning(|new| {
            Ok(ExternalStatusCheck {
                id: StatusCheckId(3),
                project_id: new.project_id,
                name: new.name,
                external_url: new.external_url,
                shared_secret: new.shared_secret,
                protected_branches: vec![branch(1, "main")],
                created_at: new.created_at,
                updated_at: new.created_at,
            })
        });
    let input = StatusCheckInput {
        shared_secret: Some("s3cret".into()),
        ..scoped_input("QA", "https://qa.example.com/hook?token=x", &[1, 1])
    };
    let view = create(&mocks.service(), Ok(input))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(view.external_url, "https://qa.example.com/hook?token=x");
    assert!(view.hmac);
    assert_eq!(view.protected_branches.len(), 1);
}

#[tokio::test]
async fn e3_unknown_check_is_404_and_only_sent_keys_change() {
    let service = maintainer(vec![]).service();
    assert_eq!(
        update(&service, 9, StatusCheckUpdateInput::default()).await,
        Err(DomainError::NotFound(Resource::StatusCheck))
    );

    let mut mocks = maintainer(vec![check(1, &[]), check(2, &[])]);
    mocks
        .checks
        .expect_update_check()
        .withf(|_, id, update| {
            *id == StatusCheckId(1)
                && update.name.is_none()
                && update.external_url.is_none()
                && update.shared_secret == Some(None)
                && update.protected_branch_ids == Some(vec![])
        })
        .times(1)
        .returning(|_, _, _| Ok(check(1, &[])));
    let input = StatusCheckUpdateInput {
        shared_secret: Some(String::new()),
        protected_branch_ids: Some(vec![]),
        ..Default::default()
    };
    let view = update(&mocks.service(), 1, input).await;
    assert!(view.is_ok_and(|v| !v.hmac));
}

#[tokio::test]
async fn e3_renaming_to_another_checks_name_is_422_but_keeping_ones_own_is_fine() {
    let mut mocks = maintainer(vec![check(1, &[]), check(2, &[])]);
    mocks
        .checks
        .expect_update_check()
        .times(1)
        .returning(|_, _, _| Ok(check(1, &[])));
    let service = mocks.service();
    let rename = |name: &str| StatusCheckUpdateInput {
        name: Some(name.into()),
        ..Default::default()
    };
    assert_eq!(
        update(&service, 1, rename("check 2")).await,
        Err(invalid(&["Name has already been taken"]))
    );
    assert!(update(&service, 1, rename("check 1")).await.is_ok());
}

#[tokio::test]
async fn e4_unknown_check_is_404() {
    let mut mocks = Mocks::member(AccessLevel::Owner);
    mocks
        .checks
        .expect_delete_check()
        .returning(|_, _| Ok(false));
    assert_eq!(
        mocks
            .service()
            .delete_status_check(&actor(3), &here(), StatusCheckId(1))
            .await,
        Err(DomainError::NotFound(Resource::StatusCheck))
    );
}

#[test]
fn secrets_never_reach_debug_output_of_a_check() {
    let mut c = check(1, &[]);
    c.shared_secret = SharedSecret::parse("hunter2").ok().flatten();
    assert!(!format!("{c:?}").contains("hunter2"));
}
