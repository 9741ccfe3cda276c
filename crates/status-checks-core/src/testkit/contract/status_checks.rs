//! Contract of the status checks and responses ports (`StatusCheckRepository`, `ResponseRepository`):
//! names and URLs unique per project, scopes within the project, partial updates, cascades of a deleted
//! check; every response kept, the newest per merge request and check at a HEAD, retries with their
//! delivery.

use super::fixtures::*;
use crate::error::{Duplicate, RepoError};
use crate::ids::*;
use crate::service::Ports;
use crate::status_checks::CheckStatus;
use crate::status_checks::{CheckName, SharedSecret, StatusCheckUpdate};

/// An update at `at(second)` that changes nothing.
fn unchanged(second: i64) -> StatusCheckUpdate {
    StatusCheckUpdate {
        name: None,
        external_url: None,
        shared_secret: None,
        protected_branch_ids: None,
        updated_at: at(second),
    }
}

/// Checks: names and URLs unique per project, scopes within the project, partial updates, cascades.
pub async fn status_checks_round_trip(ports: &Ports) {
    let (_alice, p, q) = alice_with_two_projects(ports).await;
    let main = branch(ports, &p, "main").await;
    let foreign = branch(ports, &q, "main").await;

    let url = "http://qa.example.com:8080?x=1";
    let c = ok(
        create_check(ports, &p, "QA", url, vec![main.id, main.id]).await,
        "create",
    );
    assert_eq!(
        c.external_url.as_str(),
        "http://qa.example.com:8080?x=1",
        "URLs are kept exactly as sent"
    );
    assert_eq!(
        c.shared_secret.as_ref().map(SharedSecret::expose),
        Some("s3cret")
    );
    assert_eq!(c.protected_branches, vec![main.clone()]);
    assert_eq!((c.created_at, c.updated_at), (at(4), at(4)));

    let other_url = "https://other.example.com";
    assert_eq!(
        create_check(ports, &p, "QA", other_url, vec![]).await,
        Err(RepoError::Duplicate(Duplicate::CheckName))
    );
    assert_eq!(
        create_check(ports, &p, "QA2", url, vec![]).await,
        Err(RepoError::Duplicate(Duplicate::CheckUrl))
    );
    let foreign_scope = vec![foreign.id];
    assert_eq!(
        create_check(ports, &p, "QA3", "https://3.example.com", foreign_scope).await,
        Err(RepoError::ForeignProtectedBranch)
    );
    ok(
        create_check(ports, &q, "QA", url, vec![]).await,
        "same values in another project",
    );
    assert_eq!(
        ok(
            ports.status_checks.all_checks(p.id).await,
            "nothing half-written"
        )
        .len(),
        1
    );

    let d = check(ports, &p, "second").await;
    let rename = StatusCheckUpdate {
        name: Some(CheckName::parse("Renamed").unwrap_or_else(|e| panic!("{e}"))),
        ..unchanged(12)
    };
    let renamed = ok(
        ports.status_checks.update_check(p.id, c.id, rename).await,
        "rename",
    );
    assert_eq!(
        (
            renamed.name.as_str(),
            renamed.external_url.as_str(),
            renamed.hmac(),
            renamed.protected_branches.len()
        ),
        ("Renamed", c.external_url.as_str(), true, 1)
    );
    assert_eq!(renamed.updated_at, at(12));
    let clear = StatusCheckUpdate {
        shared_secret: Some(None),
        protected_branch_ids: Some(vec![]),
        ..unchanged(13)
    };
    let cleared = ok(
        ports.status_checks.update_check(p.id, c.id, clear).await,
        "clear",
    );
    assert!(!cleared.hmac() && cleared.protected_branches.is_empty());
    let clash = StatusCheckUpdate {
        name: Some(d.name.clone()),
        ..unchanged(14)
    };
    assert_eq!(
        ports.status_checks.update_check(p.id, c.id, clash).await,
        Err(RepoError::Duplicate(Duplicate::CheckName))
    );
    let bad_scope = StatusCheckUpdate {
        protected_branch_ids: Some(vec![foreign.id]),
        ..unchanged(14)
    };
    assert_eq!(
        ports
            .status_checks
            .update_check(p.id, c.id, bad_scope)
            .await,
        Err(RepoError::ForeignProtectedBranch)
    );
    let noop = unchanged(14);
    assert_eq!(
        ports.status_checks.update_check(q.id, c.id, noop).await,
        Err(RepoError::NotFound),
        "another project's check"
    );
    assert_eq!(
        ok(
            ports.status_checks.find_check(q.id, c.id).await,
            "scoped find"
        ),
        None
    );

    let all = ok(ports.status_checks.all_checks(p.id).await, "all");
    assert_eq!(
        all.iter().map(|x| x.id).collect::<Vec<_>>(),
        vec![c.id, d.id]
    );
    let second_page = ok(
        ports.status_checks.list_checks(p.id, page(2, 1)).await,
        "page",
    );
    assert_eq!(
        (
            second_page.total,
            second_page.items.iter().map(|x| x.id).collect::<Vec<_>>()
        ),
        (2, vec![d.id])
    );

    let mr = answered_merge_request(ports, &p, &d).await;
    deletes_once("delete", || ports.status_checks.delete_check(p.id, d.id)).await;
    assert!(
        newest_responses(
            ports,
            vec![(mr.id, mr.sha.clone())],
            "responses of a deleted check"
        )
        .await
        .is_empty()
    );
    assert_eq!(
        deliveries_to(ports, &p, &d, "its deliveries").await.total,
        0
    );
}

/// Responses: every answer is kept; the newest per (merge request, check) at a sha is returned, in one
/// batched call for several merge requests; a retry stores a pending row and its delivery together.
pub async fn newest_responses_per_head(ports: &Ports) {
    let alice = user(ports, "alice").await;
    let p = project(ports, &alice, "proj").await;
    let (c1, c2) = (check(ports, &p, "one").await, check(ports, &p, "two").await);
    let a = merge_request(ports, &p, "main", vec![]).await;
    let b = merge_request(ports, &p, "main", vec![]).await;

    let r1 = record(
        ports,
        response(&a, &c1, &sha('a'), CheckStatus::Failed, 40),
        "r1",
    )
    .await;
    assert_eq!(
        (r1.status, r1.created_at, r1.retried_at),
        (CheckStatus::Failed, at(40), None)
    );
    let r2 = record(
        ports,
        response(&a, &c1, &sha('a'), CheckStatus::Passed, 41),
        "r2",
    )
    .await;
    let _old = record(
        ports,
        response(&a, &c2, &sha('f'), CheckStatus::Passed, 42),
        "other sha",
    )
    .await;
    let r3 = record(
        ports,
        response(&b, &c2, &sha('a'), CheckStatus::Pending, 43),
        "r3",
    )
    .await;

    // What a service says with its answer is kept beside it, and only with it.
    let said = crate::status_checks::ResponseDetails {
        target_url: Some("https://qa.example.com/report/7".into()),
        description: Some("Scanned 212 files".into()),
    };
    let with_details = record(
        ports,
        crate::status_checks::NewResponse {
            details: Some(said.clone()),
            ..response(&b, &c1, &sha('e'), CheckStatus::Passed, 43)
        },
        "with details",
    )
    .await;
    assert_eq!(
        ok(
            ports.responses.find_response_details(with_details.id).await,
            "details"
        ),
        Some(said)
    );
    assert_eq!(
        ok(ports.responses.find_response_details(r2.id).await, "none"),
        None
    );

    // The history: every answer about a merge request, at every sha, newest first, paged.
    let history = ok(
        ports
            .responses
            .list_responses(p.id, a.id, crate::pagination::PageRequest::new(1, 2))
            .await,
        "history",
    );
    assert_eq!(
        (history.items.clone(), history.total),
        (vec![_old.clone(), r2.clone()], 3),
        "a's answers, newest first, every sha"
    );
    let rest = ok(
        ports
            .responses
            .list_responses(p.id, a.id, crate::pagination::PageRequest::new(2, 2))
            .await,
        "history, page 2",
    );
    assert_eq!(rest.items, vec![r1.clone()]);
    let of_b = ok(
        ports
            .responses
            .list_responses(p.id, b.id, crate::pagination::PageRequest::new(1, 20))
            .await,
        "b's history",
    );
    assert_eq!(
        of_b.items,
        vec![with_details.clone(), r3.clone()],
        "per merge request"
    );

    let mut newest =
        newest_responses(ports, vec![(a.id, sha('a')), (b.id, sha('a'))], "newest").await;
    newest.sort_by_key(|r| r.id);
    assert_eq!(newest, vec![r2.clone(), r3.clone()]);
    let (found, at_head) = ok(
        ports
            .merge_requests
            .find_merge_request_at_head(p.id, a.iid)
            .await,
        "at head",
    )
    .unwrap_or_else(|| panic!("merge request a"));
    assert_eq!(found, a);
    assert_eq!(
        at_head,
        vec![r2.clone()],
        "only the newest answer of each check, only about the HEAD"
    );
    assert_eq!(
        ok(
            ports
                .merge_requests
                .find_merge_request_head(p.id, a.iid)
                .await,
            "head"
        ),
        Some((a.head(), vec![r2.clone()])),
        "the HEAD alone, with the same responses"
    );
    assert_eq!(
        ok(
            ports
                .merge_requests
                .find_merge_request_head(p.id, MergeRequestIid(99))
                .await,
            "unknown head"
        ),
        None
    );
    assert_eq!(
        ok(
            ports
                .merge_requests
                .find_merge_request_at_head(p.id, MergeRequestIid(99))
                .await,
            "unknown"
        ),
        None
    );
    let old_head = newest_responses(ports, vec![(a.id, sha('f'))], "old head").await;
    assert_eq!(
        old_head
            .iter()
            .map(|r| r.external_status_check_id)
            .collect::<Vec<_>>(),
        vec![c2.id]
    );
    assert!(newest_responses(ports, vec![], "no heads").await.is_empty());

    let mut retry = response(&a, &c1, &sha('a'), CheckStatus::Pending, 50);
    retry.retried_at = Some(at(50));
    let retried = ok(
        ports
            .responses
            .record_retry(
                retry,
                vec![draft(&c1, &p, None, "k-retry")],
                vec![crate::forges::StatusDraft {
                    context: "status-checks/one".into(),
                    external_status_check_id: Some(c1.id),
                    state: "pending".into(),
                    due_at: at(50),
                }],
            )
            .await,
        "retry",
    );
    // The status post is scheduled in the retry's transaction, about the merge request's HEAD.
    let posts = ok(
        ports
            .forges
            .list_forge_statuses(p.id, crate::pagination::PageRequest::new(1, 20))
            .await,
        "posts of the retry",
    );
    assert_eq!(posts.total, 1);
    assert_eq!(
        (
            posts.items[0].merge_request_id,
            posts.items[0].merge_request_iid,
            posts.items[0].sha.clone(),
            posts.items[0].context.as_str(),
            posts.items[0].next_attempt_at
        ),
        (
            a.id,
            a.iid,
            a.sha.clone(),
            "status-checks/one",
            Some(at(50))
        )
    );
    assert_eq!(
        (retried.status, retried.retried_at),
        (CheckStatus::Pending, Some(at(50)))
    );
    let newest = newest_responses(ports, vec![(a.id, sha('a'))], "after retry").await;
    assert!(newest.contains(&retried) && !newest.contains(&r2));
    let outbox = deliveries_to(ports, &p, &c1, "retry delivery").await;
    assert_eq!(
        (
            outbox.total,
            outbox.items[0].action,
            outbox.items[0].idempotency_key.as_str()
        ),
        (1, None, "k-retry")
    );
}
