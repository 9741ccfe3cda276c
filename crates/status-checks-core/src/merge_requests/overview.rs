//! The merge request page's use case: everything a person looking at one merge request wants at once — the
//! merge request and whether it may merge, each applicable check with its status at HEAD, when it was
//! answered and when a pending one times out, the whole history of answers, and the deliveries — each part
//! shown only to the roles the API shows it to (`docs/pages.md`).

use crate::Timestamp;
use crate::deliveries::Delivery;
use crate::forges::ForgeStatus;
use crate::ids::{MergeRequestIid, StatusCheckId};
use crate::merge_requests::MergeRequestView;
use crate::pagination::{Page, PageRequest};
use crate::policy::{self, Actor, ProjectAction};
use crate::projects::ProjectRef;
use crate::service::{DomainResult, StatusChecksService};
use crate::status_checks::{CheckStatus, StatusCheckResponse, applicable_deadlines, retry_allowed};

/// How many rows of each list the page shows (the newest).
pub const OVERVIEW_ROWS: u32 = 50;

/// One applicable check on the merge request page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckAtHead {
    /// The check's id.
    pub id: StatusCheckId,
    /// Its name.
    pub name: String,
    /// Its URL as the visitor may see it (redacted as on E5).
    pub external_url: String,
    /// Its status at the HEAD.
    pub status: CheckStatus,
    /// When its final answer about the HEAD was recorded (none while pending).
    pub answered_at: Option<Timestamp>,
    /// While pending: the last instant before the pending timeout makes it read failed.
    pub pending_until: Option<Timestamp>,
    /// Whether the retry rule allows retrying it now (failed), whoever asks.
    pub retry_allowed: bool,
}

/// One answer in the merge request's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    /// The response.
    pub response: StatusCheckResponse,
    /// Its check's name (none once the check was deleted).
    pub check_name: Option<String>,
}

/// Everything the merge request page shows, each part already filtered by the permission policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeRequestOverview {
    /// The merge request and its merge gating.
    pub merge_request: MergeRequestView,
    /// The applicable checks with their status at HEAD, in id order.
    pub checks: Vec<CheckAtHead>,
    /// Whether the visitor may retry a failed check (Developer+ with a token that may write).
    pub may_retry: bool,
    /// Every answer about the merge request, at every sha, newest first.
    pub history: Page<HistoryEntry>,
    /// The notifications sent to the checks about it, newest first: Maintainer+ only (as
    /// `GET …/external_status_checks/:id/deliveries`).
    pub deliveries: Option<Page<Delivery>>,
    /// The commit statuses posted to the forge about it, newest first: only with a forge link, and only
    /// to Maintainer+ (as `GET …/forge/deliveries`).
    pub forge_statuses: Option<Page<ForgeStatus>>,
}

impl StatusChecksService {
    /// The merge request page (Reporter+, as E5): 404 for a visitor who may not see the project or the
    /// merge request.
    pub async fn merge_request_overview(
        &self,
        actor: &Actor,
        reference: &ProjectRef,
        iid: MergeRequestIid,
    ) -> DomainResult<MergeRequestOverview> {
        let (access, (), (mr, responses)) = self
            .merge_request_for(
                actor,
                reference,
                Ok(()),
                ProjectAction::ReadStatusChecks,
                self.at_head(iid),
            )
            .await?;
        let project = access.project.clone();
        let checks = self.ports.status_checks.all_checks(project.id).await?;
        let head = mr.head();
        let visibility = policy::url_visibility_on_merge_requests(actor, access.level);
        let now = self.now();
        let at_head = applicable_deadlines(
            &checks,
            &head,
            &responses,
            now,
            self.settings.pending_timeout,
        )
        .into_iter()
        .map(|(check, status, pending_until)| {
            let answered_at = responses
                .iter()
                .filter(|r| r.external_status_check_id == check.id && r.sha == head.sha)
                .filter(|r| r.status != CheckStatus::Pending)
                .map(|r| r.created_at)
                .max();
            CheckAtHead {
                id: check.id,
                name: check.name.as_str().to_owned(),
                external_url: check.external_url.shown(visibility),
                status,
                answered_at: answered_at.filter(|_| status != CheckStatus::Pending),
                pending_until,
                retry_allowed: retry_allowed(status),
            }
        })
        .collect();
        let may_retry = actor.can_write
            && Self::authorize(actor, &access, ProjectAction::RetryStatusChecks).is_ok();
        let rows = PageRequest::new(1, OVERVIEW_ROWS);
        let history = self
            .ports
            .responses
            .list_responses(project.id, mr.id, rows)
            .await?
            .map(|response| HistoryEntry {
                check_name: checks
                    .iter()
                    .find(|c| c.id == response.external_status_check_id)
                    .map(|c| c.name.as_str().to_owned()),
                response,
            });
        let deliveries =
            if Self::authorize(actor, &access, ProjectAction::ManageStatusChecks).is_ok() {
                Some(
                    self.ports
                        .deliveries
                        .list_merge_request_deliveries(project.id, mr.id, rows)
                        .await?,
                )
            } else {
                None
            };
        let forge_statuses = if Self::authorize(actor, &access, ProjectAction::ManageForgeLink)
            .is_ok()
            && self.ports.forges.find_link(project.id).await?.is_some()
        {
            Some(
                self.ports
                    .forges
                    .list_merge_request_statuses(project.id, mr.id, rows)
                    .await?,
            )
        } else {
            None
        };
        let merge_request = self.view_at_head(&project, mr, &responses).await?;
        Ok(MergeRequestOverview {
            merge_request,
            checks: at_head,
            may_retry,
            history,
            deliveries,
            forge_statuses,
        })
    }
}
