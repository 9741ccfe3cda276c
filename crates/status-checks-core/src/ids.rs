//! Identifier newtypes, so that a project id can never be passed where a user id is expected.
//!
//! Every id is the database's 64-bit integer, rendered as a JSON number.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! id_type {
    ($(#[$doc:meta] $name:ident),* $(,)?) => {$(
        #[$doc]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    )*};
}

id_type! {
    /// A user's id.
    UserId,
    /// A personal access token's id.
    TokenId,
    /// A project's id.
    ProjectId,
    /// A protected branch's id (global, not per project).
    ProtectedBranchId,
    /// A merge request's global id (`id`, not `iid`).
    MergeRequestId,
    /// A merge request's number within its project (`iid`, counting from 1).
    MergeRequestIid,
    /// An external status check's id.
    StatusCheckId,
    /// A status check response's id.
    ResponseId,
    /// An outgoing notification's id.
    DeliveryId,
}
