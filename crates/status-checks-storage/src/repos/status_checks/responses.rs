//! `ResponseRepository`: responses recorded (a retry with the deliveries it causes, in one transaction), and
//! the newest response per (merge request, check) at a sha, by the scan in [`crate::statements`].

use crate::Store;
use crate::columns::{from_millis, from_millis_opt, millis};
use crate::error::TxError;
use crate::error::corrupt;
use crate::repos::deliveries::record_deliveries;
use crate::repos::forges::insert_drafts;
use crate::repos::inserted_id;
use crate::repos::merge_requests::load_merge_request;
use crate::schema::status_check_response_details as response_details;
use crate::schema::status_check_responses as responses;
use crate::statements::newest_at;
use async_trait::async_trait;
use diesel::prelude::*;
use status_checks_core::deliveries::DeliveryDraft;
use status_checks_core::forges::StatusDraft;
use status_checks_core::ids::CommitSha;
use status_checks_core::ports::{RepoResult, ResponseRepository};
use status_checks_core::status_checks::CheckStatus;
use status_checks_core::status_checks::{NewResponse, ResponseDetails, StatusCheckResponse};
use status_checks_core::{
    MergeRequestId, Page, PageRequest, ProjectId, RepoError, ResponseId, StatusCheckId,
};

fn insert_response(
    conn: &mut SqliteConnection,
    new: &NewResponse,
) -> Result<StatusCheckResponse, TxError> {
    diesel::insert_into(responses::table)
        .values((
            responses::merge_request_id.eq(new.merge_request_id.0),
            responses::external_status_check_id.eq(new.external_status_check_id.0),
            responses::sha.eq(new.sha.as_str()),
            responses::status.eq(new.status.as_str()),
            responses::created_at.eq(millis(new.created_at)),
            responses::retried_at.eq(new.retried_at.map(millis)),
        ))
        .execute(conn)?;
    let id = inserted_id(conn)?;
    if let Some(details) = &new.details {
        diesel::insert_into(response_details::table)
            .values((
                response_details::response_id.eq(id),
                response_details::target_url.eq(details.target_url.as_deref()),
                response_details::description.eq(details.description.as_deref()),
            ))
            .execute(conn)?;
    }
    // Built from what was written (at the millisecond precision stored) rather than read back.
    Ok(StatusCheckResponse {
        id: ResponseId(id),
        merge_request_id: new.merge_request_id,
        external_status_check_id: new.external_status_check_id,
        sha: new.sha.clone(),
        status: new.status,
        created_at: from_millis(millis(new.created_at))?,
        retried_at: new
            .retried_at
            .map(|at| from_millis(millis(at)))
            .transpose()?,
    })
}

impl Store {
    /// Stores a response with the notifications and status posts it causes, rendered against its merge
    /// request, in one transaction; wakes the workers that send them once it committed. The merge request is
    /// read only when something is rendered against it, or for a retry (`NotFound` if it is gone).
    async fn record_causing(
        &self,
        new: NewResponse,
        drafts: Vec<DeliveryDraft>,
        statuses: Vec<StatusDraft>,
    ) -> RepoResult<StatusCheckResponse> {
        let posts = !statuses.is_empty();
        let stored = self
            .write_recording(!drafts.is_empty(), move |conn| {
                let stored = insert_response(conn, &new)?;
                if !drafts.is_empty() || !statuses.is_empty() || new.retried_at.is_some() {
                    let mr = load_merge_request(conn, new.merge_request_id.0)?
                        .ok_or(TxError::Repo(RepoError::NotFound))?;
                    record_deliveries(conn, &mr, &drafts)?;
                    insert_drafts(conn, &mr, statuses, new.created_at)?;
                }
                Ok(stored)
            })
            .await?;
        if posts {
            self.statuses_scheduled().notify_one();
        }
        Ok(stored)
    }
}

/// A response as the history lists it.
#[derive(Queryable, Selectable, Debug, Clone)]
#[diesel(table_name = responses, check_for_backend(diesel::sqlite::Sqlite))]
struct ResponseRow {
    id: i64,
    merge_request_id: i64,
    external_status_check_id: i64,
    sha: String,
    status: String,
    created_at: i64,
    retried_at: Option<i64>,
}

impl ResponseRow {
    fn into_domain(self) -> Result<StatusCheckResponse, RepoError> {
        Ok(StatusCheckResponse {
            id: ResponseId(self.id),
            merge_request_id: MergeRequestId(self.merge_request_id),
            external_status_check_id: StatusCheckId(self.external_status_check_id),
            sha: CommitSha::parse(&self.sha).map_err(|_| corrupt("sha", &self.sha))?,
            status: CheckStatus::parse(&self.status)
                .ok_or_else(|| corrupt("status", &self.status))?,
            created_at: from_millis(self.created_at)?,
            retried_at: from_millis_opt(self.retried_at)?,
        })
    }
}

#[async_trait]
impl ResponseRepository for Store {
    async fn record_response(
        &self,
        new: NewResponse,
        statuses: Vec<StatusDraft>,
    ) -> RepoResult<StatusCheckResponse> {
        self.record_causing(new, Vec::new(), statuses).await
    }

    async fn record_retry(
        &self,
        new: NewResponse,
        drafts: Vec<DeliveryDraft>,
        statuses: Vec<StatusDraft>,
    ) -> RepoResult<StatusCheckResponse> {
        self.record_causing(new, drafts, statuses).await
    }

    async fn find_response_details(&self, id: ResponseId) -> RepoResult<Option<ResponseDetails>> {
        self.connections
            .read(move |conn| {
                let found: Option<(Option<String>, Option<String>)> = response_details::table
                    .find(id.0)
                    .select((response_details::target_url, response_details::description))
                    .first(conn)
                    .optional()?;
                Ok(found.map(|(target_url, description)| ResponseDetails {
                    target_url,
                    description,
                }))
            })
            .await
    }

    async fn newest_responses(
        &self,
        heads: Vec<(MergeRequestId, CommitSha)>,
    ) -> RepoResult<Vec<StatusCheckResponse>> {
        if heads.is_empty() {
            return Ok(Vec::new());
        }
        // One read; per head the covering-index scan E5 uses, prepared once per connection. (One statement
        // with an `OR` of the heads was prepared anew on every call and went through a row-id set and a
        // temporary B-tree: see docs/benchmarks.md.)
        self.connections
            .read(move |conn| {
                let mut newest = Vec::new();
                for (mr, sha) in &heads {
                    newest.extend(newest_at(conn, *mr, sha)?);
                }
                Ok(newest)
            })
            .await
    }

    async fn list_responses(
        &self,
        _project: ProjectId,
        merge_request: MergeRequestId,
        request: PageRequest,
    ) -> RepoResult<Page<StatusCheckResponse>> {
        self.connections
            .read(move |conn| {
                let filtered =
                    || responses::table.filter(responses::merge_request_id.eq(merge_request.0));
                page_of!(conn, request, filtered, responses::id.desc(), ResponseRow)
            })
            .await
    }
}
