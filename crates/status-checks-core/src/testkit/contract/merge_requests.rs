//! Contract of the merge requests port (`MergeRequestRepository`): iids from 1 per project, the delivery
//! drafts stored with each change and rendered against the stored row, guarded updates, filters.

use super::fixtures::*;
use crate::deliveries::{DeliveryStatus, HookAction};
use crate::error::RepoError;
use crate::ids::*;
use crate::merge_requests::*;
use crate::service::Ports;

/// Merge requests: iids from 1 per project, deliveries rendered against the stored row, updates, filters.
pub async fn merge_requests_and_their_deliveries(ports: &Ports) {
    let (alice, p, q) = alice_with_two_projects(ports).await;
    let c = check(ports, &p, "qa").await;

    // A check deleted after the drafts were made: the change succeeds and records no notification for it.
    let gone = check(ports, &p, "gone").await;
    assert!(ok(
        ports.status_checks.delete_check(p.id, gone.id).await,
        "delete"
    ));
    let third = project(ports, &alice, "third").await;
    let orphan = merge_request(
        ports,
        &third,
        "main",
        vec![draft(&gone, &p, Some(HookAction::Open), "k-gone")],
    )
    .await;
    assert_eq!(orphan.iid, MergeRequestIid(1));
    assert_eq!(
        ok(
            ports.deliveries.count_pending().await,
            "nothing for a deleted check"
        ),
        0
    );

    let first = notified_merge_request(ports, &p, &c).await;
    let second = merge_request(ports, &p, "main", vec![]).await;
    let elsewhere = merge_request(ports, &q, "main", vec![]).await;
    assert_eq!(
        (first.iid, second.iid, elsewhere.iid),
        (MergeRequestIid(1), MergeRequestIid(2), MergeRequestIid(1))
    );
    assert_eq!(
        (
            first.state,
            first.sha.clone(),
            first.head_recorded_at,
            first.created_at
        ),
        (MergeRequestState::Opened, sha('a'), at(3), at(3))
    );
    assert_eq!(
        ok(
            ports
                .merge_requests
                .find_merge_request(p.id, MergeRequestIid(1))
                .await,
            "find"
        )
        .as_ref(),
        Some(&first)
    );
    assert_eq!(
        ok(
            ports
                .merge_requests
                .find_merge_request(p.id, MergeRequestIid(3))
                .await,
            "find unknown"
        ),
        None
    );

    let deliveries = deliveries_to(ports, &p, &c, "deliveries").await;
    assert_eq!(deliveries.total, 1);
    let delivery = &deliveries.items[0];
    assert_eq!(
        (
            delivery.merge_request_id,
            delivery.merge_request_iid,
            delivery.action
        ),
        (first.id, first.iid, Some(HookAction::Open))
    );
    assert_eq!(
        (
            delivery.status,
            delivery.attempts,
            delivery.idempotency_key.as_str()
        ),
        (DeliveryStatus::Pending, 0, "k-1")
    );
    assert!(
        delivery.body.contains(&format!("\"iid\":{}", first.iid)),
        "the body is rendered against the stored merge request"
    );

    let mut changes = MergeRequestChanges::at(at(30));
    changes.title = Some("New title".into());
    changes.head = Some((sha('b'), at(30)));
    changes.state = Some(MergeRequestState::Closed);
    changes.closed_at = Some(at(30));
    let expected = changes.apply_to(&first);
    let updated = ok(
        ports
            .merge_requests
            .update_merge_request(
                first.id,
                changes,
                vec![draft(&c, &p, Some(HookAction::Close), "k-2")],
            )
            .await,
        "update",
    );
    assert_eq!(updated, expected);
    assert_eq!(
        deliveries_to(ports, &p, &c, "newest first").await.items[0].idempotency_key,
        "k-2"
    );
    assert_eq!(
        ports
            .merge_requests
            .update_merge_request(
                MergeRequestId(999_999),
                MergeRequestChanges::at(at(31)),
                vec![]
            )
            .await,
        Err(RepoError::NotFound)
    );
    // A guarded transition applies only in the required state: the first merge request is closed now.
    let mut merge = MergeRequestChanges::at(at(32));
    merge.require_state = Some(MergeRequestState::Opened);
    merge.state = Some(MergeRequestState::Merged);
    assert_eq!(
        ports
            .merge_requests
            .update_merge_request(
                first.id,
                merge,
                vec![draft(&c, &p, Some(HookAction::Merge), "k-3")]
            )
            .await,
        Err(RepoError::NotFound),
        "a closed merge request cannot be merged"
    );
    assert_eq!(
        deliveries_to(ports, &p, &c, "no delivery for a refused change")
            .await
            .total,
        2
    );

    let closed = ok(
        ports
            .merge_requests
            .list_merge_requests(p.id, Some(MergeRequestState::Closed), page(1, 20))
            .await,
        "closed",
    );
    assert_eq!(closed.items, vec![updated]);
    let all = ok(
        ports
            .merge_requests
            .list_merge_requests(p.id, None, page(2, 1))
            .await,
        "all, page 2",
    );
    assert_eq!((all.total, all.items), (2, vec![second]));
}
