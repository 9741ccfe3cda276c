//! `MemberRepository`, with the last-Owner rule checked inside the transaction.

use super::{limit_offset, page};
use crate::Store;
use crate::columns::{access_level, from_millis, millis};
use crate::error::TxError;
use crate::repos::users::UserRow;
use crate::schema::{members, users};
use async_trait::async_trait;
use diesel::prelude::*;
use diesel::sqlite::Sqlite;
use status_checks_core::members::{Member, leaves_no_owner};
use status_checks_core::pagination::{Page, PageRequest};
use status_checks_core::ports::{MemberRepository, RepoResult};
use status_checks_core::{AccessLevel, ProjectId, RepoError, Timestamp, UserId};

#[derive(Queryable, Selectable, Debug)]
#[diesel(table_name = members, check_for_backend(Sqlite))]
struct MemberRow {
    access_level: i32,
    created_at: i64,
}

impl MemberRow {
    fn into_domain(self, user: UserRow) -> Result<Member, RepoError> {
        Ok(Member {
            user: user.into_domain()?,
            access_level: access_level(self.access_level)?,
            created_at: from_millis(self.created_at)?,
        })
    }
}

fn load_member(
    conn: &mut SqliteConnection,
    project: i64,
    user: i64,
) -> Result<Option<Member>, TxError> {
    let row = members::table
        .inner_join(users::table)
        .filter(
            members::project_id
                .eq(project)
                .and(members::user_id.eq(user)),
        )
        .select((MemberRow::as_select(), UserRow::as_select()))
        .first::<(MemberRow, UserRow)>(conn)
        .optional()?;
    Ok(row
        .map(|(member, user)| member.into_domain(user))
        .transpose()?)
}

/// Refuses a change of `user`'s level to `to` (`None`: removal) that would leave no Owner.
fn guard_last_owner(
    conn: &mut SqliteConnection,
    project: i64,
    user: i64,
    to: Option<AccessLevel>,
) -> Result<Member, TxError> {
    let member = load_member(conn, project, user)?.ok_or(TxError::Repo(RepoError::NotFound))?;
    let owners: i64 = members::table
        .filter(
            members::project_id
                .eq(project)
                .and(members::access_level.eq(AccessLevel::Owner.value())),
        )
        .count()
        .get_result(conn)?;
    if leaves_no_owner(u64::try_from(owners).unwrap_or(0), member.access_level, to) {
        return Err(TxError::Repo(RepoError::LastOwner));
    }
    Ok(member)
}

#[async_trait]
impl MemberRepository for Store {
    async fn list_members(
        &self,
        project: ProjectId,
        request: PageRequest,
    ) -> RepoResult<Page<Member>> {
        self.connections
            .read(move |conn| {
                let (limit, offset) = limit_offset(request);
                let total: i64 = members::table
                    .filter(members::project_id.eq(project.0))
                    .count()
                    .get_result(conn)?;
                let rows = members::table
                    .inner_join(users::table)
                    .filter(members::project_id.eq(project.0))
                    .order(members::user_id.asc())
                    .limit(limit)
                    .offset(offset)
                    .select((MemberRow::as_select(), UserRow::as_select()))
                    .load::<(MemberRow, UserRow)>(conn)?;
                let items = rows
                    .into_iter()
                    .map(|(m, u)| m.into_domain(u))
                    .collect::<Result<_, _>>()?;
                Ok(page(items, total, request))
            })
            .await
    }

    async fn find_member(&self, project: ProjectId, user: UserId) -> RepoResult<Option<Member>> {
        self.connections
            .read(move |conn| load_member(conn, project.0, user.0))
            .await
    }

    async fn add_member(
        &self,
        project: ProjectId,
        user: UserId,
        level: AccessLevel,
        created_at: Timestamp,
    ) -> RepoResult<Member> {
        self.connections
            .write(move |conn| {
                diesel::insert_into(members::table)
                    .values((
                        members::project_id.eq(project.0),
                        members::user_id.eq(user.0),
                        members::access_level.eq(level.value()),
                        members::created_at.eq(millis(created_at)),
                    ))
                    .execute(conn)?;
                load_member(conn, project.0, user.0)?.ok_or(TxError::Repo(RepoError::NotFound))
            })
            .await
    }

    async fn update_member(
        &self,
        project: ProjectId,
        user: UserId,
        level: AccessLevel,
    ) -> RepoResult<Member> {
        self.connections
            .write(move |conn| {
                guard_last_owner(conn, project.0, user.0, Some(level))?;
                diesel::update(members::table.find((project.0, user.0)))
                    .set(members::access_level.eq(level.value()))
                    .execute(conn)?;
                load_member(conn, project.0, user.0)?.ok_or(TxError::Repo(RepoError::NotFound))
            })
            .await
    }

    async fn remove_member(&self, project: ProjectId, user: UserId) -> RepoResult<bool> {
        self.connections
            .write(move |conn| {
                match guard_last_owner(conn, project.0, user.0, None) {
                    Err(TxError::Repo(RepoError::NotFound)) => return Ok(false),
                    Err(e) => return Err(e),
                    Ok(_) => {}
                }
                Ok(diesel::delete(members::table.find((project.0, user.0))).execute(conn)? > 0)
            })
            .await
    }
}
