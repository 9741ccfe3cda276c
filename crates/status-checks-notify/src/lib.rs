//! # status-checks-notify
//!
//! What makes a status check *external*: telling the outside service there is work (docs/notifications.md). The
//! core records one delivery per applicable check in the same transaction as the change that caused it; this
//! crate sends them.
//!
//! - [`worker::DeliveryWorker`] claims due deliveries from the outbox port under a lease, sends several at once
//!   (bounded; one slow endpoint holds up only its own slot), and records each outcome: delivered on 2xx;
//!   retried with exponential backoff and jitter on network errors, timeouts, 5xx and 429; dead after the last
//!   attempt or on any other answer. Deliveries survive restarts: a lease that expires makes them due again.
//! - [`sender::Sender`] posts the stored body byte for byte, signed with [`signature::sign`]
//!   (`X-Gitlab-Signature`: lowercase hex HMAC-SHA256 keyed with the check's shared secret), with
//!   `X-Gitlab-Event: Merge Request Hook`, a stable `Idempotency-Key` and `User-Agent: status-checks/<version>`;
//!   no redirects are followed and no proxy is used.
//! - [`guard`] is the SSRF guard at send time: names are resolved by a resolver that classifies every address
//!   with the core's rule and hands the HTTP client only the addresses it checked; IP literals are checked
//!   before sending. Local addresses pass only with `--allow-local-requests`.
//!
//! ## What this crate must never depend on
//! Storage or HTTP serving: it sees the outbox only through the core's `DeliveryRepository` port, and holds no
//! rule of the domain beyond sending (applicability, payloads and the retry schedule are the core's).

pub mod guard;
pub mod sender;
pub mod signature;
pub mod worker;

pub use sender::{Cause, ClientError, Sender};
pub use worker::{DeliveryObserver, DeliveryWorker, Outcome, WorkerConfig};
