//! Contract of the delivery outbox port (`DeliveryRepository`): due deliveries claimed oldest first under a
//! lease, then recorded as delivered, failed and due again, or dead, one by one or in batches.

use super::fixtures::*;
use crate::DeliveryId;
use crate::deliveries::{Attempt, AttemptOutcome, DeliveryStatus, HookAction};
use crate::service::Ports;
use crate::status_checks::{ExternalStatusCheck, SharedSecret};

/// The outbox: due deliveries are claimed oldest first under a lease, then delivered, retried or dead.
pub async fn outbox_claims_and_outcomes(ports: &Ports) {
    let alice = user(ports, "alice").await;
    let p = project(ports, &alice, "proj").await;
    let c = check(ports, &p, "qa").await;
    let d = check(ports, &p, "other").await;
    let mr = merge_request(
        ports,
        &p,
        "main",
        vec![
            draft(&c, &p, Some(HookAction::Open), "k-1"),
            draft(&d, &p, Some(HookAction::Open), "k-2"),
        ],
    )
    .await;
    assert_eq!(ok(ports.deliveries.count_pending().await, "pending"), 2);

    assert!(
        claim(ports, at(5), 10, at(100), "nothing due yet")
            .await
            .is_empty()
    );
    let claimed = claim(ports, at(6), 1, at(100), "claim one").await;
    assert_eq!(claimed.len(), 1);
    let first = &claimed[0];
    assert_eq!(
        (first.delivery.idempotency_key.as_str(), first.url.as_str()),
        ("k-1", c.external_url.as_str())
    );
    assert_eq!(
        first.shared_secret.as_ref().map(SharedSecret::expose),
        Some("s3cret")
    );
    assert_eq!(
        first.delivery.next_attempt_at,
        Some(at(100)),
        "claimed under a lease"
    );
    let rest = claim(ports, at(7), 10, at(100), "claim the rest").await;
    assert_eq!(
        rest.iter()
            .map(|x| x.delivery.idempotency_key.as_str())
            .collect::<Vec<_>>(),
        vec!["k-2"]
    );
    assert!(claim(ports, at(99), 10, at(200), "leased").await.is_empty());

    record(
        ports,
        (first.delivery.id, at(100)),
        8,
        AttemptOutcome::Failed {
            error: "HTTP 503".into(),
            retry_at: Some(at(9)),
        },
    )
    .await;
    let again = claim(ports, at(9), 10, at(300), "due again").await;
    assert_eq!(again.len(), 1);
    assert_eq!(
        (
            again[0].delivery.attempts,
            again[0].delivery.last_error.as_deref()
        ),
        (1, Some("HTTP 503"))
    );
    record(
        ports,
        (first.delivery.id, at(300)),
        10,
        AttemptOutcome::Delivered,
    )
    .await;
    record(
        ports,
        (rest[0].delivery.id, at(100)),
        11,
        AttemptOutcome::Failed {
            error: "connection refused".into(),
            retry_at: None,
        },
    )
    .await;
    assert_eq!(
        ok(ports.deliveries.count_pending().await, "none pending"),
        0
    );
    assert!(
        claim(ports, at(1000), 10, at(2000), "nothing left")
            .await
            .is_empty()
    );

    let delivered = deliveries_to(ports, &p, &c, "list").await.items;
    assert_eq!(
        (
            delivered[0].status,
            delivered[0].attempts,
            delivered[0].last_attempt_at,
            delivered[0].last_error.clone()
        ),
        (DeliveryStatus::Delivered, 2, Some(at(10)), None)
    );
    let dead = deliveries_to(ports, &p, &d, "list").await.items;
    assert_eq!(
        (
            dead[0].status,
            dead[0].attempts,
            dead[0].next_attempt_at,
            dead[0].last_error.as_deref()
        ),
        (DeliveryStatus::Dead, 1, None, Some("connection refused"))
    );
    assert_eq!(dead[0].merge_request_iid, mr.iid);

    // A merge request's deliveries, to every check, newest first; another's are not among them.
    let other = merge_request(
        ports,
        &p,
        "main",
        vec![draft(&c, &p, Some(HookAction::Open), "k-3")],
    )
    .await;
    let of_mr = ok(
        ports
            .deliveries
            .list_merge_request_deliveries(p.id, mr.id, page(1, 1))
            .await,
        "a merge request's deliveries",
    );
    assert_eq!(
        (
            of_mr
                .items
                .iter()
                .map(|x| x.idempotency_key.as_str())
                .collect::<Vec<_>>(),
            of_mr.total
        ),
        (vec!["k-2"], 2),
        "newest first, paged, with the total"
    );
    let of_other = ok(
        ports
            .deliveries
            .list_merge_request_deliveries(p.id, other.id, page(1, 20))
            .await,
        "the other merge request's",
    );
    assert_eq!(
        of_other
            .items
            .iter()
            .map(|x| x.idempotency_key.as_str())
            .collect::<Vec<_>>(),
        vec!["k-3"]
    );
}

/// A batch of attempts (`record_attempts`) leaves each delivery as recording them one by one would: delivered,
/// pending with its retry time and error, or dead; an attempt at a delivery deleted meanwhile is ignored.
pub async fn outbox_records_a_batch_of_attempts(ports: &Ports) {
    let (p, checks) =
        one_delivery_to_each(ports, ["delivered", "retried", "dead", "deleted"]).await;
    assert_eq!(
        ok(ports.deliveries.oldest_due(at(5)).await, "oldest due"),
        None,
        "nothing is due before its time"
    );
    assert_eq!(
        ok(ports.deliveries.oldest_due(at(600)).await, "oldest due"),
        Some(at(6)),
        "a delivery is due from when it was recorded"
    );
    let busy = vec![checks[1].id, checks[2].id, checks[3].id];
    let claimed = ok(
        ports.deliveries.claim_due(at(6), 10, at(100), busy).await,
        "claim all but the deliveries to busy checks",
    );
    assert_eq!(
        claimed
            .iter()
            .map(|due| due.delivery.external_status_check_id)
            .collect::<Vec<_>>(),
        vec![checks[0].id],
        "deliveries to the checks in `except` are not claimed"
    );
    let first = claimed
        .iter()
        .map(|due| (due.delivery.id, at(100)))
        .collect();
    ok(
        ports.deliveries.release(first, at(6)).await,
        "give back a claimed delivery unsent",
    );
    let claimed = claim(ports, at(6), 10, at(100), "claim all four").await;
    assert!(
        claimed
            .iter()
            .any(|due| due.delivery.external_status_check_id == checks[0].id
                && due.delivery.attempts == 0),
        "a delivery given back is due again, its attempts unchanged"
    );
    assert_eq!(claimed.len(), 4, "every recorded delivery is due at once");
    assert_eq!(
        ok(ports.deliveries.oldest_due(at(99)).await, "oldest due"),
        None,
        "claimed deliveries are not waiting"
    );
    let id_of = |c: &ExternalStatusCheck| claimed_for(&claimed, c);
    let [delivered, retried, dead, deleted] = [
        id_of(&checks[0]),
        id_of(&checks[1]),
        id_of(&checks[2]),
        id_of(&checks[3]),
    ];
    assert!(
        ok(
            ports.status_checks.delete_check(p.id, checks[3].id).await,
            "delete a check with a delivery in flight"
        ),
        "the check existed"
    );
    let failed = |error: &str, retry_at| AttemptOutcome::Failed {
        error: error.into(),
        retry_at,
    };
    ok(
        ports
            .deliveries
            .record_attempts(vec![
                Attempt {
                    id: delivered,
                    claimed_until: at(100),
                    at: at(10),
                    outcome: AttemptOutcome::Delivered,
                },
                Attempt {
                    id: retried,
                    claimed_until: at(100),
                    at: at(11),
                    outcome: failed("HTTP 503", Some(at(20))),
                },
                Attempt {
                    id: dead,
                    claimed_until: at(100),
                    at: at(12),
                    outcome: failed("HTTP 404", None),
                },
                Attempt {
                    id: deleted,
                    claimed_until: at(100),
                    at: at(13),
                    outcome: AttemptOutcome::Delivered,
                },
            ])
            .await,
        "a batch with an attempt at a deleted delivery is recorded, not refused",
    );
    ok(
        ports.deliveries.record_attempts(Vec::new()).await,
        "an empty batch records nothing",
    );
    let state = |items: Vec<crate::deliveries::Delivery>| {
        items.first().map(|d| {
            (
                d.status,
                d.attempts,
                d.last_attempt_at,
                d.next_attempt_at,
                d.last_error.clone(),
            )
        })
    };
    assert_eq!(
        state(
            deliveries_to(ports, &p, &checks[0], "delivered")
                .await
                .items
        ),
        Some((DeliveryStatus::Delivered, 1, Some(at(10)), None, None)),
        "a delivered attempt: delivered, one attempt, no error, nothing due"
    );
    assert_eq!(
        state(deliveries_to(ports, &p, &checks[1], "retried").await.items),
        Some((
            DeliveryStatus::Pending,
            1,
            Some(at(11)),
            Some(at(20)),
            Some("HTTP 503".to_owned())
        )),
        "a failed attempt with a retry time: pending again at that time, with its error"
    );
    assert_eq!(
        state(deliveries_to(ports, &p, &checks[2], "dead").await.items),
        Some((
            DeliveryStatus::Dead,
            1,
            Some(at(12)),
            None,
            Some("HTTP 404".to_owned())
        )),
        "a failed attempt without a retry time: dead"
    );
    assert_eq!(
        ok(ports.deliveries.count_pending().await, "pending"),
        1,
        "only the retried delivery is pending"
    );
    assert_eq!(
        claim(ports, at(20), 10, at(300), "the retry comes due")
            .await
            .iter()
            .map(|due| due.delivery.id)
            .collect::<Vec<_>>(),
        vec![retried],
        "the retried delivery comes due at its retry time"
    );
}

/// Only the claim that holds a delivery records its attempt or gives it back: a sender whose lease ran out
/// (the delivery since claimed by another) changes nothing, whatever it sends.
pub async fn outbox_records_only_the_claim_holder(ports: &Ports) {
    let alice = user(ports, "alice").await;
    let p = project(ports, &alice, "proj").await;
    let c = check(ports, &p, "qa").await;
    merge_request(
        ports,
        &p,
        "main",
        vec![draft(&c, &p, Some(HookAction::Open), "k-1")],
    )
    .await;
    let slow = claim(ports, at(6), 10, at(100), "the first sender claims").await;
    assert_eq!(slow.len(), 1);
    let id = slow[0].delivery.id;
    let taken = claim(
        ports,
        at(100),
        10,
        at(200),
        "another sender, once the lease ended",
    )
    .await;
    assert_eq!(
        taken.iter().map(|due| due.delivery.id).collect::<Vec<_>>(),
        vec![id],
        "a delivery whose lease ended is claimed again"
    );
    let listed = async |what: &str| deliveries_to(ports, &p, &c, what).await.items;

    record(ports, (id, at(100)), 150, AttemptOutcome::Delivered).await;
    let after = listed("after the late attempt").await;
    assert_eq!(
        (after[0].status, after[0].attempts, after[0].next_attempt_at),
        (DeliveryStatus::Pending, 0, Some(at(200))),
        "the attempt of a claim that lost its lease is not recorded"
    );
    ok(
        ports.deliveries.release(vec![(id, at(100))], at(150)).await,
        "the late sender gives it back",
    );
    assert!(
        claim(
            ports,
            at(150),
            10,
            at(300),
            "while the second claim holds it"
        )
        .await
        .is_empty(),
        "a claim that lost its lease cannot give the delivery back"
    );

    record(
        ports,
        (id, at(200)),
        160,
        AttemptOutcome::Failed {
            error: "HTTP 503".into(),
            retry_at: Some(at(170)),
        },
    )
    .await;
    let after = listed("after the holder's attempt").await;
    assert_eq!(
        (
            after[0].attempts,
            after[0].next_attempt_at,
            after[0].last_error.as_deref()
        ),
        (1, Some(at(170)), Some("HTTP 503")),
        "the holder's attempt is recorded"
    );
    record(ports, (id, at(200)), 165, AttemptOutcome::Delivered).await;
    assert_eq!(
        listed("after a second attempt under the same claim").await[0].attempts,
        1,
        "a claim's attempt is recorded once: the delivery is no longer held by it"
    );
}

/// Pruning deletes old delivered and dead deliveries, oldest first and at most `limit` at a time, and never a
/// pending one, however old its last attempt.
pub async fn outbox_prunes_only_finished_deliveries(ports: &Ports) {
    let (p, checks) = one_delivery_to_each(
        ports,
        ["old-delivered", "old-dead", "old-pending", "recent"],
    )
    .await;
    let claimed = claim(ports, at(6), 10, at(100), "claim all four").await;
    let id_of = |c: &ExternalStatusCheck| claimed_for(&claimed, c);
    let attempt = |id, second, outcome| Attempt {
        id,
        claimed_until: at(100),
        at: at(second),
        outcome,
    };
    let failed = |retry_at| AttemptOutcome::Failed {
        error: "HTTP 503".into(),
        retry_at,
    };
    ok(
        ports
            .deliveries
            .record_attempts(vec![
                attempt(id_of(&checks[0]), 10, AttemptOutcome::Delivered),
                attempt(id_of(&checks[1]), 11, failed(None)),
                attempt(id_of(&checks[2]), 12, failed(Some(at(1000)))),
                attempt(id_of(&checks[3]), 50, AttemptOutcome::Delivered),
            ])
            .await,
        "record four outcomes",
    );
    let prune = async |limit| {
        ok(
            ports.deliveries.prune_deliveries(at(20), limit).await,
            "prune",
        )
    };
    assert_eq!(prune(1).await, 1, "at most `limit` at a time");
    assert_eq!(
        deliveries_to(ports, &p, &checks[0], "list")
            .await
            .items
            .len(),
        0,
        "the oldest finished delivery goes first"
    );
    assert_eq!(prune(10).await, 1, "then the other old finished one");
    assert_eq!(
        prune(10).await,
        0,
        "neither a pending delivery nor a recent one is pruned"
    );
    assert_eq!(
        deliveries_to(ports, &p, &checks[1], "list")
            .await
            .items
            .len(),
        0,
        "the dead delivery is gone"
    );
    assert_eq!(
        deliveries_to(ports, &p, &checks[2], "list")
            .await
            .items
            .iter()
            .map(|d| d.status)
            .collect::<Vec<_>>(),
        vec![DeliveryStatus::Pending],
        "the pending delivery stays, though its last attempt is older than the cutoff"
    );
    assert_eq!(
        deliveries_to(ports, &p, &checks[3], "list")
            .await
            .items
            .len(),
        1,
        "the recent delivery stays"
    );
    assert_eq!(ok(ports.deliveries.count_pending().await, "pending"), 1);
}

/// A project with four checks named `names`, and one merge request that records a delivery to each (due at
/// 6 s).
async fn one_delivery_to_each(
    ports: &Ports,
    names: [&str; 4],
) -> (crate::projects::Project, [ExternalStatusCheck; 4]) {
    let alice = user(ports, "alice").await;
    let p = project(ports, &alice, "proj").await;
    let checks = [
        check(ports, &p, names[0]).await,
        check(ports, &p, names[1]).await,
        check(ports, &p, names[2]).await,
        check(ports, &p, names[3]).await,
    ];
    let drafts = checks
        .iter()
        .enumerate()
        .map(|(i, c)| draft(c, &p, Some(HookAction::Open), &format!("k-{i}")))
        .collect();
    merge_request(ports, &p, "main", drafts).await;
    (p, checks)
}

/// The id of the claimed delivery to `check`.
fn claimed_for(claimed: &[crate::ports::DueDelivery], check: &ExternalStatusCheck) -> DeliveryId {
    claimed
        .iter()
        .find(|due| due.delivery.external_status_check_id == check.id)
        .map(|due| due.delivery.id)
        .unwrap_or_else(|| panic!("a claimed delivery to {}", check.name.as_str()))
}

/// Records one attempt at the delivery `id` claimed under a lease until `claimed_until`, ended `second`
/// seconds in.
async fn record(
    ports: &Ports,
    (id, claimed_until): (DeliveryId, crate::Timestamp),
    second: i64,
    outcome: AttemptOutcome,
) {
    ok(
        ports
            .deliveries
            .record_attempts(vec![Attempt {
                id,
                claimed_until,
                at: at(second),
                outcome,
            }])
            .await,
        "record an attempt",
    );
}

/// Claims up to `limit` deliveries due at `now` under a lease until `lease`, none skipped; `what` names the step.
async fn claim(
    ports: &Ports,
    now: crate::Timestamp,
    limit: u32,
    lease: crate::Timestamp,
    what: &str,
) -> Vec<crate::ports::DueDelivery> {
    ok(
        ports
            .deliveries
            .claim_due(now, limit, lease, Vec::new())
            .await,
        what,
    )
}
