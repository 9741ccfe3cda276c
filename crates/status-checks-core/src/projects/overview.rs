//! The project page's use case: the project, its checks (URLs redacted by role), its open merge requests
//! with the aggregate of their checks, and its forge link's state — each part shown only to the roles the
//! API shows it to (`docs/pages.md`).

use crate::Timestamp;
use crate::access::AccessLevel;
use crate::deliveries::DeliveryStatus;
use crate::forges::{ForgeKind, ForgeStatus, Report, aggregate};
use crate::merge_requests::{MergeRequestState, MergeRequestView};
use crate::pagination::{Page, PageRequest};
use crate::policy::{self, Actor, ProjectAction};
use crate::projects::{Project, ProjectRef};
use crate::service::{DomainResult, StatusChecksService};
use crate::status_checks::{StatusCheckView, UrlVisibility, applicable_statuses};

/// How many open merge requests and status posts the project page shows (the newest).
pub const PROJECT_OVERVIEW_ROWS: u32 = 50;

/// An open merge request on the project page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenMergeRequest {
    /// The merge request and its merge gating.
    pub view: MergeRequestView,
    /// The aggregate of its applicable checks at HEAD, as the forge bridge reports it.
    pub checks: Report,
}

/// The state of a project's forge link, without its secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForgeLinkState {
    /// Which forge.
    pub forge: ForgeKind,
    /// The forge API's base URL.
    pub api_url: String,
    /// The repository on the forge.
    pub repository: String,
    /// The aggregate status's name.
    pub status_name: String,
    /// When the last webhook delivery was applied.
    pub last_event_at: Option<Timestamp>,
    /// Status posts among the newest that failed: dead, or pending after a failed attempt.
    pub failing: Vec<ForgeStatus>,
}

/// Everything the project page shows, each part already filtered by the permission policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectOverview {
    /// The project.
    pub project: Project,
    /// The visitor's role in it (none for an administrator who is no member).
    pub level: Option<AccessLevel>,
    /// Its checks, URLs redacted for the visitor: Reporter+ (Maintainer+ see them whole, as on E1).
    pub checks: Option<Vec<StatusCheckView>>,
    /// Its open merge requests, newest first: Reporter+.
    pub open_merge_requests: Option<Page<OpenMergeRequest>>,
    /// Its forge link: only with one, and only to Maintainer+ (as `GET /projects/:id/forge`).
    pub forge_link: Option<ForgeLinkState>,
}

/// Whether a status post failed: dead, or still pending after an attempt that failed.
fn failing(status: &ForgeStatus) -> bool {
    status.status == DeliveryStatus::Dead
        || (status.status == DeliveryStatus::Pending && status.last_error.is_some())
}

impl StatusChecksService {
    /// The project page (any member): 404 for a visitor who may not see the project.
    pub async fn project_overview(
        &self,
        actor: &Actor,
        reference: &ProjectRef,
    ) -> DomainResult<ProjectOverview> {
        let access = self
            .project_for(actor, reference, ProjectAction::ReadProject)
            .await?;
        let project = access.project.clone();
        let reads = Self::authorize(actor, &access, ProjectAction::ReadStatusChecks).is_ok()
            && Self::authorize(actor, &access, ProjectAction::ReadMergeRequests).is_ok();
        let maintains = Self::authorize(actor, &access, ProjectAction::ManageStatusChecks).is_ok();
        let rows = PageRequest::new(1, PROJECT_OVERVIEW_ROWS);
        let (checks, open_merge_requests) = if reads {
            let all = self.ports.status_checks.all_checks(project.id).await?;
            let visibility = if maintains {
                UrlVisibility::Full
            } else {
                policy::url_visibility_on_merge_requests(actor, access.level)
            };
            let open = self
                .ports
                .merge_requests
                .list_merge_requests(project.id, Some(MergeRequestState::Opened), rows)
                .await?;
            let heads = open
                .items
                .iter()
                .map(|mr| (mr.id, mr.sha.clone()))
                .collect::<Vec<_>>();
            let responses = if all.is_empty() || heads.is_empty() {
                Vec::new()
            } else {
                self.ports.responses.newest_responses(heads).await?
            };
            let now = self.now();
            let reports: Vec<Report> = open
                .items
                .iter()
                .map(|mr| {
                    let statuses = applicable_statuses(
                        &all,
                        &mr.head(),
                        &responses,
                        now,
                        self.settings.pending_timeout,
                    );
                    aggregate(statuses.into_iter().map(|(_, status)| status))
                })
                .collect();
            let views = self.merge_request_views(&project, open.items).await?;
            let open = Page {
                items: views
                    .into_iter()
                    .zip(reports)
                    .map(|(view, checks)| OpenMergeRequest { view, checks })
                    .collect(),
                total: open.total,
                request: open.request,
            };
            let checks = all
                .iter()
                .cloned()
                .map(|check| StatusCheckView::of(check, visibility))
                .collect();
            (Some(checks), Some(open))
        } else {
            (None, None)
        };
        let forge_link = match Self::authorize(actor, &access, ProjectAction::ManageForgeLink) {
            Ok(()) => match self.ports.forges.find_link(project.id).await? {
                Some(link) => {
                    let recent = self
                        .ports
                        .forges
                        .list_forge_statuses(project.id, rows)
                        .await?;
                    Some(ForgeLinkState {
                        forge: link.forge,
                        api_url: link.api_url,
                        repository: link.repository,
                        status_name: link.status_name,
                        last_event_at: link.last_event_at,
                        failing: recent.items.into_iter().filter(failing).collect(),
                    })
                }
                None => None,
            },
            Err(_) => None,
        };
        Ok(ProjectOverview {
            project,
            level: access.level,
            checks,
            open_merge_requests,
            forge_link,
        })
    }
}
