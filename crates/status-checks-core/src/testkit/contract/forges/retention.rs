//! What becomes of the forge rows: all deleted with their project, and the finished ones pruned by age.

use super::super::fixtures::*;
use super::{
    applied, attempt, claim_statuses, claim_sync, contexts, find_link, last_posted, link, mirrored,
    open_change, post, posted_key, record_attempt, schedule, status_draft, statuses_of, write,
};
use crate::deliveries::AttemptOutcome;
use crate::error::RepoError;
use crate::forges::{MirrorChange, MirrorDetails, MirrorOutcome, MirrorWrite, StatusAttempt};
use crate::projects::Project;
use crate::service::Ports;

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

/// Pruning by age: delivered or dead status posts last attempted before `before` (never a pending one,
/// however old), delivery keys received before it (a pruned key is accepted again), and states posted
/// before it, up to `limit` of each kind; it answers how many rows it deleted.
pub async fn forge_rows_are_pruned_by_age(ports: &Ports) {
    let alice = user(ports, "alice").await;
    let p = project(ports, &alice, "proj").await;
    ok(
        ports.forges.save_link(link(&p, &alice, 8), false).await,
        "link",
    );
    let mr = merge_request(ports, &p, "main", vec![]).await;
    schedule(
        ports,
        vec![
            post(&mr, "a", 5),
            post(&mr, "b", 5),
            post(&mr, "dead", 5),
            post(&mr, "retried", 5),
            post(&mr, "new", 5),
            post(&mr, "waiting", 500),
        ],
    )
    .await;
    let claimed = claim_statuses(ports, at(5), 10, at(100), "claim").await;
    let claimed_one = |context: &str| {
        claimed
            .iter()
            .find(|s| s.context == context)
            .unwrap_or_else(|| panic!("{context} is claimed"))
    };
    let (old_a, old_b, new) = (
        posted_key(&mr, "a", "ref:feature"),
        posted_key(&mr, "b", "ref:feature"),
        posted_key(&mr, "new", "ref:feature"),
    );
    let delivered = |status, second| StatusAttempt {
        state: "success".into(),
        ..attempt(status, second, AttemptOutcome::Delivered)
    };
    record_attempt(ports, delivered(claimed_one("a"), 20), Some(old_a.clone())).await;
    record_attempt(ports, delivered(claimed_one("b"), 21), Some(old_b.clone())).await;
    let failed = |retry_at| AttemptOutcome::Failed {
        error: "HTTP 500".into(),
        retry_at,
    };
    record_attempt(ports, attempt(claimed_one("dead"), 22, failed(None)), None).await;
    let retry = attempt(claimed_one("retried"), 23, failed(Some(at(1000))));
    record_attempt(ports, retry, None).await;
    record_attempt(ports, delivered(claimed_one("new"), 60), Some(new.clone())).await;
    for (key, second) in [("k-1", 20), ("k-2", 21), ("k-3", 60)] {
        assert_eq!(
            mirror_key(ports, &p, key, second).await,
            MirrorOutcome::Applied(None),
            "record {key}"
        );
    }

    assert_eq!(
        prune(ports, 50, 1).await,
        3,
        "one row of each kind: at most `limit` per kind"
    );
    let after_one = statuses_of(ports, &p, "after a limited prune").await;
    assert_eq!(after_one.total, 5, "one finished post is pruned");
    let mut forgotten = 0;
    for key in [&old_a, &old_b] {
        if last_posted(ports, key, "after a limited prune")
            .await
            .is_none()
        {
            forgotten += 1;
        }
    }
    assert_eq!(forgotten, 1, "one posted state is pruned");

    assert_eq!(
        prune(ports, 50, 10).await,
        4,
        "the two old finished posts left, the other old key and the other old posted state"
    );
    assert_eq!(prune(ports, 50, 10).await, 0, "nothing old is left");
    assert_eq!(
        contexts(&statuses_of(ports, &p, "after the prune").await.items),
        vec!["waiting", "new", "retried"],
        "the pending posts stay, however old their last attempt, and so does a recent delivered one"
    );
    assert_eq!(last_posted(ports, &old_a, "old a").await, None);
    assert_eq!(last_posted(ports, &old_b, "old b").await, None);
    assert_eq!(
        last_posted(ports, &new, "recent").await.as_deref(),
        Some("success"),
        "a state posted since `before` stays"
    );
    for key in ["k-1", "k-2"] {
        assert_eq!(
            mirror_key(ports, &p, key, 70).await,
            MirrorOutcome::Applied(None),
            "a pruned delivery key ({key}) is accepted again"
        );
    }
    assert_eq!(
        mirror_key(ports, &p, "k-3", 70).await,
        MirrorOutcome::Seen,
        "a key received since `before` is still seen"
    );

    assert_eq!(
        prune(ports, 100_000, 10).await,
        5,
        "long after: the delivered post, the three keys and the posted state"
    );
    assert_eq!(
        contexts(&statuses_of(ports, &p, "long after").await.items),
        vec!["waiting", "retried"],
        "a pending post is never pruned"
    );
    assert_eq!(last_posted(ports, &new, "long after").await, None);
    assert_eq!(
        mirror_key(ports, &p, "k-3", 100_001).await,
        MirrorOutcome::Applied(None),
        "every key is pruned"
    );
}

/// Prunes the forge rows older than `second` seconds in, at most `limit` of each kind.
async fn prune(ports: &Ports, second: i64, limit: u32) -> u64 {
    ok(
        ports.forges.prune_forge_rows(at(second), limit).await,
        "prune",
    )
}

/// Applies a write of nothing but the delivery key `key`, received `second` seconds in.
async fn mirror_key(ports: &Ports, project: &Project, key: &str, second: i64) -> MirrorOutcome {
    let nothing = write(project, Some(key), second, MirrorChange::Nothing);
    ok(ports.forges.apply_mirror(nothing).await, "a delivery key")
}
