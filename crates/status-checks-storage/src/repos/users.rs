//! `UserRepository`, and the user row that tokens and members read joined to theirs.

use super::inserted_id;
use crate::Store;
use crate::columns::{from_millis, millis};
use crate::error::{TxError, corrupt};
use crate::schema::users;
use async_trait::async_trait;
use diesel::prelude::*;
use diesel::sqlite::Sqlite;
use status_checks_core::pagination::{Page, PageRequest};
use status_checks_core::ports::{RepoResult, UserRepository};
use status_checks_core::users::{NewUser, User, Username};
use status_checks_core::{RepoError, UserId};

#[derive(Queryable, Selectable, Debug)]
#[diesel(table_name = users, check_for_backend(Sqlite))]
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

fn load_user(conn: &mut SqliteConnection, id: i64) -> Result<Option<User>, TxError> {
    let row = users::table
        .find(id)
        .select(UserRow::as_select())
        .first(conn)
        .optional()?;
    Ok(row.map(UserRow::into_domain).transpose()?)
}

#[async_trait]
impl UserRepository for Store {
    async fn create_user(&self, new: NewUser) -> RepoResult<User> {
        self.connections
            .write(move |conn| {
                diesel::insert_into(users::table)
                    .values(NewUserRow {
                        username: new.username.as_str(),
                        name: &new.name,
                        email: new.email.as_deref(),
                        is_admin: new.is_admin,
                        created_at: millis(new.created_at),
                    })
                    .execute(conn)?;
                let id = inserted_id(conn)?;
                load_user(conn, id)?.ok_or(TxError::Repo(RepoError::NotFound))
            })
            .await
    }

    async fn find_user(&self, id: UserId) -> RepoResult<Option<User>> {
        self.connections
            .read(move |conn| load_user(conn, id.0))
            .await
    }

    async fn find_user_by_username(&self, username: &str) -> RepoResult<Option<User>> {
        let username = username.to_owned();
        self.connections
            .read(move |conn| {
                let row = users::table
                    .filter(users::username.eq(username))
                    .select(UserRow::as_select())
                    .first(conn)
                    .optional()?;
                Ok(row.map(UserRow::into_domain).transpose()?)
            })
            .await
    }

    async fn list_users(
        &self,
        username: Option<String>,
        request: PageRequest,
    ) -> RepoResult<Page<User>> {
        self.connections
            .read(move |conn| {
                let filtered = || {
                    let mut query = users::table.into_boxed();
                    if let Some(name) = username.clone() {
                        query = query.filter(users::username.eq(name));
                    }
                    query
                };
                page_of!(conn, request, filtered, users::id.asc(), UserRow)
            })
            .await
    }

    async fn delete_user(&self, id: UserId) -> RepoResult<bool> {
        self.connections
            .write(move |conn| Ok(diesel::delete(users::table.find(id.0)).execute(conn)? > 0))
            .await
    }
}
