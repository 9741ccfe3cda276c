//! Contract of the forge bridge's port (`ForgeRepository`): a project's link (credentials kept as given), the
//! sync schedule under a lease, mirror writes applied whole or not at all (a replayed delivery is `Seen`, a
//! write decided on a stale read is `Raced`), and the outbox of status posts with the state last posted.

use super::fixtures::*;
use crate::Timestamp;
use crate::deliveries::{AttemptOutcome, DeliveryStatus, HookAction};
use crate::error::RepoError;
use crate::forges::{
    ForgeKind, ForgeLink, ForgeSecret, ForgeStatus, HeadPipeline, MirrorChange, MirrorDetails,
    MirrorOutcome, MirrorWrite, NewForgeStatus, PostedKey, StatusAttempt, StatusDraft,
};
use crate::ids::*;
use crate::merge_requests::{
    MergeRequest, MergeRequestChanges, MergeRequestState, NewMergeRequest,
};
use crate::pagination::Page;
use crate::projects::Project;
use crate::service::Ports;
use crate::users::User;

/// Links: saved and found whole (credentials equal to those given), replaced, deleted with their pending
/// status posts only; a link needs its project.
pub async fn forge_links_round_trip(ports: &Ports) {
    let (alice, p, q) = alice_with_two_projects(ports).await;
    assert_eq!(find_link(ports, &p, "no link yet").await, None);

    let first = link(&p, &alice, 10);
    let saved = ok(ports.forges.save_link(first.clone(), false).await, "save");
    assert_eq!(saved, first, "a new link is stored as given");
    let found = find_link(ports, &p, "find").await;
    assert_eq!(found.as_ref(), Some(&first));
    let found = found.unwrap_or_else(|| panic!("the link"));
    assert_eq!(
        (found.token.expose(), found.webhook_secret.expose()),
        (first.token.expose(), first.webhook_secret.expose()),
        "the credentials come back as given"
    );
    assert_eq!(
        find_link(ports, &q, "another project").await,
        None,
        "links are per project"
    );

    let replaced = ForgeLink {
        forge: ForgeKind::Forgejo,
        api_url: "https://codeberg.example.org/api/v1".into(),
        repository: "alice/proj".into(),
        token: secret(ForgeSecret::token("forgejo-token-2")),
        webhook_secret: secret(ForgeSecret::webhook_secret("another-webhook-secret")),
        status_name: "ci-gate".into(),
        per_check_statuses: false,
        updated_at: at(20),
        ..first.clone()
    };
    let saved = ok(
        ports.forges.save_link(replaced.clone(), false).await,
        "replace",
    );
    assert_eq!(saved, replaced, "a replaced link is stored as given");
    assert_eq!(saved.created_at, at(10), "and keeps its creation time");
    assert_eq!(
        find_link(ports, &p, "find replaced").await.as_ref(),
        Some(&replaced)
    );

    let missing = ForgeLink {
        project_id: ProjectId(999_999),
        ..first.clone()
    };
    assert_eq!(
        ports.forges.save_link(missing, true).await,
        Err(RepoError::NotFound),
        "a link needs its project"
    );

    // Deleting a link takes its pending posts; what was posted, and the mirrored merge requests, stay.
    let mr = merge_request(ports, &p, "main", vec![]).await;
    let other = merge_request(ports, &q, "main", vec![]).await;
    schedule(
        ports,
        vec![post(&mr, "status-checks", 5), post(&mr, "status-checks", 6)],
    )
    .await;
    schedule(ports, vec![post(&other, "status-checks", 5)]).await;
    let claimed = claim_statuses(ports, at(5), 1, at(100), "claim one").await;
    record_attempt(
        ports,
        attempt(&claimed[0], 7, AttemptOutcome::Delivered),
        None,
    )
    .await;
    deletes_once("delete link", || ports.forges.delete_link(p.id)).await;
    assert_eq!(find_link(ports, &p, "deleted").await, None);
    let left = statuses_of(ports, &p, "after delete").await;
    assert_eq!(
        left.items
            .iter()
            .map(|s| (s.id, s.status))
            .collect::<Vec<_>>(),
        vec![(claimed[0].id, DeliveryStatus::Delivered)],
        "the pending post is deleted with the link, the delivered one stays"
    );
    assert_eq!(
        statuses_of(ports, &q, "another project's posts")
            .await
            .total,
        1,
        "another project's posts stay"
    );
    assert_eq!(
        ok(
            ports.forges.find_mirrored(p.id, mr.iid).await,
            "mirrored after delete"
        ),
        Some((mr, None)),
        "merge requests stay"
    );
}

/// Syncs: a link saved with `sync` (or asked to) is due, claimed once under a lease, done when finished,
/// due again at `retry_at`; a sync requested during a claim survives that claim's finish.
pub async fn forge_syncs_are_claimed_under_a_lease(ports: &Ports) {
    let (alice, p, q) = alice_with_two_projects(ports).await;
    let lp = ok(
        ports.forges.save_link(link(&p, &alice, 10), true).await,
        "p",
    );
    let lq = ok(
        ports.forges.save_link(link(&q, &alice, 12), false).await,
        "q",
    );
    assert_eq!(
        claim_sync(ports, at(9), at(100), "before due").await,
        None,
        "a sync is due from when the link was saved"
    );
    assert_eq!(
        claim_sync(ports, at(11), at(100), "due").await.as_ref(),
        Some(&lp),
        "a link saved with sync is due; one saved without is not"
    );
    assert_eq!(
        claim_sync(ports, at(50), at(150), "leased").await,
        None,
        "a claimed sync is not claimed again during its lease"
    );
    assert_eq!(
        claim_sync(ports, at(100), at(200), "lease over")
            .await
            .map(|l| l.project_id),
        Some(p.id),
        "a crashed syncer's claim comes due again at the end of its lease"
    );
    ok(
        ports.forges.finish_sync(p.id, at(200), None).await,
        "finish",
    );
    assert_eq!(
        claim_sync(ports, at(10_000), at(20_000), "finished").await,
        None,
        "a finished sync is not due"
    );

    assert!(ok(ports.forges.request_sync(q.id, at(30)).await, "request"));
    assert!(
        !ok(
            ports.forges.request_sync(ProjectId(999_999), at(30)).await,
            "request without a link"
        ),
        "no link, no sync"
    );
    assert_eq!(
        claim_sync(ports, at(30), at(130), "requested")
            .await
            .as_ref(),
        Some(&lq)
    );
    assert!(ok(
        ports.forges.request_sync(q.id, at(40)).await,
        "request during the claim"
    ));
    ok(
        ports.forges.finish_sync(q.id, at(130), None).await,
        "finish the claim",
    );
    assert_eq!(
        claim_sync(ports, at(40), at(140), "requested meanwhile")
            .await
            .map(|l| l.project_id),
        Some(q.id),
        "a sync requested during a claim is still due after that claim's finish"
    );
    ok(
        ports.forges.finish_sync(q.id, at(140), Some(at(500))).await,
        "finish with a retry",
    );
    assert_eq!(claim_sync(ports, at(499), at(600), "not yet").await, None);

    assert!(ok(
        ports.forges.request_sync(p.id, at(450)).await,
        "p again"
    ));
    assert_eq!(
        claim_sync(ports, at(500), at(600), "oldest due first")
            .await
            .map(|l| l.project_id),
        Some(p.id),
        "the sync due first is claimed first"
    );
    assert_eq!(
        claim_sync(ports, at(500), at(600), "then the retry")
            .await
            .map(|l| l.project_id),
        Some(q.id),
        "a failed sync is due again at its retry time"
    );
}

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
    assert_eq!(
        mirrored(ports, &p, mr.iid, "details replaced").await,
        Some((updated.clone(), Some(closed.clone()))),
        "details are replaced whole (the pipeline too)"
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
        Some((updated.clone(), Some(closed))),
        "without details, those stored are kept"
    );
    assert_eq!(statuses_of(ports, &p, "end").await.total, 3);
    assert_eq!(deliveries_to(ports, &p, &c, "end").await.total, 2);
}

/// The status outbox: posts scheduled and listed newest first, claimed oldest due first under a lease, then
/// delivered (with the state posted remembered), retried with their follow-ups, or dead.
pub async fn forge_status_outbox(ports: &Ports) {
    let (alice, p, q) = alice_with_two_projects(ports).await;
    ok(
        ports.forges.save_link(link(&p, &alice, 8), false).await,
        "link",
    );
    let mr = merge_request(ports, &p, "main", vec![]).await;
    ok(
        ports.forges.schedule_statuses(Vec::new()).await,
        "nothing to schedule",
    );
    schedule(
        ports,
        vec![post(&mr, "a", 10), post(&mr, "b", 5), post(&mr, "c", 20)],
    )
    .await;
    let listed = statuses_of(ports, &p, "list").await;
    assert_eq!(listed.total, 3);
    assert_eq!(contexts(&listed.items), vec!["c", "b", "a"], "newest first");
    let first_page = ok(
        ports.forges.list_forge_statuses(p.id, page(1, 2)).await,
        "a page",
    );
    assert_eq!(
        (contexts(&first_page.items), first_page.total),
        (vec!["c", "b"], 3),
        "a page of them, with the total"
    );
    assert_eq!(
        statuses_of(ports, &q, "another project").await.total,
        0,
        "posts are per project"
    );
    let first = &listed.items[2];
    assert_eq!(
        (
            first.merge_request_id,
            first.merge_request_iid,
            first.sha.clone(),
            first.state.as_str(),
            first.status,
            first.attempts,
            first.last_error.clone(),
            first.last_attempt_at,
            first.next_attempt_at,
            first.created_at
        ),
        (
            mr.id,
            mr.iid,
            mr.sha.clone(),
            "pending",
            DeliveryStatus::Pending,
            0,
            None,
            None,
            Some(at(10)),
            at(4)
        ),
        "a scheduled post is pending, due at its draft's time"
    );

    assert!(
        claim_statuses(ports, at(4), 10, at(100), "nothing due")
            .await
            .is_empty()
    );
    let b = claim_statuses(ports, at(10), 1, at(100), "claim one").await;
    assert_eq!(
        contexts(&b),
        vec!["b"],
        "the oldest due first, at most `limit`"
    );
    assert_eq!(b[0].next_attempt_at, Some(at(100)), "claimed under a lease");
    let a = claim_statuses(ports, at(10), 10, at(100), "claim the rest due").await;
    assert_eq!(
        contexts(&a),
        vec!["a"],
        "neither a claimed post nor one not due"
    );
    assert!(
        claim_statuses(ports, at(19), 10, at(100), "all claimed")
            .await
            .is_empty()
    );
    assert_eq!(
        statuses_of(ports, &p, "leased").await.items[1].next_attempt_at,
        Some(at(100)),
        "the lease is stored"
    );

    let key = posted_key(&mr, "b", "ref:feature");
    assert_eq!(last_posted(ports, &key, "never posted").await, None);
    record_attempt(
        ports,
        StatusAttempt {
            state: "success".into(),
            ..attempt(&b[0], 21, AttemptOutcome::Delivered)
        },
        Some(key.clone()),
    )
    .await;
    assert_eq!(
        last_posted(ports, &key, "posted").await.as_deref(),
        Some("success")
    );
    assert_eq!(
        last_posted(ports, &posted_key(&mr, "b", "pipeline:7"), "another target").await,
        None,
        "the state posted is remembered per target"
    );

    let follow_up = post(&mr, "b", 140);
    let vanished = NewForgeStatus {
        merge_request_id: MergeRequestId(999_999),
        ..post(&mr, "vanished", 140)
    };
    record_attempt(
        ports,
        StatusAttempt {
            follow_up: vec![follow_up, vanished],
            ..attempt(
                &a[0],
                22,
                AttemptOutcome::Failed {
                    error: "HTTP 503".into(),
                    retry_at: Some(at(30)),
                },
            )
        },
        None,
    )
    .await;
    let after = statuses_of(ports, &p, "after two attempts").await;
    assert_eq!(
        contexts(&after.items),
        vec!["b", "c", "b", "a"],
        "the follow-up is scheduled; one for a merge request gone is not"
    );
    let state = |s: &ForgeStatus| {
        (
            s.state.clone(),
            s.status,
            s.attempts,
            s.last_error.clone(),
            s.last_attempt_at,
            s.next_attempt_at,
        )
    };
    assert_eq!(
        state(&after.items[2]),
        (
            "success".into(),
            DeliveryStatus::Delivered,
            1,
            None,
            Some(at(21)),
            None
        ),
        "delivered: the state sent, no error, nothing due"
    );
    assert_eq!(
        state(&after.items[3]),
        (
            "pending".into(),
            DeliveryStatus::Pending,
            1,
            Some("HTTP 503".into()),
            Some(at(22)),
            Some(at(30))
        ),
        "failed with a retry time: pending again then, with its error"
    );
    assert_eq!(
        (after.items[0].next_attempt_at, after.items[0].created_at),
        (Some(at(140)), at(4))
    );

    let due = claim_statuses(ports, at(30), 10, at(200), "due again").await;
    assert_eq!(contexts(&due), vec!["c", "a"], "oldest due first");
    record_attempt(
        ports,
        attempt(
            &due[0],
            31,
            AttemptOutcome::Failed {
                error: "HTTP 404".into(),
                retry_at: None,
            },
        ),
        None,
    )
    .await;
    record_attempt(
        ports,
        StatusAttempt {
            state: "failed".into(),
            ..attempt(&due[1], 32, AttemptOutcome::Delivered)
        },
        Some(posted_key(&mr, "a", "ref:feature")),
    )
    .await;
    ok(
        ports
            .forges
            .record_status_attempt(
                StatusAttempt {
                    id: ForgeStatusId(999_999),
                    at: at(33),
                    state: "success".into(),
                    outcome: AttemptOutcome::Delivered,
                    follow_up: Vec::new(),
                },
                None,
            )
            .await,
        "an attempt at a post gone is recorded, not refused",
    );
    let end = statuses_of(ports, &p, "end").await;
    assert_eq!(end.total, 4, "an attempt at a post gone adds nothing");
    assert_eq!(
        state(&end.items[1]),
        (
            "pending".into(),
            DeliveryStatus::Dead,
            1,
            Some("HTTP 404".into()),
            Some(at(31)),
            None
        ),
        "failed without a retry time: dead"
    );
    assert_eq!(
        state(&end.items[3]),
        (
            "failed".into(),
            DeliveryStatus::Delivered,
            2,
            None,
            Some(at(32)),
            None
        ),
        "delivered after a failure: the error is cleared"
    );

    let timeout = claim_statuses(ports, at(140), 10, at(300), "the follow-up").await;
    assert_eq!(
        timeout.iter().map(|s| s.id).collect::<Vec<_>>(),
        vec![end.items[0].id],
        "only the follow-up is pending"
    );
    record_attempt(
        ports,
        StatusAttempt {
            state: "failed".into(),
            ..attempt(&timeout[0], 140, AttemptOutcome::Delivered)
        },
        Some(key.clone()),
    )
    .await;
    assert_eq!(
        last_posted(ports, &key, "posted again").await.as_deref(),
        Some("failed"),
        "the last state posted replaces the one before"
    );
}

/// Deleting a project removes its link, mirrored details, seen deliveries, status posts and posted states.
pub async fn deleting_a_project_removes_its_forge_rows(ports: &Ports) {
    let alice = user(ports, "alice").await;
    let p = project(ports, &alice, "proj").await;
    ok(
        ports.forges.save_link(link(&p, &alice, 8), true).await,
        "link",
    );
    let details = MirrorDetails {
        source_project: "17".into(),
        web_url: "https://gitlab.example.com/grp/proj/-/merge_requests/5".into(),
        snapshot_at: at(9),
        pipeline: None,
    };
    let open = MirrorWrite {
        details: Some(details),
        statuses: vec![status_draft("status-checks", None, 10)],
        ..write(&p, Some("d-1"), 10, open_change(&p, &alice, 5))
    };
    let mr = applied(ports, open, "open").await;
    let key = posted_key(&mr, "status-checks", "ref:feature");
    let claimed = claim_statuses(ports, at(10), 10, at(100), "claim").await;
    record_attempt(
        ports,
        attempt(&claimed[0], 11, AttemptOutcome::Delivered),
        Some(key.clone()),
    )
    .await;
    schedule(ports, vec![post(&mr, "later", 50)]).await;

    deletes_once("delete project", || ports.projects.delete_project(p.id)).await;
    assert_eq!(find_link(ports, &p, "link").await, None);
    assert_eq!(mirrored(ports, &p, mr.iid, "mirrored").await, None);
    assert_eq!(statuses_of(ports, &p, "posts").await.total, 0);
    assert!(
        claim_statuses(ports, at(1000), 10, at(2000), "nothing due")
            .await
            .is_empty()
    );
    assert_eq!(last_posted(ports, &key, "posted").await, None);
    assert_eq!(claim_sync(ports, at(1000), at(2000), "sync").await, None);
    assert_eq!(
        ports.forges.save_link(link(&p, &alice, 20), false).await,
        Err(RepoError::NotFound),
        "a deleted project cannot be linked"
    );
}

/// A GitLab link of `project` by `author`, created and updated `second` seconds in.
fn link(project: &Project, author: &User, second: i64) -> ForgeLink {
    ForgeLink {
        project_id: project.id,
        forge: ForgeKind::Gitlab,
        api_url: "https://gitlab.example.com/api/v4".into(),
        repository: "grp/proj".into(),
        token: secret(ForgeSecret::token("glpat-0123456789abcdef")),
        webhook_secret: secret(ForgeSecret::webhook_secret("webhook-secret-0123")),
        status_name: "status-checks".into(),
        per_check_statuses: true,
        author_id: author.id,
        last_event_at: None,
        created_at: at(second),
        updated_at: at(second),
    }
}

fn secret(made: Result<ForgeSecret, &'static str>) -> ForgeSecret {
    made.unwrap_or_else(|e| panic!("{e}"))
}

/// A mirror write of `change` to `project`, arriving `second` seconds in, with nothing else.
fn write(project: &Project, key: Option<&str>, second: i64, change: MirrorChange) -> MirrorWrite {
    MirrorWrite {
        project_id: project.id,
        delivery_key: key.map(str::to_owned),
        received_at: at(second),
        change,
        details: None,
        deliveries: Vec::new(),
        statuses: Vec::new(),
    }
}

/// Opens a merge request numbered `iid` (HEAD `c`, 10 s in).
fn open_change(project: &Project, author: &User, iid: i64) -> MirrorChange {
    MirrorChange::Open {
        iid: MergeRequestIid(iid),
        new: NewMergeRequest {
            project_id: project.id,
            title: "Mirrored".into(),
            description: "From the forge".into(),
            source_branch: "feature".into(),
            target_branch: "main".into(),
            sha: sha('c'),
            author_id: author.id,
            created_at: at(10),
        },
    }
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

fn status_draft(context: &str, check: Option<StatusCheckId>, due: i64) -> StatusDraft {
    StatusDraft {
        context: context.into(),
        external_status_check_id: check,
        state: "pending".into(),
        due_at: at(due),
    }
}

/// A post of `context` about `mr`'s HEAD, due `due` seconds in, scheduled 4 s in.
fn post(mr: &MergeRequest, context: &str, due: i64) -> NewForgeStatus {
    NewForgeStatus {
        project_id: mr.project_id,
        merge_request_id: mr.id,
        merge_request_iid: mr.iid,
        sha: mr.sha.clone(),
        draft: status_draft(context, None, due),
        created_at: at(4),
    }
}

fn posted_key(mr: &MergeRequest, context: &str, target: &str) -> PostedKey {
    PostedKey {
        project_id: mr.project_id,
        sha: mr.sha.clone(),
        context: context.into(),
        target: target.into(),
    }
}

/// An attempt at `status` ended `second` seconds in, sending its planned state, with no follow-up.
fn attempt(status: &ForgeStatus, second: i64, outcome: AttemptOutcome) -> StatusAttempt {
    StatusAttempt {
        id: status.id,
        at: at(second),
        state: status.state.clone(),
        outcome,
        follow_up: Vec::new(),
    }
}

fn contexts(statuses: &[ForgeStatus]) -> Vec<&str> {
    statuses.iter().map(|s| s.context.as_str()).collect()
}

async fn find_link(ports: &Ports, project: &Project, what: &str) -> Option<ForgeLink> {
    ok(ports.forges.find_link(project.id).await, what)
}

async fn claim_sync(
    ports: &Ports,
    now: Timestamp,
    lease: Timestamp,
    what: &str,
) -> Option<ForgeLink> {
    ok(ports.forges.claim_sync(now, lease).await, what)
}

async fn mirrored(
    ports: &Ports,
    project: &Project,
    iid: MergeRequestIid,
    what: &str,
) -> Option<(MergeRequest, Option<MirrorDetails>)> {
    ok(ports.forges.find_mirrored(project.id, iid).await, what)
}

/// Applies `write`, which must be applied with a merge request.
async fn applied(ports: &Ports, write: MirrorWrite, what: &str) -> MergeRequest {
    match ok(ports.forges.apply_mirror(write).await, what) {
        MirrorOutcome::Applied(Some(mr)) => *mr,
        other => panic!("{what}: {other:?}"),
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

async fn schedule(ports: &Ports, statuses: Vec<NewForgeStatus>) {
    ok(ports.forges.schedule_statuses(statuses).await, "schedule");
}

async fn statuses_of(ports: &Ports, project: &Project, what: &str) -> Page<ForgeStatus> {
    ok(
        ports
            .forges
            .list_forge_statuses(project.id, page(1, 20))
            .await,
        what,
    )
}

async fn claim_statuses(
    ports: &Ports,
    now: Timestamp,
    limit: u32,
    lease: Timestamp,
    what: &str,
) -> Vec<ForgeStatus> {
    ok(
        ports.forges.claim_due_statuses(now, limit, lease).await,
        what,
    )
}

async fn record_attempt(ports: &Ports, attempt: StatusAttempt, posted: Option<PostedKey>) {
    ok(
        ports.forges.record_status_attempt(attempt, posted).await,
        "record an attempt",
    );
}

async fn last_posted(ports: &Ports, key: &PostedKey, what: &str) -> Option<String> {
    ok(ports.forges.last_posted(key.clone()).await, what)
}
