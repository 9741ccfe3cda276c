//! The status outbox: posts scheduled, listed, claimed under a lease, and their attempts recorded, with the
//! state last posted at each target.

use super::super::fixtures::*;
use super::{
    attempt, claim_statuses, contexts, last_posted, link, post, posted_key, record_attempt,
    schedule, statuses_of,
};
use crate::deliveries::{AttemptOutcome, DeliveryStatus};
use crate::forges::{ForgeStatus, NewForgeStatus, StatusAttempt};
use crate::ids::*;
use crate::service::Ports;

/// Only the claim that holds a status post records its attempt: a reporter whose lease ran out (the post
/// since claimed by another) changes neither the post, nor the state shown, nor schedules its follow-ups.
pub async fn forge_status_attempts_only_by_the_claim_holder(ports: &Ports) {
    let (alice, p, _) = alice_with_two_projects(ports).await;
    ok(
        ports.forges.save_link(link(&p, &alice, 8), false).await,
        "link",
    );
    let mr = merge_request(ports, &p, "main", vec![]).await;
    schedule(ports, vec![post(&mr, "a", 10)]).await;
    let slow = claim_statuses(ports, at(10), 10, at(100), "the first reporter claims").await;
    let taken = claim_statuses(ports, at(100), 10, at(200), "another, once the lease ended").await;
    assert_eq!(
        (slow.len(), taken.len(), slow[0].id),
        (1, 1, taken[0].id),
        "a post whose lease ended is claimed again"
    );
    let key = posted_key(&mr, "a", "ref:feature");
    let late = StatusAttempt {
        state: "success".into(),
        follow_up: vec![post(&mr, "a", 500)],
        ..attempt(&slow[0], 150, AttemptOutcome::Delivered)
    };
    record_attempt(ports, late, Some(key.clone())).await;
    let after = statuses_of(ports, &p, "after the late attempt").await;
    assert_eq!(
        (after.total, after.items[0].status, after.items[0].attempts),
        (1, DeliveryStatus::Pending, 0),
        "the attempt of a claim that lost its lease is not recorded, nor its follow-up scheduled"
    );
    assert_eq!(
        last_posted(ports, &key, "state shown").await,
        None,
        "nor the state it showed"
    );
    let holder = StatusAttempt {
        state: "failed".into(),
        ..attempt(&taken[0], 160, AttemptOutcome::Delivered)
    };
    record_attempt(ports, holder, Some(key.clone())).await;
    let after = statuses_of(ports, &p, "after the holder's attempt").await;
    assert_eq!(
        (after.items[0].status, after.items[0].attempts),
        (DeliveryStatus::Delivered, 1),
        "the holder's attempt is recorded"
    );
    assert_eq!(
        last_posted(ports, &key, "state shown").await.as_deref(),
        Some("failed")
    );
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
    // Two outcomes in one batch, as the reporter records a round.
    ok(
        ports
            .forges
            .record_status_attempts(vec![
                (
                    attempt(
                        &due[0],
                        31,
                        AttemptOutcome::Failed {
                            error: "HTTP 404".into(),
                            retry_at: None,
                        },
                    ),
                    None,
                ),
                (
                    StatusAttempt {
                        state: "failed".into(),
                        ..attempt(&due[1], 32, AttemptOutcome::Delivered)
                    },
                    Some(posted_key(&mr, "a", "ref:feature")),
                ),
            ])
            .await,
        "a batch of attempts",
    );
    ok(
        ports
            .forges
            .record_status_attempts(vec![(
                StatusAttempt {
                    id: ForgeStatusId(999_999),
                    claimed_until: at(100),
                    at: at(33),
                    state: "success".into(),
                    outcome: AttemptOutcome::Delivered,
                    follow_up: Vec::new(),
                },
                None,
            )])
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

    // A merge request's posts, newest first; another merge request's are not among them.
    let all = statuses_of(ports, &p, "all").await;
    assert!(all.items.iter().all(|s| s.merge_request_id == mr.id));
    let other_mr = merge_request(ports, &p, "main", vec![]).await;
    schedule(ports, vec![post(&other_mr, "d", 30)]).await;
    let of_mr = ok(
        ports
            .forges
            .list_merge_request_statuses(p.id, mr.id, page(1, 2))
            .await,
        "a merge request's posts",
    );
    assert_eq!(
        (of_mr.items.as_slice(), of_mr.total),
        (&all.items[..2], all.total),
        "a merge request's posts, newest first, with their total"
    );
    let of_other = ok(
        ports
            .forges
            .list_merge_request_statuses(p.id, other_mr.id, page(1, 20))
            .await,
        "the other merge request's posts",
    );
    assert_eq!(
        contexts(&of_other.items),
        vec!["d"],
        "posts are per merge request"
    );
    let elsewhere = ok(
        ports
            .forges
            .list_merge_request_statuses(q.id, mr.id, page(1, 20))
            .await,
        "another project's view",
    );
    assert_eq!(
        elsewhere.total, 0,
        "a merge request is listed in its project only"
    );
}
