//! Errors of this adapter, and their translation into the core's [`RepoError`] at the port boundary.

use diesel::result::{DatabaseErrorKind, Error as DieselError};
use status_checks_core::RepoError;
use status_checks_core::error::Duplicate;
use thiserror::Error;

/// Why the store could not be opened or migrated (start-up errors; request-time errors are [`RepoError`]s).
#[derive(Debug, Error)]
pub enum StorageError {
    /// The database URL is not one this adapter serves.
    #[error("invalid database URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The database file could not be opened or created.
    #[error("cannot open database {path}: {source}")]
    Open {
        /// The file.
        path: String,
        /// The cause.
        source: diesel::ConnectionError,
    },
    /// A setup statement failed.
    #[error("cannot set up database: {0}")]
    Setup(#[from] DieselError),
    /// A migration failed.
    #[error("migration failed: {0}")]
    Migration(String),
    /// The connection pool could not be built.
    #[error("cannot build connection pool: {0}")]
    Pool(String),
    /// A directory for the database could not be created.
    #[error("cannot create directory {path}: {source}")]
    Directory {
        /// The directory.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
}

/// The error inside a transaction closure: diesel's own, or a domain refusal decided mid-transaction.
#[derive(Debug)]
pub(crate) enum TxError {
    Diesel(DieselError),
    Repo(RepoError),
}

impl From<DieselError> for TxError {
    fn from(e: DieselError) -> Self {
        TxError::Diesel(e)
    }
}

impl From<RepoError> for TxError {
    fn from(e: RepoError) -> Self {
        TxError::Repo(e)
    }
}

impl From<TxError> for RepoError {
    fn from(e: TxError) -> Self {
        match e {
            TxError::Diesel(e) => translate(e),
            TxError::Repo(e) => e,
        }
    }
}

/// Which unique constraint a SQLite message names (`UNIQUE constraint failed: table.col, table.col`).
fn duplicate_of(message: &str) -> Option<Duplicate> {
    let columns = message.strip_prefix("UNIQUE constraint failed: ")?;
    Some(match columns {
        "users.username" => Duplicate::Username,
        "projects.path_with_namespace" => Duplicate::ProjectPath,
        "protected_branches.project_id, protected_branches.name" => Duplicate::ProtectedBranch,
        "external_status_checks.project_id, external_status_checks.name" => Duplicate::CheckName,
        "external_status_checks.project_id, external_status_checks.external_url" => {
            Duplicate::CheckUrl
        }
        "members.project_id, members.user_id" => Duplicate::Member,
        _ => return None,
    })
}

/// diesel's error as the core's: unique violations name the rule broken, a missing row or a dangling foreign
/// key is `NotFound`, everything else is internal.
pub(crate) fn translate(error: DieselError) -> RepoError {
    match &error {
        DieselError::NotFound => RepoError::NotFound,
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
            match duplicate_of(info.message()) {
                Some(duplicate) => RepoError::Duplicate(duplicate),
                None => RepoError::Internal(error.to_string()),
            }
        }
        DieselError::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, _) => {
            RepoError::NotFound
        }
        _ => RepoError::Internal(error.to_string()),
    }
}

/// A stored value that the domain refuses: the database was changed behind our back.
pub(crate) fn corrupt(what: &str, value: impl std::fmt::Debug) -> RepoError {
    RepoError::Internal(format!("corrupt {what} in the database: {value:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_messages_name_the_rule() {
        assert_eq!(
            duplicate_of("UNIQUE constraint failed: users.username"),
            Some(Duplicate::Username)
        );
        assert_eq!(
            duplicate_of(
                "UNIQUE constraint failed: external_status_checks.project_id, external_status_checks.external_url"
            ),
            Some(Duplicate::CheckUrl)
        );
        assert_eq!(
            duplicate_of("UNIQUE constraint failed: deliveries.idempotency_key"),
            None
        );
        assert_eq!(duplicate_of("something else"), None);
    }
}
