//! Use-case tests of the external status check endpoints against mocks of the ports: every error outcome
//! in GitLab's precedence, and the calls each success makes.

mod managing;
mod on_merge_requests;
