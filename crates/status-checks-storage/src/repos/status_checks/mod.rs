//! `StatusCheckRepository`: a check with its protected branches costs two queries for any number of checks.
//! Its responses are in [`responses`].

pub(crate) mod responses;

use super::{IDS_PER_STATEMENT, inserted_id};
use crate::Store;
use crate::columns::{from_millis, millis};
use crate::error::{TxError, corrupt};
use crate::repos::protected_branches::ProtectedBranchRow;
use crate::schema::{
    external_status_checks as checks, protected_branches as branches,
    status_check_protected_branches as scoped,
};
use async_trait::async_trait;
use diesel::prelude::*;
use diesel::sqlite::Sqlite;
use status_checks_core::pagination::{Page, PageRequest};
use status_checks_core::ports::{RepoResult, StatusCheckRepository};
use status_checks_core::protected_branches::ProtectedBranch;
use status_checks_core::status_checks::{
    CheckName, ExternalStatusCheck, ExternalUrl, NewStatusCheck, SharedSecret, StatusCheckUpdate,
};
use status_checks_core::{ProjectId, ProtectedBranchId, RepoError, StatusCheckId};
use std::collections::HashMap;

#[derive(Queryable, Selectable, Debug, Clone)]
#[diesel(table_name = checks, check_for_backend(Sqlite))]
struct CheckRow {
    id: i64,
    project_id: i64,
    name: String,
    external_url: String,
    shared_secret: Option<String>,
    created_at: i64,
    updated_at: i64,
}

impl CheckRow {
    fn into_domain(
        self,
        protected_branches: Vec<ProtectedBranch>,
    ) -> Result<ExternalStatusCheck, RepoError> {
        let shared_secret = match self.shared_secret.as_deref() {
            Some(raw) => {
                SharedSecret::parse(raw).map_err(|_| corrupt("shared secret", "[redacted]"))?
            }
            None => None,
        };
        Ok(ExternalStatusCheck {
            id: StatusCheckId(self.id),
            project_id: ProjectId(self.project_id),
            name: CheckName::parse(&self.name).map_err(|_| corrupt("check name", &self.name))?,
            external_url: ExternalUrl::from_stored(self.external_url),
            shared_secret,
            protected_branches,
            created_at: from_millis(self.created_at)?,
            updated_at: from_millis(self.updated_at)?,
        })
    }
}

/// Attaches to each check its protected branches, in one query.
fn with_branches(
    conn: &mut SqliteConnection,
    rows: Vec<CheckRow>,
) -> Result<Vec<ExternalStatusCheck>, TxError> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let mut pairs = Vec::new();
    for chunk in ids.chunks(IDS_PER_STATEMENT) {
        pairs.extend(
            scoped::table
                .inner_join(branches::table)
                .filter(scoped::external_status_check_id.eq_any(chunk))
                .order((scoped::external_status_check_id.asc(), branches::id.asc()))
                .select((
                    scoped::external_status_check_id,
                    ProtectedBranchRow::as_select(),
                ))
                .load::<(i64, ProtectedBranchRow)>(conn)?,
        );
    }
    let mut by_check: HashMap<i64, Vec<_>> = HashMap::new();
    for (check, branch) in pairs {
        by_check
            .entry(check)
            .or_default()
            .push(branch.into_domain()?);
    }
    Ok(rows
        .into_iter()
        .map(|row| {
            let branches = by_check.remove(&row.id).unwrap_or_default();
            row.into_domain(branches)
        })
        .collect::<Result<_, _>>()?)
}

fn load_check(
    conn: &mut SqliteConnection,
    project: i64,
    id: i64,
) -> Result<Option<ExternalStatusCheck>, TxError> {
    let row = checks::table
        .filter(checks::id.eq(id).and(checks::project_id.eq(project)))
        .select(CheckRow::as_select())
        .first(conn)
        .optional()?;
    Ok(with_branches(conn, row.into_iter().collect())?.pop())
}

/// Scopes a check to exactly `ids`, refusing any branch that is not the project's.
fn set_branches(
    conn: &mut SqliteConnection,
    project: i64,
    check: i64,
    ids: &[ProtectedBranchId],
) -> Result<(), TxError> {
    let mut ids: Vec<i64> = ids.iter().map(|id| id.0).collect();
    ids.sort_unstable();
    ids.dedup();
    let mut found: i64 = 0;
    for chunk in ids.chunks(IDS_PER_STATEMENT) {
        found += branches::table
            .filter(
                branches::project_id
                    .eq(project)
                    .and(branches::id.eq_any(chunk)),
            )
            .count()
            .get_result::<i64>(conn)?;
    }
    if usize::try_from(found).unwrap_or(0) != ids.len() {
        return Err(TxError::Repo(RepoError::ForeignProtectedBranch));
    }
    diesel::delete(scoped::table.filter(scoped::external_status_check_id.eq(check)))
        .execute(conn)?;
    let rows: Vec<_> = ids
        .iter()
        .map(|branch| {
            (
                scoped::external_status_check_id.eq(check),
                scoped::protected_branch_id.eq(*branch),
            )
        })
        .collect();
    for chunk in rows.chunks(IDS_PER_STATEMENT / 2) {
        diesel::insert_into(scoped::table)
            .values(chunk)
            .execute(conn)?;
    }
    Ok(())
}

#[derive(AsChangeset)]
#[diesel(table_name = checks)]
struct CheckChangeset {
    name: Option<String>,
    external_url: Option<String>,
    shared_secret: Option<Option<String>>,
    updated_at: i64,
}

#[async_trait]
impl StatusCheckRepository for Store {
    async fn list_checks(
        &self,
        project: ProjectId,
        request: PageRequest,
    ) -> RepoResult<Page<ExternalStatusCheck>> {
        // A page of the project's checks, in id order, cut from all of them (one project's checks are few).
        // Through the ports the cache decorator (status-checks-cache) serves this from its cached copy.
        let all = self.all_checks(project).await?;
        Ok(Page::from_slice(&all, request))
    }

    async fn all_checks(
        &self,
        project: ProjectId,
    ) -> RepoResult<std::sync::Arc<[ExternalStatusCheck]>> {
        let found = self
            .connections
            .read(move |conn| {
                let rows = checks::table
                    .filter(checks::project_id.eq(project.0))
                    .order(checks::id.asc())
                    .select(CheckRow::as_select())
                    .load(conn)?;
                with_branches(conn, rows)
            })
            .await?;
        Ok(found.into())
    }

    async fn find_check(
        &self,
        project: ProjectId,
        id: StatusCheckId,
    ) -> RepoResult<Option<ExternalStatusCheck>> {
        // Found among the project's checks (few); through the ports, from the decorator's cached copy.
        Ok(self
            .all_checks(project)
            .await?
            .iter()
            .find(|check| check.id == id)
            .cloned())
    }

    async fn create_check(&self, new: NewStatusCheck) -> RepoResult<ExternalStatusCheck> {
        self.connections
            .write(move |conn| {
                let at = millis(new.created_at);
                diesel::insert_into(checks::table)
                    .values((
                        checks::project_id.eq(new.project_id.0),
                        checks::name.eq(new.name.as_str()),
                        checks::external_url.eq(new.external_url.as_str()),
                        checks::shared_secret.eq(new.shared_secret.as_ref().map(|s| s.expose())),
                        checks::created_at.eq(at),
                        checks::updated_at.eq(at),
                    ))
                    .execute(conn)?;
                let id = inserted_id(conn)?;
                set_branches(conn, new.project_id.0, id, &new.protected_branch_ids)?;
                load_check(conn, new.project_id.0, id)?.ok_or(TxError::Repo(RepoError::NotFound))
            })
            .await
    }

    async fn update_check(
        &self,
        project: ProjectId,
        id: StatusCheckId,
        update: StatusCheckUpdate,
    ) -> RepoResult<ExternalStatusCheck> {
        self.connections
            .write(move |conn| {
                let changes = CheckChangeset {
                    name: update.name.map(|n| n.as_str().to_owned()),
                    external_url: update.external_url.map(|u| u.as_str().to_owned()),
                    shared_secret: update
                        .shared_secret
                        .map(|s| s.map(|s| s.expose().to_owned())),
                    updated_at: millis(update.updated_at),
                };
                let updated = diesel::update(
                    checks::table.filter(checks::id.eq(id.0).and(checks::project_id.eq(project.0))),
                )
                .set(changes)
                .execute(conn)?;
                if updated == 0 {
                    return Err(TxError::Repo(RepoError::NotFound));
                }
                if let Some(ids) = &update.protected_branch_ids {
                    set_branches(conn, project.0, id.0, ids)?;
                }
                load_check(conn, project.0, id.0)?.ok_or(TxError::Repo(RepoError::NotFound))
            })
            .await
    }

    async fn delete_check(&self, project: ProjectId, id: StatusCheckId) -> RepoResult<bool> {
        // Responses, scope rows and deliveries go with it (ON DELETE CASCADE).
        self.connections
            .write(move |conn| {
                let deleted = diesel::delete(
                    checks::table.filter(checks::id.eq(id.0).and(checks::project_id.eq(project.0))),
                )
                .execute(conn)?;
                Ok(deleted > 0)
            })
            .await
    }
}
