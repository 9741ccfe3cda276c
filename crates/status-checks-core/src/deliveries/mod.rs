//! Deliveries: the notifications to external services, kept in an outbox (docs/notifications.md).
//!
//! A use case that changes a merge request (or retries a check) builds one [`DeliveryDraft`] per applicable
//! check. The store renders each draft against the merge request **as stored by that same transaction**
//! ([`DeliveryDraft::render`]) and inserts the resulting [`NewDelivery`] in that transaction, so a delivery is
//! never lost by a crash nor sent for a change that was rolled back. The body is serialised once, in
//! [`payload`]; the notifier signs and sends exactly those bytes, and retries on the [`schedule`].

mod delivery;
pub mod payload;
pub mod schedule;
mod use_cases;

pub use delivery::*;
pub use payload::*;
pub use schedule::*;
