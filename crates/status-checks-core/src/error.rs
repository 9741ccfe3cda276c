//! Errors of the domain, one enum per layer.
//!
//! - [`RepoError`] is what a port implementation (storage) reports. Adapters translate their own errors
//!   (a diesel unique violation, a missing row) into it; no adapter type crosses a port.
//! - [`DomainError`] is what a use case answers. Its variants map one-to-one onto the error outcomes of the
//!   API contract (docs/api.md §4); the HTTP adapter renders each, with GitLab's status line texts,
//!   in exactly one place. The texts here are the domain's words, for logs and embedders.
//!
//! [`RepoError::refusal`] is the one translation from the first to the second.

use std::collections::BTreeMap;
use std::fmt;
use thiserror::Error;

/// Which uniqueness rule a write broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Duplicate {
    /// A user with this username exists.
    Username,
    /// A project with this `path_with_namespace` exists.
    ProjectPath,
    /// A protected branch with this name exists in the project.
    ProtectedBranch,
    /// A status check with this name exists in the project.
    CheckName,
    /// A status check with this external URL exists in the project.
    CheckUrl,
    /// The user is already a member of the project.
    Member,
}

/// The error of a port (repository) call.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RepoError {
    /// The write would break a uniqueness rule.
    #[error("duplicate {0:?}")]
    Duplicate(Duplicate),
    /// The row the call acts on does not exist (any more).
    #[error("not found")]
    NotFound,
    /// The change would leave the project without an Owner.
    #[error("the project would be left without an owner")]
    LastOwner,
    /// A protected branch id does not belong to the check's project.
    #[error("a protected branch does not belong to the project")]
    ForeignProtectedBranch,
    /// The store cannot answer now but may soon, with nothing lost: its database is unreachable, no
    /// connection came within the wait, the disk is full, a lock was not had in time. The text is for logs.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// The store failed (IO, corruption, a bug). The text is for logs, never for clients.
    #[error("storage failure: {0}")]
    Internal(String),
}

/// Parameter errors of one request (HTTP 400), in declaration order, e.g. `["sha is missing"]`.
///
/// The messages follow Grape's: `<param> is missing`, `<param> is invalid`,
/// `<param> does not have a valid value`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ParamErrors(pub Vec<String>);

impl ParamErrors {
    /// No errors yet.
    pub fn new() -> Self {
        ParamErrors(Vec::new())
    }
    /// `<param> is missing`.
    pub fn missing(&mut self, param: &str) {
        self.0.push(format!("{param} is missing"));
    }
    /// `<param> is invalid`.
    pub fn invalid(&mut self, param: &str) {
        self.0.push(format!("{param} is invalid"));
    }
    /// `<param> does not have a valid value`.
    pub fn not_valid_value(&mut self, param: &str) {
        self.0.push(format!("{param} does not have a valid value"));
    }
    /// True when no error was recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// `Ok(value)` when no error was recorded, else the errors.
    pub fn into_result<T>(self, value: impl FnOnce() -> T) -> Result<T, ParamErrors> {
        if self.is_empty() {
            Ok(value())
        } else {
            Err(self)
        }
    }
    /// One error.
    pub fn one(message: impl Into<String>) -> Self {
        ParamErrors(vec![message.into()])
    }
}

impl fmt::Display for ParamErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join(", "))
    }
}

/// A kind of resource, named in not-found errors (for logs; the contract renders them alike).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    /// A user.
    User,
    /// A personal access token.
    Token,
    /// A project member.
    Member,
    /// A protected branch.
    ProtectedBranch,
    /// A merge request.
    MergeRequest,
    /// An external status check.
    StatusCheck,
    /// A project's forge link (`404 Forge Not Found`).
    Forge,
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Resource::User => "user",
            Resource::Token => "personal access token",
            Resource::Member => "member",
            Resource::ProtectedBranch => "protected branch",
            Resource::MergeRequest => "merge request",
            Resource::StatusCheck => "external status check",
            Resource::Forge => "forge",
        })
    }
}

/// The outcome of a use case that did not succeed. Each variant is one error outcome of the contract.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DomainError {
    /// 401: no token, or an unknown, expired or revoked one.
    #[error("unauthorized")]
    Unauthorized,
    /// 403 `insufficient_scope`: a `read_api` token tried to write.
    #[error("insufficient scope")]
    InsufficientScope,
    /// 404 `Project Not Found`: no such project, or the caller may not know it exists.
    #[error("project not found")]
    ProjectNotFound,
    /// 404 `Not found`: another resource does not exist (or is in another project).
    #[error("{0} not found")]
    NotFound(Resource),
    /// 403: the caller is known to the project but lacks the role.
    #[error("forbidden")]
    Forbidden,
    /// 400: bad or missing parameters, `{"error": "<joined>"}`.
    #[error("bad parameters: {0}")]
    BadParameters(ParamErrors),
    /// 400 with per-attribute messages, `{"message": {"path": ["has already been taken"]}}`.
    #[error("invalid attributes: {0:?}")]
    InvalidAttributes(BTreeMap<String, Vec<String>>),
    /// 405: the action is not possible in the resource's state (merging a closed or blocked MR).
    #[error("not allowed in this state")]
    NotAllowed,
    /// 409 with a message (SHA mismatch, duplicate username, duplicate protected branch, …).
    #[error("conflict: {0}")]
    Conflict(String),
    /// 422 with a list of full validation messages, `{"message": ["Name has already been taken"]}`.
    #[error("invalid: {0:?}")]
    Validation(Vec<String>),
    /// 422 with a single message, `{"message": "External status check must be failed"}`.
    #[error("unprocessable: {0}")]
    Unprocessable(String),
    /// 503: the store cannot answer now (its database unreachable, a lock not had in time); the client may
    /// try again. The text is logged, never shown.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// 500: a port failed. The text is logged, never shown.
    #[error("internal error: {0}")]
    Internal(String),
}

impl DomainError {
    /// 400 per-attribute errors from `(field, message)` pairs: `{"message": {"path": ["has already been taken"]}}`.
    pub fn attributes<F: Into<String>, M: Into<String>>(
        errors: impl IntoIterator<Item = (F, M)>,
    ) -> Self {
        let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (field, message) in errors {
            map.entry(field.into()).or_default().push(message.into());
        }
        DomainError::InvalidAttributes(map)
    }

    /// 409 for an answer or a merge about a SHA that is not the merge request's HEAD.
    pub fn sha_mismatch(head: &crate::ids::CommitSha) -> Self {
        DomainError::Conflict(format!("SHA does not match HEAD of source branch: {head}"))
    }
}

impl From<ParamErrors> for DomainError {
    fn from(errors: ParamErrors) -> Self {
        DomainError::BadParameters(errors)
    }
}

/// The contract's message of a check write refused because a protected branch is not the project's.
pub(crate) const BRANCHES_MUST_EXIST: &str = "all protected branches must exist within the project";

impl Duplicate {
    /// The contract's answer to a write that broke this uniqueness rule; `name` is the value that was taken
    /// (only the protected branch's message quotes it).
    fn answer(self, name: &str) -> DomainError {
        match self {
            Duplicate::Username => DomainError::Conflict("Username has already been taken".into()),
            Duplicate::ProjectPath => DomainError::attributes([("path", "has already been taken")]),
            Duplicate::ProtectedBranch => {
                DomainError::Conflict(format!("Protected branch '{name}' already exists"))
            }
            Duplicate::CheckName => {
                DomainError::Validation(vec!["Name has already been taken".into()])
            }
            Duplicate::CheckUrl => {
                DomainError::Validation(vec!["External url has already been taken".into()])
            }
            Duplicate::Member => DomainError::Conflict("Member already exists".into()),
        }
    }
}

impl RepoError {
    /// The one translation of a port's error into a use case's outcome. `gone` is what a missing row means
    /// to the use case at hand (a 404 of the resource written, or a 405 for a merge that lost a race);
    /// every other variant means the same wherever it occurs. The match names every variant, so a new one
    /// cannot fall into a 500 unnoticed.
    pub fn refusal(self, gone: DomainError) -> DomainError {
        self.refusal_naming(gone, "")
    }

    /// [`Self::refusal`] of a write of something named `name`, which a duplicate's message may quote.
    pub fn refusal_naming(self, gone: DomainError, name: &str) -> DomainError {
        match self {
            RepoError::Duplicate(duplicate) => duplicate.answer(name),
            RepoError::NotFound => gone,
            RepoError::LastOwner => DomainError::Forbidden,
            RepoError::ForeignProtectedBranch => {
                DomainError::Validation(vec![BRANCHES_MUST_EXIST.into()])
            }
            RepoError::Unavailable(cause) => DomainError::Unavailable(cause),
            RepoError::Internal(cause) => DomainError::Internal(cause),
        }
    }
}

impl From<RepoError> for DomainError {
    /// A read's error (`?` in a use case): a row missing where the use case had no reason to expect it is
    /// an internal error, not a 404.
    fn from(error: RepoError) -> Self {
        error.refusal(DomainError::Internal(
            "row vanished during the request".into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn param_errors_join_in_declaration_order() {
        let mut errors = ParamErrors::new();
        errors.missing("status");
        errors.not_valid_value("status");
        assert_eq!(
            errors.to_string(),
            "status is missing, status does not have a valid value"
        );
        assert!(errors.into_result(|| ()).is_err());
        assert_eq!(ParamErrors::new().into_result(|| 7), Ok(7));
    }
}
