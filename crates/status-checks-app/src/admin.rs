//! Offline administration: `users create` and `tokens create`, straight on the database.

use crate::config::{ScopeArg, TokensCommand, UsersCommand};
use crate::platform::{OsSecrets, SystemClock};
use crate::serve::open_store;
use status_checks_core::service::{Settings, StatusChecksService};
use status_checks_core::token::{NewTokenInput, TokenScope};
use status_checks_core::user::NewUserInput;
use status_checks_core::{Actor, DomainError};
use status_checks_storage::StoreOptions;
use std::sync::Arc;

async fn service(database_url: &str) -> Result<StatusChecksService, String> {
    let store = open_store(
        database_url,
        StoreOptions {
            read_connections: 1,
            ..StoreOptions::default()
        },
    )
    .await?;
    let ports = store.ports(Arc::new(SystemClock), Arc::new(OsSecrets));
    Ok(StatusChecksService::new(ports, Settings::default()))
}

fn explain(error: DomainError) -> String {
    match error {
        DomainError::Conflict(message) => message,
        DomainError::BadParameters(errors) => errors.to_string(),
        DomainError::InvalidAttributes(fields) => fields
            .iter()
            .map(|(field, messages)| format!("{field} {}", messages.join(", ")))
            .collect::<Vec<_>>()
            .join("; "),
        DomainError::NotFound(_) => "no such user".into(),
        other => other.to_string(),
    }
}

/// `users create`: prints the new user's id and username.
pub async fn users(database_url: &str, command: UsersCommand) -> Result<(), String> {
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
        .map_err(explain)?;
    println!(
        "created user {} (id {}{})",
        user.username.as_str(),
        user.id,
        if user.is_admin { ", administrator" } else { "" }
    );
    Ok(())
}

/// `tokens create`: prints the token, and nothing else, on stdout.
pub async fn tokens(database_url: &str, command: TokensCommand) -> Result<(), String> {
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
        .map_err(explain)?;
    println!("{}", created.raw);
    Ok(())
}
