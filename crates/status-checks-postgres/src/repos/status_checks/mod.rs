//! `StatusCheckRepository`: a check with its protected branches costs two queries for any number of checks.
//! Its responses are in [`responses`].

pub(crate) mod responses;

use crate::PgStore;
use crate::columns::{from_millis, millis};
use crate::error::{TxError, corrupt};
use crate::repos::protected_branches::ProtectedBranchRow;
use crate::schema::{
    external_status_checks as checks, protected_branches as branches,
    status_check_protected_branches as scoped,
};
use async_trait::async_trait;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use status_checks_core::pagination::{Page, PageRequest};
use status_checks_core::ports::{RepoResult, StatusCheckRepository};
use status_checks_core::protected_branches::ProtectedBranch;
use status_checks_core::status_checks::{
    CheckName, ExternalStatusCheck, ExternalUrl, NewStatusCheck, SharedSecret, StatusCheckUpdate,
};
use status_checks_core::{ProjectId, ProtectedBranchId, RepoError, StatusCheckId};
use std::collections::HashMap;

#[derive(Queryable, Selectable, Clone)]
#[diesel(table_name = checks, check_for_backend(Pg))]
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

/// Attaches to each check of `project` its protected branches, in one query.
async fn with_branches(
    conn: &mut AsyncPgConnection,
    project: i64,
    rows: Vec<CheckRow>,
) -> Result<Vec<ExternalStatusCheck>, TxError> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let pairs = scoped::table
        .inner_join(branches::table)
        .filter(scoped::project_id.eq(project))
        .filter(scoped::external_status_check_id.eq_any(&ids))
        .order((scoped::external_status_check_id.asc(), branches::id.asc()))
        .select((
            scoped::external_status_check_id,
            ProtectedBranchRow::as_select(),
        ))
        .load::<(i64, ProtectedBranchRow)>(conn)
        .await?;
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

async fn load_check(
    conn: &mut AsyncPgConnection,
    project: i64,
    id: i64,
) -> Result<Option<ExternalStatusCheck>, TxError> {
    let row = checks::table
        .filter(checks::project_id.eq(project).and(checks::id.eq(id)))
        .select(CheckRow::as_select())
        .first(conn)
        .await
        .optional()?;
    Ok(with_branches(conn, project, row.into_iter().collect())
        .await?
        .pop())
}

async fn all_of(
    conn: &mut AsyncPgConnection,
    project: i64,
) -> Result<Vec<ExternalStatusCheck>, TxError> {
    let rows = checks::table
        .filter(checks::project_id.eq(project))
        .order(checks::id.asc())
        .select(CheckRow::as_select())
        .load(conn)
        .await?;
    with_branches(conn, project, rows).await
}

/// Scopes a check to exactly `ids`, refusing any branch that is not the project's. The branches are locked
/// (`FOR SHARE`) until the transaction ends, so that one deleted meanwhile by another writer cannot slip in
/// between the count and the insert (it would fail the foreign key instead).
async fn set_branches(
    conn: &mut AsyncPgConnection,
    project: i64,
    check: i64,
    ids: &[ProtectedBranchId],
) -> Result<(), TxError> {
    let mut ids: Vec<i64> = ids.iter().map(|id| id.0).collect();
    ids.sort_unstable();
    ids.dedup();
    let found: Vec<i64> = branches::table
        .filter(
            branches::project_id
                .eq(project)
                .and(branches::id.eq_any(&ids)),
        )
        .select(branches::id)
        .for_share()
        .load(conn)
        .await?;
    if found.len() != ids.len() {
        return Err(TxError::Repo(RepoError::ForeignProtectedBranch));
    }
    diesel::delete(
        scoped::table
            .filter(scoped::project_id.eq(project))
            .filter(scoped::external_status_check_id.eq(check)),
    )
    .execute(conn)
    .await?;
    if ids.is_empty() {
        return Ok(());
    }
    let rows: Vec<_> = ids
        .iter()
        .map(|branch| {
            (
                scoped::project_id.eq(project),
                scoped::external_status_check_id.eq(check),
                scoped::protected_branch_id.eq(*branch),
            )
        })
        .collect();
    // PostgreSQL binds at most 65 535 parameters per statement: three a row.
    for chunk in rows.chunks(10_000) {
        diesel::insert_into(scoped::table)
            .values(chunk)
            .execute(conn)
            .await?;
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
impl StatusCheckRepository for PgStore {
    async fn list_checks(
        &self,
        project: ProjectId,
        request: PageRequest,
    ) -> RepoResult<Page<ExternalStatusCheck>> {
        // One project's checks are few: a page of all of them, as the SQLite adapter serves it.
        let all = self.all_checks(project).await?;
        Ok(Page::from_slice(&all, request))
    }

    async fn all_checks(
        &self,
        project: ProjectId,
    ) -> RepoResult<std::sync::Arc<[ExternalStatusCheck]>> {
        // Two statements in one transaction: the branches as of the same moment as the checks.
        let found = write_tx!(self, |conn| all_of(conn, project.0).await)?;
        Ok(found.into())
    }

    async fn find_check(
        &self,
        project: ProjectId,
        id: StatusCheckId,
    ) -> RepoResult<Option<ExternalStatusCheck>> {
        run!(self, |conn| load_check(conn, project.0, id.0).await)
    }

    async fn create_check(&self, new: NewStatusCheck) -> RepoResult<ExternalStatusCheck> {
        write_tx!(self, |conn| {
            let at = millis(new.created_at);
            let id: i64 = diesel::insert_into(checks::table)
                .values((
                    checks::project_id.eq(new.project_id.0),
                    checks::name.eq(new.name.as_str()),
                    checks::external_url.eq(new.external_url.as_str()),
                    checks::shared_secret.eq(new.shared_secret.as_ref().map(|s| s.expose())),
                    checks::created_at.eq(at),
                    checks::updated_at.eq(at),
                ))
                .returning(checks::id)
                .get_result(conn)
                .await?;
            set_branches(conn, new.project_id.0, id, &new.protected_branch_ids).await?;
            load_check(conn, new.project_id.0, id)
                .await?
                .ok_or(TxError::Repo(RepoError::NotFound))
        })
    }

    async fn update_check(
        &self,
        project: ProjectId,
        id: StatusCheckId,
        update: StatusCheckUpdate,
    ) -> RepoResult<ExternalStatusCheck> {
        write_tx!(self, |conn| {
            let changes = CheckChangeset {
                name: update.name.as_ref().map(|n| n.as_str().to_owned()),
                external_url: update.external_url.as_ref().map(|u| u.as_str().to_owned()),
                shared_secret: update
                    .shared_secret
                    .as_ref()
                    .map(|s| s.as_ref().map(|s| s.expose().to_owned())),
                updated_at: millis(update.updated_at),
            };
            let updated = diesel::update(
                checks::table.filter(checks::project_id.eq(project.0).and(checks::id.eq(id.0))),
            )
            .set(changes)
            .execute(conn)
            .await?;
            if updated == 0 {
                return Err(TxError::Repo(RepoError::NotFound));
            }
            if let Some(ids) = &update.protected_branch_ids {
                set_branches(conn, project.0, id.0, ids).await?;
            }
            load_check(conn, project.0, id.0)
                .await?
                .ok_or(TxError::Repo(RepoError::NotFound))
        })
    }

    async fn delete_check(&self, project: ProjectId, id: StatusCheckId) -> RepoResult<bool> {
        // Responses, scope rows and deliveries go with it (ON DELETE CASCADE).
        run!(self, |conn| {
            let deleted = diesel::delete(
                checks::table.filter(checks::project_id.eq(project.0).and(checks::id.eq(id.0))),
            )
            .execute(conn)
            .await?;
            Ok(deleted > 0)
        })
    }
}
