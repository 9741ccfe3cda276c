//! Personal access tokens: created for a user by an administrator, listed, read and revoked by their owner
//! (`docs/api.md` §3, Personal access tokens).

use super::{Answer, created, no_content, ok};
use crate::params::{Params, checked, or_invalid, or_not_valid_value};
use crate::paths::{ApiPath, TokenPath, TokenRef, UserTokensPath};
use crate::request::Call;
use crate::views::TokenJson;
use status_checks_core::users::{NewTokenInput, TokenScope};
use status_checks_core::{ParamErrors, TokenId, UserId};

fn new_token(p: &Params) -> Result<NewTokenInput, ParamErrors> {
    let mut errors = ParamErrors::new();
    let name = p.required_string("name", &mut errors);
    let scopes = match p.optional_string_list("scopes", &mut errors) {
        None if !p.has("scopes") => {
            errors.missing("scopes");
            None
        }
        None => None,
        // At least one scope, and only known ones.
        Some(names) => {
            let scopes: Option<Vec<TokenScope>> =
                names.iter().map(|s| TokenScope::parse(s)).collect();
            or_not_valid_value(scopes.filter(|s| !s.is_empty()), "scopes", &mut errors)
        }
    };
    let expires_at = match p.optional_string("expires_at", &mut errors) {
        Some(raw) if !raw.is_empty() => {
            let date = chrono::NaiveDate::parse_from_str(&raw, "%Y-%m-%d").ok();
            or_invalid(date, "expires_at", &mut errors)
        }
        _ => None,
    };
    checked(errors, || {
        Some(NewTokenInput {
            name: name?,
            scopes: scopes?,
            expires_at,
        })
    })
}

/// `POST /users/:user_id/personal_access_tokens` (administrators): the token is in the answer, once.
pub(crate) async fn create_token(ApiPath(path): ApiPath<UserTokensPath>, call: Call) -> Answer {
    let user = path.user_id?;
    let input = new_token(&call.params);
    let created_token = call
        .service()
        .create_token(&call.actor, user, input)
        .await?;
    let now = call.service().ports().clock.now();
    Ok(created(TokenJson::of(
        created_token.token,
        now,
        Some(created_token.raw),
    )))
}

/// `GET /personal_access_tokens` (own; administrators all, or `user_id=`).
pub(crate) async fn list_tokens(call: Call) -> Answer {
    let page = call.page_request()?;
    let mut errors = ParamErrors::new();
    let user = call
        .params
        .optional_integer("user_id", &mut errors)
        .map(UserId);
    let user = checked(errors, || Some(user))?;
    let tokens = call.service().list_tokens(&call.actor, user, page).await?;
    let now = call.service().ports().clock.now();
    Ok(call.paginated(tokens, |t| TokenJson::of(t, now, None)))
}

fn token_id(call: &Call, path: TokenPath) -> Result<TokenId, ParamErrors> {
    Ok(match path.token? {
        TokenRef::Caller => call.token_id,
        TokenRef::Id(id) => id,
    })
}

/// `GET /personal_access_tokens/:id` (or `self`).
pub(crate) async fn get_token(ApiPath(path): ApiPath<TokenPath>, call: Call) -> Answer {
    let id = token_id(&call, path)?;
    let token = call.service().get_token(&call.actor, id).await?;
    let now = call.service().ports().clock.now();
    Ok(ok(TokenJson::of(token, now, None)))
}

/// `DELETE /personal_access_tokens/:id` (or `self`): revokes.
pub(crate) async fn revoke_token(ApiPath(path): ApiPath<TokenPath>, call: Call) -> Answer {
    let id = token_id(&call, path)?;
    call.service().revoke_token(&call.actor, id).await?;
    Ok(no_content())
}
