//! Forge links: the bridge between a project and the forge its merge requests live on (GitLab of any tier,
//! Gitea, Forgejo, GitHub). This folder holds the bridge's rules, which are core rules like any other: the
//! link and its write-only credentials ([`link`]), the snapshot rule that brings a mirrored merge request to
//! the state a webhook shows ([`mirror`](mod@mirror)), and what is reported to the forge about a merge request's HEAD —
//! the aggregate of the applicable checks, its words, each forge's state names and the contexts statuses are
//! posted under ([`report`]); the status outbox's records ([`statuses`]); and the use cases: managing the link
//! and applying a delivery or a sync (`use_cases.rs`), and scheduling status posts and working out at send
//! time what each says (`reporting.rs`).

pub mod link;
pub mod mirror;
pub mod report;
mod reporting;
pub mod statuses;
mod use_cases;

#[cfg(test)]
mod tests;

pub use link::*;
pub use mirror::{
    ForgeMergeRequest, HeadPipeline, Mirror, MirrorChange, MirrorDetails, MirrorOutcome,
    MirrorWrite, ignores_action, mirror,
};
pub use report::{Report, aggregate};
pub use reporting::*;
pub use statuses::*;
pub use use_cases::*;
