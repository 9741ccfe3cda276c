//! The use cases of GitLab's seven external status check endpoints (docs/api.md, E1–E7): manage a
//! project's checks, list a merge request's checks with their status at HEAD, set a check's status, retry
//! a failed check.

use crate::deliveries::HookUser;
use crate::error::{DomainError, Resource};
use crate::ids::{MergeRequestIid, ProjectId, ProtectedBranchId, StatusCheckId};
use crate::pagination::{Page, PageRequest};
use crate::policy::{self, Actor, ProjectAction};
use crate::projects::ProjectRef;
use crate::protected_branches::ProtectedBranch;
use crate::service::{DomainResult, MergeRequestView, Params, StatusChecksService};
use crate::status_checks::fields::{self, Fields, RawFields, Write};
use crate::status_checks::{
    CheckStatus, ExternalStatusCheck, NewResponse, NewStatusCheck, ResponseInput, StatusCheckInput,
    StatusCheckResponse, StatusCheckUpdate, StatusCheckUpdateInput, UrlVisibility,
};

/// A check as the API shows it, its URL already redacted for the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusCheckView {
    /// Its id.
    pub id: StatusCheckId,
    /// Its name.
    pub name: String,
    /// Its project.
    pub project_id: ProjectId,
    /// Its URL as the caller may see it.
    pub external_url: String,
    /// Whether a shared secret is stored.
    pub hmac: bool,
    /// Its scope.
    pub protected_branches: Vec<ProtectedBranch>,
}

impl StatusCheckView {
    /// The view of `check` for someone with `visibility`.
    pub fn of(check: ExternalStatusCheck, visibility: UrlVisibility) -> Self {
        StatusCheckView {
            id: check.id,
            hmac: check.hmac(),
            name: check.name.as_str().to_owned(),
            project_id: check.project_id,
            external_url: check.external_url.shown(visibility),
            protected_branches: check.protected_branches,
        }
    }
}

/// One row of E5.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeRequestStatusCheck {
    /// The check's id.
    pub id: StatusCheckId,
    /// Its name.
    pub name: String,
    /// Its URL as the caller may see it.
    pub external_url: String,
    /// Its status at the merge request's HEAD.
    pub status: CheckStatus,
}

/// E6's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedResponse {
    /// The stored response.
    pub response: StatusCheckResponse,
    /// The merge request, after the response.
    pub merge_request: MergeRequestView,
    /// The check, redacted for the caller.
    pub external_status_check: StatusCheckView,
}

impl StatusChecksService {
    /// A check's fields, validated ([`fields::validate`]) for creating one (`updating: None`) or updating
    /// the check `updating` (404 if the project has no such check), against the project's other checks;
    /// `scope`, if sent, must name protected branches of the project only. 422 with every message.
    async fn check_fields(
        &self,
        project: ProjectId,
        updating: Option<StatusCheckId>,
        raw: RawFields<'_>,
        scope: Option<&[ProtectedBranchId]>,
    ) -> DomainResult<Fields> {
        let existing = self.ports.status_checks.all_checks(project).await?;
        if let Some(id) = updating
            && !existing.iter().any(|c| c.id == id)
        {
            return Err(DomainError::NotFound(Resource::StatusCheck));
        }
        let others: Vec<&ExternalStatusCheck> =
            existing.iter().filter(|c| Some(c.id) != updating).collect();
        let write = match updating {
            None => Write::Create,
            Some(_) => Write::Update,
        };
        let mut wanted = scope.unwrap_or_default().to_vec();
        wanted.sort();
        wanted.dedup();
        let branches_exist = wanted.is_empty()
            || self
                .ports
                .protected_branches
                .find_protected_branches(project, wanted.clone())
                .await?
                .len()
                == wanted.len();
        fields::validate(
            write,
            raw,
            &others,
            branches_exist,
            &self.settings.url_policy(),
        )
        .map_err(DomainError::Validation)
    }

    /// E1 `GET /projects/:id/external_status_checks` (Maintainer+).
    pub async fn list_status_checks(
        &self,
        actor: &Actor,
        reference: &ProjectRef,
        page: PageRequest,
    ) -> DomainResult<Page<StatusCheckView>> {
        let access = self
            .project_for(actor, reference, ProjectAction::ManageStatusChecks)
            .await?;
        let checks = self
            .ports
            .status_checks
            .list_checks(access.project.id, page)
            .await?;
        Ok(checks.map(|c| StatusCheckView::of(c, UrlVisibility::Full)))
    }

    /// E2 `POST /projects/:id/external_status_checks` (Maintainer+).
    pub async fn create_status_check(
        &self,
        actor: &Actor,
        reference: &ProjectRef,
        params: Params<StatusCheckInput>,
    ) -> DomainResult<StatusCheckView> {
        let (access, input) = self
            .project_write(actor, reference, params, ProjectAction::ManageStatusChecks)
            .await?;
        let project = access.project.id;
        let raw = RawFields {
            name: Some(&input.name),
            external_url: Some(&input.external_url),
            shared_secret: Some(input.shared_secret.as_deref().unwrap_or("")),
        };
        let scope = Some(input.protected_branch_ids.as_slice());
        let fields = self.check_fields(project, None, raw, scope).await?;
        let (Some(name), Some(external_url)) = (fields.name, fields.external_url) else {
            return Err(DomainError::Internal(
                "a created check's name and URL are validated".into(),
            ));
        };
        let new = NewStatusCheck {
            project_id: project,
            name,
            external_url,
            shared_secret: fields.shared_secret.flatten(),
            protected_branch_ids: input.protected_branch_ids,
            created_at: self.now(),
        };
        let check = self
            .ports
            .status_checks
            .create_check(new)
            .await
            .map_err(|e| e.refusal(DomainError::ProjectNotFound))?;
        self.report_open_merge_requests(project, &[(check.id, check.name.as_str())])
            .await?;
        Ok(StatusCheckView::of(check, UrlVisibility::Full))
    }

    /// E3 `PUT /projects/:id/external_status_checks/:check_id` (Maintainer+): changes only the keys sent.
    pub async fn update_status_check(
        &self,
        actor: &Actor,
        reference: &ProjectRef,
        id: StatusCheckId,
        params: Params<StatusCheckUpdateInput>,
    ) -> DomainResult<StatusCheckView> {
        let (access, input) = self
            .project_write(actor, reference, params, ProjectAction::ManageStatusChecks)
            .await?;
        let raw = RawFields {
            name: input.name.as_deref(),
            external_url: input.external_url.as_deref(),
            shared_secret: input.shared_secret.as_deref(),
        };
        let scope = input.protected_branch_ids.as_deref();
        let project = access.project.id;
        let fields = self.check_fields(project, Some(id), raw, scope).await?;
        let update = StatusCheckUpdate {
            name: fields.name,
            external_url: fields.external_url,
            shared_secret: fields.shared_secret,
            protected_branch_ids: input.protected_branch_ids,
            updated_at: self.now(),
        };
        let check = self
            .ports
            .status_checks
            .update_check(project, id, update)
            .await
            .map_err(|e| e.refusal(DomainError::NotFound(Resource::StatusCheck)))?;
        self.report_open_merge_requests(project, &[(check.id, check.name.as_str())])
            .await?;
        Ok(StatusCheckView::of(check, UrlVisibility::Full))
    }

    /// E4 `DELETE /projects/:id/external_status_checks/:check_id` (Maintainer+): its responses and pending
    /// deliveries go with it.
    pub async fn delete_status_check(
        &self,
        actor: &Actor,
        reference: &ProjectRef,
        id: StatusCheckId,
    ) -> DomainResult<()> {
        let (access, ()) = self
            .project_write(actor, reference, Ok(()), ProjectAction::ManageStatusChecks)
            .await?;
        let project = access.project.id;
        // A linked project's open merge requests are reported again: the check's own context then reads
        // `success` (it no longer applies) and the aggregate no longer counts it.
        let linked = self.ports.forges.find_link(project).await?.is_some();
        let name = match linked {
            true => Some(self.status_check(project, id).await?.name),
            false => None,
        };
        if !self.ports.status_checks.delete_check(project, id).await? {
            return Err(DomainError::NotFound(Resource::StatusCheck));
        }
        if let Some(name) = name {
            self.report_open_merge_requests(project, &[(id, name.as_str())])
                .await?;
        }
        Ok(())
    }

    /// E5 `GET /projects/:id/merge_requests/:iid/status_checks` (Reporter+): the applicable checks by id, with
    /// their status at the HEAD and URLs redacted for the caller.
    pub async fn list_merge_request_checks(
        &self,
        actor: &Actor,
        reference: &ProjectRef,
        iid: MergeRequestIid,
    ) -> DomainResult<Vec<MergeRequestStatusCheck>> {
        let (access, (), (head, responses)) = self
            .merge_request_for(
                actor,
                reference,
                Ok(()),
                ProjectAction::ReadStatusChecks,
                self.head(iid),
            )
            .await?;
        let checks = self
            .ports
            .status_checks
            .all_checks(access.project.id)
            .await?;
        let visibility = policy::url_visibility_on_merge_requests(actor, access.level);
        let statuses = crate::status_checks::applicable_statuses(
            &checks,
            &head,
            &responses,
            self.now(),
            self.settings.pending_timeout,
        );
        Ok(statuses
            .into_iter()
            .map(|(check, status)| MergeRequestStatusCheck {
                id: check.id,
                name: check.name.as_str().to_owned(),
                external_url: check.external_url.shown(visibility),
                status,
            })
            .collect())
    }

    /// E6 `POST /projects/:id/merge_requests/:iid/status_check_responses` (Developer+): records an answer
    /// about the HEAD; 409 (and nothing stored) for any other SHA.
    pub async fn set_check_status(
        &self,
        actor: &Actor,
        reference: &ProjectRef,
        iid: MergeRequestIid,
        params: Params<ResponseInput>,
    ) -> DomainResult<RecordedResponse> {
        Self::require_write(actor)?;
        let (access, input, (mr, mut responses)) = self
            .merge_request_for(
                actor,
                reference,
                params,
                ProjectAction::RespondToStatusChecks,
                self.at_head(iid),
            )
            .await?;
        let check = self
            .status_check(access.project.id, input.external_status_check_id)
            .await?;
        if !crate::status_checks::sha_matches_head(&input.sha, &mr.sha) {
            return Err(DomainError::sha_mismatch(&mr.sha));
        }
        // A linked project's forge hears the answer, in the answer's own transaction.
        let statuses = self
            .status_drafts(access.project.id, &mr, &[(check.id, check.name.as_str())])
            .await?;
        let stored = self
            .ports
            .responses
            .record_response(
                NewResponse {
                    merge_request_id: mr.id,
                    external_status_check_id: check.id,
                    sha: mr.sha.clone(),
                    status: input.status,
                    created_at: self.now(),
                    retried_at: None,
                    details: input.details,
                },
                statuses,
            )
            .await
            .map_err(|e| e.refusal(DomainError::NotFound(Resource::MergeRequest)))?;
        let visibility = policy::url_visibility_on_merge_requests(actor, access.level);
        // The merge request as of this answer: the newest responses read above, this one replacing its check's.
        responses.retain(|r| r.external_status_check_id != stored.external_status_check_id);
        responses.push(stored.clone());
        let merge_request = self.view_at_head(&access.project, mr, &responses).await?;
        Ok(RecordedResponse {
            response: stored,
            merge_request,
            external_status_check: StatusCheckView::of(check, visibility),
        })
    }

    /// E7 `POST /projects/:id/merge_requests/:iid/status_checks/:check_id/retry` (Developer+): only a failed
    /// check; sets it back to pending and notifies the check again.
    pub async fn retry_status_check(
        &self,
        actor: &Actor,
        reference: &ProjectRef,
        iid: MergeRequestIid,
        id: StatusCheckId,
    ) -> DomainResult<()> {
        Self::require_write(actor)?;
        let (access, (), (mr, responses)) = self
            .merge_request_for(
                actor,
                reference,
                Ok(()),
                ProjectAction::RetryStatusChecks,
                self.at_head(iid),
            )
            .await?;
        let check = self.status_check(access.project.id, id).await?;
        let now = self.now();
        let own = responses
            .iter()
            .filter(|r| r.external_status_check_id == check.id);
        let status = crate::status_checks::status_at_head(
            own,
            &mr.sha,
            mr.head_recorded_at,
            now,
            self.settings.pending_timeout,
        );
        if !crate::status_checks::retry_allowed(status) {
            return Err(DomainError::Unprocessable(
                "External status check must be failed".into(),
            ));
        }
        // After the retry this check is pending again, which blocks merging where the project requires it.
        let detailed = crate::merge_requests::detailed_merge_status(
            mr.state,
            access.project.only_allow_merge_if_all_status_checks_passed,
            [CheckStatus::Pending],
        );
        // Notifications go to applicable checks only (a check scoped elsewhere can still time out and be retried).
        let retry = crate::deliveries::Event::plain(None);
        let applicable = check.applies_to_branch(&mr.target_branch).then_some(&check);
        let drafts = self.delivery_drafts(
            &HookUser::of(actor),
            &access.project,
            applicable,
            &retry,
            detailed,
            now,
        );
        let statuses = self
            .status_drafts(access.project.id, &mr, &[(check.id, check.name.as_str())])
            .await?;
        self.ports
            .responses
            .record_retry(
                NewResponse {
                    merge_request_id: mr.id,
                    external_status_check_id: check.id,
                    sha: mr.sha.clone(),
                    status: CheckStatus::Pending,
                    created_at: now,
                    retried_at: Some(now),
                    details: None,
                },
                drafts,
                statuses,
            )
            .await
            .map_err(|e| e.refusal(DomainError::NotFound(Resource::MergeRequest)))?;
        Ok(())
    }

    /// The name [`Self::list_merge_request_checks`] had before it took GitLab's.
    #[deprecated(note = "renamed `list_merge_request_checks`, GitLab's name of E5")]
    #[doc(hidden)]
    pub async fn merge_request_status_checks(
        &self,
        actor: &Actor,
        reference: &ProjectRef,
        iid: MergeRequestIid,
    ) -> DomainResult<Vec<MergeRequestStatusCheck>> {
        self.list_merge_request_checks(actor, reference, iid).await
    }

    /// The name [`Self::set_check_status`] had before it took GitLab's.
    #[deprecated(note = "renamed `set_check_status`, GitLab's name of E6")]
    #[doc(hidden)]
    pub async fn respond_to_status_check(
        &self,
        actor: &Actor,
        reference: &ProjectRef,
        iid: MergeRequestIid,
        params: Params<ResponseInput>,
    ) -> DomainResult<RecordedResponse> {
        self.set_check_status(actor, reference, iid, params).await
    }
}
