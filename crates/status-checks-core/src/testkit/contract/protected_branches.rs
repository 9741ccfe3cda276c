//! Contract of the protected branches port (`ProtectedBranchRepository`): names unique per project, exact
//! lookup, and unprotecting a branch removes it from the scope of the checks.

use super::fixtures::*;
use crate::error::{Duplicate, RepoError};
use crate::ids::*;
use crate::protected_branches::BranchPattern;
use crate::service::Ports;

/// Protected branches: unique names per project, exact lookup, and unprotecting unscopes checks.
pub async fn protected_branches_round_trip(ports: &Ports) {
    let (_alice, p, q) = alice_with_two_projects(ports).await;
    let main = branch(ports, &p, "main").await;
    let release = branch(ports, &p, "release/*").await;
    assert_eq!(main.name.as_str(), "main");
    let again = ports
        .protected_branches
        .create_protected_branch(
            p.id,
            BranchPattern::new("main").unwrap_or_else(|e| panic!("{e}")),
            at(5),
        )
        .await;
    assert_eq!(again, Err(RepoError::Duplicate(Duplicate::ProtectedBranch)));
    let elsewhere = branch(ports, &q, "main").await;

    assert_eq!(
        ok(
            ports
                .protected_branches
                .find_protected_branch(p.id, "release/*")
                .await,
            "find"
        )
        .as_ref(),
        Some(&release)
    );
    assert_eq!(
        ok(
            ports
                .protected_branches
                .find_protected_branch(p.id, "release/1")
                .await,
            "no pattern matching in lookup"
        ),
        None
    );
    let found = ok(
        ports
            .protected_branches
            .find_protected_branches(
                p.id,
                vec![main.id, elsewhere.id, ProtectedBranchId(999_999)],
            )
            .await,
        "by ids",
    );
    assert_eq!(found, vec![main.clone()]);
    let listed = ok(
        ports
            .protected_branches
            .list_protected_branches(p.id, page(1, 1))
            .await,
        "list",
    );
    assert_eq!(
        (listed.total, listed.items.clone()),
        (2, vec![main.clone()])
    );

    let both = vec![main.id, release.id];
    let scoped = create_check(ports, &p, "scoped", "https://s.example.com", both).await;
    let scoped = ok(scoped, "check");
    assert_eq!(
        scoped.protected_branches,
        vec![main.clone(), release.clone()]
    );
    assert_eq!(
        ok(ports.status_checks.all_checks(p.id).await, "all")[0]
            .protected_branches
            .len(),
        2
    );
    assert!(ok(
        ports
            .protected_branches
            .delete_protected_branch(p.id, main.id)
            .await,
        "unprotect"
    ));
    assert!(
        !ok(
            ports
                .protected_branches
                .delete_protected_branch(q.id, release.id)
                .await,
            "another project's"
        ),
        "scoped to its project"
    );
    let after = ok(
        ports.status_checks.find_check(p.id, scoped.id).await,
        "check after",
    )
    .unwrap_or_else(|| panic!("check gone"));
    assert_eq!(after.protected_branches, vec![release]);
}
