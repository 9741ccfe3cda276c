//! The use cases of merge requests: list, read, open, update (title, description, target branch, state, a
//! new HEAD) and merge. Each write loads what it needs, authorizes, lets [`transitions`] decide, and stores
//! the change with the notifications it causes in one port call.

use crate::Timestamp;
use crate::deliveries::{DeliveryDraft, Event, HookAction, HookUser};
use crate::error::{DomainError, ParamErrors, Resource};
use crate::ids::MergeRequestIid;
use crate::merge_requests::transitions::{self, Transition};
use crate::merge_requests::{
    DetailedMergeStatus, MergeRequest, MergeRequestState, MergeRequestUpdateInput,
    NewMergeRequestInput, detailed_merge_status,
};
use crate::pagination::{Page, PageRequest};
use crate::policy::{Actor, ProjectAction};
use crate::projects::{Project, ProjectRef};
use crate::service::{DomainResult, Params, StatusChecksService};
use crate::status_checks::{
    CheckStatus, ExternalStatusCheck, StatusCheckResponse, applicable_statuses,
};

/// A merge request as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeRequestView {
    /// The merge request.
    pub merge_request: MergeRequest,
    /// Merge gating at this moment.
    pub detailed_merge_status: DetailedMergeStatus,
    /// Its project's full path (for `web_url`).
    pub path_with_namespace: String,
}

/// What `PUT /merge_requests/:iid/merge` asks for.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MergeInput {
    /// If given, must equal the HEAD (409 otherwise).
    pub sha: Option<String>,
}

/// Whether the statuses of `mr`'s checks decide its merge status (else no need to read them).
fn gated(project: &Project, mr: &MergeRequest) -> bool {
    project.only_allow_merge_if_all_status_checks_passed && mr.state == MergeRequestState::Opened
}

impl StatusChecksService {
    /// The detailed merge status of each of `mrs` (batched: the project's cached checks, then one read of the
    /// newest responses of every gated merge request).
    pub(crate) async fn merge_request_views(
        &self,
        project: &Project,
        mrs: Vec<MergeRequest>,
    ) -> DomainResult<Vec<MergeRequestView>> {
        let path = project.path_with_namespace();
        let gated: Vec<&MergeRequest> = mrs.iter().filter(|mr| gated(project, mr)).collect();
        let (checks, responses) = if gated.is_empty() {
            (std::sync::Arc::from([]), Vec::new())
        } else {
            let checks = self.ports.status_checks.all_checks(project.id).await?;
            let heads = gated
                .iter()
                .map(|mr| (mr.id, mr.sha.clone()))
                .collect::<Vec<_>>();
            let responses = if checks.is_empty() {
                Vec::new()
            } else {
                self.ports.responses.newest_responses(heads).await?
            };
            (checks, responses)
        };
        let now = self.now();
        Ok(mrs
            .into_iter()
            .map(|mr| {
                let detailed = self.gating(project, &checks, &mr, &responses, now);
                MergeRequestView {
                    merge_request: mr,
                    detailed_merge_status: detailed,
                    path_with_namespace: path.clone(),
                }
            })
            .collect())
    }

    /// Merge gating of `mr`, from the project's checks and the newest responses at its HEAD already read.
    /// Both may be empty when [`gated`] is false: the statuses then do not matter.
    fn gating(
        &self,
        project: &Project,
        checks: &[ExternalStatusCheck],
        mr: &MergeRequest,
        responses: &[StatusCheckResponse],
        now: Timestamp,
    ) -> DetailedMergeStatus {
        let statuses = applicable_statuses(
            checks,
            &mr.head(),
            responses,
            now,
            self.settings.pending_timeout,
        );
        detailed_merge_status(
            mr.state,
            project.only_allow_merge_if_all_status_checks_passed,
            statuses.into_iter().map(|(_, s)| s),
        )
    }

    /// The view of one merge request from the newest responses at its HEAD (already read).
    pub(crate) async fn view_at_head(
        &self,
        project: &Project,
        mr: MergeRequest,
        responses: &[StatusCheckResponse],
    ) -> DomainResult<MergeRequestView> {
        let checks = if gated(project, &mr) {
            self.ports.status_checks.all_checks(project.id).await?
        } else {
            std::sync::Arc::from([])
        };
        let detailed = self.gating(project, &checks, &mr, responses, self.now());
        Ok(MergeRequestView {
            merge_request: mr,
            detailed_merge_status: detailed,
            path_with_namespace: project.path_with_namespace(),
        })
    }

    pub(crate) async fn merge_request_view(
        &self,
        project: &Project,
        mr: MergeRequest,
    ) -> DomainResult<MergeRequestView> {
        let mut views = self.merge_request_views(project, vec![mr]).await?;
        views
            .pop()
            .ok_or_else(|| DomainError::Internal("no view".into()))
    }

    /// The drafts for an event on `after` (the merge request as it will be stored), to every check that
    /// applies to it, with its merge status at that moment.
    pub(crate) async fn drafts_for(
        &self,
        user: &HookUser,
        project: &Project,
        after: &MergeRequest,
        event: &Event,
        at: Timestamp,
    ) -> DomainResult<Vec<DeliveryDraft>> {
        let checks = self.ports.status_checks.all_checks(project.id).await?;
        let applicable: Vec<&ExternalStatusCheck> = checks
            .iter()
            .filter(|c| c.applies_to_branch(&after.target_branch))
            .collect();
        if applicable.is_empty() {
            return Ok(Vec::new());
        }
        let responses = if gated(project, after) {
            self.ports
                .responses
                .newest_responses(vec![(after.id, after.sha.clone())])
                .await?
        } else {
            Vec::new()
        };
        let detailed = self.gating(project, &checks, after, &responses, at);
        Ok(self.delivery_drafts(user, project, applicable, event, detailed, at))
    }

    /// What opening a merge request into `target_branch` at `now` tells: its merge status, and the `open`
    /// notification to every check that applies (each pending: a new merge request has no answers yet).
    pub(crate) async fn opening(
        &self,
        user: &HookUser,
        project: &Project,
        target_branch: &str,
        now: Timestamp,
    ) -> DomainResult<(DetailedMergeStatus, Vec<DeliveryDraft>)> {
        let checks = self.ports.status_checks.all_checks(project.id).await?;
        let applicable: Vec<&ExternalStatusCheck> = checks
            .iter()
            .filter(|c| c.applies_to_branch(target_branch))
            .collect();
        let detailed = detailed_merge_status(
            MergeRequestState::Opened,
            project.only_allow_merge_if_all_status_checks_passed,
            applicable.iter().map(|_| CheckStatus::Pending),
        );
        let open = Event::plain(Some(HookAction::Open));
        let drafts = self.delivery_drafts(user, project, applicable, &open, detailed, now);
        Ok((detailed, drafts))
    }

    /// `GET /projects/:id/merge_requests` (Reporter+), optionally filtered by state.
    pub async fn list_merge_requests(
        &self,
        actor: &Actor,
        reference: &ProjectRef,
        state: Params<Option<MergeRequestState>>,
        page: PageRequest,
    ) -> DomainResult<Page<MergeRequestView>> {
        let access = self.visible_project(actor, reference).await?;
        let state = state?;
        Self::authorize(actor, &access, ProjectAction::ReadMergeRequests)?;
        let found = self
            .ports
            .merge_requests
            .list_merge_requests(access.project.id, state, page)
            .await?;
        let views = self
            .merge_request_views(&access.project, found.items)
            .await?;
        Ok(Page {
            items: views,
            total: found.total,
            request: found.request,
        })
    }

    /// `GET /projects/:id/merge_requests/:iid` (Reporter+).
    pub async fn get_merge_request(
        &self,
        actor: &Actor,
        reference: &ProjectRef,
        iid: MergeRequestIid,
    ) -> DomainResult<MergeRequestView> {
        let (access, (), (mr, responses)) = self
            .merge_request_for(
                actor,
                reference,
                Ok(()),
                ProjectAction::ReadMergeRequests,
                self.at_head(iid),
            )
            .await?;
        self.view_at_head(&access.project, mr, &responses).await
    }

    /// `POST /projects/:id/merge_requests` (Developer+): notifies every applicable check (`open`).
    pub async fn create_merge_request(
        &self,
        actor: &Actor,
        reference: &ProjectRef,
        params: Params<NewMergeRequestInput>,
    ) -> DomainResult<MergeRequestView> {
        let (access, input) = self
            .project_write(actor, reference, params, ProjectAction::WriteMergeRequests)
            .await?;
        let project = &access.project;
        self.refuse_if_mirrored(project).await?;
        let now = self.now();
        let new = transitions::open(project.id, actor.user_id, input, now)?;
        let (detailed, drafts) = self
            .opening(&HookUser::of(actor), project, &new.target_branch, now)
            .await?;
        let mr = self
            .ports
            .merge_requests
            .create_merge_request(new, drafts)
            .await
            .map_err(|e| e.refusal(DomainError::ProjectNotFound))?;
        Ok(MergeRequestView {
            merge_request: mr,
            detailed_merge_status: detailed,
            path_with_namespace: project.path_with_namespace(),
        })
    }

    /// `PUT /projects/:id/merge_requests/:iid` (Developer+): title, description, target branch,
    /// `state_event` (close/reopen) and `sha` (a push: every check is pending again). Notifies every check
    /// that applies after the change.
    pub async fn update_merge_request(
        &self,
        actor: &Actor,
        reference: &ProjectRef,
        iid: MergeRequestIid,
        params: Params<MergeRequestUpdateInput>,
    ) -> DomainResult<MergeRequestView> {
        Self::require_write(actor)?;
        let (access, input, mr) = self
            .merge_request_for(
                actor,
                reference,
                params,
                ProjectAction::WriteMergeRequests,
                self.whole(iid),
            )
            .await?;
        self.refuse_if_mirrored(&access.project).await?;
        let Some(transition) = transitions::update(&mr, input, self.now())? else {
            return self.merge_request_view(&access.project, mr).await;
        };
        let gone = DomainError::NotFound(Resource::MergeRequest);
        let updated = self
            .store_transition(actor, &access.project, &mr, transition, gone)
            .await?;
        self.merge_request_view(&access.project, updated).await
    }

    /// `PUT /projects/:id/merge_requests/:iid/merge` (Developer+): 405 unless open and not blocked by status
    /// checks; 409 if a given `sha` is not the HEAD. Notifies every applicable check (`merge`).
    pub async fn merge_merge_request(
        &self,
        actor: &Actor,
        reference: &ProjectRef,
        iid: MergeRequestIid,
        params: Params<MergeInput>,
    ) -> DomainResult<MergeRequestView> {
        Self::require_write(actor)?;
        let (access, input, (mr, responses)) = self
            .merge_request_for(
                actor,
                reference,
                params,
                ProjectAction::WriteMergeRequests,
                self.at_head(iid),
            )
            .await?;
        self.refuse_if_mirrored(&access.project).await?;
        transitions::may_try_to_merge(&mr, input.sha.as_deref())?;
        let view = self.view_at_head(&access.project, mr, &responses).await?;
        let transition = transitions::merge(view.detailed_merge_status, self.now())?;
        // A merge request closed or merged by someone else meanwhile is gone for this merge: 405.
        let gone = DomainError::NotAllowed;
        let merged = self
            .store_transition(
                actor,
                &access.project,
                &view.merge_request,
                transition,
                gone,
            )
            .await?;
        Ok(MergeRequestView {
            merge_request: merged,
            detailed_merge_status: DetailedMergeStatus::NotOpen,
            path_with_namespace: access.project.path_with_namespace(),
        })
    }

    /// 422 for a merge-request write through the API on a project linked to a forge: its merge requests
    /// come from the forge (docs/forges.md).
    async fn refuse_if_mirrored(&self, project: &Project) -> DomainResult<()> {
        match self.ports.forges.find_link(project.id).await? {
            Some(_) => Err(DomainError::Unprocessable(
                "Merge requests of this project are mirrored from its forge".into(),
            )),
            None => Ok(()),
        }
    }

    /// Stores `transition` of `mr` with a notification to every check that applies to the merge request as
    /// it will be, carrying its merge status at that moment. `gone` is the answer if the store no longer
    /// finds the merge request (or, for a merge, finds it no longer open).
    async fn store_transition(
        &self,
        actor: &Actor,
        project: &Project,
        mr: &MergeRequest,
        transition: Transition,
        gone: DomainError,
    ) -> DomainResult<MergeRequest> {
        let at = transition.changes.updated_at;
        let after = transition.changes.apply_to(mr);
        let drafts = self
            .drafts_for(&HookUser::of(actor), project, &after, &transition.event, at)
            .await?;
        self.ports
            .merge_requests
            .update_merge_request(mr.id, transition.changes, drafts)
            .await
            .map_err(|e| e.refusal(gone))
    }
}

/// Reads the `state` filter of `GET /merge_requests`: `opened`, `closed`, `merged`, or `all` (no filter).
pub fn parse_state_filter(raw: Option<&str>) -> Result<Option<MergeRequestState>, ParamErrors> {
    match raw {
        None | Some("all") => Ok(None),
        Some(s) => MergeRequestState::parse(s).map(Some).ok_or_else(|| {
            let mut e = ParamErrors::new();
            e.not_valid_value("state");
            e
        }),
    }
}
