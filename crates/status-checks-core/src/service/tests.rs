//! Use-case tests against mockall mocks of the ports: every error outcome of the contract, in GitLab's
//! precedence, and the calls each success makes. A mock without an expectation panics when called, so
//! these tests also prove that a refused request stores nothing.

use super::*;
use crate::branch::{BranchPattern, ProtectedBranch};
use crate::delivery::{DeliveryDraft, HookAction};
use crate::error::{Duplicate, RepoError, Resource};
use crate::ids::*;
use crate::member::{Member, NewMemberInput};
use crate::merge_request::*;
use crate::pagination::{Page, PageRequest};
use crate::project::{NewProjectInput, ProjectUpdate};
use crate::response::{CheckStatus, NewResponse, ResponseInput, StatusCheckResponse};
use crate::status_check::{
    CheckName, ExternalStatusCheck, ExternalUrl, SharedSecret, StatusCheckInput,
    StatusCheckUpdateInput,
};
use crate::token::{NewTokenInput, PersonalAccessToken, TokenHash, TokenScope};
use crate::user::{NewUserInput, User, Username};
use chrono::TimeDelta;
use std::sync::Mutex;

const HEAD: &str = "1111111111111111111111111111111111111111";
const OLD: &str = "2222222222222222222222222222222222222222";

fn t0() -> Timestamp {
    chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default()
}

fn sha(raw: &str) -> CommitSha {
    CommitSha::parse(raw).unwrap_or_else(|_| panic!("bad sha {raw}"))
}

fn actor(id: i64) -> Actor {
    Actor {
        user_id: UserId(id),
        username: format!("user{id}"),
        name: format!("User {id}"),
        is_admin: false,
        can_write: true,
    }
}

fn admin() -> Actor {
    Actor {
        is_admin: true,
        ..actor(1)
    }
}

fn read_only(id: i64) -> Actor {
    Actor {
        can_write: false,
        ..actor(id)
    }
}

fn user(id: i64) -> User {
    User {
        id: UserId(id),
        username: Username::new(format!("user{id}")).unwrap_or_else(|_| panic!("username")),
        name: format!("User {id}"),
        email: None,
        is_admin: false,
        created_at: t0(),
    }
}

fn project(requires_checks: bool) -> Project {
    Project {
        id: ProjectId(5),
        name: "Proj".into(),
        path: "proj".into(),
        namespace: "grp".into(),
        only_allow_merge_if_all_status_checks_passed: requires_checks,
        created_at: t0(),
        updated_at: t0(),
    }
}

fn mr(state: MergeRequestState) -> MergeRequest {
    MergeRequest {
        id: MergeRequestId(40),
        iid: MergeRequestIid(2),
        project_id: ProjectId(5),
        title: "Change".into(),
        description: String::new(),
        source_branch: "feature".into(),
        target_branch: "main".into(),
        sha: sha(HEAD),
        head_recorded_at: t0(),
        state,
        author_id: UserId(1),
        created_at: t0(),
        updated_at: t0(),
        merged_at: None,
        closed_at: None,
    }
}

fn branch(id: i64, name: &str) -> ProtectedBranch {
    ProtectedBranch {
        id: ProtectedBranchId(id),
        project_id: ProjectId(5),
        name: BranchPattern::new(name).unwrap_or_else(|_| panic!("pattern")),
        created_at: t0(),
        updated_at: t0(),
    }
}

fn check(id: i64, branches: &[&str]) -> ExternalStatusCheck {
    ExternalStatusCheck {
        id: StatusCheckId(id),
        project_id: ProjectId(5),
        name: CheckName::parse(&format!("check {id}")).unwrap_or_else(|_| panic!("name")),
        external_url: ExternalUrl::from_stored(format!(
            "https://ci{id}.example.com/hook?token=secret"
        )),
        shared_secret: None,
        protected_branches: branches
            .iter()
            .enumerate()
            .map(|(i, b)| branch(100 + i as i64, b))
            .collect(),
        created_at: t0(),
        updated_at: t0(),
    }
}

fn response(
    id: i64,
    check: i64,
    sha_raw: &str,
    status: CheckStatus,
    at: Timestamp,
) -> StatusCheckResponse {
    StatusCheckResponse {
        id: ResponseId(id),
        merge_request_id: MergeRequestId(40),
        external_status_check_id: StatusCheckId(check),
        sha: sha(sha_raw),
        status,
        created_at: at,
        retried_at: None,
    }
}

fn here() -> ProjectRef {
    ProjectRef::Id(ProjectId(5))
}

/// Every port as a mock, with a fixed clock and predictable secrets.
struct Mocks {
    users: MockUserRepository,
    tokens: MockTokenRepository,
    projects: MockProjectRepository,
    members: MockMemberRepository,
    branches: MockProtectedBranchRepository,
    mrs: MockMergeRequestRepository,
    checks: MockStatusCheckRepository,
    responses: MockResponseRepository,
    deliveries: MockDeliveryRepository,
    now: Timestamp,
    timeout: Duration,
    mr: Option<MergeRequest>,
    rows: Option<Vec<StatusCheckResponse>>,
}

impl Mocks {
    fn new() -> Self {
        Mocks {
            users: MockUserRepository::new(),
            tokens: MockTokenRepository::new(),
            projects: MockProjectRepository::new(),
            members: MockMemberRepository::new(),
            branches: MockProtectedBranchRepository::new(),
            mrs: MockMergeRequestRepository::new(),
            checks: MockStatusCheckRepository::new(),
            responses: MockResponseRepository::new(),
            deliveries: MockDeliveryRepository::new(),
            now: t0() + TimeDelta::seconds(10),
            timeout: Duration::from_secs(120),
            mr: None,
            rows: None,
        }
    }

    /// The project exists and the caller has `level` in it.
    fn with_project(mut self, project: Project, level: Option<AccessLevel>) -> Self {
        self.projects
            .expect_find_project_with_access()
            .returning(move |_, _| Ok(Some((project.clone(), level))));
        self
    }

    /// The merge request exists; its newest responses at HEAD are those given to `with_responses`.
    fn with_mr(mut self, mr: MergeRequest) -> Self {
        self.mr = Some(mr);
        self
    }

    fn with_checks(mut self, checks: Vec<ExternalStatusCheck>) -> Self {
        let all = checks.clone();
        self.checks
            .expect_all_checks()
            .returning(move |_| Ok(all.clone().into()));
        self.checks
            .expect_find_check()
            .returning(move |_, id| Ok(checks.iter().find(|c| c.id == id).cloned()));
        self
    }

    fn with_responses(mut self, rows: Vec<StatusCheckResponse>) -> Self {
        self.rows = Some(rows.clone());
        self.responses
            .expect_newest_responses()
            .returning(move |_| Ok(rows.clone()));
        self
    }

    fn service(mut self) -> StatusChecksService {
        if let Some(mr) = self.mr.take() {
            // As a store answers: only the newest row per check about the HEAD.
            let mut rows: Vec<StatusCheckResponse> = self
                .rows
                .take()
                .unwrap_or_default()
                .into_iter()
                .filter(|r| r.sha == mr.sha)
                .collect();
            rows.sort_by_key(|r| std::cmp::Reverse(r.id));
            let mut seen = std::collections::HashSet::new();
            rows.retain(|r| seen.insert(r.external_status_check_id));
            let found = mr.clone();
            self.mrs
                .expect_find_merge_request()
                .returning(move |_, _| Ok(Some(found.clone())));
            let (head, newest) = (mr.head(), rows.clone());
            self.mrs
                .expect_find_merge_request_head()
                .returning(move |_, _| Ok(Some((head.clone(), newest.clone()))));
            self.mrs
                .expect_find_merge_request_at_head()
                .returning(move |_, _| Ok(Some((mr.clone(), rows.clone()))));
        }
        let mut clock = MockClock::new();
        let now = self.now;
        clock.expect_now().returning(move || now);
        let mut secrets = MockSecretGenerator::new();
        secrets
            .expect_personal_access_token()
            .returning(|| "glpat-abcdefghijklmnopqrst".into());
        let counter = Mutex::new(0u32);
        secrets.expect_idempotency_key().returning(move || {
            let mut n = counter.lock().unwrap_or_else(|e| e.into_inner());
            *n += 1;
            format!("key-{n}")
        });
        let ports = Ports {
            users: Arc::new(self.users),
            tokens: Arc::new(self.tokens),
            projects: Arc::new(self.projects),
            members: Arc::new(self.members),
            protected_branches: Arc::new(self.branches),
            merge_requests: Arc::new(self.mrs),
            status_checks: Arc::new(self.checks),
            responses: Arc::new(self.responses),
            deliveries: Arc::new(self.deliveries),
            clock: Arc::new(clock),
            secrets: Arc::new(secrets),
        };
        StatusChecksService::new(
            ports,
            Settings {
                pending_timeout: self.timeout,
                allow_local_requests: false,
                base_url: "http://sc.test".into(),
            },
        )
    }
}

fn respond_input(sha_raw: &str) -> Params<ResponseInput> {
    Ok(ResponseInput {
        external_status_check_id: StatusCheckId(1),
        sha: sha_raw.into(),
        status: CheckStatus::Passed,
    })
}

// ---------------------------------------------------------------- E6: responses, in error precedence order

#[tokio::test]
async fn e6_read_only_token_is_insufficient_scope_before_anything_else() {
    let service = Mocks::new().service();
    let err = service
        .respond_to_status_check(
            &read_only(3),
            &here(),
            MergeRequestIid(2),
            respond_input(HEAD),
        )
        .await;
    assert_eq!(err, Err(DomainError::InsufficientScope));
}

#[tokio::test]
async fn e6_unknown_project_and_non_member_are_both_project_not_found() {
    let mut mocks = Mocks::new();
    mocks
        .projects
        .expect_find_project_with_access()
        .returning(|_, _| Ok(None));
    let err = mocks
        .service()
        .respond_to_status_check(&actor(3), &here(), MergeRequestIid(2), respond_input(HEAD))
        .await;
    assert_eq!(err, Err(DomainError::ProjectNotFound));

    let service = Mocks::new().with_project(project(false), None).service();
    let err = service
        .respond_to_status_check(&actor(3), &here(), MergeRequestIid(2), respond_input(HEAD))
        .await;
    assert_eq!(err, Err(DomainError::ProjectNotFound));
}

#[tokio::test]
async fn e6_bad_parameters_come_after_the_project_and_before_the_merge_request() {
    // A Guest (who would get 403) with bad parameters on a missing MR still sees the 400 first.
    let service = Mocks::new()
        .with_project(project(false), Some(AccessLevel::Guest))
        .service();
    let bad = ParamErrors(vec![
        "sha is missing".into(),
        "status does not have a valid value".into(),
    ]);
    let err = service
        .respond_to_status_check(&actor(3), &here(), MergeRequestIid(99), Err(bad.clone()))
        .await;
    assert_eq!(err, Err(DomainError::BadParameters(bad)));
}

#[tokio::test]
async fn e6_unknown_merge_request_is_404_even_for_a_guest() {
    let mut mocks = Mocks::new().with_project(project(false), Some(AccessLevel::Guest));
    mocks
        .mrs
        .expect_find_merge_request_at_head()
        .returning(|_, _| Ok(None));
    let err = mocks
        .service()
        .respond_to_status_check(&actor(3), &here(), MergeRequestIid(99), respond_input(HEAD))
        .await;
    assert_eq!(err, Err(DomainError::NotFound(Resource::MergeRequest)));
}

#[tokio::test]
async fn e6_guests_and_reporters_are_forbidden() {
    for level in [AccessLevel::Guest, AccessLevel::Reporter] {
        let service = Mocks::new()
            .with_project(project(false), Some(level))
            .with_mr(mr(MergeRequestState::Opened))
            .service();
        let err = service
            .respond_to_status_check(&actor(3), &here(), MergeRequestIid(2), respond_input(HEAD))
            .await;
        assert_eq!(err, Err(DomainError::Forbidden), "{level}");
    }
}

#[tokio::test]
async fn e6_check_of_another_project_is_404() {
    let service = Mocks::new()
        .with_project(project(false), Some(AccessLevel::Developer))
        .with_mr(mr(MergeRequestState::Opened))
        .with_checks(vec![check(7, &[])])
        .service();
    let err = service
        .respond_to_status_check(&actor(3), &here(), MergeRequestIid(2), respond_input(HEAD))
        .await;
    assert_eq!(err, Err(DomainError::NotFound(Resource::StatusCheck)));
}

#[tokio::test]
async fn e6_sha_mismatch_is_409_naming_the_head_and_stores_nothing() {
    let service = Mocks::new()
        .with_project(project(false), Some(AccessLevel::Developer))
        .with_mr(mr(MergeRequestState::Opened))
        .with_checks(vec![check(1, &[])])
        .service();
    for given in [OLD, "", "not-a-sha"] {
        let err = service
            .respond_to_status_check(&actor(3), &here(), MergeRequestIid(2), respond_input(given))
            .await;
        assert_eq!(
            err,
            Err(DomainError::Conflict(format!(
                "SHA does not match HEAD of source branch: {HEAD}"
            )))
        );
    }
}

#[tokio::test]
async fn e6_records_the_answer_about_head_and_redacts_the_check_for_the_caller() {
    let mut mocks = Mocks::new()
        .with_project(project(true), Some(AccessLevel::Developer))
        .with_mr(mr(MergeRequestState::Opened))
        .with_checks(vec![check(1, &[])]);
    let now = mocks.now;
    mocks
        .responses
        .expect_record_response()
        .withf(move |new: &NewResponse| {
            new.sha == sha(HEAD)
                && new.status == CheckStatus::Passed
                && new.external_status_check_id == StatusCheckId(1)
                && new.created_at == now
                && new.retried_at.is_none()
        })
        .times(1)
        .returning(move |new| Ok(response(9, 1, new.sha.as_str(), new.status, new.created_at)));
    let stored_now = now;
    mocks = mocks.with_responses(vec![response(9, 1, HEAD, CheckStatus::Passed, stored_now)]);
    let recorded = mocks
        .service()
        .respond_to_status_check(
            &actor(3),
            &here(),
            MergeRequestIid(2),
            respond_input(&HEAD.to_uppercase()),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(recorded.response.id, ResponseId(9));
    assert_eq!(
        recorded.external_status_check.external_url,
        "https://ci1.example.com/hook"
    );
    // The one applicable check passed: the MR is now mergeable.
    assert_eq!(
        recorded.merge_request.detailed_merge_status,
        DetailedMergeStatus::Mergeable
    );
}

// ---------------------------------------------------------------- E5: statuses of a merge request

#[tokio::test]
async fn e5_lists_applicable_checks_with_status_at_head_and_redacts_by_role() {
    let checks = vec![
        check(1, &[]),
        check(2, &["release/*"]),
        check(3, &["ma*"]),
        check(4, &["main"]),
    ];
    let later = t0() + TimeDelta::seconds(5);
    let rows = vec![
        response(1, 1, HEAD, CheckStatus::Passed, later),
        response(2, 3, OLD, CheckStatus::Passed, later),
        response(3, 4, HEAD, CheckStatus::Failed, later),
    ];
    for (level, url) in [
        (AccessLevel::Reporter, ""),
        (AccessLevel::Developer, "https://ci1.example.com/hook"),
        (AccessLevel::Owner, "https://ci1.example.com/hook"),
    ] {
        let service = Mocks::new()
            .with_project(project(false), Some(level))
            .with_mr(mr(MergeRequestState::Opened))
            .with_checks(checks.clone())
            .with_responses(rows.clone())
            .service();
        let listed = service
            .merge_request_status_checks(&actor(3), &here(), MergeRequestIid(2))
            .await
            .unwrap_or_default();
        let summary: Vec<(i64, CheckStatus)> = listed.iter().map(|c| (c.id.0, c.status)).collect();
        assert_eq!(
            summary,
            vec![
                (1, CheckStatus::Passed),
                (3, CheckStatus::Pending),
                (4, CheckStatus::Failed)
            ]
        );
        assert_eq!(listed[0].external_url, url, "{level}");
    }
}

#[tokio::test]
async fn e5_guest_is_forbidden_after_the_merge_request_is_found() {
    let service = Mocks::new()
        .with_project(project(false), Some(AccessLevel::Guest))
        .with_mr(mr(MergeRequestState::Opened))
        .service();
    let err = service
        .merge_request_status_checks(&actor(3), &here(), MergeRequestIid(2))
        .await;
    assert_eq!(err, Err(DomainError::Forbidden));
}

#[tokio::test]
async fn e5_pending_past_the_timeout_reads_failed_without_any_sweep() {
    let mut mocks = Mocks::new()
        .with_project(project(false), Some(AccessLevel::Developer))
        .with_mr(mr(MergeRequestState::Opened))
        .with_checks(vec![check(1, &[])])
        .with_responses(vec![]);
    mocks.now = t0() + TimeDelta::seconds(121);
    let listed = mocks
        .service()
        .merge_request_status_checks(&actor(3), &here(), MergeRequestIid(2))
        .await
        .unwrap_or_default();
    assert_eq!(
        listed.iter().map(|c| c.status).collect::<Vec<_>>(),
        vec![CheckStatus::Failed]
    );
}

// ---------------------------------------------------------------- E7: retry

#[tokio::test]
async fn e7_refuses_unless_failed() {
    for status in [CheckStatus::Passed, CheckStatus::Pending] {
        let service = Mocks::new()
            .with_project(project(false), Some(AccessLevel::Developer))
            .with_mr(mr(MergeRequestState::Opened))
            .with_checks(vec![check(1, &[])])
            .with_responses(vec![response(1, 1, HEAD, status, t0())])
            .service();
        let err = service
            .retry_status_check(&actor(3), &here(), MergeRequestIid(2), StatusCheckId(1))
            .await;
        assert_eq!(
            err,
            Err(DomainError::Unprocessable(
                "External status check must be failed".into()
            ))
        );
    }
}

#[tokio::test]
async fn e7_retries_a_failed_or_timed_out_check_and_notifies_it() {
    for (rows, now) in [
        (
            vec![response(1, 1, HEAD, CheckStatus::Failed, t0())],
            t0() + TimeDelta::seconds(1),
        ),
        (vec![], t0() + TimeDelta::seconds(500)),
    ] {
        let mut mocks = Mocks::new()
            .with_project(project(false), Some(AccessLevel::Developer))
            .with_mr(mr(MergeRequestState::Opened))
            .with_checks(vec![check(1, &[])])
            .with_responses(rows);
        mocks.now = now;
        mocks
            .responses
            .expect_record_retry()
            .withf(move |new: &NewResponse, drafts: &Vec<DeliveryDraft>| {
                new.status == CheckStatus::Pending
                    && new.retried_at == Some(now)
                    && drafts.len() == 1
                    && drafts[0].external_status_check_id == StatusCheckId(1)
                    && drafts[0].action.is_none()
            })
            .times(1)
            .returning(|new, _| Ok(response(2, 1, new.sha.as_str(), new.status, new.created_at)));
        let done = mocks
            .service()
            .retry_status_check(&actor(3), &here(), MergeRequestIid(2), StatusCheckId(1))
            .await;
        assert_eq!(done, Ok(()));
    }
}

#[tokio::test]
async fn e7_unknown_check_is_404_and_guest_is_403() {
    let service = Mocks::new()
        .with_project(project(false), Some(AccessLevel::Developer))
        .with_mr(mr(MergeRequestState::Opened))
        .with_checks(vec![])
        .service();
    assert_eq!(
        service
            .retry_status_check(&actor(3), &here(), MergeRequestIid(2), StatusCheckId(1))
            .await,
        Err(DomainError::NotFound(Resource::StatusCheck))
    );
    let service = Mocks::new()
        .with_project(project(false), Some(AccessLevel::Guest))
        .with_mr(mr(MergeRequestState::Opened))
        .service();
    assert_eq!(
        service
            .retry_status_check(&actor(3), &here(), MergeRequestIid(2), StatusCheckId(1))
            .await,
        Err(DomainError::Forbidden)
    );
}

// ---------------------------------------------------------------- E1–E4: managing checks

fn check_input(name: &str, url: &str) -> Params<StatusCheckInput> {
    Ok(StatusCheckInput {
        name: name.into(),
        external_url: url.into(),
        shared_secret: None,
        protected_branch_ids: vec![],
    })
}

#[tokio::test]
async fn e1_to_e4_are_for_maintainers_only() {
    for level in [
        AccessLevel::Guest,
        AccessLevel::Reporter,
        AccessLevel::Developer,
    ] {
        let service = Mocks::new()
            .with_project(project(false), Some(level))
            .service();
        let a = actor(3);
        assert_eq!(
            service
                .list_status_checks(&a, &here(), PageRequest::default())
                .await,
            Err(DomainError::Forbidden)
        );
        assert_eq!(
            service
                .create_status_check(&a, &here(), check_input("n", "https://e.com"))
                .await,
            Err(DomainError::Forbidden)
        );
        assert_eq!(
            service
                .update_status_check(
                    &a,
                    &here(),
                    StatusCheckId(1),
                    Ok(StatusCheckUpdateInput::default())
                )
                .await,
            Err(DomainError::Forbidden)
        );
        assert_eq!(
            service
                .delete_status_check(&a, &here(), StatusCheckId(1))
                .await,
            Err(DomainError::Forbidden)
        );
    }
}

#[tokio::test]
async fn e2_collects_every_validation_message() {
    let service = Mocks::new()
        .with_project(project(false), Some(AccessLevel::Maintainer))
        .with_checks(vec![])
        .service();
    let err = service
        .create_status_check(&actor(3), &here(), check_input(" ", "ftp://x"))
        .await;
    assert_eq!(
        err,
        Err(DomainError::Validation(vec![
            "Name can't be blank".into(),
            "External url must be a valid URL".into()
        ]))
    );
    let err = service
        .create_status_check(&actor(3), &here(), check_input("n", "http://127.1/hook"))
        .await;
    assert!(
        matches!(err, Err(DomainError::Validation(m)) if m.len() == 1 && m[0].starts_with("External url is blocked: "))
    );
}

#[tokio::test]
async fn e2_name_and_url_are_unique_per_project() {
    let existing = check(1, &[]);
    let service = Mocks::new()
        .with_project(project(false), Some(AccessLevel::Maintainer))
        .with_checks(vec![existing.clone()])
        .service();
    let err = service
        .create_status_check(
            &actor(3),
            &here(),
            check_input(existing.name.as_str(), existing.external_url.as_str()),
        )
        .await;
    assert_eq!(
        err,
        Err(DomainError::Validation(vec![
            "Name has already been taken".into(),
            "External url has already been taken".into()
        ]))
    );
}

#[tokio::test]
async fn e2_a_race_lost_at_the_unique_index_is_still_a_422() {
    let mut mocks = Mocks::new()
        .with_project(project(false), Some(AccessLevel::Maintainer))
        .with_checks(vec![]);
    mocks
        .checks
        .expect_create_check()
        .returning(|_| Err(RepoError::Duplicate(Duplicate::CheckUrl)));
    let err = mocks
        .service()
        .create_status_check(&actor(3), &here(), check_input("n", "https://e.com"))
        .await;
    assert_eq!(
        err,
        Err(DomainError::Validation(vec![
            "External url has already been taken".into()
        ]))
    );
}

#[tokio::test]
async fn e2_protected_branches_must_exist_in_the_project() {
    let mut mocks = Mocks::new()
        .with_project(project(false), Some(AccessLevel::Maintainer))
        .with_checks(vec![]);
    mocks
        .branches
        .expect_find_protected_branches()
        .returning(|_, _| Ok(vec![branch(1, "main")]));
    let input = StatusCheckInput {
        name: "n".into(),
        external_url: "https://e.com".into(),
        shared_secret: None,
        protected_branch_ids: vec![ProtectedBranchId(1), ProtectedBranchId(2)],
    };
    let err = mocks
        .service()
        .create_status_check(&actor(3), &here(), Ok(input))
        .await;
    assert_eq!(
        err,
        Err(DomainError::Validation(vec![
            "all protected branches must exist within the project".into()
        ]))
    );
}

#[tokio::test]
async fn e2_creates_and_shows_the_full_url_to_maintainers() {
    let mut mocks = Mocks::new()
        .with_project(project(false), Some(AccessLevel::Maintainer))
        .with_checks(vec![]);
    mocks
        .branches
        .expect_find_protected_branches()
        .returning(|_, _| Ok(vec![branch(1, "main")]));
    mocks
        .checks
        .expect_create_check()
        .times(1)
        .returning(|new| {
            Ok(ExternalStatusCheck {
                id: StatusCheckId(3),
                project_id: new.project_id,
                name: new.name,
                external_url: new.external_url,
                shared_secret: new.shared_secret,
                protected_branches: vec![branch(1, "main")],
                created_at: new.created_at,
                updated_at: new.created_at,
            })
        });
    let input = StatusCheckInput {
        name: "QA".into(),
        external_url: "https://qa.example.com/hook?token=x".into(),
        shared_secret: Some("s3cret".into()),
        protected_branch_ids: vec![ProtectedBranchId(1), ProtectedBranchId(1)],
    };
    let view = mocks
        .service()
        .create_status_check(&actor(3), &here(), Ok(input))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(view.external_url, "https://qa.example.com/hook?token=x");
    assert!(view.hmac);
    assert_eq!(view.protected_branches.len(), 1);
}

#[tokio::test]
async fn e3_unknown_check_is_404_and_only_sent_keys_change() {
    let service = Mocks::new()
        .with_project(project(false), Some(AccessLevel::Maintainer))
        .with_checks(vec![])
        .service();
    assert_eq!(
        service
            .update_status_check(
                &actor(3),
                &here(),
                StatusCheckId(9),
                Ok(StatusCheckUpdateInput::default())
            )
            .await,
        Err(DomainError::NotFound(Resource::StatusCheck))
    );

    let mut mocks = Mocks::new()
        .with_project(project(false), Some(AccessLevel::Maintainer))
        .with_checks(vec![check(1, &[]), check(2, &[])]);
    mocks
        .checks
        .expect_update_check()
        .withf(|_, id, update| {
            *id == StatusCheckId(1)
                && update.name.is_none()
                && update.external_url.is_none()
                && update.shared_secret == Some(None)
                && update.protected_branch_ids == Some(vec![])
        })
        .times(1)
        .returning(|_, _, _| Ok(check(1, &[])));
    let input = StatusCheckUpdateInput {
        shared_secret: Some(String::new()),
        protected_branch_ids: Some(vec![]),
        ..Default::default()
    };
    let view = mocks
        .service()
        .update_status_check(&actor(3), &here(), StatusCheckId(1), Ok(input))
        .await;
    assert!(view.is_ok_and(|v| !v.hmac));
}

#[tokio::test]
async fn e3_renaming_to_another_checks_name_is_422_but_keeping_ones_own_is_fine() {
    let mut mocks = Mocks::new()
        .with_project(project(false), Some(AccessLevel::Maintainer))
        .with_checks(vec![check(1, &[]), check(2, &[])]);
    mocks
        .checks
        .expect_update_check()
        .times(1)
        .returning(|_, _, _| Ok(check(1, &[])));
    let service = mocks.service();
    let taken = StatusCheckUpdateInput {
        name: Some("check 2".into()),
        ..Default::default()
    };
    assert_eq!(
        service
            .update_status_check(&actor(3), &here(), StatusCheckId(1), Ok(taken))
            .await,
        Err(DomainError::Validation(vec![
            "Name has already been taken".into()
        ]))
    );
    let own = StatusCheckUpdateInput {
        name: Some("check 1".into()),
        ..Default::default()
    };
    assert!(
        service
            .update_status_check(&actor(3), &here(), StatusCheckId(1), Ok(own))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn e4_unknown_check_is_404() {
    let mut mocks = Mocks::new().with_project(project(false), Some(AccessLevel::Owner));
    mocks
        .checks
        .expect_delete_check()
        .returning(|_, _| Ok(false));
    assert_eq!(
        mocks
            .service()
            .delete_status_check(&actor(3), &here(), StatusCheckId(1))
            .await,
        Err(DomainError::NotFound(Resource::StatusCheck))
    );
}

// ---------------------------------------------------------------- merge requests and notifications

fn new_mr_input(source: &str, target: &str) -> Params<NewMergeRequestInput> {
    Ok(NewMergeRequestInput {
        source_branch: source.into(),
        target_branch: target.into(),
        title: "T".into(),
        sha: sha(HEAD),
        description: None,
    })
}

#[tokio::test]
async fn opening_a_merge_request_notifies_exactly_the_applicable_checks() {
    let mut mocks = Mocks::new()
        .with_project(project(true), Some(AccessLevel::Developer))
        .with_checks(vec![
            check(1, &[]),
            check(2, &["release/*"]),
            check(3, &["main"]),
        ]);
    mocks
        .mrs
        .expect_create_merge_request()
        .withf(|new, drafts| {
            let ids: Vec<i64> = drafts
                .iter()
                .map(|d| d.external_status_check_id.0)
                .collect();
            new.sha == sha(HEAD)
                && ids == vec![1, 3]
                && drafts.iter().all(|d| d.action == Some(HookAction::Open))
                && drafts[0].idempotency_key != drafts[1].idempotency_key
        })
        .times(1)
        .returning(|_, _| Ok(mr(MergeRequestState::Opened)));
    let view = mocks
        .service()
        .create_merge_request(&actor(3), &here(), new_mr_input("feature", "main"))
        .await;
    assert!(
        view.is_ok_and(|v| v.detailed_merge_status == DetailedMergeStatus::StatusChecksMustPass)
    );
}

#[tokio::test]
async fn opening_needs_distinct_branches_a_title_and_developer() {
    let service = Mocks::new()
        .with_project(project(false), Some(AccessLevel::Developer))
        .service();
    assert_eq!(
        service
            .create_merge_request(&actor(3), &here(), new_mr_input("main", "main"))
            .await,
        Err(DomainError::Validation(vec![
            "You can't use same project/branch for source and target".into()
        ]))
    );
    let mut blank = new_mr_input("a", "b").unwrap_or_else(|_| panic!());
    blank.title = "  ".into();
    assert!(matches!(
        service.create_merge_request(&actor(3), &here(), Ok(blank)).await,
        Err(DomainError::InvalidAttributes(m)) if m.contains_key("title")
    ));
    let service = Mocks::new()
        .with_project(project(false), Some(AccessLevel::Reporter))
        .service();
    assert_eq!(
        service
            .create_merge_request(&actor(3), &here(), new_mr_input("a", "b"))
            .await,
        Err(DomainError::Forbidden)
    );
}

#[tokio::test]
async fn a_push_records_the_new_head_and_notifies_with_oldrev() {
    let mut mocks = Mocks::new()
        .with_project(project(false), Some(AccessLevel::Developer))
        .with_mr(mr(MergeRequestState::Opened))
        .with_checks(vec![check(1, &[])]);
    let now = mocks.now;
    mocks
        .mrs
        .expect_update_merge_request()
        .withf(move |_, changes, drafts| {
            changes.head == Some((sha(OLD), now))
                && drafts.len() == 1
                && drafts[0].action == Some(HookAction::Update)
                && drafts[0].oldrev == Some(sha(HEAD))
        })
        .times(1)
        .returning(|_, changes, _| Ok(changes.apply_to(&mr(MergeRequestState::Opened))));
    let input = MergeRequestUpdateInput {
        sha: Some(sha(OLD)),
        ..Default::default()
    };
    let view = mocks
        .service()
        .update_merge_request(&actor(3), &here(), MergeRequestIid(2), Ok(input))
        .await;
    assert!(
        view.is_ok_and(
            |v| v.merge_request.sha == sha(OLD) && v.merge_request.head_recorded_at == now
        )
    );
}

#[tokio::test]
async fn an_update_that_changes_nothing_writes_nothing() {
    let service = Mocks::new()
        .with_project(project(false), Some(AccessLevel::Developer))
        .with_mr(mr(MergeRequestState::Opened))
        .service();
    let input = MergeRequestUpdateInput {
        sha: Some(sha(HEAD)),
        title: Some("Change".into()),
        ..Default::default()
    };
    assert!(
        service
            .update_merge_request(&actor(3), &here(), MergeRequestIid(2), Ok(input))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn closing_notifies_with_close_and_a_title_change_carries_changes() {
    let mut mocks = Mocks::new()
        .with_project(project(false), Some(AccessLevel::Developer))
        .with_mr(mr(MergeRequestState::Opened))
        .with_checks(vec![check(1, &[])]);
    mocks
        .mrs
        .expect_update_merge_request()
        .withf(|_, changes, drafts| {
            changes.state == Some(MergeRequestState::Closed)
                && drafts[0].action == Some(HookAction::Close)
                && drafts[0].changes["title"]["previous"] == "Change"
                && drafts[0].changes["title"]["current"] == "New"
        })
        .times(1)
        .returning(|_, changes, _| Ok(changes.apply_to(&mr(MergeRequestState::Opened))));
    let input = MergeRequestUpdateInput {
        state_event: Some(StateEvent::Close),
        title: Some("New".into()),
        ..Default::default()
    };
    let view = mocks
        .service()
        .update_merge_request(&actor(3), &here(), MergeRequestIid(2), Ok(input))
        .await;
    assert!(view.is_ok_and(|v| v.detailed_merge_status == DetailedMergeStatus::NotOpen));
}

#[tokio::test]
async fn merging_is_405_when_closed_or_blocked_and_409_on_a_stale_sha() {
    let service = Mocks::new()
        .with_project(project(true), Some(AccessLevel::Developer))
        .with_mr(mr(MergeRequestState::Closed))
        .service();
    assert_eq!(
        service
            .merge_merge_request(
                &actor(3),
                &here(),
                MergeRequestIid(2),
                Ok(MergeInput::default())
            )
            .await,
        Err(DomainError::NotAllowed)
    );

    let service = Mocks::new()
        .with_project(project(true), Some(AccessLevel::Developer))
        .with_mr(mr(MergeRequestState::Opened))
        .with_checks(vec![check(1, &[]), check(2, &[])])
        .with_responses(vec![response(1, 1, HEAD, CheckStatus::Passed, t0())])
        .service();
    assert_eq!(
        service
            .merge_merge_request(
                &actor(3),
                &here(),
                MergeRequestIid(2),
                Ok(MergeInput::default())
            )
            .await,
        Err(DomainError::NotAllowed)
    );
    assert_eq!(
        service
            .merge_merge_request(
                &actor(3),
                &here(),
                MergeRequestIid(2),
                Ok(MergeInput {
                    sha: Some(OLD.into())
                })
            )
            .await,
        Err(DomainError::Conflict(format!(
            "SHA does not match HEAD of source branch: {HEAD}"
        )))
    );
}

#[tokio::test]
async fn merging_when_every_check_passed_records_the_merge_and_notifies() {
    let mut mocks = Mocks::new()
        .with_project(project(true), Some(AccessLevel::Developer))
        .with_mr(mr(MergeRequestState::Opened))
        .with_checks(vec![check(1, &[]), check(2, &["other"])])
        .with_responses(vec![response(1, 1, HEAD, CheckStatus::Passed, t0())]);
    mocks
        .mrs
        .expect_update_merge_request()
        .withf(|_, changes, drafts| {
            changes.state == Some(MergeRequestState::Merged)
                && changes.merged_at.is_some()
                && drafts.len() == 1
                && drafts[0].action == Some(HookAction::Merge)
        })
        .times(1)
        .returning(|_, changes, _| Ok(changes.apply_to(&mr(MergeRequestState::Opened))));
    let view = mocks
        .service()
        .merge_merge_request(
            &actor(3),
            &here(),
            MergeRequestIid(2),
            Ok(MergeInput::default()),
        )
        .await;
    assert!(view.is_ok_and(|v| v.merge_request.state == MergeRequestState::Merged));
}

#[tokio::test]
async fn listing_merge_requests_batches_status_queries() {
    let mut mocks = Mocks::new()
        .with_project(project(true), Some(AccessLevel::Reporter))
        .with_checks(vec![check(1, &[])]);
    let mut second = mr(MergeRequestState::Opened);
    second.id = MergeRequestId(41);
    second.iid = MergeRequestIid(3);
    let both = vec![mr(MergeRequestState::Opened), second];
    mocks
        .mrs
        .expect_list_merge_requests()
        .returning(move |_, _, page| Ok(Page::from_all(both.clone(), page)));
    mocks
        .responses
        .expect_newest_responses()
        .withf(|heads| heads.len() == 2)
        .times(1)
        .returning(|_| Ok(vec![response(1, 1, HEAD, CheckStatus::Passed, t0())]));
    let page = mocks
        .service()
        .list_merge_requests(&actor(3), &here(), Ok(None), PageRequest::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let statuses: Vec<_> = page.items.iter().map(|v| v.detailed_merge_status).collect();
    assert_eq!(
        statuses,
        vec![
            DetailedMergeStatus::Mergeable,
            DetailedMergeStatus::StatusChecksMustPass
        ]
    );
}

// ---------------------------------------------------------------- users, tokens, authentication

fn stored_token(
    revoked: bool,
    expires_at: Option<chrono::NaiveDate>,
    scopes: Vec<TokenScope>,
) -> PersonalAccessToken {
    PersonalAccessToken {
        id: TokenId(1),
        user_id: UserId(3),
        name: "t".into(),
        scopes,
        expires_at,
        revoked,
        created_at: t0(),
        last_used_at: None,
    }
}

#[tokio::test]
async fn authentication_refuses_unknown_revoked_expired_and_mismatched_tokens() {
    let today = t0().date_naive();
    for (token, hash, expected_ok) in [
        (
            stored_token(false, None, vec![TokenScope::Api]),
            TokenHash::of("good"),
            true,
        ),
        (
            stored_token(true, None, vec![TokenScope::Api]),
            TokenHash::of("good"),
            false,
        ),
        (
            stored_token(false, Some(today), vec![TokenScope::Api]),
            TokenHash::of("good"),
            false,
        ),
        (
            stored_token(false, today.succ_opt(), vec![TokenScope::Api]),
            TokenHash::of("good"),
            true,
        ),
        (
            stored_token(false, None, vec![TokenScope::Api]),
            TokenHash::of("other"),
            false,
        ),
    ] {
        let mut mocks = Mocks::new();
        let found = TokenWithOwner {
            token: token.clone(),
            hash,
            user: user(3),
        };
        mocks
            .tokens
            .expect_find_token_by_hash()
            .returning(move |_| Ok(Some(found.clone())));
        let result = mocks.service().authenticate("good").await;
        assert_eq!(result.is_ok(), expected_ok, "{token:?}");
        if !expected_ok {
            assert_eq!(result, Err(DomainError::Unauthorized));
        }
    }
    let mut mocks = Mocks::new();
    mocks
        .tokens
        .expect_find_token_by_hash()
        .returning(|_| Ok(None));
    let service = mocks.service();
    assert_eq!(
        service.authenticate("nope").await,
        Err(DomainError::Unauthorized)
    );
    assert_eq!(
        service.authenticate("").await,
        Err(DomainError::Unauthorized)
    );
}

#[tokio::test]
async fn a_read_api_token_authenticates_as_a_reader() {
    let mut mocks = Mocks::new();
    let found = TokenWithOwner {
        token: stored_token(false, None, vec![TokenScope::ReadApi]),
        hash: TokenHash::of("t"),
        user: user(3),
    };
    mocks
        .tokens
        .expect_find_token_by_hash()
        .returning(move |_| Ok(Some(found.clone())));
    let (actor, _) = mocks
        .service()
        .authenticate("t")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!actor.can_write);
    assert_eq!(actor.user_id, UserId(3));
}

#[tokio::test]
async fn only_admins_create_users_and_usernames_are_unique() {
    let input = || {
        Ok(NewUserInput {
            username: "alice".into(),
            ..Default::default()
        })
    };
    let service = Mocks::new().service();
    assert_eq!(
        service.create_user(&actor(3), input()).await,
        Err(DomainError::Forbidden)
    );

    let mut mocks = Mocks::new();
    mocks
        .users
        .expect_create_user()
        .returning(|_| Err(RepoError::Duplicate(Duplicate::Username)));
    assert_eq!(
        mocks.service().create_user(&admin(), input()).await,
        Err(DomainError::Conflict(
            "Username has already been taken".into()
        ))
    );
    let bad = Ok(NewUserInput {
        username: "a b".into(),
        ..Default::default()
    });
    assert!(
        matches!(Mocks::new().service().create_user(&admin(), bad).await, Err(DomainError::InvalidAttributes(m)) if m.contains_key("username"))
    );
}

#[tokio::test]
async fn tokens_are_created_once_hashed_and_expire_in_the_future_only() {
    let mut mocks = Mocks::new();
    mocks
        .users
        .expect_find_user()
        .returning(|id| Ok(Some(user(id.0))));
    mocks
        .tokens
        .expect_create_token()
        .withf(|new| {
            new.hash == TokenHash::of("glpat-abcdefghijklmnopqrst")
                && new.scopes == vec![TokenScope::Api, TokenScope::ReadApi]
        })
        .times(1)
        .returning(|new| Ok(stored_token(false, new.expires_at, new.scopes)));
    let service = mocks.service();
    let input = |expires_at| {
        Ok(NewTokenInput {
            name: "ci".into(),
            scopes: vec![TokenScope::ReadApi, TokenScope::Api, TokenScope::Api],
            expires_at,
        })
    };
    let created = service
        .create_token(&admin(), UserId(3), input(None))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(created.raw, "glpat-abcdefghijklmnopqrst");
    let today = t0().date_naive();
    assert_eq!(
        service
            .create_token(&admin(), UserId(3), input(Some(today)))
            .await,
        Err(DomainError::BadParameters(ParamErrors::one(
            "expires_at is invalid"
        )))
    );
    assert_eq!(
        service
            .create_token(&actor(3), UserId(3), input(None))
            .await,
        Err(DomainError::Forbidden)
    );
}

#[tokio::test]
async fn someone_elses_token_looks_missing() {
    let mut mocks = Mocks::new();
    mocks
        .tokens
        .expect_find_token()
        .returning(|_| Ok(Some(stored_token(false, None, vec![TokenScope::Api]))));
    assert_eq!(
        mocks.service().revoke_token(&actor(4), TokenId(1)).await,
        Err(DomainError::NotFound(Resource::Token))
    );

    let mut mocks = Mocks::new();
    mocks
        .tokens
        .expect_find_token()
        .returning(|_| Ok(Some(stored_token(false, None, vec![TokenScope::Api]))));
    mocks
        .tokens
        .expect_revoke_token()
        .times(1)
        .returning(|_| Ok(true));
    assert_eq!(
        mocks.service().revoke_token(&actor(3), TokenId(1)).await,
        Ok(())
    );
}

#[tokio::test]
async fn bootstrap_creates_root_once() {
    let mut mocks = Mocks::new();
    mocks
        .users
        .expect_find_user_by_username()
        .returning(|_| Ok(None));
    mocks
        .users
        .expect_create_user()
        .withf(|new| new.is_admin && new.username.as_str() == "root")
        .times(1)
        .returning(|_| Ok(user(1)));
    mocks
        .tokens
        .expect_create_token()
        .withf(|new| new.hash == TokenHash::of("root-token-0123456789"))
        .times(1)
        .returning(|new| Ok(stored_token(false, None, new.scopes)));
    assert_eq!(
        mocks
            .service()
            .bootstrap_root("root-token-0123456789")
            .await,
        Ok(true)
    );

    let mut mocks = Mocks::new();
    mocks
        .users
        .expect_find_user_by_username()
        .returning(|_| Ok(Some(user(1))));
    assert_eq!(
        mocks
            .service()
            .bootstrap_root("root-token-0123456789")
            .await,
        Ok(false)
    );
}

// ---------------------------------------------------------------- projects, members, protected branches

#[tokio::test]
async fn project_paths_are_unique_and_only_owners_delete() {
    let mut mocks = Mocks::new();
    mocks
        .projects
        .expect_create_project()
        .withf(|new, owner| {
            new.path == "my-project" && new.namespace == "user3" && *owner == UserId(3)
        })
        .returning(|_, _| Err(RepoError::Duplicate(Duplicate::ProjectPath)));
    let err = mocks
        .service()
        .create_project(
            &actor(3),
            Ok(NewProjectInput {
                name: "My Project".into(),
                ..Default::default()
            }),
        )
        .await;
    assert!(
        matches!(err, Err(DomainError::InvalidAttributes(m)) if m["path"] == vec!["has already been taken".to_owned()])
    );

    let service = Mocks::new()
        .with_project(project(false), Some(AccessLevel::Maintainer))
        .service();
    assert_eq!(
        service.delete_project(&actor(3), &here()).await,
        Err(DomainError::Forbidden)
    );
    assert_eq!(
        service
            .update_project(&read_only(3), &here(), Ok(ProjectUpdate::default()))
            .await,
        Err(DomainError::InsufficientScope)
    );
}

fn member(id: i64, level: AccessLevel) -> Member {
    Member {
        user: user(id),
        access_level: level,
        created_at: t0(),
    }
}

#[tokio::test]
async fn members_cannot_be_granted_above_ones_own_level_nor_leave_no_owner() {
    let mut mocks = Mocks::new().with_project(project(false), Some(AccessLevel::Maintainer));
    mocks
        .users
        .expect_find_user()
        .returning(|id| Ok(Some(user(id.0))));
    let service = mocks.service();
    let grant = |level| {
        Ok(NewMemberInput {
            user_id: UserId(9),
            access_level: level,
        })
    };
    assert_eq!(
        service
            .add_member(&actor(3), &here(), grant(AccessLevel::Owner))
            .await,
        Err(DomainError::Forbidden)
    );

    let mut mocks = Mocks::new().with_project(project(false), Some(AccessLevel::Owner));
    mocks
        .members
        .expect_find_member()
        .returning(|_, id| Ok(Some(member(id.0, AccessLevel::Owner))));
    mocks
        .members
        .expect_remove_member()
        .returning(|_, _| Err(RepoError::LastOwner));
    mocks
        .members
        .expect_update_member()
        .returning(|_, _, _| Err(RepoError::LastOwner));
    let service = mocks.service();
    assert_eq!(
        service.remove_member(&actor(3), &here(), UserId(3)).await,
        Err(DomainError::Forbidden)
    );
    assert_eq!(
        service
            .update_member(&actor(3), &here(), UserId(3), Ok(AccessLevel::Developer))
            .await,
        Err(DomainError::Forbidden)
    );

    let mut mocks = Mocks::new().with_project(project(false), Some(AccessLevel::Maintainer));
    mocks
        .users
        .expect_find_user()
        .returning(|id| Ok(Some(user(id.0))));
    mocks
        .members
        .expect_add_member()
        .returning(|_, _, _, _| Err(RepoError::Duplicate(Duplicate::Member)));
    assert_eq!(
        mocks
            .service()
            .add_member(&actor(3), &here(), grant(AccessLevel::Developer))
            .await,
        Err(DomainError::Conflict("Member already exists".into()))
    );
}

#[tokio::test]
async fn protected_branches_conflict_with_gitlabs_message_and_need_maintainers() {
    let mut mocks = Mocks::new().with_project(project(false), Some(AccessLevel::Maintainer));
    mocks
        .branches
        .expect_create_protected_branch()
        .returning(|_, _, _| Err(RepoError::Duplicate(Duplicate::ProtectedBranch)));
    assert_eq!(
        mocks
            .service()
            .protect_branch(&actor(3), &here(), Ok("release/*".into()))
            .await,
        Err(DomainError::Conflict(
            "Protected branch 'release/*' already exists".into()
        ))
    );
    let service = Mocks::new()
        .with_project(project(false), Some(AccessLevel::Developer))
        .service();
    assert_eq!(
        service
            .protect_branch(&actor(3), &here(), Ok("main".into()))
            .await,
        Err(DomainError::Forbidden)
    );
    let mut mocks = Mocks::new().with_project(project(false), Some(AccessLevel::Reporter));
    mocks.branches.expect_list_protected_branches().never();
    assert_eq!(
        mocks
            .service()
            .list_protected_branches(&actor(3), &here(), PageRequest::default())
            .await,
        Err(DomainError::Forbidden)
    );
}

#[tokio::test]
async fn storage_failures_surface_as_internal_errors() {
    let mut mocks = Mocks::new();
    mocks
        .projects
        .expect_find_project_with_access()
        .returning(|_, _| Err(RepoError::Internal("disk I/O error".into())));
    assert_eq!(
        mocks.service().get_project(&actor(3), &here()).await,
        Err(DomainError::Internal("disk I/O error".into()))
    );
}

#[test]
fn secrets_never_reach_debug_output_of_a_check() {
    let mut c = check(1, &[]);
    c.shared_secret = SharedSecret::parse("hunter2").ok().flatten();
    assert!(!format!("{c:?}").contains("hunter2"));
}

#[tokio::test]
async fn e7_retry_of_a_check_scoped_elsewhere_notifies_nobody() {
    let mut mocks = Mocks::new()
        .with_project(project(false), Some(AccessLevel::Developer))
        .with_mr(mr(MergeRequestState::Opened))
        .with_checks(vec![check(1, &["release/*"])])
        .with_responses(vec![response(1, 1, HEAD, CheckStatus::Failed, t0())]);
    mocks
        .responses
        .expect_record_retry()
        .withf(|new: &NewResponse, drafts: &Vec<DeliveryDraft>| {
            new.status == CheckStatus::Pending && drafts.is_empty()
        })
        .times(1)
        .returning(|new, _| Ok(response(2, 1, new.sha.as_str(), new.status, new.created_at)));
    let done = mocks
        .service()
        .retry_status_check(&actor(3), &here(), MergeRequestIid(2), StatusCheckId(1))
        .await;
    assert_eq!(done, Ok(()));
}

#[tokio::test]
async fn a_merge_request_deleted_during_e6_is_404_not_500() {
    let mut mocks = Mocks::new()
        .with_project(project(false), Some(AccessLevel::Developer))
        .with_mr(mr(MergeRequestState::Opened))
        .with_checks(vec![check(1, &[])]);
    mocks
        .responses
        .expect_record_response()
        .returning(|_| Err(RepoError::NotFound));
    let err = mocks
        .service()
        .respond_to_status_check(&actor(3), &here(), MergeRequestIid(2), respond_input(HEAD))
        .await;
    assert_eq!(err, Err(DomainError::NotFound(Resource::MergeRequest)));
}
