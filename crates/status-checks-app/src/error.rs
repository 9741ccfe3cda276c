//! The binary's errors: what stops a command. `main` prints each as one line, `error: …`, and exits 1.

use status_checks_core::DomainError;
use status_checks_storage::StorageError;
use std::net::SocketAddr;

/// Why a command stopped.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The database could not be opened, created or migrated.
    #[error("{0}")]
    Storage(#[from] StorageError),
    /// The PostgreSQL database could not be reached, opened or migrated (the message names host, port and
    /// database, never the password).
    #[error("{0}")]
    Postgres(#[from] status_checks_postgres::PgStorageError),
    /// The blocking task that opens or migrates the database did not finish.
    #[error("storage start-up failed: {0}")]
    StartUp(#[from] tokio::task::JoinError),
    /// The listening socket could not be bound.
    #[error("cannot listen on {address}: {source}")]
    Listen {
        /// `--listen`.
        address: SocketAddr,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// The bound socket's address could not be read back.
    #[error("cannot read the bound address: {0}")]
    BoundAddress(std::io::Error),
    /// `--root-token` could not create `root`.
    #[error("cannot create the root user: {0}")]
    Root(DomainError),
    /// The notifications' HTTP client could not be built.
    #[error("{0}")]
    Notifications(#[from] status_checks_notify::ClientError),
    /// The forge client could not be built.
    #[error("{0}")]
    Forges(#[from] status_checks_forge::ClientError),
    /// The server stopped with an error.
    #[error("server failed: {0}")]
    Server(std::io::Error),
    /// An offline command was refused by a use case; the line is the contract's message.
    #[error("{}", refusal_line(.0))]
    Refused(DomainError),
}

/// One line for an offline command's refusal, in the words the API would use.
fn refusal_line(error: &DomainError) -> String {
    match error {
        DomainError::Conflict(message) => message.clone(),
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
