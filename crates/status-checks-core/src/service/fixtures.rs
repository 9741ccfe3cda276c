//! Fixtures of the use-case tests: every port as a mockall mock (`Mocks`), a fixed clock, predictable
//! secrets, and small constructors of domain values. A mock without an expectation panics when called, so
//! the tests built on these also prove that a refused request stores nothing.

pub(crate) use crate::Timestamp;
pub(crate) use crate::access::AccessLevel;
pub(crate) use crate::deliveries::{DeliveryDraft, HookAction};
pub(crate) use crate::error::{DomainError, ParamErrors};
pub(crate) use crate::error::{Duplicate, RepoError, Resource};
pub(crate) use crate::ids::*;
pub(crate) use crate::members::{Member, NewMemberInput};
pub(crate) use crate::merge_requests::*;
pub(crate) use crate::pagination::{Page, PageRequest};
pub(crate) use crate::policy::Actor;
pub(crate) use crate::ports::*;
pub(crate) use crate::projects::{NewProjectInput, ProjectUpdate};
pub(crate) use crate::projects::{Project, ProjectRef};
pub(crate) use crate::protected_branches::{BranchPattern, ProtectedBranch};
pub(crate) use crate::service::{DomainResult, Params, Ports, Settings, StatusChecksService};
pub(crate) use crate::status_checks::{
    CheckName, ExternalStatusCheck, ExternalUrl, SharedSecret, StatusCheckInput,
    StatusCheckUpdateInput,
};
pub(crate) use crate::status_checks::{
    CheckStatus, NewResponse, RecordedResponse, ResponseInput, StatusCheckResponse, StatusCheckView,
};
pub(crate) use crate::users::{NewTokenInput, PersonalAccessToken, TokenHash, TokenScope};
pub(crate) use crate::users::{NewUserInput, User, Username};
pub(crate) use chrono::TimeDelta;
pub(crate) use std::sync::Arc;
pub(crate) use std::sync::Mutex;
pub(crate) use std::time::Duration;

pub(crate) const HEAD: &str = "1111111111111111111111111111111111111111";
pub(crate) const OLD: &str = "2222222222222222222222222222222222222222";

pub(crate) fn t0() -> Timestamp {
    chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default()
}

pub(crate) fn sha(raw: &str) -> CommitSha {
    CommitSha::parse(raw).unwrap_or_else(|_| panic!("bad sha {raw}"))
}

pub(crate) fn actor(id: i64) -> Actor {
    Actor {
        user_id: UserId(id),
        username: format!("user{id}"),
        name: format!("User {id}"),
        is_admin: false,
        can_write: true,
    }
}

pub(crate) fn admin() -> Actor {
    Actor {
        is_admin: true,
        ..actor(1)
    }
}

pub(crate) fn read_only(id: i64) -> Actor {
    Actor {
        can_write: false,
        ..actor(id)
    }
}

pub(crate) fn user(id: i64) -> User {
    User {
        id: UserId(id),
        username: Username::new(format!("user{id}")).unwrap_or_else(|_| panic!("username")),
        name: format!("User {id}"),
        email: None,
        is_admin: false,
        created_at: t0(),
    }
}

pub(crate) fn project(requires_checks: bool) -> Project {
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

pub(crate) fn mr(state: MergeRequestState) -> MergeRequest {
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

pub(crate) fn branch(id: i64, name: &str) -> ProtectedBranch {
    ProtectedBranch {
        id: ProtectedBranchId(id),
        project_id: ProjectId(5),
        name: BranchPattern::new(name).unwrap_or_else(|_| panic!("pattern")),
        created_at: t0(),
        updated_at: t0(),
    }
}

pub(crate) fn check(id: i64, branches: &[&str]) -> ExternalStatusCheck {
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

pub(crate) fn response(
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

/// A response as a store records `new`, under `id`, about check `check`.
pub(crate) fn stored(id: i64, check: i64, new: &NewResponse) -> StatusCheckResponse {
    response(id, check, new.sha.as_str(), new.status, new.created_at)
}

pub(crate) fn here() -> ProjectRef {
    ProjectRef::Id(ProjectId(5))
}

/// The 422 of a failed validation, with its messages in order.
pub(crate) fn invalid(messages: &[&str]) -> DomainError {
    DomainError::Validation(messages.iter().map(|m| (*m).into()).collect())
}

/// Every port as a mock, with a fixed clock and predictable secrets.
pub(crate) struct Mocks {
    pub(crate) users: MockUserRepository,
    pub(crate) tokens: MockTokenRepository,
    pub(crate) projects: MockProjectRepository,
    pub(crate) members: MockMemberRepository,
    pub(crate) branches: MockProtectedBranchRepository,
    pub(crate) mrs: MockMergeRequestRepository,
    pub(crate) checks: MockStatusCheckRepository,
    pub(crate) responses: MockResponseRepository,
    pub(crate) deliveries: MockDeliveryRepository,
    /// Forge links; every project reads as not linked unless a test sets `link`.
    pub(crate) forges: MockForgeRepository,
    pub(crate) link: Option<crate::forges::ForgeLink>,
    pub(crate) now: Timestamp,
    pub(crate) timeout: Duration,
    pub(crate) mr: Option<MergeRequest>,
    pub(crate) rows: Option<Vec<StatusCheckResponse>>,
}

impl Mocks {
    pub(crate) fn new() -> Self {
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
            forges: MockForgeRepository::new(),
            link: None,
            now: t0() + TimeDelta::seconds(10),
            timeout: Duration::from_secs(120),
            mr: None,
            rows: None,
        }
    }

    /// The project (not requiring checks) exists and the caller has `level` in it.
    pub(crate) fn member(level: AccessLevel) -> Self {
        Mocks::new().with_project(project(false), Some(level))
    }

    /// The project requiring checks to pass exists and the caller has `level` in it.
    pub(crate) fn gated_member(level: AccessLevel) -> Self {
        Mocks::new().with_project(project(true), Some(level))
    }

    /// As `member`, and the open merge request !2 exists.
    pub(crate) fn on_open_mr(level: AccessLevel) -> Self {
        Self::member(level).with_mr(mr(MergeRequestState::Opened))
    }

    /// The project exists and the caller has `level` in it.
    pub(crate) fn with_project(mut self, project: Project, level: Option<AccessLevel>) -> Self {
        self.projects
            .expect_find_project_with_access()
            .returning(move |_, _| Ok(Some((project.clone(), level))));
        self
    }

    /// The merge request exists; its newest responses at HEAD are those given to `with_responses`.
    pub(crate) fn with_mr(mut self, mr: MergeRequest) -> Self {
        self.mr = Some(mr);
        self
    }

    pub(crate) fn with_checks(mut self, checks: Vec<ExternalStatusCheck>) -> Self {
        let all = checks.clone();
        self.checks
            .expect_all_checks()
            .returning(move |_| Ok(all.clone().into()));
        self.checks
            .expect_find_check()
            .returning(move |_, id| Ok(checks.iter().find(|c| c.id == id).cloned()));
        self
    }

    /// Every user asked for exists.
    pub(crate) fn with_users(mut self) -> Self {
        self.users
            .expect_find_user()
            .returning(|id| Ok(Some(user(id.0))));
        self
    }

    /// The project's protected branches, whichever are asked for, are `main` (id 1) alone.
    pub(crate) fn with_main_branch(mut self) -> Self {
        self.branches
            .expect_find_protected_branches()
            .returning(|_, _| Ok(vec![branch(1, "main")]));
        self
    }

    pub(crate) fn with_responses(mut self, rows: Vec<StatusCheckResponse>) -> Self {
        self.rows = Some(rows.clone());
        self.responses
            .expect_newest_responses()
            .returning(move |_| Ok(rows.clone()));
        self
    }

    pub(crate) fn service(mut self) -> StatusChecksService {
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
        let link = self.link.clone();
        let mut forges = self.forges;
        forges
            .expect_find_link()
            .returning(move |_| Ok(link.clone()));
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
            forges: Arc::new(forges),
            clock: Arc::new(clock),
            secrets: Arc::new(secrets),
        };
        StatusChecksService::new(
            ports,
            Settings {
                pending_timeout: self.timeout,
                allow_local_requests: false,
                base_url: "http://sc.test".into(),
                ..Settings::default()
            },
        )
    }
}
