//! `MemberRepository`, with the last-Owner rule checked inside the transaction.
//!
//! Every member change first locks its project's row (`SELECT … FOR UPDATE`): two demotions of the two last
//! Owners on two instances would otherwise each count two Owners at READ COMMITTED and both commit, leaving
//! none. Under the lock the second waits for the first, then counts what it left.

use super::{limit_offset, page};
use crate::PgStore;
use crate::columns::{access_level, from_millis, millis};
use crate::error::TxError;
use crate::repos::users::UserRow;
use crate::schema::{members, projects, users};
use async_trait::async_trait;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use status_checks_core::members::{Member, leaves_no_owner};
use status_checks_core::pagination::{Page, PageRequest};
use status_checks_core::ports::{MemberRepository, RepoResult};
use status_checks_core::{AccessLevel, ProjectId, RepoError, Timestamp, UserId};

#[derive(Queryable, Selectable, Debug)]
#[diesel(table_name = members, check_for_backend(Pg))]
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

async fn load_member(
    conn: &mut AsyncPgConnection,
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
        .await
        .optional()?;
    Ok(row
        .map(|(member, user)| member.into_domain(user))
        .transpose()?)
}

/// Locks the project's row until the transaction ends; false if there is no such project.
pub(crate) async fn lock_project(
    conn: &mut AsyncPgConnection,
    project: i64,
) -> Result<bool, TxError> {
    let found: Option<i64> = projects::table
        .find(project)
        .select(projects::id)
        .for_update()
        .first(conn)
        .await
        .optional()?;
    Ok(found.is_some())
}

/// Refuses a change of `user`'s level to `to` (`None`: removal) that would leave no Owner; the project's
/// row must be locked.
async fn guard_last_owner(
    conn: &mut AsyncPgConnection,
    project: i64,
    user: i64,
    to: Option<AccessLevel>,
) -> Result<Member, TxError> {
    let member = load_member(conn, project, user)
        .await?
        .ok_or(TxError::Repo(RepoError::NotFound))?;
    let owners: i64 = members::table
        .filter(
            members::project_id
                .eq(project)
                .and(members::access_level.eq(AccessLevel::Owner.value())),
        )
        .count()
        .get_result(conn)
        .await?;
    if leaves_no_owner(u64::try_from(owners).unwrap_or(0), member.access_level, to) {
        return Err(TxError::Repo(RepoError::LastOwner));
    }
    Ok(member)
}

#[async_trait]
impl MemberRepository for PgStore {
    async fn list_members(
        &self,
        project: ProjectId,
        request: PageRequest,
    ) -> RepoResult<Page<Member>> {
        run!(self, |conn| {
            let (limit, offset) = limit_offset(request);
            let total: i64 = members::table
                .filter(members::project_id.eq(project.0))
                .count()
                .get_result(conn)
                .await?;
            let rows = members::table
                .inner_join(users::table)
                .filter(members::project_id.eq(project.0))
                .order(members::user_id.asc())
                .limit(limit)
                .offset(offset)
                .select((MemberRow::as_select(), UserRow::as_select()))
                .load::<(MemberRow, UserRow)>(conn)
                .await?;
            let items = rows
                .into_iter()
                .map(|(m, u)| m.into_domain(u))
                .collect::<Result<_, _>>()?;
            Ok(page(items, total, request))
        })
    }

    async fn find_member(&self, project: ProjectId, user: UserId) -> RepoResult<Option<Member>> {
        run!(self, |conn| load_member(conn, project.0, user.0).await)
    }

    async fn add_member(
        &self,
        project: ProjectId,
        user: UserId,
        level: AccessLevel,
        created_at: Timestamp,
    ) -> RepoResult<Member> {
        write_tx!(self, |conn| {
            if !lock_project(conn, project.0).await? {
                return Err(TxError::Repo(RepoError::NotFound));
            }
            // A user that does not exist fails the foreign key: `NotFound`.
            diesel::insert_into(members::table)
                .values((
                    members::project_id.eq(project.0),
                    members::user_id.eq(user.0),
                    members::access_level.eq(level.value()),
                    members::created_at.eq(millis(created_at)),
                ))
                .execute(conn)
                .await?;
            load_member(conn, project.0, user.0)
                .await?
                .ok_or(TxError::Repo(RepoError::NotFound))
        })
    }

    async fn update_member(
        &self,
        project: ProjectId,
        user: UserId,
        level: AccessLevel,
    ) -> RepoResult<Member> {
        write_tx!(self, |conn| {
            if !lock_project(conn, project.0).await? {
                return Err(TxError::Repo(RepoError::NotFound));
            }
            guard_last_owner(conn, project.0, user.0, Some(level)).await?;
            diesel::update(members::table.find((project.0, user.0)))
                .set(members::access_level.eq(level.value()))
                .execute(conn)
                .await?;
            load_member(conn, project.0, user.0)
                .await?
                .ok_or(TxError::Repo(RepoError::NotFound))
        })
    }

    async fn remove_member(&self, project: ProjectId, user: UserId) -> RepoResult<bool> {
        write_tx!(self, |conn| {
            if !lock_project(conn, project.0).await? {
                return Ok(false);
            }
            match guard_last_owner(conn, project.0, user.0, None).await {
                Err(TxError::Repo(RepoError::NotFound)) => return Ok(false),
                Err(e) => return Err(e),
                Ok(_) => {}
            }
            Ok(diesel::delete(members::table.find((project.0, user.0)))
                .execute(conn)
                .await?
                > 0)
        })
    }
}
