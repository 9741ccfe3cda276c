//! Use-case tests of the external status check endpoints (E1–E7) against mocks of the ports: every error
//! outcome in GitLab's precedence, and the calls each success makes.

use crate::service::fixtures::*;

fn respond_input(sha_raw: &str) -> Params<ResponseInput> {
    Ok(ResponseInput {
        external_status_check_id: StatusCheckId(1),
        sha: sha_raw.into(),
        status: CheckStatus::Passed,
    })
}

#[tokio::test]
async fn e6_read_only_token_is_insufficient_scope_before_anything_else() {
    let service = Mocks::new().service();
    let err = service
        .respond_to_status_check(
            &read_only(3),
            &here(),
            MergeRequestIid(2),
            respond_input(HEAD),
        )
        .await;
    assert_eq!(err, Err(DomainError::InsufficientScope));
}

#[tokio::test]
async fn e6_unknown_project_and_non_member_are_both_project_not_found() {
    let mut mocks = Mocks::new();
    mocks
        .projects
        .expect_find_project_with_access()
        .returning(|_, _| Ok(None));
    let err = mocks
        .service()
        .respond_to_status_check(&actor(3), &here(), MergeRequestIid(2), respond_input(HEAD))
        .await;
    assert_eq!(err, Err(DomainError::ProjectNotFound));

    let service = Mocks::new().with_project(project(false), None).service();
    let err = service
        .respond_to_status_check(&actor(3), &here(), MergeRequestIid(2), respond_input(HEAD))
        .await;
    assert_eq!(err, Err(DomainError::ProjectNotFound));
}

#[tokio::test]
async fn e6_bad_parameters_come_after_the_project_and_before_the_merge_request() {
    // A Guest (who would get 403) with bad parameters on a missing MR still sees the 400 first.
    let service = Mocks::new()
        .with_project(project(false), Some(AccessLevel::Guest))
        .service();
    let bad = ParamErrors(vec![
        "sha is missing".into(),
        "status does not have a valid value".into(),
    ]);
    let err = service
        .respond_to_status_check(&actor(3), &here(), MergeRequestIid(99), Err(bad.clone()))
        .await;
    assert_eq!(err, Err(DomainError::BadParameters(bad)));
}

#[tokio::test]
async fn e6_unknown_merge_request_is_404_even_for_a_guest() {
    let mut mocks = Mocks::new().with_project(project(false), Some(AccessLevel::Guest));
    mocks
        .mrs
        .expect_find_merge_request_at_head()
        .returning(|_, _| Ok(None));
    let err = mocks
        .service()
        .respond_to_status_check(&actor(3), &here(), MergeRequestIid(99), respond_input(HEAD))
        .await;
    assert_eq!(err, Err(DomainError::NotFound(Resource::MergeRequest)));
}

#[tokio::test]
async fn e6_guests_and_reporters_are_forbidden() {
    for level in [AccessLevel::Guest, AccessLevel::Reporter] {
        let service = Mocks::new()
            .with_project(project(false), Some(level))
            .with_mr(mr(MergeRequestState::Opened))
            .service();
        let err = service
            .respond_to_status_check(&actor(3), &here(), MergeRequestIid(2), respond_input(HEAD))
            .await;
        assert_eq!(err, Err(DomainError::Forbidden), "{level}");
    }
}

#[tokio::test]
async fn e6_check_of_another_project_is_404() {
    let service = Mocks::new()
        .with_project(project(false), Some(AccessLevel::Developer))
        .with_mr(mr(MergeRequestState::Opened))
        .with_checks(vec![check(7, &[])])
        .service();
    let err = service
        .respond_to_status_check(&actor(3), &here(), MergeRequestIid(2), respond_input(HEAD))
        .await;
    assert_eq!(err, Err(DomainError::NotFound(Resource::StatusCheck)));
}

#[tokio::test]
async fn e6_sha_mismatch_is_409_naming_the_head_and_stores_nothing() {
    let service = Mocks::new()
        .with_project(project(false), Some(AccessLevel::Developer))
        .with_mr(mr(MergeRequestState::Opened))
        .with_checks(vec![check(1, &[])])
        .service();
    for given in [OLD, "", "not-a-sha"] {
        let err = service
            .respond_to_status_check(&actor(3), &here(), MergeRequestIid(2), respond_input(given))
            .await;
        assert_eq!(
            err,
            Err(DomainError::Conflict(format!(
                "SHA does not match HEAD of source branch: {HEAD}"
            )))
        );
    }
}

#[tokio::test]
async fn e6_records_the_answer_about_head_and_redacts_the_check_for_the_caller() {
    let mut mocks = Mocks::new()
        .with_project(project(true), Some(AccessLevel::Developer))
        .with_mr(mr(MergeRequestState::Opened))
        .with_checks(vec![check(1, &[])]);
    let now = mocks.now;
    mocks
        .responses
        .expect_record_response()
        .withf(move |new: &NewResponse| {
            new.sha == sha(HEAD)
                && new.status == CheckStatus::Passed
                && new.external_status_check_id == StatusCheckId(1)
                && new.created_at == now
                && new.retried_at.is_none()
        })
        .times(1)
        .returning(move |new| Ok(response(9, 1, new.sha.as_str(), new.status, new.created_at)));
    let stored_now = now;
    mocks = mocks.with_responses(vec![response(9, 1, HEAD, CheckStatus::Passed, stored_now)]);
    let recorded = mocks
        .service()
        .respond_to_status_check(
            &actor(3),
            &here(),
            MergeRequestIid(2),
            respond_input(&HEAD.to_uppercase()),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(recorded.response.id, ResponseId(9));
    assert_eq!(
        recorded.external_status_check.external_url,
        "https://ci1.example.com/hook"
    );
    // The one applicable check passed: the MR is now mergeable.
    assert_eq!(
        recorded.merge_request.detailed_merge_status,
        DetailedMergeStatus::Mergeable
    );
}

#[tokio::test]
async fn e5_lists_applicable_checks_with_status_at_head_and_redacts_by_role() {
    let checks = vec![
        check(1, &[]),
        check(2, &["release/*"]),
        check(3, &["ma*"]),
        check(4, &["main"]),
    ];
    let later = t0() + TimeDelta::seconds(5);
    let rows = vec![
        response(1, 1, HEAD, CheckStatus::Passed, later),
        response(2, 3, OLD, CheckStatus::Passed, later),
        response(3, 4, HEAD, CheckStatus::Failed, later),
    ];
    for (level, url) in [
        (AccessLevel::Reporter, ""),
        (AccessLevel::Developer, "https://ci1.example.com/hook"),
        (AccessLevel::Owner, "https://ci1.example.com/hook"),
    ] {
        let service = Mocks::new()
            .with_project(project(false), Some(level))
            .with_mr(mr(MergeRequestState::Opened))
            .with_checks(checks.clone())
            .with_responses(rows.clone())
            .service();
        let listed = service
            .merge_request_status_checks(&actor(3), &here(), MergeRequestIid(2))
            .await
            .unwrap_or_default();
        let summary: Vec<(i64, CheckStatus)> = listed.iter().map(|c| (c.id.0, c.status)).collect();
        assert_eq!(
            summary,
            vec![
                (1, CheckStatus::Passed),
                (3, CheckStatus::Pending),
                (4, CheckStatus::Failed)
            ]
        );
        assert_eq!(listed[0].external_url, url, "{level}");
    }
}

#[tokio::test]
async fn e5_guest_is_forbidden_after_the_merge_request_is_found() {
    let service = Mocks::new()
        .with_project(project(false), Some(AccessLevel::Guest))
        .with_mr(mr(MergeRequestState::Opened))
        .service();
    let err = service
        .merge_request_status_checks(&actor(3), &here(), MergeRequestIid(2))
        .await;
    assert_eq!(err, Err(DomainError::Forbidden));
}

#[tokio::test]
async fn e5_pending_past_the_timeout_reads_failed_without_any_sweep() {
    let mut mocks = Mocks::new()
        .with_project(project(false), Some(AccessLevel::Developer))
        .with_mr(mr(MergeRequestState::Opened))
        .with_checks(vec![check(1, &[])])
        .with_responses(vec![]);
    mocks.now = t0() + TimeDelta::seconds(121);
    let listed = mocks
        .service()
        .merge_request_status_checks(&actor(3), &here(), MergeRequestIid(2))
        .await
        .unwrap_or_default();
    assert_eq!(
        listed.iter().map(|c| c.status).collect::<Vec<_>>(),
        vec![CheckStatus::Failed]
    );
}

#[tokio::test]
async fn e7_refuses_unless_failed() {
    for status in [CheckStatus::Passed, CheckStatus::Pending] {
        let service = Mocks::new()
            .with_project(project(false), Some(AccessLevel::Developer))
            .with_mr(mr(MergeRequestState::Opened))
            .with_checks(vec![check(1, &[])])
            .with_responses(vec![response(1, 1, HEAD, status, t0())])
            .service();
        let err = service
            .retry_status_check(&actor(3), &here(), MergeRequestIid(2), StatusCheckId(1))
            .await;
        assert_eq!(
            err,
            Err(DomainError::Unprocessable(
                "External status check must be failed".into()
            ))
        );
    }
}

#[tokio::test]
async fn e7_retries_a_failed_or_timed_out_check_and_notifies_it() {
    for (rows, now) in [
        (
            vec![response(1, 1, HEAD, CheckStatus::Failed, t0())],
            t0() + TimeDelta::seconds(1),
        ),
        (vec![], t0() + TimeDelta::seconds(500)),
    ] {
        let mut mocks = Mocks::new()
            .with_project(project(false), Some(AccessLevel::Developer))
            .with_mr(mr(MergeRequestState::Opened))
            .with_checks(vec![check(1, &[])])
            .with_responses(rows);
        mocks.now = now;
        mocks
            .responses
            .expect_record_retry()
            .withf(move |new: &NewResponse, drafts: &Vec<DeliveryDraft>| {
                new.status == CheckStatus::Pending
                    && new.retried_at == Some(now)
                    && drafts.len() == 1
                    && drafts[0].external_status_check_id == StatusCheckId(1)
                    && drafts[0].action.is_none()
            })
            .times(1)
            .returning(|new, _| Ok(response(2, 1, new.sha.as_str(), new.status, new.created_at)));
        let done = mocks
            .service()
            .retry_status_check(&actor(3), &here(), MergeRequestIid(2), StatusCheckId(1))
            .await;
        assert_eq!(done, Ok(()));
    }
}

#[tokio::test]
async fn e7_unknown_check_is_404_and_guest_is_403() {
    let service = Mocks::new()
        .with_project(project(false), Some(AccessLevel::Developer))
        .with_mr(mr(MergeRequestState::Opened))
        .with_checks(vec![])
        .service();
    assert_eq!(
        service
            .retry_status_check(&actor(3), &here(), MergeRequestIid(2), StatusCheckId(1))
            .await,
        Err(DomainError::NotFound(Resource::StatusCheck))
    );
    let service = Mocks::new()
        .with_project(project(false), Some(AccessLevel::Guest))
        .with_mr(mr(MergeRequestState::Opened))
        .service();
    assert_eq!(
        service
            .retry_status_check(&actor(3), &here(), MergeRequestIid(2), StatusCheckId(1))
            .await,
        Err(DomainError::Forbidden)
    );
}

fn check_input(name: &str, url: &str) -> Params<StatusCheckInput> {
    Ok(StatusCheckInput {
        name: name.into(),
        external_url: url.into(),
        shared_secret: None,
        protected_branch_ids: vec![],
    })
}

#[tokio::test]
async fn e1_to_e4_are_for_maintainers_only() {
    for level in [
        AccessLevel::Guest,
        AccessLevel::Reporter,
        AccessLevel::Developer,
    ] {
        let service = Mocks::new()
            .with_project(project(false), Some(level))
            .service();
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
    let service = Mocks::new()
        .with_project(project(false), Some(AccessLevel::Maintainer))
        .with_checks(vec![])
        .service();
    let err = service
        .create_status_check(&actor(3), &here(), check_input(" ", "ftp://x"))
        .await;
    assert_eq!(
        err,
        Err(DomainError::Validation(vec![
            "Name can't be blank".into(),
            "External url must be a valid URL".into()
        ]))
    );
    let err = service
        .create_status_check(&actor(3), &here(), check_input("n", "http://127.1/hook"))
        .await;
    assert!(
        matches!(err, Err(DomainError::Validation(m)) if m.len() == 1 && m[0].starts_with("External url is blocked: "))
    );
}

#[tokio::test]
async fn e2_name_and_url_are_unique_per_project() {
    let existing = check(1, &[]);
    let service = Mocks::new()
        .with_project(project(false), Some(AccessLevel::Maintainer))
        .with_checks(vec![existing.clone()])
        .service();
    let err = service
        .create_status_check(
            &actor(3),
            &here(),
            check_input(existing.name.as_str(), existing.external_url.as_str()),
        )
        .await;
    assert_eq!(
        err,
        Err(DomainError::Validation(vec![
            "Name has already been taken".into(),
            "External url has already been taken".into()
        ]))
    );
}

#[tokio::test]
async fn e2_a_race_lost_at_the_unique_index_is_still_a_422() {
    let mut mocks = Mocks::new()
        .with_project(project(false), Some(AccessLevel::Maintainer))
        .with_checks(vec![]);
    mocks
        .checks
        .expect_create_check()
        .returning(|_| Err(RepoError::Duplicate(Duplicate::CheckUrl)));
    let err = mocks
        .service()
        .create_status_check(&actor(3), &here(), check_input("n", "https://e.com"))
        .await;
    assert_eq!(
        err,
        Err(DomainError::Validation(vec![
            "External url has already been taken".into()
        ]))
    );
}

#[tokio::test]
async fn e2_protected_branches_must_exist_in_the_project() {
    let mut mocks = Mocks::new()
        .with_project(project(false), Some(AccessLevel::Maintainer))
        .with_checks(vec![]);
    mocks
        .branches
        .expect_find_protected_branches()
        .returning(|_, _| Ok(vec![branch(1, "main")]));
    let input = StatusCheckInput {
        name: "n".into(),
        external_url: "https://e.com".into(),
        shared_secret: None,
        protected_branch_ids: vec![ProtectedBranchId(1), ProtectedBranchId(2)],
    };
    let err = mocks
        .service()
        .create_status_check(&actor(3), &here(), Ok(input))
        .await;
    assert_eq!(
        err,
        Err(DomainError::Validation(vec![
            "all protected branches must exist within the project".into()
        ]))
    );
}

#[tokio::test]
async fn e2_creates_and_shows_the_full_url_to_maintainers() {
    let mut mocks = Mocks::new()
        .with_project(project(false), Some(AccessLevel::Maintainer))
        .with_checks(vec![]);
    mocks
        .branches
        .expect_find_protected_branches()
        .returning(|_, _| Ok(vec![branch(1, "main")]));
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
        name: "QA".into(),
        external_url: "https://qa.example.com/hook?token=x".into(),
        shared_secret: Some("s3cret".into()),
        protected_branch_ids: vec![ProtectedBranchId(1), ProtectedBranchId(1)],
    };
    let view = mocks
        .service()
        .create_status_check(&actor(3), &here(), Ok(input))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(view.external_url, "https://qa.example.com/hook?token=x");
    assert!(view.hmac);
    assert_eq!(view.protected_branches.len(), 1);
}

#[tokio::test]
async fn e3_unknown_check_is_404_and_only_sent_keys_change() {
    let service = Mocks::new()
        .with_project(project(false), Some(AccessLevel::Maintainer))
        .with_checks(vec![])
        .service();
    assert_eq!(
        service
            .update_status_check(
                &actor(3),
                &here(),
                StatusCheckId(9),
                Ok(StatusCheckUpdateInput::default())
            )
            .await,
        Err(DomainError::NotFound(Resource::StatusCheck))
    );

    let mut mocks = Mocks::new()
        .with_project(project(false), Some(AccessLevel::Maintainer))
        .with_checks(vec![check(1, &[]), check(2, &[])]);
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
    let view = mocks
        .service()
        .update_status_check(&actor(3), &here(), StatusCheckId(1), Ok(input))
        .await;
    assert!(view.is_ok_and(|v| !v.hmac));
}

#[tokio::test]
async fn e3_renaming_to_another_checks_name_is_422_but_keeping_ones_own_is_fine() {
    let mut mocks = Mocks::new()
        .with_project(project(false), Some(AccessLevel::Maintainer))
        .with_checks(vec![check(1, &[]), check(2, &[])]);
    mocks
        .checks
        .expect_update_check()
        .times(1)
        .returning(|_, _, _| Ok(check(1, &[])));
    let service = mocks.service();
    let taken = StatusCheckUpdateInput {
        name: Some("check 2".into()),
        ..Default::default()
    };
    assert_eq!(
        service
            .update_status_check(&actor(3), &here(), StatusCheckId(1), Ok(taken))
            .await,
        Err(DomainError::Validation(vec![
            "Name has already been taken".into()
        ]))
    );
    let own = StatusCheckUpdateInput {
        name: Some("check 1".into()),
        ..Default::default()
    };
    assert!(
        service
            .update_status_check(&actor(3), &here(), StatusCheckId(1), Ok(own))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn e4_unknown_check_is_404() {
    let mut mocks = Mocks::new().with_project(project(false), Some(AccessLevel::Owner));
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

#[tokio::test]
async fn e7_retry_of_a_check_scoped_elsewhere_notifies_nobody() {
    let mut mocks = Mocks::new()
        .with_project(project(false), Some(AccessLevel::Developer))
        .with_mr(mr(MergeRequestState::Opened))
        .with_checks(vec![check(1, &["release/*"])])
        .with_responses(vec![response(1, 1, HEAD, CheckStatus::Failed, t0())]);
    mocks
        .responses
        .expect_record_retry()
        .withf(|new: &NewResponse, drafts: &Vec<DeliveryDraft>| {
            new.status == CheckStatus::Pending && drafts.is_empty()
        })
        .times(1)
        .returning(|new, _| Ok(response(2, 1, new.sha.as_str(), new.status, new.created_at)));
    let done = mocks
        .service()
        .retry_status_check(&actor(3), &here(), MergeRequestIid(2), StatusCheckId(1))
        .await;
    assert_eq!(done, Ok(()));
}

#[tokio::test]
async fn a_merge_request_deleted_during_e6_is_404_not_500() {
    let mut mocks = Mocks::new()
        .with_project(project(false), Some(AccessLevel::Developer))
        .with_mr(mr(MergeRequestState::Opened))
        .with_checks(vec![check(1, &[])]);
    mocks
        .responses
        .expect_record_response()
        .returning(|_| Err(RepoError::NotFound));
    let err = mocks
        .service()
        .respond_to_status_check(&actor(3), &here(), MergeRequestIid(2), respond_input(HEAD))
        .await;
    assert_eq!(err, Err(DomainError::NotFound(Resource::MergeRequest)));
}
