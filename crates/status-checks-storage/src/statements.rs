//! The hand-written SQL of the two reads every status poll makes (E5: a merge request's HEAD, then the newest
//! response of each check about it), and the tests that pin their query plans.
//!
//! They are written out rather than built with diesel's DSL, and kept here so that the rest of the crate stays
//! plain diesel:
//! - **Prepared once per connection**: [`statement!`] gives each one a static query id, so diesel keeps it in
//!   the connection's statement cache (diesel prepares `sql_query` text anew on every call).
//! - **Covering indexes**: each selects only columns of one index (`merge_requests_head`, migration 3;
//!   `status_check_responses_head`, migration 2), so SQLite answers from the index without visiting a row of
//!   the table: one page fewer per read, a disk read on a database larger than the cache.
//! - **`INDEXED BY`**, which diesel's DSL cannot say: for the HEAD the planner would prefer the unique
//!   `(project_id, iid)` index, which needs the table row.
//! - The newest response of each check is the last of its run in a scan in (check, id) order, kept in Rust:
//!   cheaper for SQLite per row than `MAX()` with `GROUP BY`.
//!
//! The tests ask SQLite for the plan of the very statements that run, text and parameters, on a freshly migrated
//! database: a migration that drops or changes one of these indexes fails them. The measurements behind each
//! choice are in `docs/benchmarks.md`.

use crate::columns::{commit_sha, from_millis, from_millis_opt};
use crate::error::{TxError, corrupt};
use diesel::prelude::*;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::{BigInt, Nullable, Text};
use diesel::sqlite::Sqlite;
use status_checks_core::ids::CommitSha;
use status_checks_core::merge_requests::MergeRequestHead;
use status_checks_core::status_checks::{CheckStatus, StatusCheckResponse};
use status_checks_core::{
    MergeRequestId, MergeRequestIid, ProjectId, RepoError, ResponseId, StatusCheckId,
};

/// Makes a struct of parameters a diesel query: `$first` is the SQL up to the first parameter, then each
/// parameter (a field, bound as `$sql_type`) is followed by the SQL up to the next. `id` is the `'static` type
/// that names the statement in the connection's cache.
macro_rules! statement {
    (
        $statement:ty, id = $id:ty, row = $row:ty,
        $first:literal $(, $param:ident: $sql_type:ty, $then:literal)* $(,)?
    ) => {
        impl QueryId for $statement {
            type QueryId = $id;
            const HAS_STATIC_QUERY_ID: bool = true;
        }

        impl Query for $statement {
            type SqlType = $row;
        }

        impl QueryFragment<Sqlite> for $statement {
            fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Sqlite>) -> QueryResult<()> {
                out.push_sql($first);
                $(
                    out.push_bind_param::<$sql_type, _>(&self.$param)?;
                    out.push_sql($then);
                )*
                Ok(())
            }
        }

        impl RunQueryDsl<SqliteConnection> for $statement {}
    };
}

/// The four columns of a merge request that a status read needs, from `merge_requests_head` alone: a
/// description can run to many pages.
struct HeadOf {
    project: i64,
    iid: i64,
}

statement!(
    HeadOf, id = HeadOf, row = (BigInt, Text, Text, BigInt),
    "SELECT id, target_branch, sha, head_recorded_at FROM merge_requests INDEXED BY merge_requests_head \
     WHERE project_id = ",
    project: BigInt,
    " AND iid = ",
    iid: BigInt,
    "",
);

#[derive(Queryable, Debug, Clone)]
struct HeadRow {
    id: i64,
    target_branch: String,
    sha: String,
    head_recorded_at: i64,
}

/// The HEAD of merge request `iid` of `project`, if there is one.
pub(crate) fn head_of(
    conn: &mut SqliteConnection,
    project: ProjectId,
    iid: MergeRequestIid,
) -> Result<Option<MergeRequestHead>, TxError> {
    let row: Option<HeadRow> = HeadOf {
        project: project.0,
        iid: iid.0,
    }
    .get_result(conn)
    .optional()?;
    let Some(row) = row else { return Ok(None) };
    Ok(Some(MergeRequestHead {
        id: MergeRequestId(row.id),
        target_branch: row.target_branch,
        sha: commit_sha(&row.sha)?,
        head_recorded_at: from_millis(row.head_recorded_at)?,
    }))
}

/// The responses about `sha` of one merge request, by check and then id: the order of
/// `status_check_responses_head`, so no sort. The merge request and sha are not selected: the caller knows
/// them (and each text column read costs SQLite a copy).
struct NewestAtHead<'a> {
    merge_request: i64,
    sha: &'a str,
}

statement!(
    NewestAtHead<'_>, id = NewestAtHead<'static>,
    row = (BigInt, BigInt, Text, BigInt, Nullable<BigInt>),
    "SELECT id, external_status_check_id, status, created_at, retried_at \
     FROM status_check_responses WHERE merge_request_id = ",
    merge_request: BigInt,
    " AND sha = ",
    sha: Text,
    " ORDER BY external_status_check_id, id",
);

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

/// The newest response (highest id) of each check about `sha` of `merge_request`, ordered by check. A check
/// rarely answers more than once or twice about one HEAD, so few rows are read only to be passed over.
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

/// Query plans, for the tests that pin which index a statement uses.
#[cfg(test)]
pub(crate) mod plans {
    use diesel::prelude::*;
    use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
    use diesel::sql_types::{Integer, Text};
    use diesel::sqlite::Sqlite;

    /// `EXPLAIN QUERY PLAN` of a statement, with the statement's own text and parameters.
    struct Explain<'s, S>(&'s S);

    impl<S> QueryId for Explain<'_, S> {
        type QueryId = ();
        const HAS_STATIC_QUERY_ID: bool = false;
    }

    impl<S> Query for Explain<'_, S> {
        // id, parent, notused, detail.
        type SqlType = (Integer, Integer, Integer, Text);
    }

    impl<S: QueryFragment<Sqlite>> QueryFragment<Sqlite> for Explain<'_, S> {
        fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Sqlite>) -> QueryResult<()> {
            out.push_sql("EXPLAIN QUERY PLAN ");
            self.0.walk_ast(out.reborrow())
        }
    }

    impl<S> RunQueryDsl<SqliteConnection> for Explain<'_, S> {}

    /// The query plan of `statement` on a freshly migrated database: a migration that drops or reorders an
    /// index fails the test that asks.
    pub(crate) fn plan_of(statement: &impl QueryFragment<Sqlite>) -> Vec<String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plan.db").display().to_string();
        crate::run_migrations(&path).unwrap();
        let mut conn = SqliteConnection::establish(&path).unwrap();
        Explain(statement)
            .load::<(i32, i32, i32, String)>(&mut conn)
            .unwrap()
            .into_iter()
            .map(|(_, _, _, detail)| detail)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::plans::plan_of;
    use super::{HeadOf, NewestAtHead};

    /// A status read takes the merge request's HEAD from the covering index alone: no table row.
    #[test]
    fn the_head_of_a_merge_request_comes_from_the_covering_index_alone() {
        let plan = plan_of(&HeadOf { project: 1, iid: 1 });
        assert_eq!(
            plan,
            vec![
                "SEARCH merge_requests USING COVERING INDEX merge_requests_head (project_id=? AND iid=?)"
                    .to_owned()
            ]
        );
    }

    /// The status of a merge request is read from the covering index alone: no table row, no sort.
    #[test]
    fn the_newest_responses_at_a_head_come_from_the_covering_index_alone() {
        let plan = plan_of(&NewestAtHead {
            merge_request: 1,
            sha: "a",
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
