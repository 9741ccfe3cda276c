//! The use cases of the forge bridge: managing a project's link (Maintainer+), applying a forge's webhook
//! delivery to the mirrored merge request, scheduling status posts when what a check reads changes, and
//! working out, at send time, what a scheduled post says (docs/forges.md).

use crate::Timestamp;
use crate::deliveries::{Event, HookAction, HookUser};
use crate::error::{DomainError, Resource};
use crate::forges::mirror::is_older;
use crate::forges::report::{MAX_DESCRIPTION_CHARS, PlannedStatus, planned_statuses, state_word};
use crate::forges::{
    ForgeKind, ForgeLink, ForgeLinkInput, ForgeMergeRequest, ForgeStatus, HeadPipeline, Mirror,
    MirrorChange, MirrorDetails, MirrorOutcome, MirrorWrite, NewForgeStatus, PostedKey,
    StatusDraft, link_from, mirror,
};
use crate::ids::{CommitSha, MergeRequestIid, ProjectId, StatusCheckId};
use crate::merge_requests::{
    MergeRequest, MergeRequestState, NewMergeRequest, detailed_merge_status,
};
use crate::pagination::{Page, PageRequest};
use crate::policy::{Actor, ProjectAction};
use crate::projects::{Project, ProjectRef};
use crate::service::{DomainResult, Params, StatusChecksService};
use crate::status_checks::{CheckStatus, ExternalStatusCheck};

/// How many times a mirror write is decided again when the merge request changed under it.
const MIRROR_ATTEMPTS: usize = 8;

/// A link as the API shows it: the link (whose credentials are never shown) and the URL to paste into the
/// forge's webhook settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForgeLinkView {
    /// The link.
    pub link: ForgeLink,
    /// `<external URL>/api/v4/projects/<id>/forge/webhook`.
    pub webhook_url: String,
}

/// The repository a delivery is about, as its payload names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveredRepository {
    /// The forge's numeric id of it, if the payload has one.
    pub id: Option<String>,
    /// Its path (`group/project`, `owner/repo`).
    pub path: String,
}

/// A forge's webhook delivery, read into our words (the adapter authenticated it and parsed its payload).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForgeEvent {
    /// The delivery's key: a replay carries the same one.
    pub delivery_key: Option<String>,
    /// The repository the payload is about.
    pub repository: DeliveredRepository,
    /// Who caused it on the forge: the `user` of the notifications it causes.
    pub sender: HookUser,
    /// What happened.
    pub kind: ForgeEventKind,
}

/// What a forge delivery tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ForgeEventKind {
    /// A merge (pull) request as it is now.
    MergeRequest {
        /// Its state.
        snapshot: ForgeMergeRequest,
        /// The forge project its source branch lives in.
        source_project: String,
        /// Its page on the forge.
        web_url: String,
    },
    /// A pipeline was created or changed (GitLab `Pipeline Hook`).
    Pipeline {
        /// The merge request's number, for a merge-request pipeline; a branch pipeline names none.
        number: Option<MergeRequestIid>,
        /// The branch a branch pipeline runs for: the open merge request of that source branch at that
        /// commit is the one it is for.
        branch: String,
        /// The pipeline.
        pipeline: HeadPipeline,
    },
}

/// What applying a delivery did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventOutcome {
    /// The mirrored merge request changed (or was opened); notifications and status posts are scheduled.
    Applied,
    /// Nothing changed: an older or equal snapshot, or an event about nothing mirrored.
    Unchanged,
    /// The delivery was applied before (a replay).
    Seen,
}

/// Where on a forge a status is posted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusTarget {
    /// Into this GitLab pipeline (`pipeline_id`).
    Pipeline(i64),
    /// On this branch (GitLab `ref`; the others post per commit).
    Ref(String),
}

impl StatusTarget {
    /// The key the last posted state is remembered under.
    pub fn key(&self) -> String {
        match self {
            StatusTarget::Pipeline(id) => format!("pipeline:{id}"),
            StatusTarget::Ref(branch) => format!("ref:{branch}"),
        }
    }
}

/// A status post worked out at send time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusPost {
    /// The link (where and with which token).
    pub link: ForgeLink,
    /// The forge project to post in (GitLab: the source project).
    pub forge_project: String,
    /// The commit.
    pub sha: CommitSha,
    /// The context.
    pub context: String,
    /// The forge's word for the state.
    pub state: &'static str,
    /// In words.
    pub description: String,
    /// The merge request's page on the forge, if known.
    pub target_url: Option<String>,
    /// Where.
    pub target: StatusTarget,
    /// The key of the last posted state.
    pub key: PostedKey,
    /// Whether the forge already shows this state there: nothing needs posting.
    pub already_posted: bool,
    /// When this context must be posted again by the pending timeout, if it must.
    pub deadline: Option<Timestamp>,
}

/// What to do with a due status post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DueStatus {
    /// Nothing to post, and why (the merge request moved on, closed, or the link is gone).
    Skip(&'static str),
    /// Post this.
    Post(Box<StatusPost>),
}

/// The description of a per-check context whose check no longer applies.
const NO_LONGER_APPLIES: &str = "no longer applies";

impl StatusChecksService {
    /// The link view of `link`.
    fn link_view(&self, link: ForgeLink) -> ForgeLinkView {
        let webhook_url = format!(
            "{}/api/v4/projects/{}/forge/webhook",
            self.settings.base_url.trim_end_matches('/'),
            link.project_id
        );
        ForgeLinkView { link, webhook_url }
    }

    async fn link_of(&self, project: ProjectId) -> DomainResult<ForgeLink> {
        self.ports
            .forges
            .find_link(project)
            .await?
            .ok_or(DomainError::NotFound(Resource::Forge))
    }

    /// `GET /projects/:id/forge` (Maintainer+).
    pub async fn get_forge_link(
        &self,
        actor: &Actor,
        reference: &ProjectRef,
    ) -> DomainResult<ForgeLinkView> {
        let access = self
            .project_for(actor, reference, ProjectAction::ManageForgeLink)
            .await?;
        Ok(self.link_view(self.link_of(access.project.id).await?))
    }

    /// `PUT /projects/:id/forge` (Maintainer+): creates the link (`true`) or updates it, keeping what is not
    /// sent. A new link, or one that now names another forge, URL, repository or token, syncs in the
    /// background.
    pub async fn put_forge_link(
        &self,
        actor: &Actor,
        reference: &ProjectRef,
        params: Params<ForgeLinkInput>,
    ) -> DomainResult<(ForgeLinkView, bool)> {
        let (access, input) = self
            .project_write(actor, reference, params, ProjectAction::ManageForgeLink)
            .await?;
        let project = access.project.id;
        let existing = self.ports.forges.find_link(project).await?;
        let link = link_from(
            project,
            existing.as_ref(),
            input,
            actor.user_id,
            self.now(),
            &self.settings.url_policy(),
        )?;
        // A new link, one moved to another forge or repository, or one with a new token (perhaps another
        // user, whose jobs GitLab keeps apart) starts afresh: synced, and nothing known to be shown there.
        let moved = existing.as_ref().is_none_or(|old| {
            old.forge != link.forge
                || old.api_url != link.api_url
                || old.repository != link.repository
                || old.token != link.token
        });
        let saved = self
            .ports
            .forges
            .save_link(link, moved)
            .await
            .map_err(|e| e.refusal(DomainError::ProjectNotFound))?;
        Ok((self.link_view(saved), existing.is_none()))
    }

    /// `DELETE /projects/:id/forge` (Maintainer+): mirrored merge requests stay; nothing more is posted.
    pub async fn delete_forge_link(
        &self,
        actor: &Actor,
        reference: &ProjectRef,
    ) -> DomainResult<()> {
        Self::require_write(actor)?;
        let access = self
            .project_for(actor, reference, ProjectAction::ManageForgeLink)
            .await?;
        if self.ports.forges.delete_link(access.project.id).await? {
            Ok(())
        } else {
            Err(DomainError::NotFound(Resource::Forge))
        }
    }

    /// `POST /projects/:id/forge/sync` (Maintainer+): the open merge requests are read from the forge and
    /// mirrored, in the background.
    pub async fn sync_forge(&self, actor: &Actor, reference: &ProjectRef) -> DomainResult<()> {
        Self::require_write(actor)?;
        let access = self
            .project_for(actor, reference, ProjectAction::ManageForgeLink)
            .await?;
        if self
            .ports
            .forges
            .request_sync(access.project.id, self.now())
            .await?
        {
            Ok(())
        } else {
            Err(DomainError::NotFound(Resource::Forge))
        }
    }

    /// `GET /projects/:id/forge/deliveries` (Maintainer+): status posts, newest first.
    pub async fn list_forge_statuses(
        &self,
        actor: &Actor,
        reference: &ProjectRef,
        page: PageRequest,
    ) -> DomainResult<Page<ForgeStatus>> {
        let access = self
            .project_for(actor, reference, ProjectAction::ManageForgeLink)
            .await?;
        self.link_of(access.project.id).await?;
        Ok(self
            .ports
            .forges
            .list_forge_statuses(access.project.id, page)
            .await?)
    }

    /// The project and link a webhook delivery is for, before it is authenticated: 404 `Project Not Found`
    /// or 404 `Forge Not Found`. (The caller answers 401 unless the delivery proves it knows the secret.)
    pub async fn forge_link_for_webhook(
        &self,
        reference: &ProjectRef,
    ) -> DomainResult<(Project, ForgeLink)> {
        // No user is behind a webhook: the access level read alongside is not used.
        let Some((project, _)) = self
            .ports
            .projects
            .find_project_with_access(reference, crate::ids::UserId(0))
            .await?
        else {
            return Err(DomainError::ProjectNotFound);
        };
        let link = self.link_of(project.id).await?;
        Ok((project, link))
    }

    /// Applies an authenticated delivery to the mirrored merge request: 422 if its repository is not the
    /// linked one; otherwise the snapshot rule ([`mirror`]) decides, and the change, the notifications it
    /// causes, the status posts it schedules and the delivery's key are stored in one transaction.
    pub async fn apply_forge_event(
        &self,
        project: &Project,
        link: &ForgeLink,
        event: ForgeEvent,
    ) -> DomainResult<EventOutcome> {
        if !names_linked_repository(link, &event.repository) {
            return Err(DomainError::Unprocessable(format!(
                "The delivery is about repository {} but the project is linked to {}",
                event.repository.path, link.repository
            )));
        }
        for _ in 0..MIRROR_ATTEMPTS {
            let write = match &event.kind {
                ForgeEventKind::MergeRequest {
                    snapshot,
                    source_project,
                    web_url,
                } => {
                    let details = MirrorDetails {
                        source_project: source_project.clone(),
                        web_url: web_url.clone(),
                        snapshot_at: snapshot.updated_at,
                        pipeline: None,
                    };
                    self.mirror_write(project, link, &event, snapshot, details)
                        .await?
                }
                ForgeEventKind::Pipeline {
                    number,
                    branch,
                    pipeline,
                } => {
                    self.pipeline_write(project, link, &event, *number, branch, pipeline)
                        .await?
                }
            };
            let applies = match &write.change {
                MirrorChange::Open { .. } => true,
                MirrorChange::Update { changes, .. } => changes.is_some(),
                MirrorChange::Nothing => false,
            } || !write.statuses.is_empty();
            match self.ports.forges.apply_mirror(write).await? {
                MirrorOutcome::Applied(_) if applies => return Ok(EventOutcome::Applied),
                MirrorOutcome::Applied(_) => return Ok(EventOutcome::Unchanged),
                MirrorOutcome::Seen => return Ok(EventOutcome::Seen),
                MirrorOutcome::Raced => continue,
            }
        }
        Err(DomainError::Internal(
            "the merge request kept changing while a forge delivery was applied".into(),
        ))
    }

    /// Mirrors one open merge request read from the forge's API (a sync): as a delivery without a key.
    pub async fn sync_merge_request(
        &self,
        project: &Project,
        link: &ForgeLink,
        snapshot: ForgeMergeRequest,
        source_project: String,
        web_url: String,
    ) -> DomainResult<EventOutcome> {
        let event = ForgeEvent {
            delivery_key: None,
            repository: DeliveredRepository {
                id: None,
                path: link.repository.clone(),
            },
            sender: HookUser {
                id: link.author_id,
                name: "status-checks sync".into(),
                username: "status-checks".into(),
            },
            kind: ForgeEventKind::MergeRequest {
                snapshot,
                source_project,
                web_url,
            },
        };
        self.apply_forge_event(project, link, event).await
    }

    /// The write a merge-request snapshot causes.
    async fn mirror_write(
        &self,
        project: &Project,
        link: &ForgeLink,
        event: &ForgeEvent,
        snapshot: &ForgeMergeRequest,
        details: MirrorDetails,
    ) -> DomainResult<MirrorWrite> {
        let now = self.now();
        let stored = self
            .ports
            .forges
            .find_mirrored(project.id, snapshot.number)
            .await?;
        let (mr, old_details) = match stored {
            Some((mr, details)) => (Some(mr), details),
            None => (None, None),
        };
        let last_applied = old_details.as_ref().map(|d| d.snapshot_at);
        let mut write = MirrorWrite {
            project_id: project.id,
            delivery_key: event.delivery_key.clone(),
            received_at: now,
            change: MirrorChange::Nothing,
            details: None,
            deliveries: Vec::new(),
            statuses: Vec::new(),
        };
        match (mirror(mr.as_ref(), last_applied, snapshot, now), mr) {
            (Mirror::Open, _) => {
                if snapshot.state != MergeRequestState::Opened {
                    // Nothing can be reported on a merge request first seen closed or merged.
                    return Ok(write);
                }
                let new = NewMergeRequest {
                    project_id: project.id,
                    title: snapshot.title.clone(),
                    description: snapshot.description.clone(),
                    source_branch: snapshot.source_branch.clone(),
                    target_branch: snapshot.target_branch.clone(),
                    sha: snapshot.sha.clone(),
                    author_id: link.author_id,
                    created_at: now,
                };
                let checks = self.ports.status_checks.all_checks(project.id).await?;
                let applicable: Vec<&ExternalStatusCheck> = checks
                    .iter()
                    .filter(|c| c.applies_to_branch(&new.target_branch))
                    .collect();
                let detailed = detailed_merge_status(
                    MergeRequestState::Opened,
                    project.only_allow_merge_if_all_status_checks_passed,
                    applicable.iter().map(|_| CheckStatus::Pending),
                );
                write.statuses = every_context(link, applicable.iter().copied(), "pending", now);
                write.deliveries = self.delivery_drafts(
                    &event.sender,
                    project,
                    applicable,
                    &Event::plain(Some(HookAction::Open)),
                    detailed,
                    now,
                );
                write.change = MirrorChange::Open {
                    iid: snapshot.number,
                    new,
                };
                write.details = Some(details);
            }
            (Mirror::Change(transition), Some(mr)) => {
                let after = transition.changes.apply_to(&mr);
                write.deliveries = self
                    .drafts_for(
                        &event.sender,
                        project,
                        &after,
                        &transition.event,
                        transition.changes.updated_at,
                    )
                    .await?;
                let reports = after.state == MergeRequestState::Opened
                    && (transition.changes.head.is_some()
                        || transition.changes.target_branch.is_some()
                        || transition.changes.state.is_some());
                if reports {
                    let checks = self.ports.status_checks.all_checks(project.id).await?;
                    // After a retarget, the checks that applied to the old target get their context
                    // posted too: one that no longer applies must stop blocking (`no longer applies`).
                    let old_target = &mr.target_branch;
                    let concerned = checks.iter().filter(|c| {
                        c.applies_to_branch(&after.target_branch)
                            || (transition.changes.target_branch.is_some()
                                && c.applies_to_branch(old_target))
                    });
                    // Planned pending; what is posted is worked out again when sent.
                    write.statuses = every_context(link, concerned, "pending", now);
                }
                write.change = MirrorChange::Update {
                    id: mr.id,
                    read_at: mr.updated_at,
                    changes: Some(transition.changes),
                };
                write.details = Some(details);
            }
            (Mirror::Change(_), None) => return Ok(write),
            (Mirror::Unchanged, Some(mr)) => {
                if !is_older(snapshot.updated_at, last_applied) {
                    write.change = MirrorChange::Update {
                        id: mr.id,
                        read_at: mr.updated_at,
                        changes: None,
                    };
                    write.details = Some(details);
                }
            }
            (Mirror::Unchanged, None) => {}
        }
        Ok(write)
    }

    /// The write a pipeline event causes: a pipeline for an open merge request's HEAD is remembered, and
    /// every status is posted into it.
    async fn pipeline_write(
        &self,
        project: &Project,
        link: &ForgeLink,
        event: &ForgeEvent,
        number: Option<MergeRequestIid>,
        branch: &str,
        pipeline: &HeadPipeline,
    ) -> DomainResult<MirrorWrite> {
        let now = self.now();
        let mut write = MirrorWrite {
            project_id: project.id,
            delivery_key: event.delivery_key.clone(),
            received_at: now,
            change: MirrorChange::Nothing,
            details: None,
            deliveries: Vec::new(),
            statuses: Vec::new(),
        };
        let number = match number {
            Some(number) => number,
            None => match self
                .open_merge_request_at(project.id, branch, &pipeline.sha)
                .await?
            {
                Some(number) => number,
                None => return Ok(write),
            },
        };
        let Some((mr, Some(details))) = self.ports.forges.find_mirrored(project.id, number).await?
        else {
            return Ok(write);
        };
        // GitLab's head pipeline for a HEAD: merge-request pipelines first, then the newest. Statuses follow
        // the pipeline that is (or becomes) the head one, never an older or a lesser one.
        let new_pipeline = details.pipeline.as_ref().is_none_or(|stored| {
            stored.sha != pipeline.sha
                || (pipeline.merge_request_event && !stored.merge_request_event)
                || (pipeline.merge_request_event == stored.merge_request_event
                    && pipeline.id > stored.id)
        });
        if mr.state != MergeRequestState::Opened || pipeline.sha != mr.sha || !new_pipeline {
            return Ok(write);
        }
        let checks = self.ports.status_checks.all_checks(project.id).await?;
        let applicable = checks
            .iter()
            .filter(|c| c.applies_to_branch(&mr.target_branch));
        write.statuses = every_context(link, applicable, "pending", now);
        write.change = MirrorChange::Update {
            id: mr.id,
            read_at: mr.updated_at,
            changes: None,
        };
        write.details = Some(MirrorDetails {
            pipeline: Some(pipeline.clone()),
            ..details
        });
        Ok(write)
    }

    /// The open merge request whose source branch is `branch` with its HEAD at `sha`, if any.
    async fn open_merge_request_at(
        &self,
        project: ProjectId,
        branch: &str,
        sha: &CommitSha,
    ) -> DomainResult<Option<MergeRequestIid>> {
        let mut page = PageRequest::new(1, 100);
        loop {
            let found = self
                .ports
                .merge_requests
                .list_merge_requests(project, Some(MergeRequestState::Opened), page)
                .await?;
            if let Some(mr) = found
                .items
                .iter()
                .find(|mr| mr.source_branch == branch && &mr.sha == sha)
            {
                return Ok(Some(mr.iid));
            }
            match found.next_page() {
                Some(next) => page = PageRequest::new(u32::try_from(next).unwrap_or(u32::MAX), 100),
                None => return Ok(None),
            }
        }
    }

    /// The status posts an answer, a retry or a change of `checks` schedules about one open merge request
    /// of a linked project: the aggregate and, with per-check statuses, the contexts of `checks`; none when
    /// the project is not linked or the merge request is not open. What each says is worked out when sent.
    pub(crate) async fn status_drafts(
        &self,
        project: ProjectId,
        mr: &MergeRequest,
        checks: &[(StatusCheckId, &str)],
    ) -> DomainResult<Vec<StatusDraft>> {
        if mr.state != MergeRequestState::Opened {
            return Ok(Vec::new());
        }
        let Some(link) = self.ports.forges.find_link(project).await? else {
            return Ok(Vec::new());
        };
        let now = self.now();
        let mut drafts = vec![StatusDraft {
            context: link.status_name.clone(),
            external_status_check_id: None,
            state: "pending".into(),
            due_at: now,
        }];
        if link.per_check_statuses {
            drafts.extend(checks.iter().map(|(id, name)| StatusDraft {
                context: crate::forges::report::check_context(&link.status_name, name),
                external_status_check_id: Some(*id),
                state: "pending".into(),
                due_at: now,
            }));
        }
        Ok(drafts)
    }

    /// Schedules status posts about `mrs` (if their project is linked; open ones only): see
    /// [`Self::status_drafts`].
    pub(crate) async fn report_merge_requests(
        &self,
        project: ProjectId,
        mrs: &[&MergeRequest],
        checks: &[(StatusCheckId, &str)],
    ) -> DomainResult<()> {
        let now = self.now();
        let mut statuses = Vec::new();
        for mr in mrs {
            let drafts = self.status_drafts(project, mr, checks).await?;
            statuses.extend(drafts.into_iter().map(|draft| NewForgeStatus {
                project_id: project,
                merge_request_id: mr.id,
                merge_request_iid: mr.iid,
                sha: mr.sha.clone(),
                draft,
                created_at: now,
            }));
        }
        if !statuses.is_empty() {
            self.ports.forges.schedule_statuses(statuses).await?;
        }
        Ok(())
    }

    /// Schedules status posts about every open merge request of a linked project, after `checks` of it
    /// were created, changed or deleted, or their scope changed.
    pub(crate) async fn report_open_merge_requests(
        &self,
        project: ProjectId,
        checks: &[(StatusCheckId, &str)],
    ) -> DomainResult<()> {
        if self.ports.forges.find_link(project).await?.is_none() {
            return Ok(());
        }
        let mut page = PageRequest::new(1, 100);
        loop {
            let found = self
                .ports
                .merge_requests
                .list_merge_requests(project, Some(MergeRequestState::Opened), page)
                .await?;
            let mrs: Vec<&MergeRequest> = found.items.iter().collect();
            self.report_merge_requests(project, &mrs, checks).await?;
            match found.next_page() {
                Some(next) => page = PageRequest::new(u32::try_from(next).unwrap_or(u32::MAX), 100),
                None => return Ok(()),
            }
        }
    }

    /// What a due status post says now (the state at send time, never the one planned): skipped when the
    /// link is gone, the merge request is no longer open or has another HEAD; a per-check context whose
    /// check no longer applies reads `success` (`no longer applies`), so that it never blocks a merge.
    pub async fn forge_status_to_post(&self, due: &ForgeStatus) -> DomainResult<DueStatus> {
        let Some(link) = self.ports.forges.find_link(due.project_id).await? else {
            return Ok(DueStatus::Skip(
                "the project is no longer linked to a forge",
            ));
        };
        let Some((mr, responses)) = self
            .ports
            .merge_requests
            .find_merge_request_at_head(due.project_id, due.merge_request_iid)
            .await?
        else {
            return Ok(DueStatus::Skip("the merge request is gone"));
        };
        if mr.id != due.merge_request_id || mr.state != MergeRequestState::Opened {
            return Ok(DueStatus::Skip("the merge request is no longer open"));
        }
        if mr.sha != due.sha {
            return Ok(DueStatus::Skip("the merge request has a newer HEAD"));
        }
        let details = self
            .ports
            .forges
            .find_mirrored(due.project_id, due.merge_request_iid)
            .await?
            .and_then(|(_, details)| details);
        let checks = self.ports.status_checks.all_checks(due.project_id).await?;
        let now = self.now();
        let planned = planned_statuses(
            &link,
            &checks,
            &mr.head(),
            &responses,
            now,
            self.settings.pending_timeout,
        );
        let status = planned
            .into_iter()
            .find(|p| p.context == due.context)
            .unwrap_or_else(|| PlannedStatus {
                context: due.context.clone(),
                external_status_check_id: due.external_status_check_id,
                status: CheckStatus::Passed,
                description: NO_LONGER_APPLIES.into(),
                deadline: None,
            });
        // A check's own status shows what the service said with its answer, if it said anything (not once
        // the check no longer applies).
        let released = status.description == NO_LONGER_APPLIES;
        let answer = match status.external_status_check_id.filter(|_| !released) {
            Some(check) => {
                let newest = responses
                    .iter()
                    .filter(|r| r.external_status_check_id == check && r.sha == mr.sha)
                    .max_by_key(|r| r.id)
                    .filter(|r| r.status == status.status && r.retried_at.is_none());
                match newest {
                    Some(row) => self.ports.responses.find_response_details(row.id).await?,
                    None => None,
                }
            }
            None => None,
        }
        .unwrap_or_default();
        let description = match answer.description {
            Some(said) => crate::forges::report::truncated(&said, MAX_DESCRIPTION_CHARS),
            None => status.description.clone(),
        };
        let target = match details.as_ref().and_then(|d| d.pipeline.as_ref()) {
            Some(pipeline) if pipeline.sha == mr.sha && link.forge == ForgeKind::Gitlab => {
                StatusTarget::Pipeline(pipeline.id)
            }
            _ => StatusTarget::Ref(mr.source_branch.clone()),
        };
        let key = PostedKey {
            project_id: due.project_id,
            sha: mr.sha.clone(),
            context: due.context.clone(),
            target: target.key(),
        };
        let state = state_word(link.forge, status.status);
        let last = self.ports.forges.last_posted(key.clone()).await?;
        if released && last.as_deref().is_none_or(|l| l == state) {
            // A context never posted, or already passed, needs nothing once its check is gone.
            return Ok(DueStatus::Skip("the check no longer applies"));
        }
        let forge_project = match link.forge {
            ForgeKind::Gitlab => details
                .as_ref()
                .map(|d| d.source_project.clone())
                .unwrap_or_else(|| link.repository.clone()),
            _ => link.repository.clone(),
        };
        Ok(DueStatus::Post(Box::new(StatusPost {
            forge_project,
            sha: mr.sha,
            context: status.context,
            state,
            description,
            target_url: answer
                .target_url
                .or_else(|| details.map(|d| d.web_url))
                .filter(|u| !u.is_empty()),
            target,
            already_posted: last.as_deref() == Some(state),
            deadline: status.deadline,
            key,
            link,
        })))
    }
}

/// Whether `delivered` is the repository `link` names: by numeric id, or by path without regard to case.
fn names_linked_repository(link: &ForgeLink, delivered: &DeliveredRepository) -> bool {
    delivered.id.as_deref() == Some(link.repository.as_str())
        || delivered.path.eq_ignore_ascii_case(&link.repository)
}

/// Status posts of every context, due at `now`, planned `state` (worked out again when sent).
fn every_context<'c>(
    link: &ForgeLink,
    applicable: impl IntoIterator<Item = &'c ExternalStatusCheck>,
    state: &str,
    now: Timestamp,
) -> Vec<StatusDraft> {
    let mut drafts = vec![StatusDraft {
        context: link.status_name.clone(),
        external_status_check_id: None,
        state: state.into(),
        due_at: now,
    }];
    if link.per_check_statuses {
        drafts.extend(applicable.into_iter().map(|check| StatusDraft {
            context: crate::forges::report::check_context(&link.status_name, check.name.as_str()),
            external_status_check_id: Some(check.id),
            state: state.into(),
            due_at: now,
        }));
    }
    drafts
}
