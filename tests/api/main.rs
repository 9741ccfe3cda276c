//! End-to-end tests of status-checks: one test binary, a module per feature. They start the real binary.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a panic is how a test fails"
)]

mod core_test_support;
mod forge_support;
mod forges;
mod forges_others;
mod forges_others_github;
mod forges_others_statuses;
mod forges_others_sync;
mod forges_others_webhooks;
mod forges_statuses;
mod forges_sync;
mod lifecycle;
mod notifications;
mod pages_browser;
mod postgres;
mod postgres_outage;
mod python_gitlab;
