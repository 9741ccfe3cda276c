//! Rows as diesel reads and writes them, and their conversion to and from the core's types.
//!
//! Reading a row validates it again with the core's constructors: a value the domain refuses means the file
//! was changed behind our back, and is reported as an internal error rather than served.

pub(crate) use crate::columns::*;
use crate::error::corrupt;
use crate::schema::*;
use diesel::prelude::*;
use diesel::sqlite::Sqlite;
use status_checks_core::merge_request::{
    CommitSha, MergeRequest, MergeRequestHead, MergeRequestState,
};
use status_checks_core::response::{CheckStatus, StatusCheckResponse};
use status_checks_core::*;

#[derive(Queryable, Selectable, Debug, Clone)]
#[diesel(table_name = merge_requests, check_for_backend(Sqlite))]
pub(crate) struct MergeRequestRow {
    pub id: i64,
    pub project_id: i64,
    pub iid: i64,
    pub title: String,
    pub description: String,
    pub source_branch: String,
    pub target_branch: String,
    pub sha: String,
    pub head_recorded_at: i64,
    pub state: String,
    pub author_id: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub merged_at: Option<i64>,
    pub closed_at: Option<i64>,
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

/// The columns of a merge request that a status read needs, in this order.
#[derive(Queryable, Debug, Clone)]
pub(crate) struct MergeRequestHeadRow {
    pub id: i64,
    pub target_branch: String,
    pub sha: String,
    pub head_recorded_at: i64,
}

impl MergeRequestHeadRow {
    pub(crate) fn into_domain(self) -> Result<MergeRequestHead, RepoError> {
        Ok(MergeRequestHead {
            id: MergeRequestId(self.id),
            target_branch: self.target_branch,
            sha: commit_sha(&self.sha)?,
            head_recorded_at: from_millis(self.head_recorded_at)?,
        })
    }
}

#[derive(Insertable)]
#[diesel(table_name = merge_requests)]
pub(crate) struct NewMergeRequestRow<'a> {
    pub project_id: i64,
    pub iid: i64,
    pub title: &'a str,
    pub description: &'a str,
    pub source_branch: &'a str,
    pub target_branch: &'a str,
    pub sha: &'a str,
    pub head_recorded_at: i64,
    pub state: &'a str,
    pub author_id: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// The columns an update may set; `None` leaves a column alone.
#[derive(AsChangeset, Default)]
#[diesel(table_name = merge_requests)]
pub(crate) struct MergeRequestChangeset {
    pub title: Option<String>,
    pub description: Option<String>,
    pub target_branch: Option<String>,
    pub sha: Option<String>,
    pub head_recorded_at: Option<i64>,
    pub state: Option<String>,
    pub merged_at: Option<i64>,
    pub closed_at: Option<i64>,
    pub updated_at: Option<i64>,
}

/// A response read where its merge request and sha are known: the columns that are not.
#[derive(Queryable, Debug, Clone)]
pub(crate) struct ResponseAtHeadRow {
    pub id: i64,
    pub external_status_check_id: i64,
    pub status: String,
    pub created_at: i64,
    pub retried_at: Option<i64>,
}

impl ResponseAtHeadRow {
    pub(crate) fn into_domain(
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
