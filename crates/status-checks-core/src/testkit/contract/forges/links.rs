//! Links and their syncs: a link saved, found, replaced and deleted (with its pending status posts and the
//! states it posted), and the sync of its merge requests claimed under a lease.

use super::super::fixtures::*;
use super::{
    attempt, claim_statuses, claim_sync, find_link, last_posted, link, post, posted_key,
    record_attempt, schedule, secret, statuses_of,
};
use crate::deliveries::{AttemptOutcome, DeliveryStatus};
use crate::error::RepoError;
use crate::forges::{ForgeKind, ForgeLink, ForgeSecret, PostedKey, StatusAttempt};
use crate::ids::*;
use crate::merge_requests::MergeRequest;
use crate::service::Ports;

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

/// The states posted under a project are forgotten when its link is saved with `sync` (a new or moved link)
/// or deleted, and kept when it is saved without; another project's stay.
pub async fn forge_link_changes_forget_posted_states(ports: &Ports) {
    let (alice, p, q) = alice_with_two_projects(ports).await;
    ok(
        ports.forges.save_link(link(&p, &alice, 8), false).await,
        "link p",
    );
    ok(
        ports.forges.save_link(link(&q, &alice, 8), false).await,
        "link q",
    );
    let mr = merge_request(ports, &p, "main", vec![]).await;
    let other = merge_request(ports, &q, "main", vec![]).await;
    let key = posted_key(&mr, "status-checks", "ref:feature");
    let kept = posted_key(&other, "status-checks", "ref:feature");
    post_delivered(ports, &mr, &key, 10).await;
    post_delivered(ports, &other, &kept, 11).await;

    let edited = ForgeLink {
        status_name: "ci-gate".into(),
        updated_at: at(20),
        ..link(&p, &alice, 8)
    };
    ok(
        ports.forges.save_link(edited.clone(), false).await,
        "save without sync",
    );
    assert_eq!(
        last_posted(ports, &key, "saved without sync")
            .await
            .as_deref(),
        Some("success"),
        "a link saved without sync keeps the states it posted"
    );

    let moved = ForgeLink {
        repository: "grp/moved".into(),
        updated_at: at(30),
        ..edited
    };
    ok(ports.forges.save_link(moved, true).await, "save with sync");
    assert_eq!(
        last_posted(ports, &key, "saved with sync").await,
        None,
        "a link saved with sync forgets the states posted under the project"
    );
    assert_eq!(
        last_posted(ports, &kept, "another project, after a sync")
            .await
            .as_deref(),
        Some("success"),
        "another project's posted states stay"
    );

    post_delivered(ports, &mr, &key, 40).await;
    assert_eq!(
        last_posted(ports, &key, "posted again").await.as_deref(),
        Some("success")
    );
    deletes_once("delete link", || ports.forges.delete_link(p.id)).await;
    assert_eq!(
        last_posted(ports, &key, "link deleted").await,
        None,
        "a deleted link forgets the states posted under the project"
    );
    assert_eq!(
        last_posted(ports, &kept, "another project, after a delete")
            .await
            .as_deref(),
        Some("success"),
        "another project's posted states stay"
    );
}

/// Schedules a post about `mr` due `second` seconds in, claims it, and records it delivered `second` seconds
/// in, with `success` posted at `key`.
async fn post_delivered(ports: &Ports, mr: &MergeRequest, key: &PostedKey, second: i64) {
    schedule(ports, vec![post(mr, &key.context, second)]).await;
    let claimed = claim_statuses(ports, at(second), 10, at(second + 1000), "claim the post").await;
    assert_eq!(claimed.len(), 1, "the post just scheduled is the one due");
    record_attempt(
        ports,
        StatusAttempt {
            state: "success".into(),
            ..attempt(&claimed[0], second, AttemptOutcome::Delivered)
        },
        Some(key.clone()),
    )
    .await;
}
