//! GitLab, any edition and tier: its webhook payloads ([`hooks`]) and the API calls the bridge makes
//! ([`api`]).

pub mod api;
pub mod hooks;
