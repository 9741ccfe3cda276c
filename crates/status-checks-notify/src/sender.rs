//! One attempt to deliver one notification: build the request from the stored body, sign exactly those
//! bytes, send with a timeout, no redirects and no proxy, and classify the outcome.

use crate::guard::{self, GuardedResolver, Lookup, Refusal};
use crate::signature::sign;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue, USER_AGENT};
use status_checks_core::ports::DueDelivery;
use status_checks_core::status_checks::UrlPolicy;
use std::time::Duration;

/// Why an attempt failed, and whether it is worth another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// `connection refused`, `HTTP 503`, `blocked address 127.0.0.1`, `timeout`, `unresolvable host`, ….
    pub reason: String,
    /// The kind of failure, for metrics.
    pub cause: Cause,
    /// Network errors, timeouts, 5xx and 429 are retried; other answers are final.
    pub retryable: bool,
}

/// The kind of a failed attempt: a label of the attempts metric, coarse enough to alert on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cause {
    /// The receiver answered 5xx.
    ServerError,
    /// The receiver answered 429.
    TooManyRequests,
    /// The receiver answered another non-2xx status (final).
    Refused,
    /// No answer within the delivery timeout.
    Timeout,
    /// The connection could not be made or broke.
    Connection,
    /// The SSRF guard refused the address, or the name did not resolve.
    Blocked,
    /// The stored URL does not parse (final).
    InvalidUrl,
    /// Anything else.
    Other,
}

impl Cause {
    /// A label for metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Cause::ServerError => "http_5xx",
            Cause::TooManyRequests => "http_429",
            Cause::Refused => "http_other",
            Cause::Timeout => "timeout",
            Cause::Connection => "connection",
            Cause::Blocked => "blocked",
            Cause::InvalidUrl => "invalid_url",
            Cause::Other => "other",
        }
    }
}

impl Failure {
    fn retry(cause: Cause, reason: impl Into<String>) -> Self {
        Failure {
            reason: reason.into(),
            cause,
            retryable: true,
        }
    }
}

/// Sends deliveries.
#[derive(Clone)]
pub struct Sender {
    client: reqwest::Client,
    policy: UrlPolicy,
    user_agent: HeaderValue,
}

/// The `User-Agent` of every notification.
pub fn user_agent() -> String {
    format!("status-checks/{}", env!("CARGO_PKG_VERSION"))
}

/// The HTTP client could not be built (no TLS roots, an unusable resolver, …).
#[derive(Debug, thiserror::Error)]
#[error("cannot build the HTTP client: {0}")]
pub struct ClientError(#[from] reqwest::Error);

impl Sender {
    /// A sender with a per-request `timeout`, resolving names with `lookup` behind the SSRF guard.
    pub fn new(timeout: Duration, policy: UrlPolicy, lookup: Lookup) -> Result<Self, ClientError> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .dns_resolver(std::sync::Arc::new(GuardedResolver::new(
                policy.clone(),
                lookup,
            )))
            .build()?;
        Ok(Sender {
            client,
            policy,
            user_agent: HeaderValue::from_str(&user_agent())
                .unwrap_or_else(|_| HeaderValue::from_static("status-checks")),
        })
    }

    /// The headers of a delivery.
    fn headers(&self, due: &DueDelivery) -> HeaderMap {
        let mut headers = HeaderMap::with_capacity(5);
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(USER_AGENT, self.user_agent.clone());
        headers.insert(
            "x-gitlab-event",
            HeaderValue::from_static("Merge Request Hook"),
        );
        if let Ok(key) = HeaderValue::from_str(&due.delivery.idempotency_key) {
            headers.insert("idempotency-key", key);
        }
        if let Some(secret) = &due.shared_secret
            && let Ok(signature) =
                HeaderValue::from_str(&sign(secret.expose(), due.delivery.body.as_bytes()))
        {
            headers.insert("x-gitlab-signature", signature);
        }
        headers
    }

    /// One attempt. The body is moved into the request (it is sent as is, and a retry reads it again from
    /// the outbox), so `due` holds no body afterwards.
    pub async fn send(&self, due: &mut DueDelivery) -> Result<(), Failure> {
        let url = url::Url::parse(&due.url).map_err(|_| Failure {
            reason: "invalid URL".into(),
            cause: Cause::InvalidUrl,
            retryable: false,
        })?;
        guard::check_literal_host(&url, &self.policy)
            .map_err(|r| Failure::retry(Cause::Blocked, r.to_string()))?;
        let response = self
            .client
            .post(url)
            .headers(self.headers(due))
            .body(std::mem::take(&mut due.delivery.body))
            .send()
            .await
            .map_err(classify)?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            let cause = if status.is_server_error() {
                Cause::ServerError
            } else if status.as_u16() == 429 {
                Cause::TooManyRequests
            } else {
                Cause::Refused
            };
            Err(Failure {
                reason: format!("HTTP {}", status.as_u16()),
                cause,
                retryable: cause != Cause::Refused,
            })
        }
    }
}

/// Names the cause of a transport error.
fn classify(error: reqwest::Error) -> Failure {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&error);
    while let Some(current) = source {
        if let Some(refusal) = current.downcast_ref::<Refusal>() {
            return Failure::retry(Cause::Blocked, refusal.to_string());
        }
        if let Some(io) = current.downcast_ref::<std::io::Error>() {
            match io.kind() {
                std::io::ErrorKind::ConnectionRefused => {
                    return Failure::retry(Cause::Connection, "connection refused");
                }
                std::io::ErrorKind::TimedOut => return Failure::retry(Cause::Timeout, "timeout"),
                std::io::ErrorKind::ConnectionReset => {
                    return Failure::retry(Cause::Connection, "connection reset");
                }
                _ => {}
            }
        }
        source = current.source();
    }
    if error.is_timeout() {
        Failure::retry(Cause::Timeout, "timeout")
    } else if error.is_connect() {
        Failure::retry(Cause::Connection, "connection failed")
    } else {
        // Without the URL: its query string may hold a secret, and this text is stored and logged.
        Failure::retry(
            Cause::Other,
            format!("request failed: {}", error.without_url()),
        )
    }
}
