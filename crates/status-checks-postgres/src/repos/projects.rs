//! `ProjectRepository`: a project created with its Owner in one transaction, and the lookup of a project
//! with the caller's access level that nearly every request makes. Full paths are matched through
//! `lower()`, which the unique index `projects_path_lower` serves.

use super::lower;
use crate::PgStore;
use crate::columns::{access_level, from_millis, millis};
use crate::error::TxError;
use crate::schema::{members, projects};
use async_trait::async_trait;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use status_checks_core::pagination::{Page, PageRequest};
use status_checks_core::ports::{ProjectRepository, RepoResult};
use status_checks_core::projects::{NewProject, Project, ProjectRef, ProjectUpdate};
use status_checks_core::{AccessLevel, ProjectId, RepoError, Timestamp, UserId};

#[derive(Queryable, Selectable, Debug)]
#[diesel(table_name = projects, check_for_backend(Pg))]
struct ProjectRow {
    id: i64,
    name: String,
    path: String,
    namespace: String,
    only_allow_merge_if_all_status_checks_passed: bool,
    created_at: i64,
    updated_at: i64,
}

impl ProjectRow {
    fn into_domain(self) -> Result<Project, RepoError> {
        Ok(Project {
            id: ProjectId(self.id),
            name: self.name,
            path: self.path,
            namespace: self.namespace,
            only_allow_merge_if_all_status_checks_passed: self
                .only_allow_merge_if_all_status_checks_passed,
            created_at: from_millis(self.created_at)?,
            updated_at: from_millis(self.updated_at)?,
        })
    }
}

#[derive(Insertable)]
#[diesel(table_name = projects)]
struct NewProjectRow<'a> {
    name: &'a str,
    path: &'a str,
    namespace: &'a str,
    path_with_namespace: String,
    only_allow_merge_if_all_status_checks_passed: bool,
    created_at: i64,
    updated_at: i64,
}

#[derive(AsChangeset)]
#[diesel(table_name = projects)]
struct ProjectChangeset {
    name: Option<String>,
    only_allow_merge_if_all_status_checks_passed: Option<bool>,
    updated_at: i64,
}

#[async_trait]
impl ProjectRepository for PgStore {
    async fn create_project(&self, new: NewProject, owner: UserId) -> RepoResult<Project> {
        write_tx!(self, |conn| {
            let created_at = millis(new.created_at);
            let row = diesel::insert_into(projects::table)
                .values(NewProjectRow {
                    name: &new.name,
                    path: &new.path,
                    namespace: &new.namespace,
                    path_with_namespace: format!("{}/{}", new.namespace, new.path),
                    only_allow_merge_if_all_status_checks_passed: new
                        .only_allow_merge_if_all_status_checks_passed,
                    created_at,
                    updated_at: created_at,
                })
                .returning(ProjectRow::as_returning())
                .get_result(conn)
                .await?;
            diesel::insert_into(members::table)
                .values((
                    members::project_id.eq(row.id),
                    members::user_id.eq(owner.0),
                    members::access_level.eq(AccessLevel::Owner.value()),
                    members::created_at.eq(created_at),
                ))
                .execute(conn)
                .await?;
            Ok::<_, TxError>(row.into_domain()?)
        })
    }

    async fn find_project_with_access(
        &self,
        reference: &ProjectRef,
        user: UserId,
    ) -> RepoResult<Option<(Project, Option<AccessLevel>)>> {
        // Stored paths are ASCII (the core's slug rule) and SQLite's NOCASE folds ASCII only, so a path with
        // any other character names no project, whatever `lower()` makes of it (U+212A KELVIN SIGN lowers to
        // "k"): both backends answer 404.
        if let ProjectRef::Path(path) = reference
            && !path.as_str().is_ascii()
        {
            return Ok(None);
        }
        run!(self, |conn| {
            let mut query = projects::table
                .left_join(
                    members::table.on(members::project_id
                        .eq(projects::id)
                        .and(members::user_id.eq(user.0))),
                )
                .select((ProjectRow::as_select(), members::access_level.nullable()))
                .into_boxed();
            query = match reference {
                ProjectRef::Id(id) => query.filter(projects::id.eq(id.0)),
                ProjectRef::Path(path) => query.filter(
                    lower(projects::path_with_namespace).eq(lower(path.as_str().to_owned())),
                ),
            };
            let Some((row, level)) = query
                .first::<(ProjectRow, Option<i32>)>(conn)
                .await
                .optional()?
            else {
                return Ok(None);
            };
            let level = level.map(access_level).transpose()?;
            Ok(Some((row.into_domain()?, level)))
        })
    }

    async fn list_projects(
        &self,
        member: Option<UserId>,
        request: PageRequest,
    ) -> RepoResult<Page<Project>> {
        run!(self, |conn| {
            let filtered = || {
                let mut query = projects::table.into_boxed();
                if let Some(user) = member {
                    let mine = members::table
                        .filter(members::user_id.eq(user.0))
                        .select(members::project_id);
                    query = query.filter(projects::id.eq_any(mine));
                }
                query
            };
            page_of!(conn, request, filtered, projects::id.asc(), ProjectRow)
        })
    }

    async fn update_project(
        &self,
        id: ProjectId,
        update: ProjectUpdate,
        updated_at: Timestamp,
    ) -> RepoResult<Project> {
        run!(self, |conn| {
            let changes = ProjectChangeset {
                name: update.name.clone(),
                only_allow_merge_if_all_status_checks_passed: update
                    .only_allow_merge_if_all_status_checks_passed,
                updated_at: millis(updated_at),
            };
            let row = diesel::update(projects::table.find(id.0))
                .set(changes)
                .returning(ProjectRow::as_returning())
                .get_result(conn)
                .await
                .optional()?;
            Ok(row.ok_or(RepoError::NotFound)?.into_domain()?)
        })
    }

    async fn delete_project(&self, id: ProjectId) -> RepoResult<bool> {
        // Everything in it goes with it (ON DELETE CASCADE). The delete locks the project row, so a member
        // change (which locks it first) waits for it and then finds nothing.
        run!(self, |conn| {
            Ok(diesel::delete(projects::table.find(id.0))
                .execute(conn)
                .await?
                > 0)
        })
    }
}
