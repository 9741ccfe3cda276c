//! The ports' contract test suite: what every storage adapter must do, written once.
//!
//! Each scenario is an `async fn(&Ports)` that panics on a broken promise. Run them all against a fresh store
//! per scenario with [`port_contract_tests!`](crate::port_contract_tests):
//!
//! ```ignore
//! async fn fresh_ports() -> (status_checks_core::service::Ports, tempfile::TempDir) { /* open a new store */ }
//! status_checks_core::port_contract_tests!(fresh_ports());
//! ```
//!
//! The macro expands to one `#[tokio::test]` per scenario (the calling crate needs tokio with `macros` and
//! `rt`). The second element of the tuple is kept alive for the test's duration (a temporary directory, a
//! container, …). Times used here have millisecond precision, the least a store must keep.

use crate::branch::{BranchPattern, ProtectedBranch};
use crate::delivery::{DeliveryDraft, DeliveryStatus, HookAction, HookProject, HookUser};
use crate::error::{Duplicate, RepoError};
use crate::ids::*;
use crate::merge_request::*;
use crate::pagination::PageRequest;
use crate::ports::RepoResult;
use crate::project::{NewProject, Project, ProjectRef, ProjectUpdate};
use crate::response::{CheckStatus, NewResponse};
use crate::service::Ports;
use crate::status_check::{
    CheckName, ExternalStatusCheck, ExternalUrl, NewStatusCheck, SharedSecret, StatusCheckUpdate,
};
use crate::token::{NewToken, TokenHash, TokenScope};
use crate::user::{NewUser, User, Username};
use crate::{AccessLevel, Timestamp};

/// Expands to one `#[tokio::test]` per contract scenario, each on the ports `$fresh` yields:
/// `$fresh` is an expression evaluated anew per test, of a future of `(Ports, guard)`.
#[macro_export]
macro_rules! port_contract_tests {
    ($fresh:expr) => {
        $crate::port_contract_tests!(@each $fresh;
            users_round_trip,
            tokens_round_trip,
            projects_round_trip,
            members_and_the_last_owner,
            protected_branches_round_trip,
            status_checks_round_trip,
            merge_requests_and_their_deliveries,
            newest_responses_per_head,
            outbox_claims_and_outcomes,
            deleting_a_project_removes_everything_in_it
        );
    };
    (@each $fresh:expr; $($scenario:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $scenario() {
                let (ports, _guard) = $fresh.await;
                $crate::testkit::contract::$scenario(&ports).await;
            }
        )*
    };
}

fn ok<T>(result: RepoResult<T>, what: &str) -> T {
    match result {
        Ok(value) => value,
        Err(e) => panic!("{what}: unexpected error {e}"),
    }
}

fn at(second: i64) -> Timestamp {
    chrono::DateTime::from_timestamp_millis(1_700_000_000_000 + second * 1000 + 123)
        .unwrap_or_default()
}

fn sha(c: char) -> CommitSha {
    CommitSha::parse(&c.to_string().repeat(40)).unwrap_or_else(|_| panic!("bad sha {c}"))
}

fn page(n: u32, per_page: u32) -> PageRequest {
    PageRequest::new(n, per_page)
}

async fn user(ports: &Ports, name: &str) -> User {
    let new = NewUser {
        username: Username::new(name).unwrap_or_else(|_| panic!("username {name}")),
        name: format!("{name} display"),
        email: Some(format!("{name}@example.com")),
        is_admin: false,
        created_at: at(1),
    };
    ok(ports.users.create_user(new).await, "create user")
}

async fn project(ports: &Ports, owner: &User, path: &str) -> Project {
    let new = NewProject {
        name: format!("{path} name"),
        path: path.into(),
        namespace: "grp".into(),
        only_allow_merge_if_all_status_checks_passed: false,
        created_at: at(2),
    };
    ok(
        ports.projects.create_project(new, owner.id).await,
        "create project",
    )
}

async fn merge_request(
    ports: &Ports,
    project: &Project,
    target: &str,
    drafts: Vec<DeliveryDraft>,
) -> MergeRequest {
    let new = NewMergeRequest {
        project_id: project.id,
        title: "Title".into(),
        description: "Body".into(),
        source_branch: "feature".into(),
        target_branch: target.into(),
        sha: sha('a'),
        author_id: UserId(1),
        created_at: at(3),
    };
    ok(
        ports.merge_requests.create_merge_request(new, drafts).await,
        "create merge request",
    )
}

fn new_check(
    project: &Project,
    name: &str,
    url: &str,
    branches: Vec<ProtectedBranchId>,
) -> NewStatusCheck {
    NewStatusCheck {
        project_id: project.id,
        name: CheckName::parse(name).unwrap_or_else(|e| panic!("{e}")),
        external_url: ExternalUrl::parse(url, false).unwrap_or_else(|e| panic!("{e:?}")),
        shared_secret: SharedSecret::parse("s3cret").ok().flatten(),
        protected_branch_ids: branches,
        created_at: at(4),
    }
}

async fn check(ports: &Ports, project: &Project, name: &str) -> ExternalStatusCheck {
    let url = format!("https://{}.example.com/hook", name.replace(' ', "-"));
    ok(
        ports
            .status_checks
            .create_check(new_check(project, name, &url, vec![]))
            .await,
        "create check",
    )
}

async fn branch(ports: &Ports, project: &Project, name: &str) -> ProtectedBranch {
    let pattern = BranchPattern::new(name).unwrap_or_else(|e| panic!("{e}"));
    ok(
        ports
            .protected_branches
            .create_protected_branch(project.id, pattern, at(5))
            .await,
        "protect branch",
    )
}

fn draft(
    check: &ExternalStatusCheck,
    project: &Project,
    action: Option<HookAction>,
    key: &str,
) -> DeliveryDraft {
    DeliveryDraft {
        external_status_check_id: check.id,
        check_name: check.name.as_str().into(),
        check_url: check.external_url.as_str().into(),
        project: HookProject {
            id: project.id,
            name: project.name.clone(),
            path_with_namespace: project.path_with_namespace(),
        },
        user: HookUser {
            id: UserId(1),
            name: "Root".into(),
            username: "root".into(),
        },
        action,
        changes: Default::default(),
        oldrev: None,
        detailed_merge_status: DetailedMergeStatus::Mergeable,
        base_url: "http://sc.test".into(),
        idempotency_key: key.into(),
        created_at: at(6),
    }
}

fn response(
    mr: &MergeRequest,
    check: &ExternalStatusCheck,
    sha: &CommitSha,
    status: CheckStatus,
    second: i64,
) -> NewResponse {
    NewResponse {
        merge_request_id: mr.id,
        external_status_check_id: check.id,
        sha: sha.clone(),
        status,
        created_at: at(second),
        retried_at: None,
    }
}

/// Users: create, read back exactly, usernames unique without regard to case, filter, paginate, delete.
pub async fn users_round_trip(ports: &Ports) {
    let alice = user(ports, "alice").await;
    assert_eq!(alice.username.as_str(), "alice");
    assert_eq!(alice.created_at, at(1), "times keep millisecond precision");
    assert_eq!(
        ok(ports.users.find_user(alice.id).await, "find").as_ref(),
        Some(&alice)
    );
    assert_eq!(
        ok(ports.users.find_user_by_username("alice").await, "by name").as_ref(),
        Some(&alice)
    );
    assert_eq!(
        ok(
            ports.users.find_user_by_username("ALICE").await,
            "by name, other case"
        )
        .as_ref(),
        Some(&alice)
    );
    let taken = NewUser {
        username: Username::new("Alice").unwrap_or_else(|_| panic!()),
        name: "x".into(),
        email: None,
        is_admin: true,
        created_at: at(1),
    };
    assert_eq!(
        ports.users.create_user(taken).await,
        Err(RepoError::Duplicate(Duplicate::Username))
    );

    let bob = user(ports, "bob").await;
    let carol = user(ports, "carol").await;
    let all = ok(ports.users.list_users(None, page(1, 2)).await, "list");
    assert_eq!(all.total, 3);
    assert_eq!(
        all.items.iter().map(|u| u.id).collect::<Vec<_>>(),
        vec![alice.id, bob.id]
    );
    let second = ok(ports.users.list_users(None, page(2, 2)).await, "page 2");
    assert_eq!(
        second.items.iter().map(|u| u.id).collect::<Vec<_>>(),
        vec![carol.id]
    );
    let only_bob = ok(
        ports
            .users
            .list_users(Some("bob".into()), page(1, 20))
            .await,
        "filter",
    );
    assert_eq!((only_bob.total, only_bob.items.len()), (1, 1));

    assert!(ok(ports.users.delete_user(bob.id).await, "delete"));
    assert!(!ok(ports.users.delete_user(bob.id).await, "delete again"));
    assert_eq!(
        ok(ports.users.find_user(bob.id).await, "find deleted"),
        None
    );
    assert_eq!(
        ok(ports.users.find_user(UserId(999_999)).await, "find unknown"),
        None
    );
}

/// Tokens: stored by hash, found with their owner, listed per user, revoked, removed with their user.
pub async fn tokens_round_trip(ports: &Ports) {
    let alice = user(ports, "alice").await;
    let bob = user(ports, "bob").await;
    let new = |owner: &User, raw: &str, scopes: Vec<TokenScope>| NewToken {
        user_id: owner.id,
        name: format!("{raw} token"),
        hash: TokenHash::of(raw),
        scopes,
        expires_at: chrono::NaiveDate::from_ymd_opt(2030, 1, 2),
        created_at: at(7),
    };
    let a = ok(
        ports
            .tokens
            .create_token(new(
                &alice,
                "ta",
                vec![TokenScope::Api, TokenScope::ReadApi],
            ))
            .await,
        "create",
    );
    assert_eq!(a.scopes, vec![TokenScope::Api, TokenScope::ReadApi]);
    assert_eq!(a.expires_at, chrono::NaiveDate::from_ymd_opt(2030, 1, 2));
    assert!(!a.revoked);
    let b = ok(
        ports
            .tokens
            .create_token(new(&bob, "tb", vec![TokenScope::ReadApi]))
            .await,
        "create",
    );

    let found = ok(
        ports.tokens.find_token_by_hash(&TokenHash::of("ta")).await,
        "by hash",
    );
    let found = found.unwrap_or_else(|| panic!("token by hash"));
    assert_eq!(
        (found.token.clone(), found.hash.clone(), found.user.id),
        (a.clone(), TokenHash::of("ta"), alice.id)
    );
    assert_eq!(
        ok(
            ports
                .tokens
                .find_token_by_hash(&TokenHash::of("nope"))
                .await,
            "unknown hash"
        ),
        None
    );

    let alices = ok(
        ports.tokens.list_tokens(Some(alice.id), page(1, 20)).await,
        "list own",
    );
    assert_eq!(alices.items, vec![a.clone()]);
    assert_eq!(
        ok(
            ports.tokens.list_tokens(None, page(1, 20)).await,
            "list all"
        )
        .total,
        2
    );

    assert!(ok(ports.tokens.revoke_token(a.id).await, "revoke"));
    assert!(ok(ports.tokens.find_token(a.id).await, "find").is_some_and(|t| t.revoked));
    let after = ok(
        ports.tokens.find_token_by_hash(&TokenHash::of("ta")).await,
        "by hash after revoking",
    );
    assert!(
        after.is_some_and(|f| f.token.revoked),
        "a revoked token is seen revoked at once"
    );
    assert!(!ok(
        ports.tokens.revoke_token(TokenId(999_999)).await,
        "revoke unknown"
    ));

    assert!(
        ok(
            ports.tokens.find_token_by_hash(&TokenHash::of("tb")).await,
            "bob's token"
        )
        .is_some()
    );
    assert!(ok(ports.users.delete_user(bob.id).await, "delete owner"));
    assert_eq!(
        ok(ports.tokens.find_token(b.id).await, "token of deleted user"),
        None
    );
    assert_eq!(
        ok(
            ports.tokens.find_token_by_hash(&TokenHash::of("tb")).await,
            "by hash, owner deleted"
        ),
        None
    );
}

/// Projects: the creator is Owner, access is answered with the project, paths are unique, lists filter.
pub async fn projects_round_trip(ports: &Ports) {
    let alice = user(ports, "alice").await;
    let bob = user(ports, "bob").await;
    let p = project(ports, &alice, "proj").await;
    assert_eq!(p.path_with_namespace(), "grp/proj");
    assert_eq!(p.created_at, at(2));

    let by_id = ok(
        ports
            .projects
            .find_project_with_access(&ProjectRef::Id(p.id), alice.id)
            .await,
        "by id",
    );
    assert_eq!(by_id, Some((p.clone(), Some(AccessLevel::Owner))));
    let by_path = ok(
        ports
            .projects
            .find_project_with_access(&ProjectRef::Path("GRP/Proj".into()), bob.id)
            .await,
        "by path",
    );
    assert_eq!(
        by_path,
        Some((p.clone(), None)),
        "paths match without regard to case; non-members have no level"
    );
    assert_eq!(
        ok(
            ports
                .projects
                .find_project_with_access(&ProjectRef::Id(ProjectId(999_999)), alice.id)
                .await,
            "unknown"
        ),
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
    assert_eq!(
        ok(
            ports
                .projects
                .find_project_with_access(&later, bob.id)
                .await,
            "not yet"
        ),
        None
    );
    let q = project(ports, &bob, "other").await;
    let found = ok(
        ports
            .projects
            .find_project_with_access(&later, bob.id)
            .await,
        "created since",
    );
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
    let seen = ok(
        ports
            .projects
            .find_project_with_access(&ProjectRef::Id(p.id), alice.id)
            .await,
        "after update",
    );
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

/// Members: unique per project, only existing users, and never a project without an Owner.
pub async fn members_and_the_last_owner(ports: &Ports) {
    let alice = user(ports, "alice").await;
    let bob = user(ports, "bob").await;
    let p = project(ports, &alice, "proj").await;

    let before = ok(
        ports
            .projects
            .find_project_with_access(&ProjectRef::Id(p.id), bob.id)
            .await,
        "before joining",
    );
    assert_eq!(before.and_then(|(_, level)| level), None);
    let m = ok(
        ports
            .members
            .add_member(p.id, bob.id, AccessLevel::Developer, at(11))
            .await,
        "add",
    );
    let after = ok(
        ports
            .projects
            .find_project_with_access(&ProjectRef::Id(p.id), bob.id)
            .await,
        "after joining",
    );
    assert_eq!(
        after.and_then(|(_, level)| level),
        Some(AccessLevel::Developer),
        "membership is seen at once"
    );
    assert_eq!(
        (m.user.id, m.access_level, m.created_at),
        (bob.id, AccessLevel::Developer, at(11))
    );
    assert_eq!(
        ports
            .members
            .add_member(p.id, bob.id, AccessLevel::Guest, at(11))
            .await,
        Err(RepoError::Duplicate(Duplicate::Member))
    );
    assert_eq!(
        ports
            .members
            .add_member(p.id, UserId(999_999), AccessLevel::Guest, at(11))
            .await,
        Err(RepoError::NotFound)
    );

    let listed = ok(ports.members.list_members(p.id, page(1, 20)).await, "list");
    assert_eq!(
        listed
            .items
            .iter()
            .map(|m| (m.user.id, m.access_level))
            .collect::<Vec<_>>(),
        vec![
            (alice.id, AccessLevel::Owner),
            (bob.id, AccessLevel::Developer)
        ]
    );

    assert_eq!(
        ports
            .members
            .update_member(p.id, alice.id, AccessLevel::Maintainer)
            .await,
        Err(RepoError::LastOwner)
    );
    assert_eq!(
        ports.members.remove_member(p.id, alice.id).await,
        Err(RepoError::LastOwner)
    );
    assert_eq!(
        ok(
            ports.members.find_member(p.id, alice.id).await,
            "owner stays"
        )
        .map(|m| m.access_level),
        Some(AccessLevel::Owner)
    );

    ok(
        ports
            .members
            .update_member(p.id, bob.id, AccessLevel::Owner)
            .await,
        "promote",
    );
    let demoted = ok(
        ports
            .members
            .update_member(p.id, alice.id, AccessLevel::Maintainer)
            .await,
        "demote one of two owners",
    );
    assert_eq!(demoted.access_level, AccessLevel::Maintainer);
    assert!(ok(
        ports.members.remove_member(p.id, alice.id).await,
        "remove"
    ));
    assert!(!ok(
        ports.members.remove_member(p.id, alice.id).await,
        "remove again"
    ));
    assert_eq!(
        ports
            .members
            .update_member(p.id, alice.id, AccessLevel::Guest)
            .await,
        Err(RepoError::NotFound)
    );
    assert_eq!(
        ok(
            ports
                .projects
                .find_project_with_access(&ProjectRef::Id(p.id), alice.id)
                .await,
            "access"
        )
        .and_then(|(_, l)| l),
        None
    );
}

/// Protected branches: unique names per project, exact lookup, and unprotecting unscopes checks.
pub async fn protected_branches_round_trip(ports: &Ports) {
    let alice = user(ports, "alice").await;
    let p = project(ports, &alice, "proj").await;
    let q = project(ports, &alice, "other").await;
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

    let scoped = ok(
        ports
            .status_checks
            .create_check(new_check(
                &p,
                "scoped",
                "https://s.example.com",
                vec![main.id, release.id],
            ))
            .await,
        "check",
    );
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

/// Checks: names and URLs unique per project, scopes within the project, partial updates, cascades.
pub async fn status_checks_round_trip(ports: &Ports) {
    let alice = user(ports, "alice").await;
    let p = project(ports, &alice, "proj").await;
    let q = project(ports, &alice, "other").await;
    let main = branch(ports, &p, "main").await;
    let foreign = branch(ports, &q, "main").await;

    let c = ok(
        ports
            .status_checks
            .create_check(new_check(
                &p,
                "QA",
                "http://qa.example.com:8080?x=1",
                vec![main.id, main.id],
            ))
            .await,
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

    assert_eq!(
        ports
            .status_checks
            .create_check(new_check(&p, "QA", "https://other.example.com", vec![]))
            .await,
        Err(RepoError::Duplicate(Duplicate::CheckName))
    );
    assert_eq!(
        ports
            .status_checks
            .create_check(new_check(
                &p,
                "QA2",
                "http://qa.example.com:8080?x=1",
                vec![]
            ))
            .await,
        Err(RepoError::Duplicate(Duplicate::CheckUrl))
    );
    assert_eq!(
        ports
            .status_checks
            .create_check(new_check(
                &p,
                "QA3",
                "https://3.example.com",
                vec![foreign.id]
            ))
            .await,
        Err(RepoError::ForeignProtectedBranch)
    );
    ok(
        ports
            .status_checks
            .create_check(new_check(
                &q,
                "QA",
                "http://qa.example.com:8080?x=1",
                vec![],
            ))
            .await,
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
        external_url: None,
        shared_secret: None,
        protected_branch_ids: None,
        updated_at: at(12),
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
        name: None,
        external_url: None,
        shared_secret: Some(None),
        protected_branch_ids: Some(vec![]),
        updated_at: at(13),
    };
    let cleared = ok(
        ports.status_checks.update_check(p.id, c.id, clear).await,
        "clear",
    );
    assert!(!cleared.hmac() && cleared.protected_branches.is_empty());
    let clash = StatusCheckUpdate {
        name: Some(d.name.clone()),
        external_url: None,
        shared_secret: None,
        protected_branch_ids: None,
        updated_at: at(14),
    };
    assert_eq!(
        ports.status_checks.update_check(p.id, c.id, clash).await,
        Err(RepoError::Duplicate(Duplicate::CheckName))
    );
    let bad_scope = StatusCheckUpdate {
        name: None,
        external_url: None,
        shared_secret: None,
        protected_branch_ids: Some(vec![foreign.id]),
        updated_at: at(14),
    };
    assert_eq!(
        ports
            .status_checks
            .update_check(p.id, c.id, bad_scope)
            .await,
        Err(RepoError::ForeignProtectedBranch)
    );
    let noop = StatusCheckUpdate {
        name: None,
        external_url: None,
        shared_secret: None,
        protected_branch_ids: None,
        updated_at: at(14),
    };
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

    let mr = merge_request(
        ports,
        &p,
        "main",
        vec![draft(&d, &p, Some(HookAction::Open), "k-1")],
    )
    .await;
    ok(
        ports
            .responses
            .record_response(response(&mr, &d, &mr.sha, CheckStatus::Passed, 20))
            .await,
        "respond",
    );
    assert!(ok(
        ports.status_checks.delete_check(p.id, d.id).await,
        "delete"
    ));
    assert!(!ok(
        ports.status_checks.delete_check(p.id, d.id).await,
        "delete again"
    ));
    assert!(
        ok(
            ports
                .responses
                .newest_responses(vec![(mr.id, mr.sha.clone())])
                .await,
            "responses of a deleted check"
        )
        .is_empty()
    );
    assert_eq!(
        ok(
            ports
                .deliveries
                .list_deliveries(p.id, d.id, page(1, 20))
                .await,
            "its deliveries"
        )
        .total,
        0
    );
}

/// Merge requests: iids from 1 per project, deliveries rendered against the stored row, updates, filters.
pub async fn merge_requests_and_their_deliveries(ports: &Ports) {
    let alice = user(ports, "alice").await;
    let p = project(ports, &alice, "proj").await;
    let q = project(ports, &alice, "other").await;
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

    let first = merge_request(
        ports,
        &p,
        "main",
        vec![draft(&c, &p, Some(HookAction::Open), "k-1")],
    )
    .await;
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

    let deliveries = ok(
        ports
            .deliveries
            .list_deliveries(p.id, c.id, page(1, 20))
            .await,
        "deliveries",
    );
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
        ok(
            ports
                .deliveries
                .list_deliveries(p.id, c.id, page(1, 20))
                .await,
            "newest first"
        )
        .items[0]
            .idempotency_key,
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
        ok(
            ports
                .deliveries
                .list_deliveries(p.id, c.id, page(1, 20))
                .await,
            "no delivery for a refused change"
        )
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

/// Responses: every answer is kept; the newest per (merge request, check) at a sha is returned, in one
/// batched call for several merge requests; a retry stores a pending row and its delivery together.
pub async fn newest_responses_per_head(ports: &Ports) {
    let alice = user(ports, "alice").await;
    let p = project(ports, &alice, "proj").await;
    let (c1, c2) = (check(ports, &p, "one").await, check(ports, &p, "two").await);
    let a = merge_request(ports, &p, "main", vec![]).await;
    let b = merge_request(ports, &p, "main", vec![]).await;

    let r1 = ok(
        ports
            .responses
            .record_response(response(&a, &c1, &sha('a'), CheckStatus::Failed, 40))
            .await,
        "r1",
    );
    assert_eq!(
        (r1.status, r1.created_at, r1.retried_at),
        (CheckStatus::Failed, at(40), None)
    );
    let r2 = ok(
        ports
            .responses
            .record_response(response(&a, &c1, &sha('a'), CheckStatus::Passed, 41))
            .await,
        "r2",
    );
    let _old = ok(
        ports
            .responses
            .record_response(response(&a, &c2, &sha('f'), CheckStatus::Passed, 42))
            .await,
        "other sha",
    );
    let r3 = ok(
        ports
            .responses
            .record_response(response(&b, &c2, &sha('a'), CheckStatus::Pending, 43))
            .await,
        "r3",
    );

    let mut newest = ok(
        ports
            .responses
            .newest_responses(vec![(a.id, sha('a')), (b.id, sha('a'))])
            .await,
        "newest",
    );
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
    let old_head = ok(
        ports
            .responses
            .newest_responses(vec![(a.id, sha('f'))])
            .await,
        "old head",
    );
    assert_eq!(
        old_head
            .iter()
            .map(|r| r.external_status_check_id)
            .collect::<Vec<_>>(),
        vec![c2.id]
    );
    assert!(ok(ports.responses.newest_responses(vec![]).await, "no heads").is_empty());

    let mut retry = response(&a, &c1, &sha('a'), CheckStatus::Pending, 50);
    retry.retried_at = Some(at(50));
    let retried = ok(
        ports
            .responses
            .record_retry(retry, vec![draft(&c1, &p, None, "k-retry")])
            .await,
        "retry",
    );
    assert_eq!(
        (retried.status, retried.retried_at),
        (CheckStatus::Pending, Some(at(50)))
    );
    let newest = ok(
        ports
            .responses
            .newest_responses(vec![(a.id, sha('a'))])
            .await,
        "after retry",
    );
    assert!(newest.contains(&retried) && !newest.contains(&r2));
    let outbox = ok(
        ports
            .deliveries
            .list_deliveries(p.id, c1.id, page(1, 20))
            .await,
        "retry delivery",
    );
    assert_eq!(
        (
            outbox.total,
            outbox.items[0].action,
            outbox.items[0].idempotency_key.as_str()
        ),
        (1, None, "k-retry")
    );
}

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

    let delivered = ok(
        ports
            .deliveries
            .list_deliveries(p.id, c.id, page(1, 20))
            .await,
        "list",
    )
    .items;
    assert_eq!(
        (
            delivered[0].status,
            delivered[0].attempts,
            delivered[0].last_attempt_at,
            delivered[0].last_error.clone()
        ),
        (DeliveryStatus::Delivered, 2, Some(at(10)), None)
    );
    let dead = ok(
        ports
            .deliveries
            .list_deliveries(p.id, d.id, page(1, 20))
            .await,
        "list",
    )
    .items;
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

/// Deleting a project removes its members, branches, checks, merge requests, responses and deliveries.
pub async fn deleting_a_project_removes_everything_in_it(ports: &Ports) {
    let alice = user(ports, "alice").await;
    let p = project(ports, &alice, "proj").await;
    let c = check(ports, &p, "qa").await;
    branch(ports, &p, "main").await;
    let mr = merge_request(
        ports,
        &p,
        "main",
        vec![draft(&c, &p, Some(HookAction::Open), "k-1")],
    )
    .await;
    ok(
        ports
            .responses
            .record_response(response(&mr, &c, &mr.sha, CheckStatus::Passed, 20))
            .await,
        "respond",
    );

    assert_eq!(
        ok(ports.status_checks.all_checks(p.id).await, "checks before").len(),
        1
    );
    assert!(
        ok(
            ports
                .projects
                .find_project_with_access(&ProjectRef::Id(p.id), alice.id)
                .await,
            "before"
        )
        .is_some()
    );
    assert!(ok(ports.projects.delete_project(p.id).await, "delete"));
    assert!(!ok(
        ports.projects.delete_project(p.id).await,
        "delete again"
    ));
    assert_eq!(
        ok(
            ports
                .projects
                .find_project_with_access(&ProjectRef::Id(p.id), alice.id)
                .await,
            "gone"
        ),
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
        ok(
            ports
                .responses
                .newest_responses(vec![(mr.id, mr.sha.clone())])
                .await,
            "responses"
        )
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
