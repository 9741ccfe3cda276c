//! Use cases: every operation of the API contract, as methods of [`StatusChecksService`].
//!
//! Each method takes the authenticated [`Actor`], applies the policy and the rules, calls the ports, and
//! answers with domain values (or views of them) or a [`DomainError`]. Errors come in GitLab's precedence
//! (docs/api.md §4, "Precedence"): 401 token → 403 scope → 404 project (or not a member) → 400 parameters → 404 merge request
//! → 403 role → 404 check → 409 SHA. That is why parameters arrive as `Result<_, ParamErrors>`: the HTTP
//! adapter parses them, and the use case reports a parse failure only at its place in that order.

#[cfg(test)]
pub(crate) mod fixtures;

pub use crate::merge_requests::{MergeInput, MergeRequestView, parse_state_filter};
pub use crate::status_checks::{MergeRequestStatusCheck, RecordedResponse, StatusCheckView};
pub use crate::users::UserView;

use crate::Timestamp;
use crate::access::AccessLevel;
use crate::error::{DomainError, ParamErrors, Resource};
use crate::ids::{MergeRequestIid, ProjectId, StatusCheckId};
use crate::merge_requests::{MergeRequest, MergeRequestHead};
use crate::policy::{self, Actor, Denial, ProjectAction};
use crate::ports::*;
use crate::projects::{Project, ProjectRef};
use crate::status_checks::{ExternalStatusCheck, StatusCheckResponse};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// Parameters as the HTTP adapter parsed them: the values, or the 400 messages.
pub type Params<T> = Result<T, ParamErrors>;

/// A read of a port, as `async-trait` returns it.
pub(crate) type Found<'a, M> = Pin<Box<dyn Future<Output = RepoResult<Option<M>>> + Send + 'a>>;

/// The result of a use case.
pub type DomainResult<T> = Result<T, DomainError>;

/// Every port the use cases need. One adapter may implement several; pass the same `Arc` to each field.
#[derive(Clone)]
pub struct Ports {
    /// Accounts, looked up by id and username.
    pub users: Arc<dyn UserRepository>,
    /// Personal access tokens, looked up by hash to authenticate.
    pub tokens: Arc<dyn TokenRepository>,
    /// Projects, with the caller's access level read alongside.
    pub projects: Arc<dyn ProjectRepository>,
    /// Memberships, guarded by the last-Owner rule.
    pub members: Arc<dyn MemberRepository>,
    /// Protected branch names and patterns: the scope of checks.
    pub protected_branches: Arc<dyn ProtectedBranchRepository>,
    /// Merge requests, written with the deliveries they cause.
    pub merge_requests: Arc<dyn MergeRequestRepository>,
    /// External status checks of each project.
    pub status_checks: Arc<dyn StatusCheckRepository>,
    /// The answers of external services, and retries.
    pub responses: Arc<dyn ResponseRepository>,
    /// The delivery outbox.
    pub deliveries: Arc<dyn DeliveryRepository>,
    /// Forge links, mirrored merge requests and the status outbox.
    pub forges: Arc<dyn ForgeRepository>,
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// Randomness.
    pub secrets: Arc<dyn SecretGenerator>,
}

/// The settings the rules depend on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// A check pending longer than this on a merge request's HEAD reads `failed`.
    pub pending_timeout: Duration,
    /// Whether check and forge URLs may point at loopback or private addresses.
    pub allow_local_requests: bool,
    /// Local targets admitted although `allow_local_requests` is off (`--outbound-allowlist`).
    pub outbound_allowlist: crate::ssrf::OutboundAllowlist,
    /// Base of every `web_url`.
    pub base_url: String,
}

impl Settings {
    /// Where outbound requests may go under these settings.
    pub fn url_policy(&self) -> crate::status_checks::UrlPolicy {
        crate::status_checks::UrlPolicy {
            allow_local_requests: self.allow_local_requests,
            allowlist: self.outbound_allowlist.clone(),
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            pending_timeout: Duration::from_secs(120),
            allow_local_requests: false,
            outbound_allowlist: crate::ssrf::OutboundAllowlist::default(),
            base_url: "http://127.0.0.1:8080".into(),
        }
    }
}

/// The use cases of the service.
#[derive(Clone)]
pub struct StatusChecksService {
    pub(crate) ports: Ports,
    pub(crate) settings: Settings,
}

/// A project the actor may see, and their level in it.
#[derive(Debug, Clone)]
pub(crate) struct ProjectAccess {
    pub(crate) project: Project,
    pub(crate) level: Option<AccessLevel>,
}

impl StatusChecksService {
    /// Wires the use cases to their ports.
    pub fn new(ports: Ports, settings: Settings) -> Self {
        StatusChecksService { ports, settings }
    }

    /// The settings in force.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The ports (for adapters that share them, such as the delivery worker).
    pub fn ports(&self) -> &Ports {
        &self.ports
    }

    pub(crate) fn now(&self) -> Timestamp {
        self.ports.clock.now()
    }

    /// 403 `insufficient_scope` for a read-only token attempting a write.
    pub(crate) fn require_write(actor: &Actor) -> DomainResult<()> {
        if actor.can_write {
            Ok(())
        } else {
            Err(DomainError::InsufficientScope)
        }
    }

    /// The project named by `reference`, if the actor may know it exists; 404 `Project Not Found` otherwise.
    pub(crate) async fn visible_project(
        &self,
        actor: &Actor,
        reference: &ProjectRef,
    ) -> DomainResult<ProjectAccess> {
        match self
            .ports
            .projects
            .find_project_with_access(reference, actor.user_id)
            .await?
        {
            Some((project, level)) if policy::can_see_project(actor, level) => {
                Ok(ProjectAccess { project, level })
            }
            _ => Err(DomainError::ProjectNotFound),
        }
    }

    /// The start of a project-scoped read: the visible project, then the caller's role in it.
    pub(crate) async fn project_for(
        &self,
        actor: &Actor,
        reference: &ProjectRef,
        action: ProjectAction,
    ) -> DomainResult<ProjectAccess> {
        let access = self.visible_project(actor, reference).await?;
        Self::authorize(actor, &access, action)?;
        Ok(access)
    }

    /// The start of a project-scoped write, in GitLab's order: a writing token, the visible project, the
    /// parameters, then the caller's role.
    pub(crate) async fn project_write<T>(
        &self,
        actor: &Actor,
        reference: &ProjectRef,
        params: Params<T>,
        action: ProjectAction,
    ) -> DomainResult<(ProjectAccess, T)> {
        Self::require_write(actor)?;
        let access = self.visible_project(actor, reference).await?;
        let input = params?;
        Self::authorize(actor, &access, action)?;
        Ok((access, input))
    }

    /// The start of a use case on one merge request, in GitLab's order: the visible project, the parameters,
    /// the merge request as `load` reads it from the project (404 `Not found` if missing), then the caller's
    /// role. A write checks the token's scope before calling this.
    pub(crate) async fn merge_request_for<T, M, F>(
        &self,
        actor: &Actor,
        reference: &ProjectRef,
        params: Params<T>,
        action: ProjectAction,
        load: impl FnOnce(ProjectId) -> F,
    ) -> DomainResult<(ProjectAccess, T, M)>
    where
        F: Future<Output = RepoResult<Option<M>>>,
    {
        let access = self.visible_project(actor, reference).await?;
        let input = params?;
        let found = load(access.project.id)
            .await?
            .ok_or(DomainError::NotFound(Resource::MergeRequest))?;
        Self::authorize(actor, &access, action)?;
        Ok((access, input, found))
    }

    /// The `load` of [`Self::merge_request_for`] that reads the whole merge request.
    pub(crate) fn whole<'a>(
        &'a self,
        iid: MergeRequestIid,
    ) -> impl FnOnce(ProjectId) -> Found<'a, MergeRequest> + 'a {
        move |project| self.ports.merge_requests.find_merge_request(project, iid)
    }

    /// The `load` of [`Self::merge_request_for`] that reads the merge request with the newest responses at its
    /// HEAD.
    pub(crate) fn at_head<'a>(
        &'a self,
        iid: MergeRequestIid,
    ) -> impl FnOnce(ProjectId) -> Found<'a, (MergeRequest, Vec<StatusCheckResponse>)> + 'a {
        move |project| {
            self.ports
                .merge_requests
                .find_merge_request_at_head(project, iid)
        }
    }

    /// The `load` of [`Self::merge_request_for`] that reads only the HEAD, with the newest responses about it.
    pub(crate) fn head<'a>(
        &'a self,
        iid: MergeRequestIid,
    ) -> impl FnOnce(ProjectId) -> Found<'a, (MergeRequestHead, Vec<StatusCheckResponse>)> + 'a
    {
        move |project| {
            self.ports
                .merge_requests
                .find_merge_request_head(project, iid)
        }
    }

    /// The check of the project with this id, or 404 `Not found`.
    pub(crate) async fn status_check(
        &self,
        project: ProjectId,
        id: StatusCheckId,
    ) -> DomainResult<ExternalStatusCheck> {
        self.ports
            .status_checks
            .find_check(project, id)
            .await?
            .ok_or(DomainError::NotFound(Resource::StatusCheck))
    }

    /// The policy's answer as a domain error.
    pub(crate) fn authorize(
        actor: &Actor,
        access: &ProjectAccess,
        action: ProjectAction,
    ) -> DomainResult<()> {
        policy::authorize(actor, access.level, action).map_err(|denial| match denial {
            Denial::NotFound => DomainError::ProjectNotFound,
            Denial::Forbidden => DomainError::Forbidden,
        })
    }
}
