//! External status checks: the validated name, URL and shared secret, and branch scoping (applicability).
//! The statuses of the checks that apply to a merge request at its HEAD are worked out in
//! `applicability.rs`.

use crate::Timestamp;
use crate::ids::{ProjectId, ProtectedBranchId, StatusCheckId};
use crate::protected_branches::ProtectedBranch;
use crate::ssrf::{self, AddressClass};
use crate::status_checks::redaction::{UrlVisibility, redact};
use std::fmt;
use std::net::IpAddr;

/// The longest name, URL or shared secret accepted, in characters.
pub const MAX_CHECK_FIELD_CHARS: usize = 255;

/// A check's name: not blank, at most 255 characters. Unique within its project.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CheckName(String);

impl CheckName {
    /// Validates a name; the error is Rails' full message.
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        if raw.trim().is_empty() {
            Err("Name can't be blank")
        } else if raw.chars().count() > MAX_CHECK_FIELD_CHARS {
            Err("Name is too long (maximum is 255 characters)")
        } else {
            Ok(CheckName(raw.to_owned()))
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A check's external URL, stored and returned **exactly as sent** (no normalisation).
///
/// Valid means: an absolute `http` or `https` URL with a host, at most 255 characters, and — unless local
/// requests are allowed — not `localhost` nor an IP literal in a blocked range (see [`crate::ssrf`]). Host names
/// are not resolved here; the notifier checks resolved addresses at send time.
///
/// The URL as members see it on merge requests (no query, no credentials) is worked out once, when the URL is
/// made: E5 shows it for every check on every request.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ExternalUrl {
    raw: String,
    without_query: String,
}

impl ExternalUrl {
    /// Validates a URL; the errors are Rails' full messages, in order.
    pub fn parse(raw: &str, allow_local_requests: bool) -> Result<Self, Vec<String>> {
        Self::parse_with(
            raw,
            &UrlPolicy {
                allow_local_requests,
                ..UrlPolicy::default()
            },
        )
    }

    /// Validates a URL under the operator's policy: local targets are refused unless local requests are
    /// allowed or the allowlist names them.
    pub fn parse_with(raw: &str, policy: &UrlPolicy) -> Result<Self, Vec<String>> {
        if raw.trim().is_empty() {
            return Err(vec!["External url can't be blank".into()]);
        }
        if raw.chars().count() > MAX_CHECK_FIELD_CHARS {
            return Err(vec![
                "External url is too long (maximum is 255 characters)".into(),
            ]);
        }
        let Some(parsed) = parse_http_url(raw) else {
            return Err(vec!["External url must be a valid URL".into()]);
        };
        if !policy.allow_local_requests
            && let Some(reason) = blocked_reason(&parsed, &policy.allowlist)
        {
            return Err(vec![format!("External url is blocked: {reason}")]);
        }
        Ok(ExternalUrl::from_stored(raw.to_owned()))
    }

    /// A URL read back from storage, trusted to have been validated when saved.
    pub fn from_stored(raw: String) -> Self {
        ExternalUrl {
            without_query: redact(&raw, UrlVisibility::WithoutQuery),
            raw,
        }
    }

    /// The URL exactly as sent.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// The URL as someone with `visibility` may see it.
    pub fn shown(&self, visibility: UrlVisibility) -> String {
        match visibility {
            UrlVisibility::Full => self.raw.clone(),
            UrlVisibility::WithoutQuery => self.without_query.clone(),
            UrlVisibility::Hidden => String::new(),
        }
    }
}

/// Parses an absolute http(s) URL with a non-empty host, refusing white space and control characters that
/// a lenient parser would silently strip.
fn parse_http_url(raw: &str) -> Option<url::Url> {
    let lower = raw.get(..8).unwrap_or(raw).to_ascii_lowercase();
    if !(lower.starts_with("http://") || lower.starts_with("https://")) {
        return None;
    }
    if raw
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '\\')
    {
        return None;
    }
    // The authority must follow `://` directly: a lenient parser would read `http:///x` as host `x`.
    let after_scheme = raw.split_once("://").map_or("", |(_, rest)| rest);
    if after_scheme.is_empty() || after_scheme.starts_with(['/', '?', '#', '@']) {
        return None;
    }
    let parsed = url::Url::parse(raw).ok()?;
    match parsed.host() {
        Some(url::Host::Domain("")) => None,
        Some(_) => Some(parsed),
        None => None,
    }
}

/// Where outbound requests may go: the operator's `--allow-local-requests` and `--outbound-allowlist`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UrlPolicy {
    /// Every local address is allowed.
    pub allow_local_requests: bool,
    /// These local targets are allowed.
    pub allowlist: ssrf::OutboundAllowlist,
}

impl UrlPolicy {
    /// Whether `raw` is a URL requests may be sent to (the messages of [`ExternalUrl::parse_with`] if not).
    pub fn check(&self, raw: &str) -> Result<(), Vec<String>> {
        ExternalUrl::parse_with(raw, self).map(|_| ())
    }
}

/// Why a parsed URL is refused at save time, if it is.
fn blocked_reason(url: &url::Url, allowlist: &ssrf::OutboundAllowlist) -> Option<&'static str> {
    let class = match url.host()? {
        url::Host::Domain(name) if allowlist.admits_name(name) => return None,
        url::Host::Ipv4(ip) if allowlist.admits_ip(IpAddr::V4(ip)) => return None,
        url::Host::Ipv6(ip) if allowlist.admits_ip(IpAddr::V6(ip)) => return None,
        url::Host::Domain(name) if ssrf::is_localhost_name(name) => {
            return Some("Requests to localhost are not allowed");
        }
        url::Host::Domain(_) => return None,
        url::Host::Ipv4(ip) => ssrf::classify(IpAddr::V4(ip)),
        url::Host::Ipv6(ip) => ssrf::classify(IpAddr::V6(ip)),
    };
    (class != AddressClass::Public).then(|| class.reason())
}

/// A shared secret used to sign notifications (HMAC-SHA256). Never returned by the API; `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct SharedSecret(String);

impl SharedSecret {
    /// Reads the `shared_secret` parameter: blank means "no secret" (`Ok(None)`); over 255 characters is
    /// refused with Rails' message.
    pub fn parse(raw: &str) -> Result<Option<Self>, &'static str> {
        if raw.chars().count() > MAX_CHECK_FIELD_CHARS {
            Err("Shared secret is too long (maximum is 255 characters)")
        } else if raw.trim().is_empty() {
            Ok(None)
        } else {
            Ok(Some(SharedSecret(raw.to_owned())))
        }
    }

    /// The secret, for signing.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SharedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SharedSecret([redacted])")
    }
}

/// An external status check of a project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalStatusCheck {
    /// Its id.
    pub id: StatusCheckId,
    /// Its project.
    pub project_id: ProjectId,
    /// Its name.
    pub name: CheckName,
    /// Where notifications go.
    pub external_url: ExternalUrl,
    /// The signing secret, if any.
    pub shared_secret: Option<SharedSecret>,
    /// The protected branches it is scoped to (sorted by id); empty means every branch.
    pub protected_branches: Vec<ProtectedBranch>,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it was last changed.
    pub updated_at: Timestamp,
}

impl ExternalStatusCheck {
    /// `hmac` of the API: whether a shared secret is stored.
    pub fn hmac(&self) -> bool {
        self.shared_secret.is_some()
    }

    /// **Applicability**: the check applies to a merge request targeting `target_branch` when it has no
    /// protected branches, or when one of them matches the target branch (exactly, or by `*` pattern).
    pub fn applies_to_branch(&self, target_branch: &str) -> bool {
        self.protected_branches.is_empty()
            || self
                .protected_branches
                .iter()
                .any(|branch| branch.name.matches(target_branch))
    }
}

/// A check to store. The store verifies, in the same transaction, that every protected branch belongs to
/// the project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewStatusCheck {
    /// Its project.
    pub project_id: ProjectId,
    /// Its name.
    pub name: CheckName,
    /// Its URL.
    pub external_url: ExternalUrl,
    /// Its secret.
    pub shared_secret: Option<SharedSecret>,
    /// Scope; empty for all branches.
    pub protected_branch_ids: Vec<ProtectedBranchId>,
    /// Creation time.
    pub created_at: Timestamp,
}

/// Changes to a check; `None` leaves a field alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusCheckUpdate {
    /// New name.
    pub name: Option<CheckName>,
    /// New URL.
    pub external_url: Option<ExternalUrl>,
    /// `Some(None)` clears the secret.
    pub shared_secret: Option<Option<SharedSecret>>,
    /// New scope (`Some(vec![])` for all branches).
    pub protected_branch_ids: Option<Vec<ProtectedBranchId>>,
    /// Time of the change.
    pub updated_at: Timestamp,
}

/// What E2 asks for, after parameter parsing.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StatusCheckInput {
    /// Required.
    pub name: String,
    /// Required.
    pub external_url: String,
    /// Optional.
    pub shared_secret: Option<String>,
    /// Optional; empty for all branches.
    pub protected_branch_ids: Vec<ProtectedBranchId>,
}

/// What E3 asks for, after parameter parsing; only the keys sent are `Some`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StatusCheckUpdateInput {
    /// New name.
    pub name: Option<String>,
    /// New URL.
    pub external_url: Option<String>,
    /// New secret; empty clears it.
    pub shared_secret: Option<String>,
    /// New scope.
    pub protected_branch_ids: Option<Vec<ProtectedBranchId>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protected_branches::BranchPattern;
    use proptest::prelude::*;

    fn url_errors(raw: &str) -> Vec<String> {
        ExternalUrl::parse(raw, false).err().unwrap_or_default()
    }

    #[test]
    fn urls_are_kept_exactly_as_sent() {
        for raw in [
            "http://h:8080",
            "HTTPS://Example.COM/a/../b?x=1#f",
            "http://example.com",
        ] {
            assert_eq!(
                ExternalUrl::parse(raw, false).map(|u| u.raw),
                Ok(raw.to_owned())
            );
        }
    }

    #[test]
    fn invalid_urls() {
        let invalid = vec!["External url must be a valid URL".to_owned()];
        for raw in [
            "ftp://example.com",
            "example.com",
            "http://",
            "http:///path",
            "http:example.com",
            "http://exa mple.com",
            "javascript:alert(1)",
            "http://[::1",
            "http://example.com\n",
            "http://evil.com\\@good.com",
            "http://@host",
        ] {
            assert_eq!(url_errors(raw), invalid, "{raw:?}");
        }
        assert_eq!(
            url_errors(""),
            vec!["External url can't be blank".to_owned()]
        );
        assert_eq!(
            url_errors(&format!("https://e.com/{}", "a".repeat(250))),
            vec!["External url is too long (maximum is 255 characters)".to_owned()]
        );
    }

    #[test]
    fn blocked_at_save_time_in_every_spelling() {
        for raw in [
            "http://localhost",
            "http://LOCALHOST:8080/x",
            "http://api.localhost/",
            "http://127.0.0.1",
            "http://127.1",
            "http://2130706433",
            "http://0x7f.0.0.1",
            "http://0177.0.0.1",
            "http://[::1]",
            "http://[::ffff:127.0.0.1]",
            "http://0.0.0.0",
            "http://0",
            "http://10.0.0.5",
            "http://172.16.3.4",
            "http://192.168.1.1",
            "http://169.254.169.254/latest/meta-data",
            "http://[fc00::1]",
            "http://[fe80::1]",
            "http://224.0.0.1",
        ] {
            let errors = url_errors(raw);
            assert_eq!(errors.len(), 1, "{raw}");
            assert!(
                errors[0].starts_with("External url is blocked: "),
                "{raw}: {errors:?}"
            );
            assert!(
                ExternalUrl::parse(raw, true).is_ok(),
                "{raw} allowed when local requests are"
            );
        }
        assert!(ExternalUrl::parse("http://example.com", false).is_ok());
        assert!(ExternalUrl::parse("https://8.8.8.8/hook", false).is_ok());
        // Names are resolved at send time, never at save time.
        assert!(ExternalUrl::parse("http://localtest.me", false).is_ok());
    }

    #[test]
    fn a_url_is_shown_as_redacted() {
        let raw = "https://user:pw@ci.example.com:8443/hook?token=s3cret#frag";
        let url = ExternalUrl::from_stored(raw.to_owned());
        for visibility in [
            UrlVisibility::Full,
            UrlVisibility::WithoutQuery,
            UrlVisibility::Hidden,
        ] {
            assert_eq!(url.shown(visibility), redact(raw, visibility));
        }
        assert_eq!(url.as_str(), raw);
    }

    #[test]
    fn secrets() {
        assert_eq!(SharedSecret::parse(""), Ok(None));
        assert_eq!(SharedSecret::parse("  "), Ok(None));
        assert!(SharedSecret::parse("s").is_ok_and(|s| s.is_some()));
        assert!(SharedSecret::parse(&"x".repeat(256)).is_err());
        let secret = SharedSecret::parse("hunter2").ok().flatten();
        assert!(!format!("{secret:?}").contains("hunter2"));
    }

    fn check_with(patterns: &[&str]) -> ExternalStatusCheck {
        let now = Timestamp::default();
        ExternalStatusCheck {
            id: StatusCheckId(1),
            project_id: ProjectId(1),
            name: CheckName("c".into()),
            external_url: ExternalUrl::from_stored("https://e.com".into()),
            shared_secret: None,
            protected_branches: patterns
                .iter()
                .enumerate()
                .map(|(i, p)| ProtectedBranch {
                    id: ProtectedBranchId(i as i64),
                    project_id: ProjectId(1),
                    name: BranchPattern::new(*p).unwrap_or_else(|e| panic!("{e}")),
                    created_at: now,
                    updated_at: now,
                })
                .collect(),
            created_at: now,
            updated_at: now,
        }
    }

    #[test]
    fn applicability() {
        assert!(check_with(&[]).applies_to_branch("anything"));
        assert!(check_with(&["main"]).applies_to_branch("main"));
        assert!(!check_with(&["main"]).applies_to_branch("develop"));
        assert!(check_with(&["main", "release/*"]).applies_to_branch("release/2/0"));
    }

    proptest! {
        #[test]
        fn no_pattern_means_every_branch(branch in "\\PC{1,30}") {
            prop_assert!(check_with(&[]).applies_to_branch(&branch));
        }

        #[test]
        fn applies_iff_some_pattern_matches(
            patterns in proptest::collection::vec("[ab/*]{1,5}", 1..4),
            branch in "[ab/]{0,6}",
        ) {
            let refs: Vec<&str> = patterns.iter().map(String::as_str).collect();
            let check = check_with(&refs);
            let any = check.protected_branches.iter().any(|b| b.name.matches(&branch));
            prop_assert_eq!(check.applies_to_branch(&branch), any);
        }

        #[test]
        fn valid_names_round_trip(name in "\\PC{1,255}") {
            prop_assume!(!name.trim().is_empty());
            prop_assert_eq!(CheckName::parse(&name).map(|n| n.0), Ok(name.clone()));
        }
    }
}
