//! Test kit for embedders (feature `testkit`): proptest strategies for the domain values, so that code
//! built on this crate can be property-tested with the same generators the core uses.

pub mod strategies;
