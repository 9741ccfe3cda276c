//! Errors of this adapter: why the store could not start ([`PgStorageError`]), and the translation of
//! diesel's and the pool's errors into the core's [`RepoError`] at the port boundary.
//!
//! No text made here carries the database URL's password: start-up errors name the server by host, port and
//! database only, and every cause's text is passed through [`Redactor`] first (a belt: neither tokio-postgres
//! nor the pool print the password, but a future version of either might).

use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_async::pooled_connection::PoolError as ManagerError;
use diesel_async::pooled_connection::deadpool::PoolError;
use status_checks_core::RepoError;
use status_checks_core::error::Duplicate;
use thiserror::Error;

/// Why the store could not be opened or migrated (start-up errors; request-time errors are [`RepoError`]s).
#[derive(Debug, Error)]
pub enum PgStorageError {
    /// The database URL is not a `postgres://` or `postgresql://` URL this adapter can use. The URL itself
    /// is not repeated: it may hold a password.
    #[error("invalid PostgreSQL URL: {0}")]
    InvalidUrl(&'static str),
    /// The connection pool could not be built.
    #[error("cannot build the connection pool: {0}")]
    Pool(String),
    /// The server could not be reached, or refused the connection.
    #[error("cannot connect to PostgreSQL at {server}: {cause}")]
    Connect {
        /// Host, port and database (never the user's password).
        server: String,
        /// What went wrong, with any password removed.
        cause: String,
    },
    /// Applying the migrations failed.
    #[error("migrating the PostgreSQL database at {server} failed: {cause}")]
    Migration {
        /// Host, port and database (never the user's password).
        server: String,
        /// What went wrong, with any password removed.
        cause: String,
    },
}

/// The PostgreSQL URL's password, to be cut out of any text about a connection before it is shown or logged.
#[derive(Clone, Default)]
pub(crate) struct Redactor {
    /// The password as written in the URL, and percent-decoded if that differs.
    secrets: Vec<String>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Redactor")
    }
}

impl Redactor {
    /// Cuts `password` (as written in a URL) out of texts.
    pub(crate) fn new(password: Option<&str>) -> Self {
        let mut secrets = Vec::new();
        if let Some(raw) = password.filter(|p| !p.is_empty()) {
            secrets.push(raw.to_owned());
            let decoded = percent_decode(raw);
            if decoded != raw && !decoded.is_empty() {
                secrets.push(decoded);
            }
        }
        Redactor { secrets }
    }

    /// `text` with every occurrence of the password replaced by `***`.
    pub(crate) fn clean(&self, text: &str) -> String {
        self.secrets
            .iter()
            .fold(text.to_owned(), |text, secret| text.replace(secret, "***"))
    }
}

/// `%XX` escapes decoded (lossily: a password that is not UTF-8 is only cut out as written).
fn percent_decode(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| raw.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Which uniqueness rule a constraint (or unique index) named in `migrations/` stands for.
fn duplicate_of(constraint: &str) -> Option<Duplicate> {
    Some(match constraint {
        "users_username_lower" => Duplicate::Username,
        "projects_path_lower" => Duplicate::ProjectPath,
        "protected_branches_name" => Duplicate::ProtectedBranch,
        "external_status_checks_name" => Duplicate::CheckName,
        "external_status_checks_url" => Duplicate::CheckUrl,
        "members_pkey" => Duplicate::Member,
        _ => return None,
    })
}

/// PostgreSQL's message for SQLSTATE `40P01` (`deadlock_detected`). diesel reports a deadlock as an
/// unclassified database error, without its SQLSTATE, so it is known by this message; a server whose
/// `lc_messages` is not English words it otherwise, and its deadlocks then count as not retryable.
const DEADLOCK_MESSAGE: &str = "deadlock detected";

/// Whether `error` is one that running the same transaction again may not meet: a serialization failure
/// (SQLSTATE `40001`) or a deadlock (`40P01`). PostgreSQL rolled the transaction back; nothing of it stayed.
pub fn is_retryable(error: &DieselError) -> bool {
    match error {
        DieselError::DatabaseError(DatabaseErrorKind::SerializationFailure, _) => true,
        DieselError::DatabaseError(_, info) => info.message() == DEADLOCK_MESSAGE,
        _ => false,
    }
}

/// diesel's error as the core's: a unique violation names the rule it broke (by the constraint PostgreSQL
/// reports), a missing row or a dangling foreign key is `NotFound`, a closed connection or a serialization
/// failure or deadlock that outlasted its retries (see [`is_retryable`]) is `Unavailable`, everything else
/// is internal.
pub fn repo_error(error: DieselError) -> RepoError {
    match &error {
        DieselError::NotFound => RepoError::NotFound,
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
            match info.constraint_name().and_then(duplicate_of) {
                Some(duplicate) => RepoError::Duplicate(duplicate),
                None => RepoError::Internal(unique_violation_text(
                    info.constraint_name(),
                    info.message(),
                )),
            }
        }
        DieselError::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, _) => {
            RepoError::NotFound
        }
        // The server went away, or contention outlasted the retries: nothing stayed, try again later.
        DieselError::DatabaseError(DatabaseErrorKind::ClosedConnection, _) => {
            RepoError::Unavailable(error.to_string())
        }
        _ if is_retryable(&error) => RepoError::Unavailable(error.to_string()),
        _ => RepoError::Internal(error.to_string()),
    }
}

fn unique_violation_text(constraint: Option<&str>, message: &str) -> String {
    match constraint {
        Some(name) => format!("unique violation of {name}: {message}"),
        None => format!("unique violation: {message}"),
    }
}

/// The pool's error (no connection within the timeout, or none could be made) as the core's: unavailable
/// (a 503 the client may retry), with a text for logs that names no credentials.
pub(crate) fn pool_error(error: PoolError, redactor: &Redactor) -> RepoError {
    RepoError::Unavailable(match error {
        PoolError::Timeout(_) => "no PostgreSQL connection available within the timeout".to_owned(),
        PoolError::Backend(ManagerError::ConnectionError(e)) => {
            format!(
                "cannot connect to PostgreSQL: {}",
                redactor.clean(&e.to_string())
            )
        }
        PoolError::Backend(ManagerError::QueryError(e)) => format!(
            "a pooled PostgreSQL connection failed its check: {}",
            redactor.clean(&e.to_string())
        ),
        other => format!(
            "PostgreSQL connection pool: {}",
            redactor.clean(&other.to_string())
        ),
    })
}

/// The error inside a transaction or read of a port: diesel's own, a domain refusal decided mid-transaction,
/// or a mirror write found to have been overtaken (which rolls the transaction back, and is then answered as
/// the outcome it is rather than as an error).
#[derive(Debug)]
pub(crate) enum TxError {
    Diesel(DieselError),
    Repo(RepoError),
    /// The delivery's key was recorded meanwhile by another writer.
    Seen,
    /// The merge request changed, or its iid was taken, meanwhile.
    Raced,
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
            TxError::Diesel(e) => repo_error(e),
            TxError::Repo(e) => e,
            TxError::Seen | TxError::Raced => {
                RepoError::Internal("a mirror write was overtaken outside a mirror write".into())
            }
        }
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
    fn constraint_names_name_the_rule() {
        assert_eq!(
            duplicate_of("users_username_lower"),
            Some(Duplicate::Username)
        );
        assert_eq!(
            duplicate_of("projects_path_lower"),
            Some(Duplicate::ProjectPath)
        );
        assert_eq!(duplicate_of("members_pkey"), Some(Duplicate::Member));
        assert_eq!(
            duplicate_of("external_status_checks_url"),
            Some(Duplicate::CheckUrl)
        );
        assert_eq!(duplicate_of("deliveries_idempotency_key"), None);
    }

    #[test]
    fn migrations_name_every_mapped_constraint() {
        let ddl = include_str!("../migrations/2026-12-01-000001_initial/up.sql");
        for name in [
            "users_username_lower",
            "projects_path_lower",
            "protected_branches_name",
            "external_status_checks_name",
            "external_status_checks_url",
            "members_pkey",
        ] {
            assert!(duplicate_of(name).is_some(), "{name}");
            assert!(
                ddl.contains(&format!("INDEX {name} ON"))
                    || ddl.contains(&format!("CONSTRAINT {name} ")),
                "{name} is not created by the migration"
            );
        }
    }

    #[test]
    fn passwords_are_cut_out_as_written_and_decoded() {
        let redactor = Redactor::new(Some("s%40cret"));
        assert_eq!(
            redactor.clean("auth failed for s%40cret and s@cret"),
            "auth failed for *** and ***"
        );
        assert_eq!(Redactor::new(None).clean("text"), "text");
        assert_eq!(Redactor::new(Some("")).clean("text"), "text");
    }

    #[test]
    fn not_found_and_other_errors() {
        assert_eq!(repo_error(DieselError::NotFound), RepoError::NotFound);
        assert!(matches!(
            repo_error(DieselError::RollbackTransaction),
            RepoError::Internal(_)
        ));
        assert!(!is_retryable(&DieselError::NotFound));
    }
}
