//! The forge use cases against mocked ports: the link's rules and role matrix, what a delivery writes,
//! what E6 and check writes schedule, and what a due status post says at send time.

use crate::deliveries::HookUser;
use crate::forges::*;
use crate::service::fixtures::*;
use crate::ssrf::OutboundAllowlist;
use crate::status_checks::UrlPolicy;

fn link() -> ForgeLink {
    ForgeLink {
        project_id: ProjectId(5),
        forge: ForgeKind::Gitlab,
        api_url: "https://gitlab.example.com/api/v4".into(),
        repository: "77".into(),
        token: ForgeSecret::from_stored("glpat-forge-token".into()),
        webhook_secret: ForgeSecret::from_stored("a-webhook-secret-123".into()),
        status_name: "status-checks".into(),
        per_check_statuses: true,
        author_id: UserId(1),
        last_event_at: None,
        created_at: t0(),
        updated_at: t0(),
    }
}

fn full_input() -> ForgeLinkInput {
    ForgeLinkInput {
        forge: Some("gitlab".into()),
        api_url: Some("https://gitlab.example.com/api/v4/".into()),
        repository: Some("group/project".into()),
        token: Some("glpat-forge-token".into()),
        webhook_secret: Some("a-webhook-secret-123".into()),
        status_name: None,
        per_check_statuses: None,
    }
}

fn policy() -> UrlPolicy {
    UrlPolicy::default()
}

#[test]
fn a_new_link_needs_every_required_parameter() {
    let err = link_from(
        ProjectId(5),
        None,
        ForgeLinkInput::default(),
        UserId(1),
        t0(),
        &policy(),
    );
    assert_eq!(
        err,
        Err(DomainError::BadParameters(ParamErrors(vec![
            "forge is missing".into(),
            "api_url is missing".into(),
            "repository is missing".into(),
            "token is missing".into(),
            "webhook_secret is missing".into(),
        ])))
    );
    let made = link_from(ProjectId(5), None, full_input(), UserId(3), t0(), &policy())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(made.api_url, "https://gitlab.example.com/api/v4");
    assert_eq!(made.status_name, DEFAULT_STATUS_NAME);
    assert!(made.per_check_statuses);
    assert_eq!(made.author_id, UserId(3));
}

#[test]
fn bad_values_are_400_then_422() {
    let bad_forge = ForgeLinkInput {
        forge: Some("bitbucket".into()),
        ..full_input()
    };
    assert_eq!(
        link_from(ProjectId(5), None, bad_forge, UserId(1), t0(), &policy()),
        Err(DomainError::BadParameters(ParamErrors(vec![
            "forge does not have a valid value".into()
        ])))
    );
    let bad_repository = ForgeLinkInput {
        repository: Some("just-a-name".into()),
        ..full_input()
    };
    assert_eq!(
        link_from(
            ProjectId(5),
            None,
            bad_repository,
            UserId(1),
            t0(),
            &policy()
        ),
        Err(DomainError::BadParameters(ParamErrors(vec![
            "repository is invalid".into()
        ])))
    );
    let several = ForgeLinkInput {
        api_url: Some("http://127.0.0.1/api/v4".into()),
        webhook_secret: Some("short".into()),
        status_name: Some("a/b".into()),
        ..full_input()
    };
    assert_eq!(
        link_from(ProjectId(5), None, several, UserId(1), t0(), &policy()),
        Err(invalid(&[
            "Api url is blocked: Requests to loopback addresses are not allowed",
            "Webhook secret is too short (minimum is 16 characters)",
            "Status name is invalid",
        ]))
    );
}

#[test]
fn the_allowlist_admits_a_named_local_forge() {
    let local = ForgeLinkInput {
        api_url: Some("http://10.1.2.3/api/v4".into()),
        ..full_input()
    };
    let allowing = UrlPolicy {
        allow_local_requests: false,
        allowlist: OutboundAllowlist::parse("10.1.0.0/16").unwrap_or_default(),
    };
    assert!(
        link_from(
            ProjectId(5),
            None,
            local.clone(),
            UserId(1),
            t0(),
            &allowing
        )
        .is_ok()
    );
    assert!(link_from(ProjectId(5), None, local, UserId(1), t0(), &policy()).is_err());
}

#[test]
fn an_update_keeps_what_is_not_sent() {
    let existing = link();
    let update = ForgeLinkInput {
        status_name: Some("gate".into()),
        ..ForgeLinkInput::default()
    };
    let now = t0() + TimeDelta::seconds(5);
    let updated = link_from(
        ProjectId(5),
        Some(&existing),
        update,
        UserId(9),
        now,
        &policy(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(updated.token, existing.token);
    assert_eq!(updated.webhook_secret, existing.webhook_secret);
    assert_eq!(updated.repository, existing.repository);
    assert_eq!(updated.status_name, "gate");
    assert_eq!(
        updated.author_id, existing.author_id,
        "the linker stays the author"
    );
    assert_eq!(updated.created_at, existing.created_at);
    assert_eq!(updated.updated_at, now);
}

#[test]
fn an_input_never_prints_its_credentials() {
    let printed = format!("{:?}", full_input());
    assert!(!printed.contains("glpat-forge-token"), "{printed}");
    assert!(!printed.contains("a-webhook-secret-123"), "{printed}");
    assert!(!format!("{:?}", link()).contains("glpat-forge-token"));
}

#[tokio::test]
async fn managing_the_link_takes_a_maintainer() {
    for level in [AccessLevel::Reporter, AccessLevel::Developer] {
        let service = Mocks::member(level).service();
        assert_eq!(
            service.get_forge_link(&actor(2), &here()).await,
            Err(DomainError::Forbidden)
        );
        assert_eq!(
            service
                .put_forge_link(&actor(2), &here(), Ok(full_input()))
                .await
                .map(|_| ()),
            Err(DomainError::Forbidden)
        );
    }
    let service = Mocks::new().with_project(project(false), None).service();
    assert_eq!(
        service.get_forge_link(&actor(2), &here()).await,
        Err(DomainError::ProjectNotFound)
    );
    let service = Mocks::member(AccessLevel::Maintainer).service();
    assert_eq!(
        service.get_forge_link(&actor(2), &here()).await,
        Err(DomainError::NotFound(Resource::Forge))
    );
}

#[tokio::test]
async fn creating_a_link_saves_it_and_asks_for_a_sync() {
    let mut mocks = Mocks::member(AccessLevel::Maintainer);
    mocks
        .forges
        .expect_save_link()
        .withf(|link, sync| *sync && link.repository == "group/project")
        .times(1)
        .returning(|link, _| Ok(link));
    let (view, created) = mocks
        .service()
        .put_forge_link(&actor(2), &here(), Ok(full_input()))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(created);
    assert_eq!(
        view.webhook_url,
        "http://sc.test/api/v4/projects/5/forge/webhook"
    );
}

#[tokio::test]
async fn our_own_merge_request_writes_are_refused_on_a_linked_project() {
    let mut mocks = Mocks::member(AccessLevel::Developer);
    mocks.link = Some(link());
    let input = NewMergeRequestInput {
        source_branch: "f".into(),
        target_branch: "main".into(),
        title: "t".into(),
        sha: sha(HEAD),
        description: None,
    };
    assert_eq!(
        mocks
            .service()
            .create_merge_request(&actor(2), &here(), Ok(input))
            .await
            .map(|_| ()),
        Err(DomainError::Unprocessable(
            "Merge requests of this project are mirrored from its forge".into()
        ))
    );
}

fn event(snapshot: ForgeMergeRequest, key: &str) -> ForgeEvent {
    ForgeEvent {
        delivery_key: Some(key.into()),
        repository: DeliveredRepository {
            id: Some("77".into()),
            path: "group/project".into(),
        },
        sender: HookUser {
            id: UserId(4242),
            name: "Forge User".into(),
            username: "forge-user".into(),
        },
        kind: ForgeEventKind::MergeRequest {
            snapshot,
            source_project: "78".into(),
            web_url: "https://gitlab.example.com/group/project/-/merge_requests/7".into(),
        },
    }
}

fn snapshot(sha_raw: &str, at: Timestamp) -> ForgeMergeRequest {
    ForgeMergeRequest {
        number: MergeRequestIid(7),
        title: "Change".into(),
        description: String::new(),
        source_branch: "feature".into(),
        target_branch: "main".into(),
        sha: sha(sha_raw),
        state: MergeRequestState::Opened,
        updated_at: at,
    }
}

#[tokio::test]
async fn a_delivery_for_another_repository_is_422() {
    let service = Mocks::member(AccessLevel::Maintainer).service();
    let mut wrong = event(snapshot(HEAD, t0()), "k");
    wrong.repository = DeliveredRepository {
        id: Some("99".into()),
        path: "other/project".into(),
    };
    let answer = service
        .apply_forge_event(&project(false), &link(), wrong)
        .await;
    assert!(
        matches!(&answer, Err(DomainError::Unprocessable(m)) if m.contains("other/project") && m.contains("77")),
        "{answer:?}"
    );
}

#[tokio::test]
async fn an_unknown_number_is_opened_with_its_notifications_and_pending_statuses() {
    let mut mocks = Mocks::member(AccessLevel::Maintainer)
        .with_checks(vec![check(1, &[]), check(2, &["release"])]);
    mocks
        .forges
        .expect_find_mirrored()
        .returning(|_, _| Ok(None));
    let written = Arc::new(Mutex::new(None));
    let keep = written.clone();
    mocks
        .forges
        .expect_apply_mirror()
        .times(1)
        .returning(move |write| {
            *keep.lock().unwrap_or_else(|e| e.into_inner()) = Some(write);
            Ok(MirrorOutcome::Applied(None))
        });
    let outcome = mocks
        .service()
        .apply_forge_event(&project(false), &link(), event(snapshot(HEAD, t0()), "k1"))
        .await;
    assert_eq!(outcome, Ok(EventOutcome::Applied));
    let write = written
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take()
        .unwrap_or_else(|| panic!("nothing written"));
    assert_eq!(write.delivery_key.as_deref(), Some("k1"));
    match &write.change {
        MirrorChange::Open { iid, new } => {
            assert_eq!(*iid, MergeRequestIid(7));
            assert_eq!(
                new.author_id,
                UserId(1),
                "the linker authors mirrored merge requests"
            );
        }
        other => panic!("{other:?}"),
    }
    // Check 2 is scoped to `release`: only check 1 applies to `main`.
    assert_eq!(write.deliveries.len(), 1);
    assert_eq!(write.deliveries[0].user.username, "forge-user");
    let contexts: Vec<&str> = write.statuses.iter().map(|s| s.context.as_str()).collect();
    assert_eq!(contexts, ["status-checks", "status-checks/check 1"]);
    assert!(write.statuses.iter().all(|s| s.state == "pending"));
    assert_eq!(
        write.details.as_ref().map(|d| d.source_project.as_str()),
        Some("78")
    );
}

#[tokio::test]
async fn an_older_snapshot_writes_only_its_key() {
    let mut mocks = Mocks::member(AccessLevel::Maintainer).with_checks(vec![check(1, &[])]);
    let stored = mr(MergeRequestState::Opened);
    let details = MirrorDetails {
        source_project: "78".into(),
        web_url: String::new(),
        snapshot_at: t0() + TimeDelta::seconds(60),
        pipeline: None,
    };
    mocks
        .forges
        .expect_find_mirrored()
        .returning(move |_, _| Ok(Some((stored.clone(), Some(details.clone())))));
    mocks
        .forges
        .expect_apply_mirror()
        .withf(|w| {
            matches!(w.change, MirrorChange::Nothing)
                && w.deliveries.is_empty()
                && w.statuses.is_empty()
        })
        .times(1)
        .returning(|_| Ok(MirrorOutcome::Applied(None)));
    let older = event(snapshot(OLD, t0() + TimeDelta::seconds(30)), "k2");
    assert_eq!(
        mocks
            .service()
            .apply_forge_event(&project(false), &link(), older)
            .await,
        Ok(EventOutcome::Unchanged)
    );
}

#[tokio::test]
async fn a_race_is_decided_again_and_a_replay_is_seen() {
    let mut mocks = Mocks::member(AccessLevel::Maintainer).with_checks(vec![]);
    mocks
        .forges
        .expect_find_mirrored()
        .times(2)
        .returning(|_, _| Ok(None));
    let mut answers = vec![MirrorOutcome::Seen, MirrorOutcome::Raced];
    mocks
        .forges
        .expect_apply_mirror()
        .times(2)
        .returning(move |_| Ok(answers.pop().unwrap_or(MirrorOutcome::Seen)));
    assert_eq!(
        mocks
            .service()
            .apply_forge_event(&project(false), &link(), event(snapshot(HEAD, t0()), "k"))
            .await,
        Ok(EventOutcome::Seen)
    );
}

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

fn pipeline_event(number: Option<i64>, id: i64, merge_request_event: bool) -> ForgeEvent {
    ForgeEvent {
        delivery_key: Some(format!("pipeline-{id}")),
        repository: DeliveredRepository {
            id: Some("77".into()),
            path: "group/project".into(),
        },
        sender: HookUser {
            id: UserId(1),
            name: "A".into(),
            username: "a".into(),
        },
        kind: ForgeEventKind::Pipeline {
            number: number.map(MergeRequestIid),
            branch: "feature".into(),
            pipeline: HeadPipeline {
                id,
                sha: sha(HEAD),
                merge_request_event,
            },
        },
    }
}

/// Mocks where !2 is mirrored with a merge-request pipeline (id 50) at its HEAD; `applied` sees the write.
fn with_mr_pipeline(applied: impl Fn(&MirrorWrite) -> bool + Send + 'static) -> Mocks {
    let mut mocks = Mocks::member(AccessLevel::Maintainer).with_checks(vec![check(1, &[])]);
    let stored = mr(MergeRequestState::Opened);
    mocks.forges.expect_find_mirrored().returning(move |_, _| {
        Ok(Some((
            stored.clone(),
            Some(MirrorDetails {
                source_project: "77".into(),
                web_url: String::new(),
                snapshot_at: t0(),
                pipeline: Some(HeadPipeline {
                    id: 50,
                    sha: sha(HEAD),
                    merge_request_event: true,
                }),
            }),
        )))
    });
    mocks
        .forges
        .expect_apply_mirror()
        .withf(applied)
        .times(1)
        .returning(|_| Ok(MirrorOutcome::Applied(None)));
    mocks
}

#[tokio::test]
async fn statuses_follow_the_pipeline_gitlab_makes_the_head_one() {
    // A branch pipeline never displaces a merge-request pipeline at the same HEAD.
    let mocks = with_mr_pipeline(|w| w.statuses.is_empty() && w.details.is_none());
    assert_eq!(
        mocks
            .service()
            .apply_forge_event(&project(false), &link(), pipeline_event(Some(2), 60, false))
            .await,
        Ok(EventOutcome::Unchanged)
    );
    // A newer merge-request pipeline does, and every context is posted into it.
    let mocks = with_mr_pipeline(|w| {
        w.statuses.len() == 2
            && w.details
                .as_ref()
                .and_then(|d| d.pipeline.as_ref())
                .is_some_and(|p| p.id == 61)
    });
    assert_eq!(
        mocks
            .service()
            .apply_forge_event(&project(false), &link(), pipeline_event(Some(2), 61, true))
            .await,
        Ok(EventOutcome::Applied)
    );
}

#[tokio::test]
async fn a_branch_pipeline_is_matched_by_source_branch_and_head() {
    let mut mocks = with_mr_pipeline(|w| w.statuses.is_empty());
    // !2's source branch is `feature` at HEAD; the pipeline runs for `feature` at HEAD, but is older.
    let open = mr(MergeRequestState::Opened);
    mocks
        .mrs
        .expect_list_merge_requests()
        .times(1)
        .returning(move |_, _, request| Ok(Page::from_all(vec![open.clone()], request)));
    assert_eq!(
        mocks
            .service()
            .apply_forge_event(&project(false), &link(), pipeline_event(None, 40, false))
            .await,
        Ok(EventOutcome::Unchanged)
    );
}
