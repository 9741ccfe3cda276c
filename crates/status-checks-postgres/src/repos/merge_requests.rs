//! `MergeRequestRepository`: iids from the project's counter, bumped inside the writing transaction;
//! deliveries recorded with the change that caused them. The insert and the update are shared with the forge
//! bridge's mirror writes.
//!
//! The counter `projects.last_merge_request_iid` is bumped with `UPDATE … RETURNING`: the row lock it takes
//! makes a second writer of the same project wait until the first commits or rolls back, then read what it
//! left, so iids stay unique and gap-free with any number of instances (a `MAX(iid) + 1` read races). A
//! mirrored merge request numbered by its forge raises the counter to its iid if it was lower, so the next
//! one opened through the API follows it, as it does on SQLite.

use crate::PgStore;
use crate::columns::{commit_sha, from_millis, from_millis_opt, millis};
use crate::error::{TxError, corrupt};
use crate::repos::deliveries::record_deliveries;
use crate::repos::status_checks::responses::{
    RESPONSE_AT_HEAD, ResponseAtHeadRow, newest_at, newest_of,
};
use crate::schema::{merge_requests as mrs, projects, status_check_responses as responses};
use async_trait::async_trait;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::upsert::on_constraint;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use status_checks_core::deliveries::DeliveryDraft;
use status_checks_core::merge_requests::{
    MergeRequest, MergeRequestChanges, MergeRequestHead, MergeRequestState, NewMergeRequest,
};
use status_checks_core::pagination::{Page, PageRequest};
use status_checks_core::ports::{MergeRequestRepository, RepoResult};
use status_checks_core::status_checks::StatusCheckResponse;
use status_checks_core::{MergeRequestId, MergeRequestIid, ProjectId, RepoError, UserId};

/// A merge request's row, whole.
#[derive(Queryable, Selectable, Debug, Clone)]
#[diesel(table_name = mrs, check_for_backend(Pg))]
pub(crate) struct MergeRequestRow {
    id: i64,
    project_id: i64,
    iid: i64,
    title: String,
    description: String,
    source_branch: String,
    target_branch: String,
    sha: String,
    head_recorded_at: i64,
    state: String,
    author_id: i64,
    created_at: i64,
    updated_at: i64,
    merged_at: Option<i64>,
    closed_at: Option<i64>,
}

impl MergeRequestRow {
    pub(crate) fn into_domain(self) -> Result<MergeRequest, RepoError> {
        Ok(MergeRequest {
            id: MergeRequestId(self.id),
            iid: MergeRequestIid(self.iid),
            project_id: ProjectId(self.project_id),
            sha: commit_sha(&self.sha)?,
            state: MergeRequestState::parse(&self.state)
                .ok_or_else(|| corrupt("state", &self.state))?,
            title: self.title,
            description: self.description,
            source_branch: self.source_branch,
            target_branch: self.target_branch,
            head_recorded_at: from_millis(self.head_recorded_at)?,
            author_id: UserId(self.author_id),
            created_at: from_millis(self.created_at)?,
            updated_at: from_millis(self.updated_at)?,
            merged_at: from_millis_opt(self.merged_at)?,
            closed_at: from_millis_opt(self.closed_at)?,
        })
    }
}

#[derive(Insertable)]
#[diesel(table_name = mrs)]
struct NewMergeRequestRow<'a> {
    project_id: i64,
    iid: i64,
    title: &'a str,
    description: &'a str,
    source_branch: &'a str,
    target_branch: &'a str,
    sha: &'a str,
    head_recorded_at: i64,
    state: &'a str,
    author_id: i64,
    created_at: i64,
    updated_at: i64,
}

/// The columns an update may set; `None` leaves a column alone.
#[derive(AsChangeset, Default)]
#[diesel(table_name = mrs)]
struct MergeRequestChangeset {
    title: Option<String>,
    description: Option<String>,
    target_branch: Option<String>,
    sha: Option<String>,
    head_recorded_at: Option<i64>,
    state: Option<String>,
    merged_at: Option<i64>,
    closed_at: Option<i64>,
    updated_at: Option<i64>,
}

pub(crate) async fn load_merge_request(
    conn: &mut AsyncPgConnection,
    id: i64,
) -> Result<Option<MergeRequest>, TxError> {
    let row = mrs::table
        .find(id)
        .select(MergeRequestRow::as_select())
        .first(conn)
        .await
        .optional()?;
    Ok(row.map(MergeRequestRow::into_domain).transpose()?)
}

/// The merge request of `project` with `iid`, whole.
pub(crate) async fn merge_request_by_iid(
    conn: &mut AsyncPgConnection,
    project: ProjectId,
    iid: MergeRequestIid,
) -> Result<Option<MergeRequest>, TxError> {
    let row = mrs::table
        .filter(mrs::project_id.eq(project.0).and(mrs::iid.eq(iid.0)))
        .select(MergeRequestRow::as_select())
        .first(conn)
        .await
        .optional()?;
    Ok(row.map(MergeRequestRow::into_domain).transpose()?)
}

/// The project's next iid, taken from its counter (whose row stays locked until the transaction ends);
/// `NotFound` if the project is gone.
async fn next_iid(
    conn: &mut AsyncPgConnection,
    project: ProjectId,
) -> Result<MergeRequestIid, TxError> {
    let iid: Option<i64> = diesel::update(projects::table.find(project.0))
        .set(projects::last_merge_request_iid.eq(projects::last_merge_request_iid + 1))
        .returning(projects::last_merge_request_iid)
        .get_result(conn)
        .await
        .optional()?;
    iid.map(MergeRequestIid)
        .ok_or(TxError::Repo(RepoError::NotFound))
}

/// Raises the project's counter to `iid` if it is lower (a merge request numbered by its forge); `NotFound`
/// if the project is gone.
pub(crate) async fn reserve_iid(
    conn: &mut AsyncPgConnection,
    project: ProjectId,
    iid: MergeRequestIid,
) -> Result<(), TxError> {
    let updated = diesel::update(projects::table.find(project.0))
        .set(
            projects::last_merge_request_iid.eq(diesel::dsl::sql::<diesel::sql_types::BigInt>(
                "GREATEST(last_merge_request_iid, ",
            )
            .bind::<diesel::sql_types::BigInt, _>(iid.0)
            .sql(")")),
        )
        .execute(conn)
        .await?;
    if updated == 0 {
        return Err(TxError::Repo(RepoError::NotFound));
    }
    Ok(())
}

/// Inserts `new` as an open merge request numbered `iid`, and answers it as stored; `None` if the project
/// has a merge request with that iid already.
pub(crate) async fn insert_merge_request(
    conn: &mut AsyncPgConnection,
    new: &NewMergeRequest,
    iid: MergeRequestIid,
) -> Result<Option<MergeRequest>, TxError> {
    let at = millis(new.created_at);
    let row = diesel::insert_into(mrs::table)
        .values(NewMergeRequestRow {
            project_id: new.project_id.0,
            iid: iid.0,
            title: &new.title,
            description: &new.description,
            source_branch: &new.source_branch,
            target_branch: &new.target_branch,
            sha: new.sha.as_str(),
            head_recorded_at: at,
            state: MergeRequestState::Opened.as_str(),
            author_id: new.author_id.0,
            created_at: at,
            updated_at: at,
        })
        .on_conflict(on_constraint("merge_requests_iid"))
        .do_nothing()
        .returning(MergeRequestRow::as_returning())
        .get_result(conn)
        .await
        .optional()?;
    Ok(row.map(MergeRequestRow::into_domain).transpose()?)
}

/// Applies `changes` to merge request `id`, and answers it as stored; `NotFound` if it is gone (or not in
/// the state `changes.require_state` requires).
pub(crate) async fn apply_changes(
    conn: &mut AsyncPgConnection,
    id: MergeRequestId,
    changes: &MergeRequestChanges,
) -> Result<MergeRequest, TxError> {
    let (sha, head_recorded_at) = match &changes.head {
        Some((sha, at)) => (Some(sha.as_str().to_owned()), Some(millis(*at))),
        None => (None, None),
    };
    let set = MergeRequestChangeset {
        title: changes.title.clone(),
        description: changes.description.clone(),
        target_branch: changes.target_branch.clone(),
        sha,
        head_recorded_at,
        state: changes.state.map(|s| s.as_str().to_owned()),
        merged_at: changes.merged_at.map(millis),
        closed_at: changes.closed_at.map(millis),
        updated_at: Some(millis(changes.updated_at)),
    };
    // The state is re-checked by the UPDATE itself, after any concurrent writer of the row committed.
    let row = match changes.require_state {
        Some(state) => {
            diesel::update(mrs::table.filter(mrs::id.eq(id.0).and(mrs::state.eq(state.as_str()))))
                .set(set)
                .returning(MergeRequestRow::as_returning())
                .get_result(conn)
                .await
        }
        None => {
            diesel::update(mrs::table.find(id.0))
                .set(set)
                .returning(MergeRequestRow::as_returning())
                .get_result(conn)
                .await
        }
    }
    .optional()?;
    Ok(row
        .ok_or(TxError::Repo(RepoError::NotFound))?
        .into_domain()?)
}

/// The responses about a merge request's HEAD, joined to it: the key of `status_check_responses_head`
/// (project, merge request, sha), so each is read from that index.
#[allow(clippy::type_complexity)]
fn responses_at_head() -> diesel::dsl::On<
    responses::table,
    diesel::dsl::And<
        diesel::dsl::And<
            diesel::dsl::Eq<responses::project_id, mrs::project_id>,
            diesel::dsl::Eq<responses::merge_request_id, mrs::id>,
        >,
        diesel::dsl::Eq<responses::sha, mrs::sha>,
    >,
> {
    responses::table.on(responses::project_id
        .eq(mrs::project_id)
        .and(responses::merge_request_id.eq(mrs::id))
        .and(responses::sha.eq(mrs::sha)))
}

#[async_trait]
impl MergeRequestRepository for PgStore {
    async fn create_merge_request(
        &self,
        new: NewMergeRequest,
        drafts: Vec<DeliveryDraft>,
    ) -> RepoResult<MergeRequest> {
        let records = !drafts.is_empty();
        let created = write_tx!(self, |conn| {
            let iid = next_iid(conn, new.project_id).await?;
            // The counter is never below an iid in use: a conflict here means the database was changed
            // behind our back.
            let mr = insert_merge_request(conn, &new, iid).await?.ok_or_else(|| {
                TxError::Repo(RepoError::Internal(format!(
                    "merge request iid {} of project {} is taken although the counter was below it",
                    iid.0, new.project_id.0
                )))
            })?;
            record_deliveries(conn, &mr, &drafts).await?;
            Ok(mr)
        });
        self.recorded_if(records, created)
    }

    async fn find_merge_request_at_head(
        &self,
        project: ProjectId,
        iid: MergeRequestIid,
    ) -> RepoResult<Option<(MergeRequest, Vec<StatusCheckResponse>)>> {
        // Two statements, no transaction around them. A push between them is harmless: the responses are those
        // about the HEAD that was read. (A join, as for the HEAD alone below, repeats the whole merge request on
        // each response's row: measured slower under E6's load, whose responses pile up at the HEAD.)
        run!(self, |conn| {
            let Some(mr) = merge_request_by_iid(conn, project, iid).await? else {
                return Ok(None);
            };
            let newest = newest_at(conn, mr.id, &mr.sha).await?;
            Ok(Some((mr, newest)))
        })
    }

    async fn find_merge_request_head(
        &self,
        project: ProjectId,
        iid: MergeRequestIid,
    ) -> RepoResult<Option<(MergeRequestHead, Vec<StatusCheckResponse>)>> {
        // One statement, one round trip: the HEAD's four columns joined with the responses about it (repeated
        // on each response's row; a merge request without any is one row with none). E5 on PostgreSQL went
        // from 14.5k to 18.9k requests/s with it (docs/benchmarks.md).
        type HeadRow = (i64, String, String, i64);
        let rows: Vec<(HeadRow, Option<ResponseAtHeadRow>)> = run!(self, |conn| {
            Ok(mrs::table
                .left_join(responses_at_head())
                .filter(mrs::project_id.eq(project.0).and(mrs::iid.eq(iid.0)))
                .order((
                    responses::external_status_check_id.asc(),
                    responses::id.asc(),
                ))
                .select((
                    (mrs::id, mrs::target_branch, mrs::sha, mrs::head_recorded_at),
                    RESPONSE_AT_HEAD.nullable(),
                ))
                .load(conn)
                .await?)
        })?;
        // (`<[_]>::first`: diesel's `RunQueryDsl::first` is in scope.)
        let Some(((id, target_branch, sha, head_recorded_at), _)) = <[_]>::first(&rows).cloned()
        else {
            return Ok(None);
        };
        let head = MergeRequestHead {
            id: MergeRequestId(id),
            target_branch,
            sha: commit_sha(&sha)?,
            head_recorded_at: from_millis(head_recorded_at)?,
        };
        let newest = newest_of(rows.into_iter().filter_map(|(_, r)| r), head.id, &head.sha)?;
        Ok(Some((head, newest)))
    }

    async fn find_merge_request(
        &self,
        project: ProjectId,
        iid: MergeRequestIid,
    ) -> RepoResult<Option<MergeRequest>> {
        run!(self, |conn| merge_request_by_iid(conn, project, iid).await)
    }

    async fn list_merge_requests(
        &self,
        project: ProjectId,
        state: Option<MergeRequestState>,
        request: PageRequest,
    ) -> RepoResult<Page<MergeRequest>> {
        run!(self, |conn| {
            let filtered = || {
                let mut query = mrs::table
                    .filter(mrs::project_id.eq(project.0))
                    .into_boxed();
                if let Some(state) = state {
                    query = query.filter(mrs::state.eq(state.as_str()));
                }
                query
            };
            page_of!(conn, request, filtered, mrs::id.asc(), MergeRequestRow)
        })
    }

    async fn update_merge_request(
        &self,
        id: MergeRequestId,
        changes: MergeRequestChanges,
        drafts: Vec<DeliveryDraft>,
    ) -> RepoResult<MergeRequest> {
        let records = !drafts.is_empty();
        let updated = write_tx!(self, |conn| {
            let mr = apply_changes(conn, id, &changes).await?;
            record_deliveries(conn, &mr, &drafts).await?;
            Ok(mr)
        });
        self.recorded_if(records, updated)
    }
}
