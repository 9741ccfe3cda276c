//! Merge requests: the entity and its HEAD, merge gating ([`detailed_merge_status`]), the pure plans of every write
//! ([`transitions`]), and the use cases of `/projects/:id/merge_requests`.

mod gating;
mod merge_request;
mod overview;
pub mod transitions;
mod use_cases;

#[cfg(test)]
mod tests;

pub use gating::*;
pub use merge_request::*;
pub use overview::*;
pub use use_cases::{MergeInput, MergeRequestView, parse_state_filter};
