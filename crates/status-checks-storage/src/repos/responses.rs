//! `ResponseRepository`: the newest response per (merge request, check) at a sha in one query.

use super::inserted_id;
use super::merge_requests::{load_merge_request, record_deliveries};
use crate::Store;
use crate::error::TxError;
use crate::models::*;
use crate::schema::status_check_responses as responses;
use async_trait::async_trait;
use diesel::dsl::max;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use status_checks_core::delivery::DeliveryDraft;
use status_checks_core::merge_request::CommitSha;
use status_checks_core::ports::{RepoResult, ResponseRepository};
use status_checks_core::response::{NewResponse, StatusCheckResponse};
use status_checks_core::{MergeRequestId, RepoError, ResponseId};

/// Heads per statement: two bound variables each, far below SQLite's limit.
const HEADS_PER_QUERY: usize = 200;

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

/// The newest response of each check about `sha` of one merge request: one statement, prepared once per
/// connection (the batched form below is built per call).
pub(crate) fn newest_at(
    conn: &mut SqliteConnection,
    merge_request: i64,
    sha: &str,
) -> Result<Vec<StatusCheckResponse>, TxError> {
    let latest = diesel::alias!(crate::schema::status_check_responses as latest);
    let newest = latest
        .filter(latest.field(responses::merge_request_id).eq(merge_request))
        .filter(latest.field(responses::sha).eq(sha.to_owned()))
        .group_by(latest.field(responses::external_status_check_id))
        .select(max(latest.field(responses::id)));
    let rows = responses::table
        .filter(responses::id.nullable().eq_any(newest))
        .order(responses::external_status_check_id.asc())
        .select(ResponseRow::as_select())
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(ResponseRow::into_domain)
        .collect::<Result<_, _>>()?)
}

fn newest_for(
    conn: &mut SqliteConnection,
    heads: &[(MergeRequestId, CommitSha)],
) -> Result<Vec<ResponseRow>, TxError> {
    let conditions = vec!["(merge_request_id = ? AND sha = ?)"; heads.len()].join(" OR ");
    let sql = format!(
        "SELECT id, merge_request_id, external_status_check_id, sha, status, created_at, retried_at \
         FROM status_check_responses WHERE id IN ( \
           SELECT MAX(id) FROM status_check_responses WHERE {conditions} \
           GROUP BY merge_request_id, external_status_check_id) \
         ORDER BY merge_request_id, external_status_check_id"
    );
    let mut query = diesel::sql_query(sql).into_boxed();
    for (mr, sha) in heads {
        query = query
            .bind::<BigInt, _>(mr.0)
            .bind::<Text, _>(sha.as_str().to_owned());
    }
    Ok(query.load::<ResponseRow>(conn)?)
}

#[async_trait]
impl ResponseRepository for Store {
    async fn record_response(&self, new: NewResponse) -> RepoResult<StatusCheckResponse> {
        self.connections
            .write(move |conn| insert_response(conn, &new))
            .await
    }

    async fn record_retry(
        &self,
        new: NewResponse,
        drafts: Vec<DeliveryDraft>,
    ) -> RepoResult<StatusCheckResponse> {
        self.connections
            .write(move |conn| {
                let stored = insert_response(conn, &new)?;
                let mr = load_merge_request(conn, new.merge_request_id.0)?
                    .ok_or(TxError::Repo(RepoError::NotFound))?;
                record_deliveries(conn, &mr, &drafts)?;
                Ok(stored)
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
        self.connections
            .read(move |conn| {
                if let [(mr, sha)] = heads.as_slice() {
                    return newest_at(conn, mr.0, sha.as_str());
                }
                let mut rows = Vec::new();
                for chunk in heads.chunks(HEADS_PER_QUERY) {
                    rows.extend(newest_for(conn, chunk)?);
                }
                Ok(rows
                    .into_iter()
                    .map(ResponseRow::into_domain)
                    .collect::<Result<_, _>>()?)
            })
            .await
    }
}
