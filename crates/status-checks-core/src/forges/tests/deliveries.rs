//! What applying a delivery writes: a merge-request snapshot (opened, older, raced, replayed, for another
//! repository) and a pipeline event (which pipeline statuses follow).

use super::link;
use crate::deliveries::HookUser;
use crate::forges::*;
use crate::service::fixtures::*;

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
