//! The reporting side of the forge bridge: scheduling status posts about a linked project's open merge
//! requests when what a check reads changes (an answer, a retry, a check or its scope changed), and working
//! out, at send time, what a scheduled post says and where it goes (docs/forges.md).

use crate::Timestamp;
use crate::forges::report::{MAX_DESCRIPTION_CHARS, PlannedStatus, planned_statuses, state_word};
use crate::forges::{ForgeKind, ForgeLink, ForgeStatus, NewForgeStatus, PostedKey, StatusDraft};
use crate::ids::{CommitSha, MergeRequestIid, ProjectId, StatusCheckId};
use crate::merge_requests::{MergeRequest, MergeRequestState};
use crate::pagination::PageRequest;
use crate::service::{DomainResult, StatusChecksService};
use crate::status_checks::CheckStatus;

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
    /// The open merge request whose source branch is `branch` with its HEAD at `sha`, if any.
    pub(super) async fn open_merge_request_at(
        &self,
        project: ProjectId,
        branch: &str,
        sha: &CommitSha,
    ) -> DomainResult<Option<MergeRequestIid>> {
        Ok(self
            .open_merge_requests(project)
            .await?
            .into_iter()
            .find(|mr| mr.source_branch == branch && &mr.sha == sha)
            .map(|mr| mr.iid))
    }

    /// Every open merge request of `project`, read a page at a time.
    async fn open_merge_requests(&self, project: ProjectId) -> DomainResult<Vec<MergeRequest>> {
        let mut open = Vec::new();
        let mut page = PageRequest::new(1, 100);
        loop {
            let found = self
                .ports
                .merge_requests
                .list_merge_requests(project, Some(MergeRequestState::Opened), page)
                .await?;
            let next = found.next_page();
            open.extend(found.items);
            match next {
                Some(next) => page = PageRequest::new(u32::try_from(next).unwrap_or(u32::MAX), 100),
                None => return Ok(open),
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
        let open = self.open_merge_requests(project).await?;
        let mrs: Vec<&MergeRequest> = open.iter().collect();
        self.report_merge_requests(project, &mrs, checks).await
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
