//! The HTTP client the bridge calls forges with: behind the same SSRF guard as notifications (with the
//! operator's allowlist), no redirects, no proxy, a timeout; and the one classification of what went
//! wrong — retried (network errors, timeouts, 5xx, 409, 429 with `Retry-After`) or final (other 4xx),
//! with the forge's message, never a credential.

use status_checks_core::forges::ForgeLink;
use status_checks_core::status_checks::UrlPolicy;
use status_checks_notify::guard::{self, GuardedResolver, Lookup};
use std::time::Duration;

/// The longest `Retry-After` honoured: a forge asking for more is tried again after this.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(600);

/// The most characters of a forge's message kept in `last_error`.
const MAX_MESSAGE_CHARS: usize = 300;

/// Why a call to a forge failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// What happened, for `last_error` (never a credential).
    pub reason: String,
    /// Whether trying again may help.
    pub retryable: bool,
    /// How long the forge asked to wait (`Retry-After`).
    pub retry_after: Option<Duration>,
}

impl Failure {
    /// A failure worth retrying.
    pub fn retry(reason: impl Into<String>, retry_after: Option<Duration>) -> Self {
        Failure {
            reason: reason.into(),
            retryable: true,
            retry_after,
        }
    }

    /// A failure that retrying cannot mend.
    pub fn fatal(reason: impl Into<String>) -> Self {
        Failure {
            reason: reason.into(),
            retryable: false,
            retry_after: None,
        }
    }

    /// The failure an HTTP answer means: 409 (a lock), 429 and 5xx are retried, other 4xx are final.
    pub fn from_status(status: u16, message: String, retry_after: Option<Duration>) -> Self {
        let reason = if message.is_empty() {
            format!("HTTP {status}")
        } else {
            format!("HTTP {status}: {message}")
        };
        if status == 409 || status == 429 || status >= 500 {
            Failure::retry(reason, retry_after)
        } else {
            Failure::fatal(reason)
        }
    }
}

/// The client.
#[derive(Clone)]
pub struct ForgeClient {
    http: reqwest::Client,
    policy: UrlPolicy,
}

/// The client could not be built.
#[derive(Debug, thiserror::Error)]
#[error("cannot build the forge HTTP client: {0}")]
pub struct ClientError(#[from] reqwest::Error);

impl ForgeClient {
    /// A client with a per-request `timeout`, resolving names with `lookup` behind the SSRF guard.
    pub fn new(timeout: Duration, policy: UrlPolicy, lookup: Lookup) -> Result<Self, ClientError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .user_agent(status_checks_notify::sender::user_agent())
            .dns_resolver(std::sync::Arc::new(GuardedResolver::new(
                policy.clone(),
                lookup,
            )))
            .build()?;
        Ok(ForgeClient { http, policy })
    }

    /// The underlying client, to build requests with.
    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// Sends `request` (to `url`, on behalf of `link`), refusing a blocked IP literal first; a network
    /// error or a timeout is a retryable failure whose reason names no credential.
    pub(crate) async fn send(
        &self,
        url: &str,
        request: reqwest::RequestBuilder,
        link: &ForgeLink,
    ) -> Result<reqwest::Response, Failure> {
        let parsed =
            url::Url::parse(url).map_err(|_| Failure::fatal("the forge's API URL is invalid"))?;
        guard::check_literal_host(&parsed, &self.policy)
            .map_err(|refusal| Failure::fatal(format!("refused: {refusal}")))?;
        request.send().await.map_err(|e| {
            let kind = if e.is_timeout() {
                "timed out"
            } else if e.is_connect() {
                "could not connect"
            } else {
                "request failed"
            };
            // reqwest's message names the URL only; the token travels in a header.
            Failure::retry(redact(&format!("{kind}: {e}"), link), None)
        })
    }
}

/// `Retry-After` in seconds, capped.
pub(crate) fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(|secs| Duration::from_secs(secs).min(MAX_RETRY_AFTER))
}

/// The forge's message in an error answer (`message` or `error` of a JSON body, else the body), cut and
/// with the link's credentials removed should the forge echo them.
pub(crate) async fn forge_message(response: reqwest::Response, link: &ForgeLink) -> String {
    let text = response.text().await.unwrap_or_default();
    let message = match serde_json::from_str::<serde_json::Value>(&text) {
        Ok(json) => {
            let mut message = match json.get("message").or_else(|| json.get("error")) {
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
                None => text.clone(),
            };
            // GitHub gives the reason of a 422 in `errors[].message` ("… reached the maximum number of
            // statuses").
            let details: Vec<&str> = json
                .get("errors")
                .and_then(serde_json::Value::as_array)
                .map(|errors| {
                    errors
                        .iter()
                        .filter_map(|e| e.get("message").and_then(serde_json::Value::as_str))
                        .collect()
                })
                .unwrap_or_default();
            if !details.is_empty() {
                message = format!("{message}: {}", details.join("; "));
            }
            message
        }
        Err(_) => text,
    };
    let cut: String = message.chars().take(MAX_MESSAGE_CHARS).collect();
    redact(cut.trim(), link)
}

/// `text` with the link's token and webhook secret replaced by `[redacted]`.
pub(crate) fn redact(text: &str, link: &ForgeLink) -> String {
    let mut text = text.to_owned();
    for secret in [link.token.expose(), link.webhook_secret.expose()] {
        if !secret.is_empty() {
            text = text.replace(secret, "[redacted]");
        }
    }
    text
}
