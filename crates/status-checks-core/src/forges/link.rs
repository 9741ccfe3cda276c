//! The link of a project to its forge: which forge, where its API is, which repository, under which name
//! statuses are posted, and the credentials — a token to post with and a secret that authenticates the
//! forge's webhooks, both write-only (never shown, logged or put in an error; `Debug` hides them).

use crate::Timestamp;
use crate::error::{DomainError, ParamErrors};
use crate::ids::{ProjectId, UserId};
use crate::status_checks::UrlPolicy;
use std::fmt;

/// The forges the bridge speaks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ForgeKind {
    /// GitLab, any edition and tier.
    Gitlab,
    /// Gitea.
    Gitea,
    /// Forgejo (Gitea's fork: the same API, its own webhook headers).
    Forgejo,
    /// GitHub (and GitHub Enterprise Server).
    Github,
}

impl ForgeKind {
    /// The name the API uses.
    pub fn as_str(self) -> &'static str {
        match self {
            ForgeKind::Gitlab => "gitlab",
            ForgeKind::Gitea => "gitea",
            ForgeKind::Forgejo => "forgejo",
            ForgeKind::Github => "github",
        }
    }

    /// The forge with this name.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "gitlab" => Some(ForgeKind::Gitlab),
            "gitea" => Some(ForgeKind::Gitea),
            "forgejo" => Some(ForgeKind::Forgejo),
            "github" => Some(ForgeKind::Github),
            _ => None,
        }
    }

    /// Whether a webhook delivery of `family` (the most specific forge its headers show) may come from a
    /// repository linked as `self`: Gitea and Forgejo deliveries are accepted by either link, as the two
    /// forges share their API and a Forgejo instance also sends Gitea's headers.
    pub fn accepts_deliveries_of(self, family: ForgeKind) -> bool {
        use ForgeKind::*;
        matches!(
            (self, family),
            (Gitlab, Gitlab) | (Github, Github) | (Gitea | Forgejo, Gitea | Forgejo)
        )
    }

    /// Whether `repository` names a repository as this forge does: GitLab a numeric project id or a
    /// `group/sub/project` path, the others `owner/repo`.
    pub fn is_repository(self, repository: &str) -> bool {
        let segment_ok = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
                && s != "."
                && s != ".."
        };
        let segments: Vec<&str> = repository.split('/').collect();
        match self {
            ForgeKind::Gitlab => {
                (!repository.is_empty() && repository.bytes().all(|b| b.is_ascii_digit()))
                    || (segments.len() >= 2 && segments.iter().all(|s| segment_ok(s)))
            }
            ForgeKind::Gitea | ForgeKind::Forgejo | ForgeKind::Github => {
                segments.len() == 2 && segments.iter().all(|s| segment_ok(s))
            }
        }
    }
}

impl fmt::Display for ForgeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A credential the bridge holds for a forge: the API token or the webhook secret. Never shown: `Debug`
/// prints `[redacted]`, and there is no `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct ForgeSecret(String);

impl ForgeSecret {
    /// The fewest characters of a webhook secret.
    pub const MIN_WEBHOOK_SECRET_CHARS: usize = 16;
    /// The most characters of a token or secret.
    pub const MAX_CHARS: usize = 1024;

    /// A token: not blank, no white space or control characters (it goes into a header), at most
    /// [`Self::MAX_CHARS`].
    pub fn token(raw: &str) -> Result<Self, &'static str> {
        if raw.is_empty() {
            Err("Token can't be blank")
        } else if raw.chars().count() > Self::MAX_CHARS {
            Err("Token is too long (maximum is 1024 characters)")
        } else if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
            Err("Token is invalid")
        } else {
            Ok(ForgeSecret(raw.to_owned()))
        }
    }

    /// A webhook secret: at least [`Self::MIN_WEBHOOK_SECRET_CHARS`] characters (GitLab compares it with a
    /// header, so no control characters), at most [`Self::MAX_CHARS`].
    pub fn webhook_secret(raw: &str) -> Result<Self, &'static str> {
        if raw.chars().count() < Self::MIN_WEBHOOK_SECRET_CHARS {
            Err("Webhook secret is too short (minimum is 16 characters)")
        } else if raw.chars().count() > Self::MAX_CHARS {
            Err("Webhook secret is too long (maximum is 1024 characters)")
        } else if raw.chars().any(char::is_control) {
            Err("Webhook secret is invalid")
        } else {
            Ok(ForgeSecret(raw.to_owned()))
        }
    }

    /// A secret read back from storage, trusted to have been validated when saved.
    pub fn from_stored(raw: String) -> Self {
        ForgeSecret(raw)
    }

    /// The secret, to authenticate with or to verify a signature.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ForgeSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ForgeSecret([redacted])")
    }
}

/// The default name of the aggregate status, and the prefix of the per-check ones.
pub const DEFAULT_STATUS_NAME: &str = "status-checks";

/// Validates a status name: not blank, at most 60 characters (a per-check context adds `/<check name>`),
/// and none of the characters a Gitea or Forgejo required-context pattern reads as glob syntax.
pub fn status_name_error(name: &str) -> Option<&'static str> {
    if name.trim().is_empty() {
        Some("Status name can't be blank")
    } else if name.chars().count() > 60 {
        Some("Status name is too long (maximum is 60 characters)")
    } else if name
        .chars()
        .any(|c| matches!(c, '*' | '?' | '[' | ']' | '{' | '}' | '\\' | '/') || c.is_control())
    {
        Some("Status name is invalid")
    } else {
        None
    }
}

/// A project's link to its forge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForgeLink {
    /// The project linked (one link per project).
    pub project_id: ProjectId,
    /// Which forge.
    pub forge: ForgeKind,
    /// The forge API's base URL (`https://gitlab.example.com/api/v4`).
    pub api_url: String,
    /// The repository as the forge names it (GitLab: a numeric id or `group/project`; others `owner/repo`).
    pub repository: String,
    /// The credential statuses are posted and merge requests read with.
    pub token: ForgeSecret,
    /// The secret that authenticates the forge's webhooks.
    pub webhook_secret: ForgeSecret,
    /// The aggregate status's name, and the prefix of the per-check ones.
    pub status_name: String,
    /// Whether one status per applicable check is posted besides the aggregate.
    pub per_check_statuses: bool,
    /// Who linked the project: the local author of its mirrored merge requests.
    pub author_id: UserId,
    /// When the last webhook delivery was applied.
    pub last_event_at: Option<Timestamp>,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
}

/// What `PUT /projects/:id/forge` sends, after parameter parsing; `None` is a parameter not sent (an update
/// keeps the stored value).
#[derive(Clone, PartialEq, Eq, Default)]
pub struct ForgeLinkInput {
    /// `forge`.
    pub forge: Option<String>,
    /// `api_url`.
    pub api_url: Option<String>,
    /// `repository`.
    pub repository: Option<String>,
    /// `token` (write-only).
    pub token: Option<String>,
    /// `webhook_secret` (write-only).
    pub webhook_secret: Option<String>,
    /// `status_name`.
    pub status_name: Option<String>,
    /// `per_check_statuses`.
    pub per_check_statuses: Option<bool>,
}

impl fmt::Debug for ForgeLinkInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let set = |secret: &Option<String>| secret.as_ref().map(|_| "[redacted]");
        f.debug_struct("ForgeLinkInput")
            .field("forge", &self.forge)
            .field("api_url", &self.api_url)
            .field("repository", &self.repository)
            .field("token", &set(&self.token))
            .field("webhook_secret", &set(&self.webhook_secret))
            .field("status_name", &self.status_name)
            .field("per_check_statuses", &self.per_check_statuses)
            .finish()
    }
}

/// The link `input` makes of `existing` (or, without one, a new link by `author` at `now`): `Err` with the
/// contract's answer — 400 for a missing required parameter (on creation) or a `forge` that is none of the
/// four, 400 `repository is invalid`, then 422 with the messages of the URL, token, secret and status name.
pub fn link_from(
    project: ProjectId,
    existing: Option<&ForgeLink>,
    input: ForgeLinkInput,
    author: UserId,
    now: Timestamp,
    url_policy: &UrlPolicy,
) -> Result<ForgeLink, DomainError> {
    let mut params = ParamErrors::new();
    if existing.is_none() {
        for (name, value) in [
            ("forge", &input.forge),
            ("api_url", &input.api_url),
            ("repository", &input.repository),
            ("token", &input.token),
            ("webhook_secret", &input.webhook_secret),
        ] {
            if value.is_none() {
                params.missing(name);
            }
        }
    }
    let forge = match input.forge.as_deref() {
        Some(raw) => ForgeKind::parse(raw).or_else(|| {
            params.not_valid_value("forge");
            None
        }),
        None => existing.map(|link| link.forge),
    };
    if !params.is_empty() {
        return Err(params.into());
    }
    let Some(forge) = forge else {
        return Err(ParamErrors::one("forge is missing").into());
    };
    let repository = match input.repository {
        Some(repository) => repository,
        None => existing.map(|l| l.repository.clone()).unwrap_or_default(),
    };
    if !forge.is_repository(&repository) {
        let mut e = ParamErrors::new();
        e.invalid("repository");
        return Err(e.into());
    }
    let mut messages = Vec::new();
    let api_url = match input.api_url {
        Some(raw) => match url_policy.check(&raw) {
            Ok(()) => raw.trim_end_matches('/').to_owned(),
            Err(errors) => {
                messages.extend(
                    errors
                        .into_iter()
                        .map(|m| m.replacen("External url", "Api url", 1)),
                );
                String::new()
            }
        },
        None => existing.map(|l| l.api_url.clone()).unwrap_or_default(),
    };
    let token = match input.token.as_deref().map(ForgeSecret::token) {
        Some(Ok(token)) => Some(token),
        Some(Err(message)) => {
            messages.push(message.to_owned());
            None
        }
        None => existing.map(|l| l.token.clone()),
    };
    let webhook_secret = match input
        .webhook_secret
        .as_deref()
        .map(ForgeSecret::webhook_secret)
    {
        Some(Ok(secret)) => Some(secret),
        Some(Err(message)) => {
            messages.push(message.to_owned());
            None
        }
        None => existing.map(|l| l.webhook_secret.clone()),
    };
    let status_name = input
        .status_name
        .or_else(|| existing.map(|l| l.status_name.clone()))
        .unwrap_or_else(|| DEFAULT_STATUS_NAME.to_owned());
    if let Some(message) = status_name_error(&status_name) {
        messages.push(message.to_owned());
    }
    let (Some(token), Some(webhook_secret), true) = (token, webhook_secret, messages.is_empty())
    else {
        return Err(DomainError::Validation(messages));
    };
    Ok(ForgeLink {
        project_id: project,
        forge,
        api_url,
        repository,
        token,
        webhook_secret,
        status_name,
        per_check_statuses: input
            .per_check_statuses
            .or(existing.map(|l| l.per_check_statuses))
            .unwrap_or(true),
        author_id: existing.map_or(author, |l| l.author_id),
        last_event_at: existing.and_then(|l| l.last_event_at),
        created_at: existing.map_or(now, |l| l.created_at),
        updated_at: now,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ForgeKind::*;

    #[test]
    fn names_round_trip() {
        for forge in [Gitlab, Gitea, Forgejo, Github] {
            assert_eq!(ForgeKind::parse(forge.as_str()), Some(forge));
        }
        assert_eq!(ForgeKind::parse("bitbucket"), None);
        assert_eq!(ForgeKind::parse("GitLab"), None);
    }

    #[test]
    fn gitea_and_forgejo_accept_each_other_and_nothing_else_crosses() {
        assert!(Gitea.accepts_deliveries_of(Forgejo));
        assert!(Forgejo.accepts_deliveries_of(Gitea));
        for (link, family) in [
            (Gitlab, Github),
            (Github, Gitea),
            (Gitea, Gitlab),
            (Forgejo, Github),
        ] {
            assert!(!link.accepts_deliveries_of(family), "{link} {family}");
        }
        for forge in [Gitlab, Gitea, Forgejo, Github] {
            assert!(forge.accepts_deliveries_of(forge));
        }
    }

    #[test]
    fn repositories_as_each_forge_names_them() {
        assert!(Gitlab.is_repository("42"));
        assert!(Gitlab.is_repository("group/sub/project"));
        assert!(!Gitlab.is_repository("project"));
        assert!(Github.is_repository("octo-org/hello.world"));
        assert!(!Github.is_repository("42"));
        assert!(!Github.is_repository("a/b/c"));
        for bad in ["", "/", "a/", "/b", "a//b", "a/..", "a b/c", "a/b?x"] {
            assert!(!Gitea.is_repository(bad), "{bad:?}");
            assert!(!Gitlab.is_repository(bad), "{bad:?}");
        }
    }

    #[test]
    fn secrets_never_print() {
        let token = ForgeSecret::token("glpat-abcdefghijklmnop").unwrap_or_else(|e| panic!("{e}"));
        assert!(!format!("{token:?}").contains("glpat"));
        assert_eq!(token.expose(), "glpat-abcdefghijklmnop");
        assert!(ForgeSecret::token("").is_err());
        assert!(ForgeSecret::token("has space").is_err());
        assert!(ForgeSecret::webhook_secret("short").is_err());
        assert!(ForgeSecret::webhook_secret(&"s".repeat(16)).is_ok());
        assert!(ForgeSecret::webhook_secret(&"s".repeat(1025)).is_err());
    }

    #[test]
    fn status_names() {
        assert_eq!(status_name_error(DEFAULT_STATUS_NAME), None);
        assert_eq!(status_name_error("ci gate"), None);
        for bad in ["", " ", "a/b", "checks*", &"x".repeat(61)] {
            assert!(status_name_error(bad).is_some(), "{bad:?}");
        }
    }
}
