//! The fixtures every scenario builds on: a user, a project, a merge request, a check, … each created
//! through the ports and unwrapped with `ok`, at fixed millisecond-precision times (`at`).

use crate::deliveries::{Delivery, DeliveryDraft, HookAction, HookProject, HookUser};
use crate::ids::*;
use crate::merge_requests::*;
use crate::pagination::{Page, PageRequest};
use crate::ports::RepoResult;
use crate::projects::{NewProject, Project, ProjectRef};
use crate::protected_branches::{BranchPattern, ProtectedBranch};
use crate::service::Ports;
use crate::status_checks::{
    CheckName, ExternalStatusCheck, ExternalUrl, NewStatusCheck, SharedSecret,
};
use crate::status_checks::{CheckStatus, NewResponse, StatusCheckResponse};
use crate::users::{NewUser, User, Username};
use crate::{AccessLevel, Timestamp};

pub(super) fn ok<T>(result: RepoResult<T>, what: &str) -> T {
    match result {
        Ok(value) => value,
        Err(e) => panic!("{what}: unexpected error {e}"),
    }
}

pub(super) fn at(second: i64) -> Timestamp {
    chrono::DateTime::from_timestamp_millis(1_700_000_000_000 + second * 1000 + 123)
        .unwrap_or_default()
}

pub(super) fn sha(c: char) -> CommitSha {
    CommitSha::parse(&c.to_string().repeat(40)).unwrap_or_else(|_| panic!("bad sha {c}"))
}

pub(super) fn page(n: u32, per_page: u32) -> PageRequest {
    PageRequest::new(n, per_page)
}

/// Asserts that `delete` removes something (`true`) and that doing it again finds nothing (`false`).
pub(super) async fn deletes_once<F>(what: &str, delete: impl Fn() -> F)
where
    F: Future<Output = RepoResult<bool>>,
{
    assert!(ok(delete().await, what), "{what}");
    let again = format!("{what} again");
    assert!(!ok(delete().await, &again), "{again}");
}

pub(super) async fn user(ports: &Ports, name: &str) -> User {
    let new = NewUser {
        username: Username::new(name).unwrap_or_else(|_| panic!("username {name}")),
        name: format!("{name} display"),
        email: Some(format!("{name}@example.com")),
        is_admin: false,
        created_at: at(1),
    };
    ok(ports.users.create_user(new).await, "create user")
}

pub(super) async fn project(ports: &Ports, owner: &User, path: &str) -> Project {
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

/// The project `user` finds at `reference`, with their access level in it.
pub(super) async fn access(
    ports: &Ports,
    reference: &ProjectRef,
    user: UserId,
    what: &str,
) -> Option<(Project, Option<AccessLevel>)> {
    ok(
        ports
            .projects
            .find_project_with_access(reference, user)
            .await,
        what,
    )
}

pub(super) async fn merge_request(
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

/// A merge request into `main` whose opening notified `check` (idempotency key `k-1`).
pub(super) async fn notified_merge_request(
    ports: &Ports,
    project: &Project,
    check: &ExternalStatusCheck,
) -> MergeRequest {
    let drafts = vec![draft(check, project, Some(HookAction::Open), "k-1")];
    merge_request(ports, project, "main", drafts).await
}

/// A [`notified_merge_request`] that `check` answered `passed` at its HEAD.
pub(super) async fn answered_merge_request(
    ports: &Ports,
    project: &Project,
    check: &ExternalStatusCheck,
) -> MergeRequest {
    let mr = notified_merge_request(ports, project, check).await;
    let passed = response(&mr, check, &mr.sha, CheckStatus::Passed, 20);
    record(ports, passed, "respond").await;
    mr
}

pub(super) fn new_check(
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

/// Asks the port to create `new_check(project, name, url, branches)`.
pub(super) async fn create_check(
    ports: &Ports,
    project: &Project,
    name: &str,
    url: &str,
    branches: Vec<ProtectedBranchId>,
) -> RepoResult<ExternalStatusCheck> {
    let new = new_check(project, name, url, branches);
    ports.status_checks.create_check(new).await
}

pub(super) async fn check(ports: &Ports, project: &Project, name: &str) -> ExternalStatusCheck {
    let url = format!("https://{}.example.com/hook", name.replace(' ', "-"));
    ok(
        create_check(ports, project, name, &url, vec![]).await,
        "create check",
    )
}

/// The common start of several scenarios: alice, her project "proj" and her project "other".
pub(super) async fn alice_with_two_projects(ports: &Ports) -> (User, Project, Project) {
    let alice = user(ports, "alice").await;
    let p = project(ports, &alice, "proj").await;
    let q = project(ports, &alice, "other").await;
    (alice, p, q)
}

pub(super) async fn branch(ports: &Ports, project: &Project, name: &str) -> ProtectedBranch {
    let pattern = BranchPattern::new(name).unwrap_or_else(|e| panic!("{e}"));
    ok(
        ports
            .protected_branches
            .create_protected_branch(project.id, pattern, at(5))
            .await,
        "protect branch",
    )
}

pub(super) fn draft(
    check: &ExternalStatusCheck,
    project: &Project,
    action: Option<HookAction>,
    key: &str,
) -> DeliveryDraft {
    DeliveryDraft {
        external_status_check_id: check.id,
        check_name: check.name.as_str().into(),
        check_url: check.external_url.as_str().into(),
        project: HookProject::of(project),
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

/// The first page of the deliveries to `check` in `project`, newest first.
pub(super) async fn deliveries_to(
    ports: &Ports,
    project: &Project,
    check: &ExternalStatusCheck,
    what: &str,
) -> Page<Delivery> {
    ok(
        ports
            .deliveries
            .list_deliveries(project.id, check.id, page(1, 20))
            .await,
        what,
    )
}

pub(super) fn response(
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
        details: None,
    }
}

pub(super) async fn record(ports: &Ports, new: NewResponse, what: &str) -> StatusCheckResponse {
    ok(ports.responses.record_response(new, Vec::new()).await, what)
}

/// The newest response of each check at each (merge request, sha).
pub(super) async fn newest_responses(
    ports: &Ports,
    heads: Vec<(MergeRequestId, CommitSha)>,
    what: &str,
) -> Vec<StatusCheckResponse> {
    ok(ports.responses.newest_responses(heads).await, what)
}
