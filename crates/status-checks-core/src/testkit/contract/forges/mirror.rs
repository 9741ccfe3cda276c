//! Mirror writes: a merge request opened or updated from the forge with its details, notifications and
//! status posts in one transaction, or nothing at all (`Seen`, `Raced`).

use super::super::fixtures::*;
use super::{applied, find_link, link, mirrored, open_change, status_draft, statuses_of, write};
use crate::deliveries::{DeliveryStatus, HookAction};
use crate::forges::{HeadPipeline, MirrorChange, MirrorDetails, MirrorOutcome, MirrorWrite};
use crate::ids::*;
use crate::merge_requests::{MergeRequest, MergeRequestChanges, MergeRequestState};
use crate::projects::Project;
use crate::service::Ports;

/// Mirror writes: an open with the forge's number, its notifications and status posts, in one transaction;
/// a replayed delivery is `Seen`; a write decided on a stale read is `Raced` and writes nothing, not even its
/// key; an update applies its changes and details; a write that changes nothing records only its key.
pub async fn forge_mirror_writes(ports: &Ports) {
    let (alice, p, q) = alice_with_two_projects(ports).await;
    let c = check(ports, &p, "qa").await;
    ok(
        ports.forges.save_link(link(&p, &alice, 8), false).await,
        "link",
    );
    let own = merge_request(ports, &p, "main", vec![]).await;
    assert_eq!(
        ok(
            ports.forges.find_mirrored(p.id, own.iid).await,
            "own merge request"
        ),
        Some((own.clone(), None)),
        "a merge request opened through the API has no details"
    );

    let opened = MirrorDetails {
        source_project: "17".into(),
        web_url: "https://gitlab.example.com/grp/proj/-/merge_requests/42".into(),
        snapshot_at: at(9),
        pipeline: None,
    };
    let open = MirrorWrite {
        details: Some(opened.clone()),
        deliveries: vec![draft(&c, &p, Some(HookAction::Open), "k-open")],
        statuses: vec![
            status_draft("status-checks", None, 10),
            status_draft("status-checks/qa", Some(c.id), 10),
        ],
        ..write(&p, Some("d-1"), 10, open_change(&p, &alice, 42))
    };
    let mr = applied(ports, open.clone(), "open").await;
    assert_eq!(
        (
            mr.iid,
            mr.state,
            mr.title.as_str(),
            mr.sha.clone(),
            mr.author_id,
            mr.created_at,
            mr.updated_at
        ),
        (
            MergeRequestIid(42),
            MergeRequestState::Opened,
            "Mirrored",
            sha('c'),
            alice.id,
            at(10),
            at(10)
        ),
        "opened with the forge's number"
    );
    assert_eq!(
        mirrored(ports, &p, mr.iid, "find opened").await,
        Some((mr.clone(), Some(opened.clone())))
    );
    let notified = deliveries_to(ports, &p, &c, "notified").await;
    assert_eq!(
        notified
            .items
            .iter()
            .map(|d| (
                d.idempotency_key.as_str(),
                d.merge_request_id,
                d.merge_request_iid
            ))
            .collect::<Vec<_>>(),
        vec![("k-open", mr.id, mr.iid)],
        "the notifications are recorded against the merge request opened"
    );
    let posts = statuses_of(ports, &p, "posts").await;
    assert_eq!(posts.total, 2);
    assert_eq!(
        posts
            .items
            .iter()
            .map(|s| (
                s.context.as_str(),
                s.external_status_check_id,
                s.merge_request_id,
                s.merge_request_iid,
                s.sha.clone(),
                s.state.as_str(),
                s.status,
                s.attempts,
                s.next_attempt_at,
                s.created_at
            ))
            .collect::<Vec<_>>(),
        vec![
            (
                "status-checks/qa",
                Some(c.id),
                mr.id,
                mr.iid,
                sha('c'),
                "pending",
                DeliveryStatus::Pending,
                0,
                Some(at(10)),
                at(10)
            ),
            (
                "status-checks",
                None,
                mr.id,
                mr.iid,
                sha('c'),
                "pending",
                DeliveryStatus::Pending,
                0,
                Some(at(10)),
                at(10)
            ),
        ],
        "the status posts are rendered against the merge request opened, newest first"
    );
    assert_eq!(
        find_link(ports, &p, "last event")
            .await
            .and_then(|l| l.last_event_at),
        Some(at(10)),
        "the link's last event is the delivery's arrival"
    );
    let next = merge_request(ports, &p, "main", vec![]).await;
    assert_eq!(
        next.iid,
        MergeRequestIid(43),
        "an iid a mirror took is never allocated again"
    );

    // A replay writes nothing, whatever it carries.
    let replay = MirrorWrite {
        deliveries: vec![draft(&c, &p, Some(HookAction::Update), "k-replay")],
        statuses: vec![status_draft("status-checks", None, 11)],
        ..write(&p, Some("d-1"), 11, update_change(&mr, Some(retitled(12))))
    };
    assert_eq!(
        ok(ports.forges.apply_mirror(replay).await, "replay"),
        MirrorOutcome::Seen
    );
    assert_unchanged(ports, &p, &c, &mr, 2, "after a replay").await;
    assert_eq!(
        find_link(ports, &p, "replay")
            .await
            .and_then(|l| l.last_event_at),
        Some(at(10))
    );

    // An open of a taken number, and an update decided on a stale read, race and write nothing.
    let taken = MirrorWrite {
        statuses: vec![status_draft("status-checks", None, 12)],
        ..write(&p, Some("d-2"), 12, open_change(&p, &alice, 42))
    };
    assert_eq!(
        ok(ports.forges.apply_mirror(taken).await, "open a taken iid"),
        MirrorOutcome::Raced
    );
    let stale = MirrorWrite {
        statuses: vec![status_draft("status-checks", None, 12)],
        deliveries: vec![draft(&c, &p, Some(HookAction::Update), "k-stale")],
        ..write(
            &p,
            Some("d-3"),
            12,
            MirrorChange::Update {
                id: mr.id,
                read_at: at(9),
                changes: Some(retitled(12)),
            },
        )
    };
    assert_eq!(
        ok(ports.forges.apply_mirror(stale).await, "stale update"),
        MirrorOutcome::Raced
    );
    assert_unchanged(ports, &p, &c, &mr, 2, "after races").await;
    assert_eq!(
        ok(
            ports
                .forges
                .apply_mirror(write(&p, Some("d-2"), 13, MirrorChange::Nothing))
                .await,
            "the raced key again"
        ),
        MirrorOutcome::Applied(None),
        "a raced write did not record its key; a write of nothing records only the key"
    );
    assert_unchanged(ports, &p, &c, &mr, 2, "after a write of nothing").await;
    assert_eq!(
        find_link(ports, &p, "nothing")
            .await
            .and_then(|l| l.last_event_at),
        Some(at(13)),
        "recording a key is an event"
    );
    assert_eq!(
        ok(
            ports
                .forges
                .apply_mirror(write(&p, Some("d-2"), 14, MirrorChange::Nothing))
                .await,
            "replayed nothing"
        ),
        MirrorOutcome::Seen
    );
    assert_eq!(
        ok(
            ports
                .forges
                .apply_mirror(write(&q, Some("d-1"), 14, MirrorChange::Nothing))
                .await,
            "the same key in another project"
        ),
        MirrorOutcome::Applied(None),
        "delivery keys are per project"
    );

    // An update: the changes, the details, notifications and posts against the result.
    let pushed = MirrorDetails {
        snapshot_at: at(14),
        pipeline: Some(HeadPipeline {
            id: 7,
            sha: sha('d'),
            merge_request_event: true,
        }),
        ..opened.clone()
    };
    let mut changes = retitled(15);
    changes.head = Some((sha('d'), at(15)));
    let update = MirrorWrite {
        details: Some(pushed.clone()),
        deliveries: vec![draft(&c, &p, Some(HookAction::Update), "k-push")],
        statuses: vec![status_draft("status-checks", None, 15)],
        ..write(&p, Some("d-4"), 15, update_change(&mr, Some(changes)))
    };
    let updated = applied(ports, update, "update").await;
    assert_eq!(
        (
            updated.id,
            updated.title.as_str(),
            updated.sha.clone(),
            updated.head_recorded_at,
            updated.updated_at
        ),
        (mr.id, "Retitled", sha('d'), at(15), at(15))
    );
    assert_eq!(
        mirrored(ports, &p, mr.iid, "find updated").await,
        Some((updated.clone(), Some(pushed.clone())))
    );
    assert_eq!(deliveries_to(ports, &p, &c, "update").await.total, 2);
    let newest = statuses_of(ports, &p, "update").await;
    assert_eq!(newest.total, 3);
    assert_eq!(
        (
            newest.items[0].sha.clone(),
            newest.items[0].created_at,
            newest.items[0].next_attempt_at
        ),
        (sha('d'), at(15), Some(at(15))),
        "posts are rendered against the merge request as updated"
    );

    // Details only, then nothing but the key: the merge request is answered as stored.
    let closed = MirrorDetails {
        pipeline: None,
        snapshot_at: at(16),
        ..pushed.clone()
    };
    let details_only = MirrorWrite {
        details: Some(closed.clone()),
        ..write(&p, None, 16, update_change(&updated, None))
    };
    assert_eq!(
        applied(ports, details_only, "details only").await,
        updated,
        "no changes: the merge request as stored"
    );
    let kept = MirrorDetails {
        pipeline: pushed.pipeline.clone(),
        ..closed.clone()
    };
    assert!(
        kept.pipeline.is_some(),
        "the scenario needs a stored pipeline"
    );
    assert_eq!(
        mirrored(ports, &p, mr.iid, "details replaced").await,
        Some((updated.clone(), Some(kept.clone()))),
        "details are replaced, but a write without a pipeline keeps the one stored"
    );
    assert_eq!(
        applied(
            ports,
            write(&p, Some("d-5"), 17, update_change(&updated, None)),
            "key only"
        )
        .await,
        updated
    );
    assert_eq!(
        mirrored(ports, &p, mr.iid, "details kept").await,
        Some((updated.clone(), Some(kept))),
        "without details, those stored are kept"
    );
    assert_eq!(statuses_of(ports, &p, "end").await.total, 3);
    assert_eq!(deliveries_to(ports, &p, &c, "end").await.total, 2);

    // A write with a pipeline replaces the one stored.
    let rerun = MirrorDetails {
        snapshot_at: at(18),
        pipeline: Some(HeadPipeline {
            id: 8,
            sha: sha('e'),
            merge_request_event: false,
        }),
        ..closed
    };
    let new_pipeline = MirrorWrite {
        details: Some(rerun.clone()),
        ..write(&p, None, 18, update_change(&updated, None))
    };
    assert_eq!(
        applied(ports, new_pipeline, "a new pipeline").await,
        updated
    );
    assert_eq!(
        mirrored(ports, &p, mr.iid, "pipeline replaced").await,
        Some((updated.clone(), Some(rerun))),
        "a write with a pipeline replaces the one stored"
    );
}

/// Updates `mr` as read.
fn update_change(mr: &MergeRequest, changes: Option<MergeRequestChanges>) -> MirrorChange {
    MirrorChange::Update {
        id: mr.id,
        read_at: mr.updated_at,
        changes,
    }
}

/// A new title, `second` seconds in.
fn retitled(second: i64) -> MergeRequestChanges {
    MergeRequestChanges {
        title: Some("Retitled".into()),
        ..MergeRequestChanges::at(at(second))
    }
}

/// Asserts that `mr` is as it was, with its single notification to `check` and `posts` status posts.
async fn assert_unchanged(
    ports: &Ports,
    project: &Project,
    check: &crate::status_checks::ExternalStatusCheck,
    mr: &MergeRequest,
    posts: u64,
    what: &str,
) {
    assert_eq!(
        mirrored(ports, project, mr.iid, what)
            .await
            .map(|(stored, _)| stored)
            .as_ref(),
        Some(mr),
        "{what}: the merge request is unchanged"
    );
    assert_eq!(
        deliveries_to(ports, project, check, what).await.total,
        1,
        "{what}: no notification"
    );
    assert_eq!(
        statuses_of(ports, project, what).await.total,
        posts,
        "{what}: no status post"
    );
}
