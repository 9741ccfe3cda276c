//! The use cases of the forge bridge that manage a project's link (Maintainer+) and apply what the forge
//! tells to the mirrored merge request: a webhook delivery or a sync, with the notifications it causes and
//! the status posts it schedules (docs/forges.md). What a scheduled post says is worked out when it is
//! sent (`reporting.rs`).

use crate::Timestamp;
use crate::deliveries::HookUser;
use crate::error::{DomainError, Resource};
use crate::forges::mirror::is_older;
use crate::forges::{
    ForgeLink, ForgeLinkInput, ForgeMergeRequest, ForgeStatus, HeadPipeline, Mirror, MirrorChange,
    MirrorDetails, MirrorOutcome, MirrorWrite, StatusDraft, link_from, mirror,
};
use crate::ids::{MergeRequestIid, ProjectId};
use crate::merge_requests::{MergeRequestState, NewMergeRequest};
use crate::pagination::{Page, PageRequest};
use crate::policy::{Actor, ProjectAction};
use crate::projects::{Project, ProjectRef};
use crate::service::{DomainResult, Params, StatusChecksService};
use crate::status_checks::ExternalStatusCheck;

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
    /// linked one; otherwise the snapshot rule ([`mirror()`]) decides, and the change, the notifications it
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
        let mut write = MirrorWrite::only_key(project.id, event.delivery_key.clone(), now);
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
                let (_, drafts) = self
                    .opening(&event.sender, project, &new.target_branch, now)
                    .await?;
                let checks = self.ports.status_checks.all_checks(project.id).await?;
                let applicable = checks
                    .iter()
                    .filter(|c| c.applies_to_branch(&new.target_branch));
                write.statuses = every_context(link, applicable, "pending", now);
                write.deliveries = drafts;
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
        let mut write = MirrorWrite::only_key(project.id, event.delivery_key.clone(), now);
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
