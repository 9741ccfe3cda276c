//! `ResponseRepository`: responses recorded (a retry with the deliveries it causes, in one transaction), and
//! the newest response per (merge request, check) at a sha.

use crate::PgStore;
use crate::columns::{from_millis, from_millis_opt, millis};
use crate::error::{TxError, corrupt};
use crate::repos::deliveries::record_deliveries;
use crate::repos::forges::insert_drafts;
use crate::repos::merge_requests::load_merge_request;
use crate::schema::merge_requests as mrs;
use crate::schema::status_check_response_details as response_details;
use crate::schema::status_check_responses as responses;
use async_trait::async_trait;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use status_checks_core::deliveries::DeliveryDraft;
use status_checks_core::forges::StatusDraft;
use status_checks_core::ids::CommitSha;
use status_checks_core::ports::{RepoResult, ResponseRepository};
use status_checks_core::status_checks::{
    CheckStatus, NewResponse, ResponseDetails, StatusCheckResponse,
};
use status_checks_core::{
    MergeRequestId, Page, PageRequest, ProjectId, RepoError, ResponseId, StatusCheckId,
};

/// Stores `new` (with its details) in `project`, the project of its merge request.
async fn insert_response(
    conn: &mut AsyncPgConnection,
    project: i64,
    new: &NewResponse,
) -> Result<StatusCheckResponse, TxError> {
    // A check not of the merge request's project, or deleted meanwhile, fails the foreign key: `NotFound`.
    let id: i64 = diesel::insert_into(responses::table)
        .values((
            responses::project_id.eq(project),
            responses::merge_request_id.eq(new.merge_request_id.0),
            responses::external_status_check_id.eq(new.external_status_check_id.0),
            responses::sha.eq(new.sha.as_str()),
            responses::status.eq(new.status.as_str()),
            responses::created_at.eq(millis(new.created_at)),
            responses::retried_at.eq(new.retried_at.map(millis)),
        ))
        .returning(responses::id)
        .get_result(conn)
        .await?;
    if let Some(details) = &new.details {
        diesel::insert_into(response_details::table)
            .values((
                response_details::project_id.eq(project),
                response_details::response_id.eq(id),
                response_details::target_url.eq(details.target_url.as_deref()),
                response_details::description.eq(details.description.as_deref()),
            ))
            .execute(conn)
            .await?;
    }
    Ok(written(new, id)?)
}

/// The response `new` as stored under `id`: built from what was written (at the millisecond precision
/// stored) rather than read back.
fn written(new: &NewResponse, id: i64) -> Result<StatusCheckResponse, RepoError> {
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

/// A response read where its merge request and sha are known: the columns that are not.
#[derive(Queryable, Debug, Clone)]
pub(crate) struct ResponseAtHeadRow {
    id: i64,
    external_status_check_id: i64,
    status: String,
    created_at: i64,
    retried_at: Option<i64>,
}

/// The columns of a [`ResponseAtHeadRow`], for a join that reads them beside their merge request.
pub(crate) type ResponseAtHeadColumns = (
    responses::id,
    responses::external_status_check_id,
    responses::status,
    responses::created_at,
    responses::retried_at,
);

/// The columns of a [`ResponseAtHeadRow`].
pub(crate) const RESPONSE_AT_HEAD: ResponseAtHeadColumns = (
    responses::id,
    responses::external_status_check_id,
    responses::status,
    responses::created_at,
    responses::retried_at,
);

/// The newest of `rows` (in check, then id order) for each check: the last of each check's run.
pub(crate) fn newest_of(
    rows: impl IntoIterator<Item = ResponseAtHeadRow>,
    merge_request: MergeRequestId,
    sha: &CommitSha,
) -> Result<Vec<StatusCheckResponse>, RepoError> {
    let mut newest: Vec<ResponseAtHeadRow> = Vec::new();
    for row in rows {
        match newest.last_mut() {
            Some(last) if last.external_status_check_id == row.external_status_check_id => {
                *last = row
            }
            _ => newest.push(row),
        }
    }
    newest
        .into_iter()
        .map(|row| row.into_domain(merge_request, sha.clone()))
        .collect()
}

impl ResponseAtHeadRow {
    fn into_domain(
        self,
        merge_request: MergeRequestId,
        sha: CommitSha,
    ) -> Result<StatusCheckResponse, RepoError> {
        Ok(StatusCheckResponse {
            id: ResponseId(self.id),
            merge_request_id: merge_request,
            external_status_check_id: StatusCheckId(self.external_status_check_id),
            sha,
            status: CheckStatus::parse(&self.status)
                .ok_or_else(|| corrupt("status", &self.status))?,
            created_at: from_millis(self.created_at)?,
            retried_at: from_millis_opt(self.retried_at)?,
        })
    }
}

/// The newest response (highest id) of each check about `sha` of `merge_request`, ordered by check: the
/// responses in the order of the index `status_check_responses_head` (its project found by the merge
/// request's id), the last of each check's run kept.
pub(crate) async fn newest_at(
    conn: &mut AsyncPgConnection,
    merge_request: MergeRequestId,
    sha: &CommitSha,
) -> Result<Vec<StatusCheckResponse>, TxError> {
    let project = mrs::table
        .filter(mrs::id.eq(merge_request.0))
        .select(mrs::project_id)
        .single_value();
    let rows: Vec<ResponseAtHeadRow> = responses::table
        .filter(responses::project_id.nullable().eq(project))
        .filter(responses::merge_request_id.eq(merge_request.0))
        .filter(responses::sha.eq(sha.as_str()))
        .order((
            responses::external_status_check_id.asc(),
            responses::id.asc(),
        ))
        .select(RESPONSE_AT_HEAD)
        .load(conn)
        .await?;
    Ok(newest_of(rows, merge_request, sha)?)
}

impl PgStore {
    /// Stores `new` (without details) in its merge request's project in one statement — `INSERT … SELECT`
    /// the project from the merge request — and so one round trip, where a transaction would take four.
    /// `NotFound` if the merge request is gone (nothing selected) or the check is (the foreign key).
    async fn insert_plain_response(&self, new: &NewResponse) -> RepoResult<StatusCheckResponse> {
        use diesel::IntoSql;
        use diesel::sql_types::{BigInt, Nullable, Text};
        let id: Option<i64> = run!(self, |conn| {
            let values = mrs::table
                .filter(mrs::id.eq(new.merge_request_id.0))
                .select((
                    mrs::project_id,
                    mrs::id,
                    new.external_status_check_id.0.into_sql::<BigInt>(),
                    new.sha.as_str().to_owned().into_sql::<Text>(),
                    new.status.as_str().to_owned().into_sql::<Text>(),
                    millis(new.created_at).into_sql::<BigInt>(),
                    new.retried_at.map(millis).into_sql::<Nullable<BigInt>>(),
                ));
            Ok(diesel::insert_into(responses::table)
                .values(values)
                .into_columns((
                    responses::project_id,
                    responses::merge_request_id,
                    responses::external_status_check_id,
                    responses::sha,
                    responses::status,
                    responses::created_at,
                    responses::retried_at,
                ))
                .returning(responses::id)
                .get_result(conn)
                .await
                .optional()?)
        })?;
        written(new, id.ok_or(RepoError::NotFound)?)
    }

    /// Stores a response with the notifications and status posts it causes, rendered against its merge
    /// request, in one transaction. The merge request is read whole only when something is rendered against
    /// it, or for a retry (`NotFound` if it is gone); otherwise only its project.
    async fn record_causing(
        &self,
        new: NewResponse,
        drafts: Vec<DeliveryDraft>,
        statuses: Vec<StatusDraft>,
    ) -> RepoResult<StatusCheckResponse> {
        let renders = !drafts.is_empty() || !statuses.is_empty() || new.retried_at.is_some();
        if !renders && new.details.is_none() {
            // A plain answer (E6 on a project not linked to a forge): one statement, atomic on its own.
            return self.insert_plain_response(&new).await;
        }
        let (records, posts) = (!drafts.is_empty(), !statuses.is_empty());
        let stored = write_tx!(self, |conn| {
            if renders {
                let mr = load_merge_request(conn, new.merge_request_id.0)
                    .await?
                    .ok_or(TxError::Repo(RepoError::NotFound))?;
                let stored = insert_response(conn, mr.project_id.0, &new).await?;
                record_deliveries(conn, &mr, &drafts).await?;
                insert_drafts(conn, &mr, statuses.clone(), new.created_at).await?;
                Ok(stored)
            } else {
                let project: i64 = mrs::table
                    .filter(mrs::id.eq(new.merge_request_id.0))
                    .select(mrs::project_id)
                    .first(conn)
                    .await
                    .optional()?
                    .ok_or(TxError::Repo(RepoError::NotFound))?;
                insert_response(conn, project, &new).await
            }
        });
        let stored = self.recorded_if(records, stored);
        self.scheduled_if(posts, stored)
    }
}

/// A response as the history lists it.
#[derive(Queryable, Selectable, Debug, Clone)]
#[diesel(table_name = responses, check_for_backend(diesel::pg::Pg))]
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
impl ResponseRepository for PgStore {
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
        run!(self, |conn| {
            let found: Option<(Option<String>, Option<String>)> = response_details::table
                .filter(response_details::response_id.eq(id.0))
                .select((response_details::target_url, response_details::description))
                .first(conn)
                .await
                .optional()?;
            Ok(found.map(|(target_url, description)| ResponseDetails {
                target_url,
                description,
            }))
        })
    }

    async fn newest_responses(
        &self,
        heads: Vec<(MergeRequestId, CommitSha)>,
    ) -> RepoResult<Vec<StatusCheckResponse>> {
        if heads.is_empty() {
            return Ok(Vec::new());
        }
        run!(self, |conn| {
            let mut newest = Vec::new();
            for (mr, sha) in &heads {
                newest.extend(newest_at(conn, *mr, sha).await?);
            }
            Ok(newest)
        })
    }

    async fn list_responses(
        &self,
        project: ProjectId,
        merge_request: MergeRequestId,
        request: PageRequest,
    ) -> RepoResult<Page<StatusCheckResponse>> {
        run!(self, |conn| {
            let filtered = || {
                responses::table.filter(
                    responses::project_id
                        .eq(project.0)
                        .and(responses::merge_request_id.eq(merge_request.0)),
                )
            };
            page_of!(conn, request, filtered, responses::id.desc(), ResponseRow)
        })
    }
}
