//! Users, personal access tokens and authentication.

use crate::error::{DomainError, Duplicate, ParamErrors, RepoError, Resource};
use crate::ids::{TokenId, UserId};
use crate::pagination::{Page, PageRequest};
use crate::policy::Actor;
use crate::service::{DomainResult, Params, StatusChecksService};
use crate::users::{
    CreatedToken, NewToken, NewTokenInput, PersonalAccessToken, TokenHash, TokenScope,
};
use crate::users::{NewUser, NewUserInput, User, Username};

/// A user as shown to a caller: `is_admin` and `email` only to administrators and the user themself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserView {
    /// The user.
    pub user: User,
    /// Whether private fields may be shown.
    pub show_private: bool,
}

/// The username of the administrator that `--root-token` bootstraps.
pub const ROOT_USERNAME: &str = "root";

impl Actor {
    /// The actor of offline administration (the `users create` and `tokens create` commands): an
    /// administrator with every scope who is no user.
    pub fn system() -> Actor {
        Actor {
            user_id: UserId(0),
            username: "system".into(),
            name: "System".into(),
            is_admin: true,
            can_write: true,
        }
    }

    fn sees_private_fields_of(&self, user: UserId) -> bool {
        self.is_admin || self.user_id == user
    }
}

impl StatusChecksService {
    /// Authenticates a raw token: 401 unless it exists, is neither revoked nor expired, and its user exists.
    pub async fn authenticate(
        &self,
        raw_token: &str,
    ) -> DomainResult<(Actor, PersonalAccessToken)> {
        if raw_token.is_empty() {
            return Err(DomainError::Unauthorized);
        }
        let hash = TokenHash::of(raw_token);
        let found = self.ports.tokens.find_token_by_hash(&hash).await?;
        let Some(found) = found.filter(|f| f.hash.constant_time_eq(&hash)) else {
            return Err(DomainError::Unauthorized);
        };
        if !found.token.is_active_at(self.now()) {
            return Err(DomainError::Unauthorized);
        }
        let actor = Actor {
            user_id: found.user.id,
            username: found.user.username.as_str().to_owned(),
            name: found.user.name.clone(),
            is_admin: found.user.is_admin,
            can_write: found.token.can_write(),
        };
        Ok((actor, found.token))
    }

    /// `--root-token`: if no user `root` exists, creates administrator `root` with this token (scope `api`).
    /// Answers whether it created anything.
    pub async fn bootstrap_root(&self, raw_token: &str) -> DomainResult<bool> {
        if self
            .ports
            .users
            .find_user_by_username(ROOT_USERNAME)
            .await?
            .is_some()
        {
            return Ok(false);
        }
        let now = self.now();
        let new = NewUser {
            username: Username::new(ROOT_USERNAME)
                .map_err(|_| DomainError::Internal("bad root name".into()))?,
            name: "Administrator".into(),
            email: None,
            is_admin: true,
            created_at: now,
        };
        let root = match self.ports.users.create_user(new).await {
            Ok(user) => user,
            // Someone else bootstrapped at the same moment.
            Err(RepoError::Duplicate(Duplicate::Username)) => return Ok(false),
            Err(e) => return Err(e.into()),
        };
        self.ports
            .tokens
            .create_token(NewToken {
                user_id: root.id,
                name: "root-token".into(),
                hash: TokenHash::of(raw_token),
                scopes: vec![TokenScope::Api],
                expires_at: None,
                created_at: now,
            })
            .await?;
        Ok(true)
    }

    /// `GET /user`.
    pub async fn current_user(&self, actor: &Actor) -> DomainResult<UserView> {
        let user = self
            .ports
            .users
            .find_user(actor.user_id)
            .await?
            .ok_or(DomainError::Unauthorized)?;
        Ok(UserView {
            user,
            show_private: true,
        })
    }

    /// `GET /users`, optionally filtered by exact username.
    pub async fn list_users(
        &self,
        actor: &Actor,
        username: Option<String>,
        page: PageRequest,
    ) -> DomainResult<Page<UserView>> {
        let users = self.ports.users.list_users(username, page).await?;
        Ok(users.map(|user| UserView {
            show_private: actor.sees_private_fields_of(user.id),
            user,
        }))
    }

    /// `GET /users/:id`.
    pub async fn get_user(&self, actor: &Actor, id: UserId) -> DomainResult<UserView> {
        let user = self
            .ports
            .users
            .find_user(id)
            .await?
            .ok_or(DomainError::NotFound(Resource::User))?;
        Ok(UserView {
            show_private: actor.sees_private_fields_of(user.id),
            user,
        })
    }

    /// The user with this username (offline administration).
    pub async fn user_by_username(&self, username: &str) -> DomainResult<User> {
        self.ports
            .users
            .find_user_by_username(username)
            .await?
            .ok_or(DomainError::NotFound(Resource::User))
    }

    /// `POST /users` (administrators only).
    pub async fn create_user(
        &self,
        actor: &Actor,
        params: Params<NewUserInput>,
    ) -> DomainResult<User> {
        Self::require_write(actor)?;
        let input = params?;
        if !actor.is_admin {
            return Err(DomainError::Forbidden);
        }
        let username = Username::new(input.username.clone()).map_err(|_| {
            DomainError::attributes([(
                "username",
                "can contain only letters, digits, '_', '-' and '.'",
            )])
        })?;
        let name = input
            .name
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| input.username.clone());
        if name.chars().count() > crate::users::MAX_USER_FIELD_CHARS
            || name.chars().any(char::is_control)
        {
            return Err(DomainError::attributes([("name", "is invalid")]));
        }
        if let Some(email) = &input.email
            && !crate::users::is_plausible_email(email)
        {
            return Err(DomainError::attributes([("email", "is invalid")]));
        }
        let new = NewUser {
            username,
            name,
            email: input.email,
            is_admin: input.admin,
            created_at: self.now(),
        };
        // A taken username is 409 `Username has already been taken`; see `RepoError::refusal`.
        Ok(self.ports.users.create_user(new).await?)
    }

    /// `DELETE /users/:id` (administrators only).
    pub async fn delete_user(&self, actor: &Actor, id: UserId) -> DomainResult<()> {
        Self::require_write(actor)?;
        if !actor.is_admin {
            return Err(DomainError::Forbidden);
        }
        self.ports
            .users
            .delete_user(id)
            .await?
            .then_some(())
            .ok_or(DomainError::NotFound(Resource::User))
    }

    /// `POST /users/:user_id/personal_access_tokens` (administrators only): the raw token is in the answer,
    /// and only there.
    pub async fn create_token(
        &self,
        actor: &Actor,
        user: UserId,
        params: Params<NewTokenInput>,
    ) -> DomainResult<CreatedToken> {
        Self::require_write(actor)?;
        let input = params?;
        if !actor.is_admin {
            return Err(DomainError::Forbidden);
        }
        let user = self
            .ports
            .users
            .find_user(user)
            .await?
            .ok_or(DomainError::NotFound(Resource::User))?;
        self.issue_token(user.id, input).await
    }

    /// Validates and stores a token for `user`.
    async fn issue_token(
        &self,
        user: UserId,
        mut input: NewTokenInput,
    ) -> DomainResult<CreatedToken> {
        let now = self.now();
        let mut errors = ParamErrors::new();
        if input.name.trim().is_empty() {
            errors.0.push("name is empty".into());
        }
        if input.scopes.is_empty() {
            errors.missing("scopes");
        }
        if input
            .expires_at
            .is_some_and(|date| date <= now.date_naive())
        {
            errors.invalid("expires_at");
        }
        if !errors.is_empty() {
            return Err(errors.into());
        }
        input.scopes.sort();
        input.scopes.dedup();
        let raw = self.ports.secrets.personal_access_token();
        let token = self
            .ports
            .tokens
            .create_token(NewToken {
                user_id: user,
                name: input.name,
                hash: TokenHash::of(&raw),
                scopes: input.scopes,
                expires_at: input.expires_at,
                created_at: now,
            })
            .await?;
        Ok(CreatedToken { token, raw })
    }

    /// `tokens create` (offline): a token for the user with this username.
    pub async fn create_token_for_username(
        &self,
        username: &str,
        input: NewTokenInput,
    ) -> DomainResult<CreatedToken> {
        let user = self.user_by_username(username).await?;
        self.issue_token(user.id, input).await
    }

    /// `GET /personal_access_tokens`: one's own; administrators see everyone's (or one user's).
    pub async fn list_tokens(
        &self,
        actor: &Actor,
        user: Option<UserId>,
        page: PageRequest,
    ) -> DomainResult<Page<PersonalAccessToken>> {
        let whose = if actor.is_admin {
            user
        } else {
            Some(actor.user_id)
        };
        Ok(self.ports.tokens.list_tokens(whose, page).await?)
    }

    /// `GET /personal_access_tokens/:id`: one's own, or any for administrators; 404 otherwise.
    pub async fn get_token(&self, actor: &Actor, id: TokenId) -> DomainResult<PersonalAccessToken> {
        match self.ports.tokens.find_token(id).await? {
            Some(token) if actor.is_admin || token.user_id == actor.user_id => Ok(token),
            _ => Err(DomainError::NotFound(Resource::Token)),
        }
    }

    /// `DELETE /personal_access_tokens/:id`: revokes one's own token, or any for administrators; 404
    /// otherwise (someone else's token must look as if it did not exist).
    pub async fn revoke_token(&self, actor: &Actor, id: TokenId) -> DomainResult<()> {
        Self::require_write(actor)?;
        self.get_token(actor, id).await?;
        self.ports
            .tokens
            .revoke_token(id)
            .await?
            .then_some(())
            .ok_or(DomainError::NotFound(Resource::Token))
    }
}
