//! The ports' contract test suite: what every storage adapter must do, written once.
//!
//! Each scenario is an `async fn(&Ports)` that panics on a broken promise. Run them all against a fresh store
//! per scenario with [`port_contract_tests!`](crate::port_contract_tests):
//!
//! ```no_run
//! use status_checks_core::service::Ports;
//!
//! async fn fresh_ports() -> (Ports, ()) {
//!     todo!("open a new, empty store; return it with what must outlive the test instead of ()")
//! }
//!
//! status_checks_core::port_contract_tests!(fresh_ports());
//! # // The generated tests are compiled only by `cargo test`: type-check one of their bodies here.
//! # async fn _a_generated_test() {
//! #     let (ports, _guard) = fresh_ports().await;
//! #     status_checks_core::testkit::contract::users_round_trip(&ports).await;
//! # }
//! # fn main() {}
//! ```
//!
//! The macro expands to one `#[tokio::test]` per scenario (the calling crate needs tokio with `macros` and
//! `rt`). The second element of the tuple is kept alive for the test's duration (a temporary directory, a
//! container, …). Times used here have millisecond precision, the least a store must keep.

mod deliveries;
mod fixtures;
mod forges;
mod members;
mod merge_requests;
mod projects;
mod protected_branches;
mod status_checks;
mod users;

pub use deliveries::{
    outbox_claims_and_outcomes, outbox_prunes_only_finished_deliveries,
    outbox_records_a_batch_of_attempts, outbox_records_only_the_claim_holder,
};
pub use forges::{
    deleting_a_project_removes_its_forge_rows, forge_link_changes_forget_posted_states,
    forge_links_round_trip, forge_mirror_writes, forge_rows_are_pruned_by_age,
    forge_status_attempts_only_by_the_claim_holder, forge_status_outbox,
    forge_syncs_are_claimed_under_a_lease,
};
pub use members::members_and_the_last_owner;
pub use merge_requests::merge_requests_and_their_deliveries;
pub use projects::{deleting_a_project_removes_everything_in_it, projects_round_trip};
pub use protected_branches::protected_branches_round_trip;
pub use status_checks::{newest_responses_per_head, status_checks_round_trip};
pub use users::{tokens_round_trip, users_round_trip};

/// Expands to one `#[tokio::test]` per contract scenario, each on the ports `$fresh` yields:
/// `$fresh` is an expression evaluated anew per test, of a future of `(Ports, guard)`.
#[macro_export]
macro_rules! port_contract_tests {
    ($fresh:expr) => {
        $crate::port_contract_tests!(@each $fresh;
            users_round_trip,
            tokens_round_trip,
            projects_round_trip,
            members_and_the_last_owner,
            protected_branches_round_trip,
            status_checks_round_trip,
            merge_requests_and_their_deliveries,
            newest_responses_per_head,
            outbox_claims_and_outcomes,
            outbox_records_a_batch_of_attempts,
            outbox_records_only_the_claim_holder,
            forge_status_attempts_only_by_the_claim_holder,
            outbox_prunes_only_finished_deliveries,
            deleting_a_project_removes_everything_in_it,
            forge_links_round_trip,
            forge_syncs_are_claimed_under_a_lease,
            forge_mirror_writes,
            forge_status_outbox,
            forge_link_changes_forget_posted_states,
            forge_rows_are_pruned_by_age,
            deleting_a_project_removes_its_forge_rows
        );
    };
    (@each $fresh:expr; $($scenario:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $scenario() {
                let (ports, _guard) = $fresh.await;
                $crate::testkit::contract::$scenario(&ports).await;
            }
        )*
    };
}
