//! Merge requests: open, update (title, target branch, state, new HEAD), merge — each recording the
//! notifications it causes in the same transaction.

use crate::Timestamp;
use crate::deliveries::{DeliveryDraft, Event, HookAction, HookProject, HookUser};
use crate::error::{DomainError, ParamErrors, RepoError, Resource};
use crate::ids::MergeRequestIid;
use crate::merge_requests::{
    DetailedMergeStatus, MergeRequest, MergeRequestChanges, MergeRequestState,
    MergeRequestUpdateInput, NewMergeRequest, NewMergeRequestInput, StateEvent,
};
use crate::pagination::{Page, PageRequest};
use crate::policy::{Actor, ProjectAction};
use crate::projects::{Project, ProjectRef};
use crate::protected_branches::validate_branch_name;
use crate::service::{DomainResult, Params, StatusChecksService};
use crate::status_checks::ExternalStatusCheck;
use serde_json::Map;

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

fn check_title(title: &str, errors: &mut Vec<(&'static str, String)>) {
    if title.trim().is_empty() {
        errors.push(("title", "can't be blank".into()));
    } else if title.chars().count() > 255 {
        errors.push(("title", "is too long (maximum is 255 characters)".into()));
    }
}

fn check_branch(field: &'static str, branch: &str, errors: &mut Vec<(&'static str, String)>) {
    if let Err(e) = validate_branch_name(branch) {
        errors.push((field, e.to_string()));
    }
}

/// Whether the statuses of `mr`'s checks decide its merge status (else no need to read them).
fn gated(project: &Project, mr: &MergeRequest) -> bool {
    project.only_allow_merge_if_all_status_checks_passed && mr.state == MergeRequestState::Opened
}

const SAME_BRANCH: &str = "You can't use same project/branch for source and target";

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
        responses: &[crate::status_checks::StatusCheckResponse],
        now: Timestamp,
    ) -> DetailedMergeStatus {
        let statuses = crate::status_checks::applicable_statuses(
            checks,
            &mr.head(),
            responses,
            now,
            self.settings.pending_timeout,
        );
        crate::merge_requests::detailed_merge_status(
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
        responses: &[crate::status_checks::StatusCheckResponse],
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

    /// One delivery draft per check in `checks`.
    pub(crate) fn delivery_drafts<'c>(
        &self,
        actor: &Actor,
        project: &Project,
        checks: impl IntoIterator<Item = &'c ExternalStatusCheck>,
        event: &Event,
        detailed: DetailedMergeStatus,
        at: Timestamp,
    ) -> Vec<DeliveryDraft> {
        checks
            .into_iter()
            .map(|check| DeliveryDraft {
                external_status_check_id: check.id,
                check_name: check.name.as_str().to_owned(),
                check_url: check.external_url.as_str().to_owned(),
                project: HookProject {
                    id: project.id,
                    name: project.name.clone(),
                    path_with_namespace: project.path_with_namespace(),
                },
                user: HookUser {
                    id: actor.user_id,
                    name: actor.name.clone(),
                    username: actor.username.clone(),
                },
                action: event.action,
                changes: event.changes.clone(),
                oldrev: event.oldrev.clone(),
                detailed_merge_status: detailed,
                base_url: self.settings.base_url.clone(),
                idempotency_key: self.ports.secrets.idempotency_key(),
                created_at: at,
            })
            .collect()
    }

    /// The drafts for an event on `after` (the merge request as it will be stored), to every check that
    /// applies to it, with its merge status at that moment.
    async fn drafts_for(
        &self,
        actor: &Actor,
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
        Ok(self.delivery_drafts(actor, project, applicable, event, detailed, at))
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
        let access = self.visible_project(actor, reference).await?;
        let (mr, responses) = self.merge_request_at_head(access.project.id, iid).await?;
        Self::authorize(actor, &access, ProjectAction::ReadMergeRequests)?;
        self.view_at_head(&access.project, mr, &responses).await
    }

    /// `POST /projects/:id/merge_requests` (Developer+): notifies every applicable check (`open`).
    pub async fn create_merge_request(
        &self,
        actor: &Actor,
        reference: &ProjectRef,
        params: Params<NewMergeRequestInput>,
    ) -> DomainResult<MergeRequestView> {
        Self::require_write(actor)?;
        let access = self.visible_project(actor, reference).await?;
        let input = params?;
        Self::authorize(actor, &access, ProjectAction::WriteMergeRequests)?;
        let mut errors = Vec::new();
        check_title(&input.title, &mut errors);
        check_branch("source_branch", &input.source_branch, &mut errors);
        check_branch("target_branch", &input.target_branch, &mut errors);
        if !errors.is_empty() {
            return Err(DomainError::attributes(errors));
        }
        if input.source_branch == input.target_branch {
            return Err(DomainError::Validation(vec![SAME_BRANCH.into()]));
        }
        let now = self.now();
        let new = NewMergeRequest {
            project_id: access.project.id,
            title: input.title,
            description: input.description.unwrap_or_default(),
            source_branch: input.source_branch,
            target_branch: input.target_branch,
            sha: input.sha,
            author_id: actor.user_id,
            created_at: now,
        };
        // Every check is pending on a new merge request (its responses cannot exist yet).
        let checks = self
            .ports
            .status_checks
            .all_checks(access.project.id)
            .await?;
        let applicable: Vec<&ExternalStatusCheck> = checks
            .iter()
            .filter(|c| c.applies_to_branch(&new.target_branch))
            .collect();
        let detailed = crate::merge_requests::detailed_merge_status(
            MergeRequestState::Opened,
            access.project.only_allow_merge_if_all_status_checks_passed,
            applicable.iter().map(|_| crate::CheckStatus::Pending),
        );
        let open = Event::plain(Some(HookAction::Open));
        let drafts = self.delivery_drafts(actor, &access.project, applicable, &open, detailed, now);
        let mr = self
            .ports
            .merge_requests
            .create_merge_request(new, drafts)
            .await
            .map_err(Self::vanished(DomainError::ProjectNotFound))?;
        Ok(MergeRequestView {
            merge_request: mr,
            detailed_merge_status: detailed,
            path_with_namespace: access.project.path_with_namespace(),
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
        let access = self.visible_project(actor, reference).await?;
        let input = params?;
        let mr = self.merge_request(access.project.id, iid).await?;
        Self::authorize(actor, &access, ProjectAction::WriteMergeRequests)?;

        let mut errors = Vec::new();
        if let Some(title) = &input.title {
            check_title(title, &mut errors);
        }
        if let Some(target) = &input.target_branch {
            check_branch("target_branch", target, &mut errors);
        }
        if !errors.is_empty() {
            return Err(DomainError::attributes(errors));
        }
        if input
            .target_branch
            .as_ref()
            .is_some_and(|t| t == &mr.source_branch)
        {
            return Err(DomainError::Validation(vec![SAME_BRANCH.into()]));
        }
        let merged = mr.state == MergeRequestState::Merged;
        if merged
            && (input.sha.as_ref().is_some_and(|s| s != &mr.sha)
                || input
                    .target_branch
                    .as_ref()
                    .is_some_and(|t| t != &mr.target_branch))
        {
            return Err(DomainError::Validation(vec![
                "A merged merge request cannot change its HEAD or target branch".into(),
            ]));
        }

        let now = self.now();
        let mut changes = MergeRequestChanges::at(now);
        let mut payload_changes = Map::new();
        if let Some(title) = input.title.filter(|t| t != &mr.title) {
            payload_changes.insert("title".into(), crate::deliveries::change(&mr.title, &title));
            changes.title = Some(title);
        }
        if let Some(description) = input.description.filter(|d| d != &mr.description) {
            payload_changes.insert(
                "description".into(),
                crate::deliveries::change(&mr.description, &description),
            );
            changes.description = Some(description);
        }
        if let Some(target) = input.target_branch.filter(|t| t != &mr.target_branch) {
            payload_changes.insert(
                "target_branch".into(),
                crate::deliveries::change(&mr.target_branch, &target),
            );
            changes.target_branch = Some(target);
        }
        let mut oldrev = None;
        if let Some(sha) = input.sha.filter(|s| s != &mr.sha) {
            oldrev = Some(mr.sha.clone());
            changes.head = Some((sha, now));
        }
        let mut state_action = None;
        match (input.state_event, mr.state) {
            (Some(StateEvent::Close), MergeRequestState::Opened) => {
                changes.state = Some(MergeRequestState::Closed);
                changes.closed_at = Some(now);
                state_action = Some(HookAction::Close);
            }
            (Some(StateEvent::Reopen), MergeRequestState::Closed) => {
                changes.state = Some(MergeRequestState::Opened);
                state_action = Some(HookAction::Reopen);
            }
            // Closing a closed merge request, reopening an open one, or either on a merged one: no-ops,
            // as in GitLab.
            _ => {}
        }
        let changed = !payload_changes.is_empty() || oldrev.is_some() || state_action.is_some();
        if !changed {
            return self.merge_request_view(&access.project, mr).await;
        }
        let after = changes.apply_to(&mr);
        let event = Event {
            action: state_action.or(Some(HookAction::Update)),
            changes: payload_changes,
            oldrev,
        };
        let drafts = self
            .drafts_for(actor, &access.project, &after, &event, now)
            .await?;
        let updated = match self
            .ports
            .merge_requests
            .update_merge_request(mr.id, changes, drafts)
            .await
        {
            Ok(updated) => updated,
            Err(RepoError::NotFound) => return Err(DomainError::NotFound(Resource::MergeRequest)),
            Err(e) => return Err(e.into()),
        };
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
        let access = self.visible_project(actor, reference).await?;
        let input = params?;
        let (mr, responses) = self.merge_request_at_head(access.project.id, iid).await?;
        Self::authorize(actor, &access, ProjectAction::WriteMergeRequests)?;
        if mr.state != MergeRequestState::Opened {
            return Err(DomainError::NotAllowed);
        }
        if let Some(sha) = &input.sha
            && !crate::status_checks::sha_matches_head(sha, &mr.sha)
        {
            return Err(DomainError::sha_mismatch(&mr.sha));
        }
        let view = self.view_at_head(&access.project, mr, &responses).await?;
        if view.detailed_merge_status != DetailedMergeStatus::Mergeable {
            return Err(DomainError::NotAllowed);
        }
        let mr = view.merge_request;
        let now = self.now();
        let mut changes = MergeRequestChanges::at(now);
        // Only if still open when written: of two concurrent merges, one wins.
        changes.require_state = Some(MergeRequestState::Opened);
        changes.state = Some(MergeRequestState::Merged);
        changes.merged_at = Some(now);
        let after = changes.apply_to(&mr);
        let event = Event {
            action: Some(HookAction::Merge),
            changes: Map::new(),
            oldrev: None,
        };
        let drafts = self
            .drafts_for(actor, &access.project, &after, &event, now)
            .await?;
        let merged = match self
            .ports
            .merge_requests
            .update_merge_request(mr.id, changes, drafts)
            .await
        {
            Ok(merged) => merged,
            // Closed or merged by someone else meanwhile.
            Err(RepoError::NotFound) => return Err(DomainError::NotAllowed),
            Err(e) => return Err(e.into()),
        };
        Ok(MergeRequestView {
            merge_request: merged,
            detailed_merge_status: DetailedMergeStatus::NotOpen,
            path_with_namespace: access.project.path_with_namespace(),
        })
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
