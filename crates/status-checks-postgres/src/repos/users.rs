//! `UserRepository`, and the user row that tokens and members read joined to theirs. Usernames are matched
//! through `lower()`, which the unique index `users_username_lower` serves.

use super::lower;
use crate::PgStore;
use crate::columns::{from_millis, millis};
use crate::error::{TxError, corrupt};
use crate::schema::users;
use async_trait::async_trait;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use status_checks_core::pagination::{Page, PageRequest};
use status_checks_core::ports::{RepoResult, UserRepository};
use status_checks_core::users::{NewUser, User, Username};
use status_checks_core::{RepoError, UserId};

#[derive(Queryable, Selectable, Debug)]
#[diesel(table_name = users, check_for_backend(Pg))]
pub(crate) struct UserRow {
    id: i64,
    username: String,
    name: String,
    email: Option<String>,
    is_admin: bool,
    created_at: i64,
}

impl UserRow {
    pub(crate) fn into_domain(self) -> Result<User, RepoError> {
        Ok(User {
            id: UserId(self.id),
            username: Username::new(self.username.clone())
                .map_err(|_| corrupt("username", &self.username))?,
            name: self.name,
            email: self.email,
            is_admin: self.is_admin,
            created_at: from_millis(self.created_at)?,
        })
    }
}

#[derive(Insertable)]
#[diesel(table_name = users)]
struct NewUserRow<'a> {
    username: &'a str,
    name: &'a str,
    email: Option<&'a str>,
    is_admin: bool,
    created_at: i64,
}

async fn load_user(conn: &mut AsyncPgConnection, id: i64) -> Result<Option<User>, TxError> {
    let row = users::table
        .find(id)
        .select(UserRow::as_select())
        .first(conn)
        .await
        .optional()?;
    Ok(row.map(UserRow::into_domain).transpose()?)
}

#[async_trait]
impl UserRepository for PgStore {
    async fn create_user(&self, new: NewUser) -> RepoResult<User> {
        run!(self, |conn| {
            let row = diesel::insert_into(users::table)
                .values(NewUserRow {
                    username: new.username.as_str(),
                    name: &new.name,
                    email: new.email.as_deref(),
                    is_admin: new.is_admin,
                    created_at: millis(new.created_at),
                })
                .returning(UserRow::as_returning())
                .get_result(conn)
                .await?;
            Ok(row.into_domain()?)
        })
    }

    async fn find_user(&self, id: UserId) -> RepoResult<Option<User>> {
        run!(self, |conn| load_user(conn, id.0).await)
    }

    async fn find_user_by_username(&self, username: &str) -> RepoResult<Option<User>> {
        // Usernames are ASCII, matched without regard to ASCII case as on SQLite: PostgreSQL's `lower()` also
        // folds other letters (KELVIN SIGN to `k`), so a name that is not ASCII names nobody.
        if !username.is_ascii() {
            return Ok(None);
        }
        run!(self, |conn| {
            let row = users::table
                .filter(lower(users::username).eq(lower(username)))
                .select(UserRow::as_select())
                .first(conn)
                .await
                .optional()?;
            Ok(row.map(UserRow::into_domain).transpose()?)
        })
    }

    async fn list_users(
        &self,
        username: Option<String>,
        request: PageRequest,
    ) -> RepoResult<Page<User>> {
        if username.as_deref().is_some_and(|name| !name.is_ascii()) {
            // As in `find_user_by_username`: a name that is not ASCII names nobody.
            return Ok(Page {
                items: Vec::new(),
                total: 0,
                request,
            });
        }
        run!(self, |conn| {
            let filtered = || {
                let mut query = users::table.into_boxed();
                if let Some(name) = username.clone() {
                    query = query.filter(lower(users::username).eq(lower(name)));
                }
                query
            };
            page_of!(conn, request, filtered, users::id.asc(), UserRow)
        })
    }

    async fn delete_user(&self, id: UserId) -> RepoResult<bool> {
        // Tokens and memberships go with it (ON DELETE CASCADE).
        run!(self, |conn| {
            Ok(diesel::delete(users::table.find(id.0))
                .execute(conn)
                .await?
                > 0)
        })
    }
}
