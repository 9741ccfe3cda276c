//! `TokenRepository`: personal access tokens, stored by hash, and the lookup by hash that
//! authenticates every request (cached in front of the store by status-checks-cache).

use super::inserted_id;
use crate::Store;
use crate::columns::{from_millis, from_millis_opt, millis};
use crate::error::{TxError, corrupt};
use crate::repos::users::UserRow;
use crate::schema::{personal_access_tokens as tokens, users};
use async_trait::async_trait;
use diesel::prelude::*;
use diesel::sqlite::Sqlite;
use status_checks_core::pagination::{Page, PageRequest};
use status_checks_core::ports::{RepoResult, TokenRepository, TokenWithOwner};
use status_checks_core::users::{NewToken, PersonalAccessToken, TokenHash, TokenScope};
use status_checks_core::{RepoError, TokenId, UserId};

#[derive(Queryable, Selectable, Debug)]
#[diesel(table_name = tokens, check_for_backend(Sqlite))]
struct TokenRow {
    id: i64,
    user_id: i64,
    name: String,
    token_hash: String,
    scopes: String,
    expires_at: Option<String>,
    revoked: bool,
    created_at: i64,
    last_used_at: Option<i64>,
}

fn scopes_to_text(scopes: &[TokenScope]) -> String {
    scopes
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

impl TokenRow {
    fn into_domain(self) -> Result<PersonalAccessToken, RepoError> {
        let scopes = self
            .scopes
            .split(',')
            .map(|s| TokenScope::parse(s).ok_or_else(|| corrupt("token scope", s)))
            .collect::<Result<Vec<_>, _>>()?;
        let expires_at = self
            .expires_at
            .as_deref()
            .map(|d| {
                chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d")
                    .map_err(|_| corrupt("expiry date", d))
            })
            .transpose()?;
        Ok(PersonalAccessToken {
            id: TokenId(self.id),
            user_id: UserId(self.user_id),
            name: self.name,
            scopes,
            expires_at,
            revoked: self.revoked,
            created_at: from_millis(self.created_at)?,
            last_used_at: from_millis_opt(self.last_used_at)?,
        })
    }
}

#[derive(Insertable)]
#[diesel(table_name = tokens)]
struct NewTokenRow<'a> {
    user_id: i64,
    name: &'a str,
    token_hash: &'a str,
    scopes: String,
    expires_at: Option<String>,
    created_at: i64,
}

fn load_token(
    conn: &mut SqliteConnection,
    id: i64,
) -> Result<Option<PersonalAccessToken>, TxError> {
    let row = tokens::table
        .find(id)
        .select(TokenRow::as_select())
        .first(conn)
        .optional()?;
    Ok(row.map(TokenRow::into_domain).transpose()?)
}

#[async_trait]
impl TokenRepository for Store {
    async fn create_token(&self, new: NewToken) -> RepoResult<PersonalAccessToken> {
        self.connections
            .write(move |conn| {
                diesel::insert_into(tokens::table)
                    .values(NewTokenRow {
                        user_id: new.user_id.0,
                        name: &new.name,
                        token_hash: new.hash.as_str(),
                        scopes: scopes_to_text(&new.scopes),
                        expires_at: new.expires_at.map(|d| d.format("%Y-%m-%d").to_string()),
                        created_at: millis(new.created_at),
                    })
                    .execute(conn)?;
                let id = inserted_id(conn)?;
                load_token(conn, id)?.ok_or(TxError::Repo(RepoError::NotFound))
            })
            .await
    }

    async fn find_token_by_hash(&self, hash: &TokenHash) -> RepoResult<Option<TokenWithOwner>> {
        let hash = hash.as_str().to_owned();
        self.connections
            .read(move |conn| {
                let row = tokens::table
                    .inner_join(users::table)
                    .filter(tokens::token_hash.eq(hash))
                    .select((TokenRow::as_select(), UserRow::as_select()))
                    .first::<(TokenRow, UserRow)>(conn)
                    .optional()?;
                let Some((token, user)) = row else {
                    return Ok(None);
                };
                let hash = TokenHash::from_stored(token.token_hash.clone());
                Ok(Some(TokenWithOwner {
                    token: token.into_domain()?,
                    hash,
                    user: user.into_domain()?,
                }))
            })
            .await
    }

    async fn find_token(&self, id: TokenId) -> RepoResult<Option<PersonalAccessToken>> {
        self.connections
            .read(move |conn| load_token(conn, id.0))
            .await
    }

    async fn list_tokens(
        &self,
        user: Option<UserId>,
        request: PageRequest,
    ) -> RepoResult<Page<PersonalAccessToken>> {
        self.connections
            .read(move |conn| {
                let filtered = || {
                    let mut query = tokens::table.into_boxed();
                    if let Some(user) = user {
                        query = query.filter(tokens::user_id.eq(user.0));
                    }
                    query
                };
                page_of!(conn, request, filtered, tokens::id.asc(), TokenRow)
            })
            .await
    }

    async fn revoke_token(&self, id: TokenId) -> RepoResult<bool> {
        self.connections
            .write(move |conn| {
                Ok(diesel::update(tokens::table.find(id.0))
                    .set(tokens::revoked.eq(true))
                    .execute(conn)?
                    > 0)
            })
            .await
    }
}
