//! E5–E7: a merge request's checks, their status at HEAD, answers (E6) and retries (E7).

use crate::service::fixtures::*;

fn respond_input(sha_raw: &str) -> Params<ResponseInput> {
    Ok(ResponseInput {
        external_status_check_id: StatusCheckId(1),
        sha: sha_raw.into(),
        status: CheckStatus::Passed,
        details: None,
    })
}

/// E6 by user 3 on !2: check 1 passed at `sha_raw`.
async fn respond(service: &StatusChecksService, sha_raw: &str) -> DomainResult<RecordedResponse> {
    service
        .set_check_status(
            &actor(3),
            &here(),
            MergeRequestIid(2),
            respond_input(sha_raw),
        )
        .await
}

/// E7 by user 3: retry check 1 on !2.
async fn retry(service: &StatusChecksService) -> DomainResult<()> {
    service
        .retry_status_check(&actor(3), &here(), MergeRequestIid(2), StatusCheckId(1))
        .await
}

/// The store is asked once to record a retry that `matches`, and stores it as response 2.
fn expect_one_retry(
    mocks: &mut Mocks,
    matches: impl Fn(&NewResponse, &Vec<DeliveryDraft>) -> bool + Send + 'static,
) {
    mocks
        .responses
        .expect_record_retry()
        .withf(move |new, drafts, statuses| matches(new, drafts) && statuses.is_empty())
        .times(1)
        .returning(|new, _, _| Ok(stored(2, 1, &new)));
}

/// A Developer on the open !2 of a project whose checks are `checks`.
fn developer(checks: Vec<ExternalStatusCheck>) -> Mocks {
    Mocks::on_open_mr(AccessLevel::Developer).with_checks(checks)
}

#[tokio::test]
async fn e6_read_only_token_is_insufficient_scope_before_anything_else() {
    let service = Mocks::new().service();
    let err = service
        .set_check_status(
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
    let err = respond(&mocks.service(), HEAD).await;
    assert_eq!(err, Err(DomainError::ProjectNotFound));

    let service = Mocks::new().with_project(project(false), None).service();
    let err = respond(&service, HEAD).await;
    assert_eq!(err, Err(DomainError::ProjectNotFound));
}

#[tokio::test]
async fn e6_bad_parameters_come_after_the_project_and_before_the_merge_request() {
    // A Guest (who would get 403) with bad parameters on a missing MR still sees the 400 first.
    let service = Mocks::member(AccessLevel::Guest).service();
    let bad = ParamErrors(vec![
        "sha is missing".into(),
        "status does not have a valid value".into(),
    ]);
    let err = service
        .set_check_status(&actor(3), &here(), MergeRequestIid(99), Err(bad.clone()))
        .await;
    assert_eq!(err, Err(DomainError::BadParameters(bad)));
}

#[tokio::test]
async fn e6_unknown_merge_request_is_404_even_for_a_guest() {
    let mut mocks = Mocks::member(AccessLevel::Guest);
    mocks
        .mrs
        .expect_find_merge_request_at_head()
        .returning(|_, _| Ok(None));
    let err = mocks
        .service()
        .set_check_status(&actor(3), &here(), MergeRequestIid(99), respond_input(HEAD))
        .await;
    assert_eq!(err, Err(DomainError::NotFound(Resource::MergeRequest)));
}

#[tokio::test]
async fn e6_guests_and_reporters_are_forbidden() {
    for level in [AccessLevel::Guest, AccessLevel::Reporter] {
        let service = Mocks::on_open_mr(level).service();
        let err = respond(&service, HEAD).await;
        assert_eq!(err, Err(DomainError::Forbidden), "{level}");
    }
}

#[tokio::test]
async fn e6_check_of_another_project_is_404() {
    let service = developer(vec![check(7, &[])]).service();
    let err = respond(&service, HEAD).await;
    assert_eq!(err, Err(DomainError::NotFound(Resource::StatusCheck)));
}

#[tokio::test]
async fn e6_sha_mismatch_is_409_naming_the_head_and_stores_nothing() {
    let service = developer(vec![check(1, &[])]).service();
    for given in [OLD, "", "not-a-sha"] {
        let err = respond(&service, given).await;
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
    let mut mocks = Mocks::gated_member(AccessLevel::Developer)
        .with_mr(mr(MergeRequestState::Opened))
        .with_checks(vec![check(1, &[])]);
    let now = mocks.now;
    mocks
        .responses
        .expect_record_response()
        .withf(move |new: &NewResponse, statuses| {
            new.sha == sha(HEAD)
                && new.status == CheckStatus::Passed
                && new.external_status_check_id == StatusCheckId(1)
                && new.created_at == now
                && new.retried_at.is_none()
                && statuses.is_empty()
        })
        .times(1)
        .returning(|new, _| Ok(stored(9, 1, &new)));
    let stored_now = now;
    mocks = mocks.with_responses(vec![response(9, 1, HEAD, CheckStatus::Passed, stored_now)]);
    let recorded = respond(&mocks.service(), &HEAD.to_uppercase())
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
        let service = Mocks::on_open_mr(level)
            .with_checks(checks.clone())
            .with_responses(rows.clone())
            .service();
        let listed = service
            .list_merge_request_checks(&actor(3), &here(), MergeRequestIid(2))
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
    let service = Mocks::on_open_mr(AccessLevel::Guest).service();
    let err = service
        .list_merge_request_checks(&actor(3), &here(), MergeRequestIid(2))
        .await;
    assert_eq!(err, Err(DomainError::Forbidden));
}

#[tokio::test]
async fn e5_pending_past_the_timeout_reads_failed_without_any_sweep() {
    let mut mocks = developer(vec![check(1, &[])]).with_responses(vec![]);
    mocks.now = t0() + TimeDelta::seconds(121);
    let listed = mocks
        .service()
        .list_merge_request_checks(&actor(3), &here(), MergeRequestIid(2))
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
        let service = developer(vec![check(1, &[])])
            .with_responses(vec![response(1, 1, HEAD, status, t0())])
            .service();
        let err = retry(&service).await;
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
        let mut mocks = developer(vec![check(1, &[])]).with_responses(rows);
        mocks.now = now;
        expect_one_retry(&mut mocks, move |new, drafts| {
            new.status == CheckStatus::Pending
                && new.retried_at == Some(now)
                && drafts.len() == 1
                && drafts[0].external_status_check_id == StatusCheckId(1)
                && drafts[0].action.is_none()
        });
        let done = retry(&mocks.service()).await;
        assert_eq!(done, Ok(()));
    }
}

#[tokio::test]
async fn e7_unknown_check_is_404_and_guest_is_403() {
    let service = developer(vec![]).service();
    assert_eq!(
        retry(&service).await,
        Err(DomainError::NotFound(Resource::StatusCheck))
    );
    let service = Mocks::on_open_mr(AccessLevel::Guest).service();
    assert_eq!(retry(&service).await, Err(DomainError::Forbidden));
}

#[tokio::test]
async fn e7_retry_of_a_check_scoped_elsewhere_notifies_nobody() {
    let failed = response(1, 1, HEAD, CheckStatus::Failed, t0());
    let mut mocks = developer(vec![check(1, &["release/*"])]).with_responses(vec![failed]);
    expect_one_retry(&mut mocks, |new, drafts| {
        new.status == CheckStatus::Pending && drafts.is_empty()
    });
    let done = retry(&mocks.service()).await;
    assert_eq!(done, Ok(()));
}

#[tokio::test]
async fn a_merge_request_deleted_during_e6_is_404_not_500() {
    let mut mocks = developer(vec![check(1, &[])]);
    mocks
        .responses
        .expect_record_response()
        .returning(|_, _| Err(RepoError::NotFound));
    let err = respond(&mocks.service(), HEAD).await;
    assert_eq!(err, Err(DomainError::NotFound(Resource::MergeRequest)));
}
