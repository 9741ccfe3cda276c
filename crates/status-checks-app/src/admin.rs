//! Offline administration: `users create` and `tokens create`, straight on the database (SQLite or
//! PostgreSQL, as the URL says).

use crate::backend::{Backend, BackendOptions};
use crate::config::{ScopeArg, TokensCommand, UsersCommand};
use crate::error::AppError;
use crate::platform::{OsSecrets, SystemClock};
use status_checks_core::Actor;
use status_checks_core::service::{Settings, StatusChecksService};
use status_checks_core::users::NewUserInput;
use status_checks_core::users::{NewTokenInput, TokenScope};
use status_checks_postgres::PgStoreOptions;
use status_checks_storage::StoreOptions;
use std::sync::Arc;

async fn service(database_url: &str) -> Result<StatusChecksService, AppError> {
    // One command, a few statements: the smallest pools.
    let store = Backend::open(
        database_url,
        BackendOptions {
            sqlite: StoreOptions {
                read_connections: 1,
                ..StoreOptions::default()
            },
            postgres: PgStoreOptions {
                max_connections: 2,
                ..PgStoreOptions::default()
            },
        },
    )
    .await?;
    let ports = store.ports(Arc::new(SystemClock), Arc::new(OsSecrets));
    Ok(StatusChecksService::new(ports, Settings::default()))
}

/// `users create`: prints the new user's id and username.
pub async fn users(database_url: &str, command: UsersCommand) -> Result<(), AppError> {
    let UsersCommand::Create {
        username,
        name,
        email,
        admin,
    } = command;
    let service = service(database_url).await?;
    let input = NewUserInput {
        username,
        name,
        email,
        admin,
    };
    let user = service
        .create_user(&Actor::system(), Ok(input))
        .await
        .map_err(AppError::Refused)?;
    println!(
        "created user {} (id {}{})",
        user.username.as_str(),
        user.id,
        if user.is_admin { ", administrator" } else { "" }
    );
    Ok(())
}

/// `tokens create`: prints the token, and nothing else, on stdout.
pub async fn tokens(database_url: &str, command: TokensCommand) -> Result<(), AppError> {
    let TokensCommand::Create {
        username,
        name,
        scopes,
        expires_at,
    } = command;
    let service = service(database_url).await?;
    let scopes = scopes
        .into_iter()
        .map(|s| match s {
            ScopeArg::Api => TokenScope::Api,
            ScopeArg::ReadApi => TokenScope::ReadApi,
        })
        .collect();
    let created = service
        .create_token_for_username(
            &username,
            NewTokenInput {
                name,
                scopes,
                expires_at,
            },
        )
        .await
        .map_err(AppError::Refused)?;
    println!("{}", created.raw);
    Ok(())
}
