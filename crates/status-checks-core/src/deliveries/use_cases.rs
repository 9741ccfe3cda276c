//! The use cases of deliveries: the drafts a change records for the checks to notify, and the list of a
//! check's deliveries (`GET /projects/:id/external_status_checks/:check_id/deliveries`).

use crate::Timestamp;
use crate::deliveries::{Delivery, DeliveryDraft, Event, HookProject, HookUser};
use crate::ids::StatusCheckId;
use crate::merge_requests::DetailedMergeStatus;
use crate::pagination::{Page, PageRequest};
use crate::policy::{Actor, ProjectAction};
use crate::projects::{Project, ProjectRef};
use crate::service::{DomainResult, StatusChecksService};
use crate::status_checks::ExternalStatusCheck;

impl StatusChecksService {
    /// One delivery draft per check in `checks`.
    pub(crate) fn delivery_drafts<'c>(
        &self,
        user: &HookUser,
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
                project: HookProject::of(project),
                user: user.clone(),
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

    /// `GET /projects/:id/external_status_checks/:check_id/deliveries` (Maintainer+): newest first.
    pub async fn list_deliveries(
        &self,
        actor: &Actor,
        reference: &ProjectRef,
        id: StatusCheckId,
        page: PageRequest,
    ) -> DomainResult<Page<Delivery>> {
        let access = self
            .project_for(actor, reference, ProjectAction::ManageStatusChecks)
            .await?;
        self.status_check(access.project.id, id).await?;
        Ok(self
            .ports
            .deliveries
            .list_deliveries(access.project.id, id, page)
            .await?)
    }
}
