//! `ProjectRepository`: a project created with its Owner in one transaction, and the lookup of a
//! project with the caller's access level that nearly every request makes (cached in front of the store by
//! status-checks-cache).

use super::inserted_id;
use crate::Store;
use crate::columns::{access_level, from_millis, millis};
use crate::error::TxError;
use crate::schema::{members, projects};
use async_trait::async_trait;
use diesel::prelude::*;
use diesel::sqlite::Sqlite;
use status_checks_core::pagination::{Page, PageRequest};
use status_checks_core::ports::{ProjectRepository, RepoResult};
use status_checks_core::projects::{NewProject, Project, ProjectRef, ProjectUpdate};
use status_checks_core::{AccessLevel, ProjectId, RepoError, Timestamp, UserId};

#[derive(Queryable, Selectable, Debug)]
#[diesel(table_name = projects, check_for_backend(Sqlite))]
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

fn load_project(conn: &mut SqliteConnection, id: i64) -> Result<Option<Project>, TxError> {
    let row = projects::table
        .find(id)
        .select(ProjectRow::as_select())
        .first(conn)
        .optional()?;
    Ok(row.map(ProjectRow::into_domain).transpose()?)
}

#[derive(AsChangeset)]
#[diesel(table_name = projects)]
struct ProjectChangeset {
    name: Option<String>,
    only_allow_merge_if_all_status_checks_passed: Option<bool>,
    updated_at: i64,
}

#[async_trait]
impl ProjectRepository for Store {
    async fn create_project(&self, new: NewProject, owner: UserId) -> RepoResult<Project> {
        self.connections
            .write(move |conn| {
                let created_at = millis(new.created_at);
                diesel::insert_into(projects::table)
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
                    .execute(conn)?;
                let id = inserted_id(conn)?;
                diesel::insert_into(members::table)
                    .values((
                        members::project_id.eq(id),
                        members::user_id.eq(owner.0),
                        members::access_level.eq(AccessLevel::Owner.value()),
                        members::created_at.eq(created_at),
                    ))
                    .execute(conn)?;
                load_project(conn, id)?.ok_or(TxError::Repo(RepoError::NotFound))
            })
            .await
    }

    async fn find_project_with_access(
        &self,
        reference: &ProjectRef,
        user: UserId,
    ) -> RepoResult<Option<(Project, Option<AccessLevel>)>> {
        let reference = reference.clone();
        self.connections
            .read(move |conn| {
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
                    ProjectRef::Path(path) => query.filter(projects::path_with_namespace.eq(path)),
                };
                let Some((row, level)) =
                    query.first::<(ProjectRow, Option<i32>)>(conn).optional()?
                else {
                    return Ok(None);
                };
                let level = level.map(access_level).transpose()?;
                Ok(Some((row.into_domain()?, level)))
            })
            .await
    }

    async fn list_projects(
        &self,
        member: Option<UserId>,
        request: PageRequest,
    ) -> RepoResult<Page<Project>> {
        self.connections
            .read(move |conn| {
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
            .await
    }

    async fn update_project(
        &self,
        id: ProjectId,
        update: ProjectUpdate,
        updated_at: Timestamp,
    ) -> RepoResult<Project> {
        self.connections
            .write(move |conn| {
                let changes = ProjectChangeset {
                    name: update.name,
                    only_allow_merge_if_all_status_checks_passed: update
                        .only_allow_merge_if_all_status_checks_passed,
                    updated_at: millis(updated_at),
                };
                let updated = diesel::update(projects::table.find(id.0))
                    .set(changes)
                    .execute(conn)?;
                if updated == 0 {
                    return Err(TxError::Repo(RepoError::NotFound));
                }
                load_project(conn, id.0)?.ok_or(TxError::Repo(RepoError::NotFound))
            })
            .await
    }

    async fn delete_project(&self, id: ProjectId) -> RepoResult<bool> {
        self.connections
            .write(move |conn| Ok(diesel::delete(projects::table.find(id.0)).execute(conn)? > 0))
            .await
    }
}
