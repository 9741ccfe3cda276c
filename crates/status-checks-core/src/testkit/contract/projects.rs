//! Contract of the projects port (`ProjectRepository`): the creator is Owner, access is answered with the
//! project, paths are unique, updates are seen at once, and deleting a project cascades to everything in it
//! (members, branches, checks, merge requests, responses, deliveries).

use super::fixtures::*;
use crate::AccessLevel;
use crate::error::{Duplicate, RepoError};
use crate::ids::*;
use crate::projects::{NewProject, ProjectRef, ProjectUpdate};
use crate::service::Ports;

/// Projects: the creator is Owner, access is answered with the project, paths are unique, lists filter.
pub async fn projects_round_trip(ports: &Ports) {
    let alice = user(ports, "alice").await;
    let bob = user(ports, "bob").await;
    let p = project(ports, &alice, "proj").await;
    assert_eq!(p.path_with_namespace(), "grp/proj");
    assert_eq!(p.created_at, at(2));

    let by_id = access(ports, &ProjectRef::Id(p.id), alice.id, "by id").await;
    assert_eq!(by_id, Some((p.clone(), Some(AccessLevel::Owner))));
    let by_path = access(
        ports,
        &ProjectRef::Path("GRP/Proj".into()),
        bob.id,
        "by path",
    )
    .await;
    assert_eq!(
        by_path,
        Some((p.clone(), None)),
        "paths match without regard to case; non-members have no level"
    );
    assert_eq!(
        access(
            ports,
            &ProjectRef::Id(ProjectId(999_999)),
            alice.id,
            "unknown"
        )
        .await,
        None
    );

    let dup = NewProject {
        name: "x".into(),
        path: "PROJ".into(),
        namespace: "grp".into(),
        only_allow_merge_if_all_status_checks_passed: false,
        created_at: at(2),
    };
    assert_eq!(
        ports.projects.create_project(dup, bob.id).await,
        Err(RepoError::Duplicate(Duplicate::ProjectPath))
    );

    let later = ProjectRef::Path("grp/other".into());
    assert_eq!(access(ports, &later, bob.id, "not yet").await, None);
    let q = project(ports, &bob, "other").await;
    let found = access(ports, &later, bob.id, "created since").await;
    assert_eq!(
        found,
        Some((q.clone(), Some(AccessLevel::Owner))),
        "a project is visible as soon as it is created"
    );
    assert_eq!(
        ok(
            ports
                .projects
                .list_projects(Some(alice.id), page(1, 20))
                .await,
            "alice's"
        )
        .items,
        vec![p.clone()]
    );
    let all = ok(ports.projects.list_projects(None, page(1, 20)).await, "all");
    assert_eq!(
        all.items.iter().map(|x| x.id).collect::<Vec<_>>(),
        vec![p.id, q.id]
    );

    let update = ProjectUpdate {
        name: Some("Renamed".into()),
        only_allow_merge_if_all_status_checks_passed: Some(true),
    };
    let updated = ok(
        ports.projects.update_project(p.id, update, at(9)).await,
        "update",
    );
    let seen = access(ports, &ProjectRef::Id(p.id), alice.id, "after update").await;
    assert_eq!(
        seen.map(|(project, _)| project.name),
        Some("Renamed".to_owned()),
        "updates are seen at once"
    );
    assert_eq!(
        (
            updated.name.as_str(),
            updated.only_allow_merge_if_all_status_checks_passed,
            updated.updated_at
        ),
        ("Renamed", true, at(9))
    );
    assert_eq!(updated.path, "proj");
    let nothing = ok(
        ports
            .projects
            .update_project(p.id, ProjectUpdate::default(), at(10))
            .await,
        "empty update",
    );
    assert_eq!(nothing.name, "Renamed");
    assert_eq!(
        ports
            .projects
            .update_project(ProjectId(999_999), ProjectUpdate::default(), at(10))
            .await,
        Err(RepoError::NotFound)
    );
}

/// Deleting a project removes its members, branches, checks, merge requests, responses and deliveries.
pub async fn deleting_a_project_removes_everything_in_it(ports: &Ports) {
    let alice = user(ports, "alice").await;
    let p = project(ports, &alice, "proj").await;
    let c = check(ports, &p, "qa").await;
    branch(ports, &p, "main").await;
    let mr = answered_merge_request(ports, &p, &c).await;

    assert_eq!(
        ok(ports.status_checks.all_checks(p.id).await, "checks before").len(),
        1
    );
    assert!(
        access(ports, &ProjectRef::Id(p.id), alice.id, "before")
            .await
            .is_some()
    );
    deletes_once("delete", || ports.projects.delete_project(p.id)).await;
    assert_eq!(
        access(ports, &ProjectRef::Id(p.id), alice.id, "gone").await,
        None
    );
    assert_eq!(
        ok(
            ports.merge_requests.find_merge_request(p.id, mr.iid).await,
            "merge request"
        ),
        None
    );
    assert!(ok(ports.status_checks.all_checks(p.id).await, "checks").is_empty());
    assert!(
        newest_responses(ports, vec![(mr.id, mr.sha.clone())], "responses")
            .await
            .is_empty()
    );
    assert_eq!(ok(ports.deliveries.count_pending().await, "deliveries"), 0);
    assert_eq!(
        ok(
            ports.members.list_members(p.id, page(1, 20)).await,
            "members"
        )
        .total,
        0
    );
    assert_eq!(
        ok(
            ports
                .protected_branches
                .list_protected_branches(p.id, page(1, 20))
                .await,
            "branches"
        )
        .total,
        0
    );
    assert!(ok(ports.users.find_user(alice.id).await, "the owner stays").is_some());
}
