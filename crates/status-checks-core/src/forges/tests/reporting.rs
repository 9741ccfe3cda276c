//! What an answer on a linked project schedules, and what a due status post says at send time: its state,
//! description, target and deadline, when it is skipped or released, and what the service said.

use super::link;
use crate::forges::*;
use crate::service::fixtures::*;

#[tokio::test]
async fn an_answer_on_a_linked_project_schedules_its_statuses() {
    let mut mocks = Mocks::on_open_mr(AccessLevel::Developer).with_checks(vec![check(1, &[])]);
    mocks.link = Some(link());
    // In the answer's own transaction: no second write.
    mocks
        .responses
        .expect_record_response()
        .withf(|_, statuses| {
            let contexts: Vec<&str> = statuses.iter().map(|s| s.context.as_str()).collect();
            contexts == ["status-checks", "status-checks/check 1"]
        })
        .times(1)
        .returning(|new, _| Ok(stored(9, 1, &new)));
    let input = ResponseInput {
        external_status_check_id: StatusCheckId(1),
        status: CheckStatus::Passed,
        sha: HEAD.into(),
        details: None,
    };
    assert!(
        mocks
            .service()
            .set_check_status(&actor(2), &here(), MergeRequestIid(2), Ok(input))
            .await
            .is_ok()
    );
}

fn due(context: &str, check: Option<i64>) -> ForgeStatus {
    ForgeStatus {
        id: ForgeStatusId(1),
        project_id: ProjectId(5),
        merge_request_id: MergeRequestId(40),
        merge_request_iid: MergeRequestIid(2),
        sha: sha(HEAD),
        context: context.into(),
        external_status_check_id: check.map(StatusCheckId),
        state: "pending".into(),
        status: crate::deliveries::DeliveryStatus::Pending,
        attempts: 0,
        last_error: None,
        last_attempt_at: None,
        next_attempt_at: None,
        created_at: t0(),
    }
}

fn at_send_time(mocks: &mut Mocks, pipeline: Option<HeadPipeline>, last: Option<&'static str>) {
    mocks.link = Some(link());
    let stored = mr(MergeRequestState::Opened);
    mocks.forges.expect_find_mirrored().returning(move |_, _| {
        Ok(Some((
            stored.clone(),
            Some(MirrorDetails {
                source_project: "78".into(),
                web_url: "https://gitlab.example.com/mr/2".into(),
                snapshot_at: t0(),
                pipeline: pipeline.clone(),
            }),
        )))
    });
    mocks
        .forges
        .expect_last_posted()
        .returning(move |_| Ok(last.map(str::to_owned)));
}

#[tokio::test]
async fn the_state_is_worked_out_at_send_time() {
    let mut mocks = Mocks::on_open_mr(AccessLevel::Developer)
        .with_checks(vec![check(1, &[]), check(2, &[])])
        .with_responses(vec![
            response(1, 1, HEAD, CheckStatus::Passed, t0()),
            response(2, 2, HEAD, CheckStatus::Failed, t0()),
        ]);
    at_send_time(&mut mocks, None, None);
    let service = mocks.service();
    let DueStatus::Post(post) = service
        .forge_status_to_post(&due("status-checks", None))
        .await
        .unwrap_or_else(|e| panic!("{e}"))
    else {
        panic!("skipped")
    };
    assert_eq!(post.state, "failed");
    assert_eq!(post.description, "1 of 2 passed, 1 failed");
    assert_eq!(
        post.forge_project, "78",
        "GitLab statuses go to the source project"
    );
    assert_eq!(post.target, StatusTarget::Ref("feature".into()));
    assert_eq!(
        post.target_url.as_deref(),
        Some("https://gitlab.example.com/mr/2")
    );
    assert!(!post.already_posted);
    assert_eq!(post.deadline, None);
}

#[tokio::test]
async fn a_pending_status_carries_its_deadline_and_a_pipeline_at_the_head_is_used() {
    let mut mocks = Mocks::on_open_mr(AccessLevel::Developer).with_checks(vec![check(1, &[])]);
    let pipeline = HeadPipeline {
        id: 991,
        sha: sha(HEAD),
        merge_request_event: true,
    };
    at_send_time(&mut mocks, Some(pipeline), Some("pending"));
    let DueStatus::Post(post) = mocks
        .service()
        .forge_status_to_post(&due("status-checks", None))
        .await
        .unwrap_or_else(|e| panic!("{e}"))
    else {
        panic!("skipped")
    };
    assert_eq!(post.state, "pending");
    assert!(post.already_posted, "pending was posted before: not again");
    assert_eq!(post.target, StatusTarget::Pipeline(991));
    assert_eq!(post.deadline, Some(t0() + TimeDelta::seconds(120)));
}

#[tokio::test]
async fn a_post_about_an_old_head_or_a_closed_merge_request_is_skipped() {
    let mut mocks = Mocks::on_open_mr(AccessLevel::Developer).with_checks(vec![]);
    at_send_time(&mut mocks, None, None);
    let service = mocks.service();
    let mut old = due("status-checks", None);
    old.sha = sha(OLD);
    assert_eq!(
        service.forge_status_to_post(&old).await,
        Ok(DueStatus::Skip("the merge request has a newer HEAD"))
    );
    // A per-check context whose check is gone, never posted: nothing to do.
    assert_eq!(
        service
            .forge_status_to_post(&due("status-checks/check 9", Some(9)))
            .await,
        Ok(DueStatus::Skip("the check no longer applies"))
    );
    let mut closed = Mocks::on_open_mr(AccessLevel::Developer).with_checks(vec![]);
    closed.mr = Some(mr(MergeRequestState::Closed));
    at_send_time(&mut closed, None, None);
    assert_eq!(
        closed
            .service()
            .forge_status_to_post(&due("status-checks", None))
            .await,
        Ok(DueStatus::Skip("the merge request is no longer open"))
    );
}

#[tokio::test]
async fn a_gone_check_that_was_posted_pending_is_released() {
    let mut mocks = Mocks::on_open_mr(AccessLevel::Developer).with_checks(vec![]);
    at_send_time(&mut mocks, None, Some("pending"));
    let DueStatus::Post(post) = mocks
        .service()
        .forge_status_to_post(&due("status-checks/check 9", Some(9)))
        .await
        .unwrap_or_else(|e| panic!("{e}"))
    else {
        panic!("skipped")
    };
    assert_eq!(post.state, "success");
    assert_eq!(post.description, "no longer applies");
}

#[tokio::test]
async fn a_checks_own_status_shows_what_the_service_said() {
    let mut mocks = Mocks::on_open_mr(AccessLevel::Developer)
        .with_checks(vec![check(1, &[])])
        .with_responses(vec![response(3, 1, HEAD, CheckStatus::Passed, t0())]);
    at_send_time(&mut mocks, None, None);
    mocks
        .responses
        .expect_find_response_details()
        .withf(|id| *id == ResponseId(3))
        .returning(|_| {
            Ok(Some(crate::status_checks::ResponseDetails {
                target_url: Some("https://qa.example.com/report/3".into()),
                description: Some("All 212 checks green".into()),
            }))
        });
    let DueStatus::Post(post) = mocks
        .service()
        .forge_status_to_post(&due("status-checks/check 1", Some(1)))
        .await
        .unwrap_or_else(|e| panic!("{e}"))
    else {
        panic!("skipped")
    };
    assert_eq!(post.state, "success");
    assert_eq!(post.description, "All 212 checks green");
    assert_eq!(
        post.target_url.as_deref(),
        Some("https://qa.example.com/report/3")
    );
}

#[test]
fn answer_details_are_checked() {
    use crate::status_checks::ResponseDetails;
    assert_eq!(ResponseDetails::parse(None, None), Ok(None));
    assert_eq!(
        ResponseDetails::parse(Some(" ".into()), Some(String::new())),
        Ok(None)
    );
    assert!(
        ResponseDetails::parse(Some("https://x.example/r".into()), None).is_ok_and(|d| d.is_some())
    );
    assert_eq!(
        ResponseDetails::parse(Some("javascript:alert(1)".into()), Some("x".repeat(256))),
        Err(ParamErrors(vec![
            "target_url is invalid".into(),
            "description is invalid".into()
        ]))
    );
}
