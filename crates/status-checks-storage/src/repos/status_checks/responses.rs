//! `ResponseRepository`: the newest response per (merge request, check) at a sha in one query.

use crate::Store;
use crate::columns::{from_millis, from_millis_opt, millis};
use crate::error::TxError;
use crate::error::corrupt;
use crate::repos::deliveries::record_deliveries;
use crate::repos::inserted_id;
use crate::repos::merge_requests::load_merge_request;
use crate::schema::status_check_responses as responses;
use async_trait::async_trait;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use status_checks_core::delivery::DeliveryDraft;
use status_checks_core::merge_request::CommitSha;
use status_checks_core::ports::{RepoResult, ResponseRepository};
use status_checks_core::response::{CheckStatus, NewResponse, StatusCheckResponse};
use status_checks_core::{MergeRequestId, RepoError, ResponseId, StatusCheckId};

/// A response read where its merge request and sha are known: the columns that are not.
#[derive(Queryable, Debug, Clone)]
struct ResponseAtHeadRow {
    id: i64,
    external_status_check_id: i64,
    status: String,
    created_at: i64,
    retried_at: Option<i64>,
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

/// The responses about `sha` of one merge request, by check and then id, from the covering index
/// `status_check_responses_head` alone (in index order: no sort, no visit of the table). The newest of each
/// check is the last of its run, kept in Rust: a plain scan costs SQLite a third of what `MAX()` with `GROUP BY`
/// did per row (callgrind), and a check rarely answers more than once or twice about one HEAD. The merge request
/// and sha are not selected: the caller knows them (and each text column read costs SQLite a copy).
///
/// The statement around its two parameters (merge request id, sha), joined by `?` in the query-plan test.
const NEWEST_AT_HEAD: [&str; 3] = [
    "SELECT id, external_status_check_id, status, created_at, retried_at \
     FROM status_check_responses WHERE merge_request_id = ",
    " AND sha = ",
    " ORDER BY external_status_check_id, id",
];

/// [`NEWEST_AT_HEAD`] as a diesel query with a static query id, so that each connection prepares it once
/// (diesel re-prepares `sql_query` text on every call).
struct NewestAtHead<'a> {
    merge_request: i64,
    sha: &'a str,
}

impl diesel::query_builder::QueryId for NewestAtHead<'_> {
    type QueryId = NewestAtHead<'static>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl diesel::query_builder::Query for NewestAtHead<'_> {
    type SqlType = (
        BigInt,
        BigInt,
        Text,
        BigInt,
        diesel::sql_types::Nullable<BigInt>,
    );
}

impl diesel::query_builder::QueryFragment<diesel::sqlite::Sqlite> for NewestAtHead<'_> {
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, diesel::sqlite::Sqlite>,
    ) -> QueryResult<()> {
        let [select, and_sha, group] = NEWEST_AT_HEAD;
        out.push_sql(select);
        out.push_bind_param::<BigInt, _>(&self.merge_request)?;
        out.push_sql(and_sha);
        out.push_bind_param::<Text, str>(self.sha)?;
        out.push_sql(group);
        Ok(())
    }
}

impl RunQueryDsl<SqliteConnection> for NewestAtHead<'_> {}

/// The newest response (highest id) of each check about `sha` of `merge_request`, ordered by check.
pub(crate) fn newest_at(
    conn: &mut SqliteConnection,
    merge_request: MergeRequestId,
    sha: &CommitSha,
) -> Result<Vec<StatusCheckResponse>, TxError> {
    let rows: Vec<ResponseAtHeadRow> = NewestAtHead {
        merge_request: merge_request.0,
        sha: sha.as_str(),
    }
    .load(conn)?;
    let mut newest: Vec<ResponseAtHeadRow> = Vec::with_capacity(rows.len());
    for row in rows {
        match newest.last_mut() {
            Some(last) if last.external_status_check_id == row.external_status_check_id => {
                *last = row
            }
            _ => newest.push(row),
        }
    }
    Ok(newest
        .into_iter()
        .map(|row| row.into_domain(merge_request, sha.clone()))
        .collect::<Result<_, _>>()?)
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
        // One read; per head the covering-index scan E5 uses, prepared once per connection. (One statement
        // with an `OR` of the heads was prepared anew on every call, went through a row-id set and a temporary
        // B-tree, and cost 2 600 000 instructions for a page of 20 merge requests against ~4 000 a head.)
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
}

#[cfg(test)]
mod tests {
    use super::NEWEST_AT_HEAD;
    use crate::repos::plans::plan_of;
    use diesel::sql_types::{BigInt, Text};

    /// The status of a merge request is read from the covering index alone: no table row, no sort.
    #[test]
    fn the_newest_responses_at_a_head_come_from_the_covering_index_alone() {
        let plan = plan_of(&NEWEST_AT_HEAD.join("?"), |q| {
            q.bind::<BigInt, _>(1_i64).bind::<Text, _>("a")
        });
        assert_eq!(
            plan,
            vec![
                "SEARCH status_check_responses USING COVERING INDEX status_check_responses_head \
                 (merge_request_id=? AND sha=?)"
                    .to_owned()
            ]
        );
    }
}
