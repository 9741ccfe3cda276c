//! End-to-end tests of status-checks: one test binary, a module per feature.
//!
//! Until the binary lands, this holds the smoke test of what the core offers other crates' tests: the
//! `mock` feature's port mocks and the `testkit` feature's proptest strategies, used from outside the crate
//! exactly as an adapter or an embedder would use them.

mod core_test_support;
