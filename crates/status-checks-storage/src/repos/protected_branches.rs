//! `ProtectedBranchRepository`, and the branch row that checks read with their scopes.

use super::{IDS_PER_STATEMENT, inserted_id};
use crate::Store;
use crate::columns::{from_millis, millis};
use crate::error::{TxError, corrupt};
use crate::schema::protected_branches as branches;
use async_trait::async_trait;
use diesel::prelude::*;
use diesel::sqlite::Sqlite;
use status_checks_core::pagination::{Page, PageRequest};
use status_checks_core::ports::{ProtectedBranchRepository, RepoResult};
use status_checks_core::protected_branches::{BranchPattern, ProtectedBranch};
use status_checks_core::{ProjectId, ProtectedBranchId, RepoError, Timestamp};

#[derive(Queryable, Selectable, Debug, Clone)]
#[diesel(table_name = branches, check_for_backend(Sqlite))]
pub(crate) struct ProtectedBranchRow {
    id: i64,
    project_id: i64,
    name: String,
    created_at: i64,
    updated_at: i64,
}

impl ProtectedBranchRow {
    pub(crate) fn into_domain(self) -> Result<ProtectedBranch, RepoError> {
        Ok(ProtectedBranch {
            id: ProtectedBranchId(self.id),
            project_id: ProjectId(self.project_id),
            name: BranchPattern::new(self.name.clone())
                .map_err(|_| corrupt("branch pattern", &self.name))?,
            created_at: from_millis(self.created_at)?,
            updated_at: from_millis(self.updated_at)?,
        })
    }
}

fn rows_into_domain(rows: Vec<ProtectedBranchRow>) -> Result<Vec<ProtectedBranch>, TxError> {
    Ok(rows
        .into_iter()
        .map(ProtectedBranchRow::into_domain)
        .collect::<Result<_, _>>()?)
}

#[async_trait]
impl ProtectedBranchRepository for Store {
    async fn list_protected_branches(
        &self,
        project: ProjectId,
        request: PageRequest,
    ) -> RepoResult<Page<ProtectedBranch>> {
        self.connections
            .read(move |conn| {
                let filtered = || branches::table.filter(branches::project_id.eq(project.0));
                page_of!(
                    conn,
                    request,
                    filtered,
                    branches::id.asc(),
                    ProtectedBranchRow
                )
            })
            .await
    }

    async fn find_protected_branch(
        &self,
        project: ProjectId,
        name: &str,
    ) -> RepoResult<Option<ProtectedBranch>> {
        let name = name.to_owned();
        self.connections
            .read(move |conn| {
                let row = branches::table
                    .filter(
                        branches::project_id
                            .eq(project.0)
                            .and(branches::name.eq(name)),
                    )
                    .select(ProtectedBranchRow::as_select())
                    .first(conn)
                    .optional()?;
                Ok(row.map(ProtectedBranchRow::into_domain).transpose()?)
            })
            .await
    }

    async fn find_protected_branches(
        &self,
        project: ProjectId,
        ids: Vec<ProtectedBranchId>,
    ) -> RepoResult<Vec<ProtectedBranch>> {
        self.connections
            .read(move |conn| {
                let ids: Vec<i64> = ids.iter().map(|id| id.0).collect();
                let mut rows = Vec::new();
                for chunk in ids.chunks(IDS_PER_STATEMENT) {
                    rows.extend(
                        branches::table
                            .filter(
                                branches::project_id
                                    .eq(project.0)
                                    .and(branches::id.eq_any(chunk)),
                            )
                            .select(ProtectedBranchRow::as_select())
                            .load(conn)?,
                    );
                }
                rows.sort_by_key(|row| row.id);
                rows_into_domain(rows)
            })
            .await
    }

    async fn create_protected_branch(
        &self,
        project: ProjectId,
        name: BranchPattern,
        created_at: Timestamp,
    ) -> RepoResult<ProtectedBranch> {
        self.connections
            .write(move |conn| {
                let at = millis(created_at);
                diesel::insert_into(branches::table)
                    .values((
                        branches::project_id.eq(project.0),
                        branches::name.eq(name.as_str()),
                        branches::created_at.eq(at),
                        branches::updated_at.eq(at),
                    ))
                    .execute(conn)?;
                let id = inserted_id(conn)?;
                let row = branches::table
                    .find(id)
                    .select(ProtectedBranchRow::as_select())
                    .first(conn)?;
                Ok(row.into_domain()?)
            })
            .await
    }

    async fn delete_protected_branch(
        &self,
        project: ProjectId,
        id: ProtectedBranchId,
    ) -> RepoResult<bool> {
        // The check↔branch rows go with it (ON DELETE CASCADE).
        self.connections
            .write(move |conn| {
                let deleted = diesel::delete(
                    branches::table.filter(
                        branches::id
                            .eq(id.0)
                            .and(branches::project_id.eq(project.0)),
                    ),
                )
                .execute(conn)?;
                Ok(deleted > 0)
            })
            .await
    }
}
