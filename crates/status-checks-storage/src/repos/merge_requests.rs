//! `MergeRequestRepository`: iids allocated inside the writing transaction, deliveries recorded with the
//! change that caused them. The insert and the update are shared with the forge bridge's mirror writes.

use super::inserted_id;
use crate::Store;
use crate::columns::{commit_sha, from_millis, from_millis_opt, millis};
use crate::error::{TxError, corrupt};
use crate::repos::deliveries::record_deliveries;
use crate::schema::merge_requests as mrs;
use crate::statements::{head_of, newest_at};
use async_trait::async_trait;
use diesel::dsl::max;
use diesel::prelude::*;
use diesel::sqlite::Sqlite;
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
#[diesel(table_name = mrs, check_for_backend(Sqlite))]
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

pub(crate) fn load_merge_request(
    conn: &mut SqliteConnection,
    id: i64,
) -> Result<Option<MergeRequest>, TxError> {
    let row = mrs::table
        .find(id)
        .select(MergeRequestRow::as_select())
        .first(conn)
        .optional()?;
    Ok(row.map(MergeRequestRow::into_domain).transpose()?)
}

/// The merge request of `project` with `iid`, whole.
pub(crate) fn merge_request_by_iid(
    conn: &mut SqliteConnection,
    project: ProjectId,
    iid: MergeRequestIid,
) -> Result<Option<MergeRequest>, TxError> {
    let row = mrs::table
        .filter(mrs::project_id.eq(project.0).and(mrs::iid.eq(iid.0)))
        .select(MergeRequestRow::as_select())
        .first(conn)
        .optional()?;
    Ok(row.map(MergeRequestRow::into_domain).transpose()?)
}

/// Inserts `new` as an open merge request numbered `iid`, and answers it as stored.
pub(crate) fn insert_merge_request(
    conn: &mut SqliteConnection,
    new: &NewMergeRequest,
    iid: MergeRequestIid,
) -> Result<MergeRequest, TxError> {
    let at = millis(new.created_at);
    diesel::insert_into(mrs::table)
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
        .execute(conn)?;
    let id = inserted_id(conn)?;
    load_merge_request(conn, id)?.ok_or(TxError::Repo(RepoError::NotFound))
}

/// Applies `changes` to merge request `id`, and answers it as stored; `NotFound` if it is gone (or not in
/// the state `changes.require_state` requires).
pub(crate) fn apply_changes(
    conn: &mut SqliteConnection,
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
    let updated = match changes.require_state {
        Some(state) => {
            diesel::update(mrs::table.filter(mrs::id.eq(id.0).and(mrs::state.eq(state.as_str()))))
                .set(set)
                .execute(conn)?
        }
        None => diesel::update(mrs::table.find(id.0))
            .set(set)
            .execute(conn)?,
    };
    if updated == 0 {
        return Err(TxError::Repo(RepoError::NotFound));
    }
    load_merge_request(conn, id.0)?.ok_or(TxError::Repo(RepoError::NotFound))
}

#[async_trait]
impl MergeRequestRepository for Store {
    async fn create_merge_request(
        &self,
        new: NewMergeRequest,
        drafts: Vec<DeliveryDraft>,
    ) -> RepoResult<MergeRequest> {
        self.write_recording(!drafts.is_empty(), move |conn| {
            // Inside BEGIN IMMEDIATE no other writer can interleave: iids stay unique and gap-free.
            let last: Option<i64> = mrs::table
                .filter(mrs::project_id.eq(new.project_id.0))
                .select(max(mrs::iid))
                .first(conn)?;
            let iid = MergeRequestIid(last.unwrap_or(0) + 1);
            let mr = insert_merge_request(conn, &new, iid)?;
            record_deliveries(conn, &mr, &drafts)?;
            Ok(mr)
        })
        .await
    }

    async fn find_merge_request_at_head(
        &self,
        project: ProjectId,
        iid: MergeRequestIid,
    ) -> RepoResult<Option<(MergeRequest, Vec<StatusCheckResponse>)>> {
        self.connections
            .read(move |conn| {
                // Two statements in one read transaction: one snapshot, and the WAL's shared lock taken and
                // released once instead of twice — under load that locking cost more than BEGIN and COMMIT
                // (docs/benchmarks.md, "Reads without a thread hop").
                conn.transaction(|conn| {
                    let Some(mr) = merge_request_by_iid(conn, project, iid)? else {
                        return Ok(None);
                    };
                    let newest = newest_at(conn, mr.id, &mr.sha)?;
                    Ok(Some((mr, newest)))
                })
            })
            .await
    }

    async fn find_merge_request_head(
        &self,
        project: ProjectId,
        iid: MergeRequestIid,
    ) -> RepoResult<Option<(MergeRequestHead, Vec<StatusCheckResponse>)>> {
        self.connections
            .read(move |conn| {
                // As `find_merge_request_at_head`: one read transaction.
                conn.transaction(|conn| {
                    let Some(head) = head_of(conn, project, iid)? else {
                        return Ok(None);
                    };
                    let newest = newest_at(conn, head.id, &head.sha)?;
                    Ok(Some((head, newest)))
                })
            })
            .await
    }

    async fn find_merge_request(
        &self,
        project: ProjectId,
        iid: MergeRequestIid,
    ) -> RepoResult<Option<MergeRequest>> {
        self.connections
            .read(move |conn| merge_request_by_iid(conn, project, iid))
            .await
    }

    async fn list_merge_requests(
        &self,
        project: ProjectId,
        state: Option<MergeRequestState>,
        request: PageRequest,
    ) -> RepoResult<Page<MergeRequest>> {
        self.connections
            .read(move |conn| {
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
            .await
    }

    async fn update_merge_request(
        &self,
        id: MergeRequestId,
        changes: MergeRequestChanges,
        drafts: Vec<DeliveryDraft>,
    ) -> RepoResult<MergeRequest> {
        self.write_recording(!drafts.is_empty(), move |conn| {
            let mr = apply_changes(conn, id, &changes)?;
            record_deliveries(conn, &mr, &drafts)?;
            Ok(mr)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use crate::statements::plans::plan_of;
    use diesel::sql_types::BigInt;

    /// A page of a project's merge requests walks an index in id order: no sort of all of them per page.
    #[test]
    fn a_page_of_merge_requests_is_read_in_id_order_without_a_sort() {
        let plan = plan_of(
            &diesel::sql_query(
                "SELECT * FROM merge_requests WHERE project_id = ? ORDER BY id LIMIT ? OFFSET ?",
            )
            .bind::<BigInt, _>(1_i64)
            .bind::<BigInt, _>(20_i64)
            .bind::<BigInt, _>(40_i64),
        );
        assert_eq!(
            plan,
            vec![
                "SEARCH merge_requests USING INDEX merge_requests_project (project_id=?)"
                    .to_owned()
            ]
        );
    }
}
