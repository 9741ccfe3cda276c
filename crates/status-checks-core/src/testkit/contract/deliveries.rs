//! Contract of the delivery outbox port (`DeliveryRepository`): due deliveries claimed oldest first under a
//! lease, then recorded as delivered, failed and due again, or dead.

use super::fixtures::*;
use crate::deliveries::{DeliveryStatus, HookAction};
use crate::service::Ports;
use crate::status_checks::SharedSecret;

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
        ok(
            ports.deliveries.claim_due(at(5), 10, at(100)).await,
            "nothing due yet"
        )
        .is_empty()
    );
    let claimed = ok(
        ports.deliveries.claim_due(at(6), 1, at(100)).await,
        "claim one",
    );
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
    let rest = ok(
        ports.deliveries.claim_due(at(7), 10, at(100)).await,
        "claim the rest",
    );
    assert_eq!(
        rest.iter()
            .map(|x| x.delivery.idempotency_key.as_str())
            .collect::<Vec<_>>(),
        vec!["k-2"]
    );
    assert!(
        ok(
            ports.deliveries.claim_due(at(99), 10, at(200)).await,
            "leased"
        )
        .is_empty()
    );

    ok(
        ports
            .deliveries
            .record_failed(first.delivery.id, at(8), "HTTP 503".into(), Some(at(9)))
            .await,
        "fail",
    );
    let again = ok(
        ports.deliveries.claim_due(at(9), 10, at(300)).await,
        "due again",
    );
    assert_eq!(again.len(), 1);
    assert_eq!(
        (
            again[0].delivery.attempts,
            again[0].delivery.last_error.as_deref()
        ),
        (1, Some("HTTP 503"))
    );
    ok(
        ports
            .deliveries
            .record_delivered(first.delivery.id, at(10))
            .await,
        "deliver",
    );
    ok(
        ports
            .deliveries
            .record_failed(
                rest[0].delivery.id,
                at(11),
                "connection refused".into(),
                None,
            )
            .await,
        "dead",
    );
    assert_eq!(
        ok(ports.deliveries.count_pending().await, "none pending"),
        0
    );
    assert!(
        ok(
            ports.deliveries.claim_due(at(1000), 10, at(2000)).await,
            "nothing left"
        )
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
}
