//! Use-case tests of merge requests and the notifications they cause, against mocks of the ports.

use crate::service::fixtures::*;

fn new_mr_input(source: &str, target: &str) -> Params<NewMergeRequestInput> {
    Ok(NewMergeRequestInput {
        source_branch: source.into(),
        target_branch: target.into(),
        title: "T".into(),
        sha: sha(HEAD),
        description: None,
    })
}

async fn update(
    service: &StatusChecksService,
    input: MergeRequestUpdateInput,
) -> DomainResult<MergeRequestView> {
    service
        .update_merge_request(&actor(3), &here(), MergeRequestIid(2), Ok(input))
        .await
}

async fn merge(service: &StatusChecksService, input: MergeInput) -> DomainResult<MergeRequestView> {
    service
        .merge_merge_request(&actor(3), &here(), MergeRequestIid(2), Ok(input))
        .await
}

/// A Developer on the open !2 of a project requiring `checks` to pass, of which check 1 passed at HEAD.
fn gated_with_check_1_passed(checks: Vec<ExternalStatusCheck>) -> Mocks {
    Mocks::gated_member(AccessLevel::Developer)
        .with_mr(mr(MergeRequestState::Opened))
        .with_checks(checks)
        .with_responses(vec![response(1, 1, HEAD, CheckStatus::Passed, t0())])
}

/// The store is asked once to update !2 with what `matches`, and applies the changes to the open !2.
fn expect_one_update(
    mocks: &mut Mocks,
    matches: impl Fn(&MergeRequestChanges, &Vec<DeliveryDraft>) -> bool + Send + 'static,
) {
    mocks
        .mrs
        .expect_update_merge_request()
        .withf(move |_, changes, drafts| matches(changes, drafts))
        .times(1)
        .returning(|_, changes, _| Ok(changes.apply_to(&mr(MergeRequestState::Opened))));
}

#[tokio::test]
async fn opening_a_merge_request_notifies_exactly_the_applicable_checks() {
    let mut mocks = Mocks::gated_member(AccessLevel::Developer).with_checks(vec![
        check(1, &[]),
        check(2, &["release/*"]),
        check(3, &["main"]),
    ]);
    mocks
        .mrs
        .expect_create_merge_request()
        .withf(|new, drafts| {
            let ids: Vec<i64> = drafts
                .iter()
                .map(|d| d.external_status_check_id.0)
                .collect();
            new.sha == sha(HEAD)
                && ids == vec![1, 3]
                && drafts.iter().all(|d| d.action == Some(HookAction::Open))
                && drafts[0].idempotency_key != drafts[1].idempotency_key
        })
        .times(1)
        .returning(|_, _| Ok(mr(MergeRequestState::Opened)));
    let view = mocks
        .service()
        .create_merge_request(&actor(3), &here(), new_mr_input("feature", "main"))
        .await;
    assert!(
        view.is_ok_and(|v| v.detailed_merge_status == DetailedMergeStatus::StatusChecksMustPass)
    );
}

#[tokio::test]
async fn opening_needs_distinct_branches_a_title_and_developer() {
    let service = Mocks::member(AccessLevel::Developer).service();
    assert_eq!(
        service
            .create_merge_request(&actor(3), &here(), new_mr_input("main", "main"))
            .await,
        Err(DomainError::Validation(vec![
            "You can't use same project/branch for source and target".into()
        ]))
    );
    let mut blank = new_mr_input("a", "b").unwrap_or_else(|_| panic!());
    blank.title = "  ".into();
    assert!(matches!(
        service.create_merge_request(&actor(3), &here(), Ok(blank)).await,
        Err(DomainError::InvalidAttributes(m)) if m.contains_key("title")
    ));
    let service = Mocks::member(AccessLevel::Reporter).service();
    assert_eq!(
        service
            .create_merge_request(&actor(3), &here(), new_mr_input("a", "b"))
            .await,
        Err(DomainError::Forbidden)
    );
}

#[tokio::test]
async fn a_push_records_the_new_head_and_notifies_with_oldrev() {
    let mut mocks = Mocks::on_open_mr(AccessLevel::Developer).with_checks(vec![check(1, &[])]);
    let now = mocks.now;
    expect_one_update(&mut mocks, move |changes, drafts| {
        changes.head == Some((sha(OLD), now))
            && drafts.len() == 1
            && drafts[0].action == Some(HookAction::Update)
            && drafts[0].oldrev == Some(sha(HEAD))
    });
    let input = MergeRequestUpdateInput {
        sha: Some(sha(OLD)),
        ..Default::default()
    };
    let view = update(&mocks.service(), input).await;
    assert!(
        view.is_ok_and(
            |v| v.merge_request.sha == sha(OLD) && v.merge_request.head_recorded_at == now
        )
    );
}

#[tokio::test]
async fn an_update_that_changes_nothing_writes_nothing() {
    let service = Mocks::on_open_mr(AccessLevel::Developer).service();
    let input = MergeRequestUpdateInput {
        sha: Some(sha(HEAD)),
        title: Some("Change".into()),
        ..Default::default()
    };
    assert!(update(&service, input).await.is_ok());
}

#[tokio::test]
async fn closing_notifies_with_close_and_a_title_change_carries_changes() {
    let mut mocks = Mocks::on_open_mr(AccessLevel::Developer).with_checks(vec![check(1, &[])]);
    expect_one_update(&mut mocks, |changes, drafts| {
        changes.state == Some(MergeRequestState::Closed)
            && drafts[0].action == Some(HookAction::Close)
            && drafts[0].changes["title"]["previous"] == "Change"
            && drafts[0].changes["title"]["current"] == "New"
    });
    let input = MergeRequestUpdateInput {
        state_event: Some(StateEvent::Close),
        title: Some("New".into()),
        ..Default::default()
    };
    let view = update(&mocks.service(), input).await;
    assert!(view.is_ok_and(|v| v.detailed_merge_status == DetailedMergeStatus::NotOpen));
}

#[tokio::test]
async fn merging_is_405_when_closed_or_blocked_and_409_on_a_stale_sha() {
    let service = Mocks::gated_member(AccessLevel::Developer)
        .with_mr(mr(MergeRequestState::Closed))
        .service();
    assert_eq!(
        merge(&service, MergeInput::default()).await,
        Err(DomainError::NotAllowed)
    );

    let service = gated_with_check_1_passed(vec![check(1, &[]), check(2, &[])]).service();
    assert_eq!(
        merge(&service, MergeInput::default()).await,
        Err(DomainError::NotAllowed)
    );
    let stale = MergeInput {
        sha: Some(OLD.into()),
    };
    assert_eq!(
        merge(&service, stale).await,
        Err(DomainError::Conflict(format!(
            "SHA does not match HEAD of source branch: {HEAD}"
        )))
    );
}

#[tokio::test]
async fn merging_when_every_check_passed_records_the_merge_and_notifies() {
    let mut mocks = gated_with_check_1_passed(vec![check(1, &[]), check(2, &["other"])]);
    expect_one_update(&mut mocks, |changes, drafts| {
        changes.state == Some(MergeRequestState::Merged)
            && changes.merged_at.is_some()
            && drafts.len() == 1
            && drafts[0].action == Some(HookAction::Merge)
    });
    let view = merge(&mocks.service(), MergeInput::default()).await;
    assert!(view.is_ok_and(|v| v.merge_request.state == MergeRequestState::Merged));
}

#[tokio::test]
async fn listing_merge_requests_batches_status_queries() {
    let mut mocks = Mocks::gated_member(AccessLevel::Reporter).with_checks(vec![check(1, &[])]);
    let mut second = mr(MergeRequestState::Opened);
    second.id = MergeRequestId(41);
    second.iid = MergeRequestIid(3);
    let both = vec![mr(MergeRequestState::Opened), second];
    mocks
        .mrs
        .expect_list_merge_requests()
        .returning(move |_, _, page| Ok(Page::from_all(both.clone(), page)));
    mocks
        .responses
        .expect_newest_responses()
        .withf(|heads| heads.len() == 2)
        .times(1)
        .returning(|_| Ok(vec![response(1, 1, HEAD, CheckStatus::Passed, t0())]));
    let page = mocks
        .service()
        .list_merge_requests(&actor(3), &here(), Ok(None), PageRequest::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let statuses: Vec<_> = page.items.iter().map(|v| v.detailed_merge_status).collect();
    assert_eq!(
        statuses,
        vec![
            DetailedMergeStatus::Mergeable,
            DetailedMergeStatus::StatusChecksMustPass
        ]
    );
}
