//! Users and their personal access tokens: the accounts, the tokens that authenticate them (stored as
//! hashes only), authentication itself, and the use cases of `/users`, `/user` and
//! `/personal_access_tokens`.

mod tokens;
mod use_cases;
mod user;

#[cfg(test)]
mod tests;

pub use tokens::*;
pub use use_cases::{ROOT_USERNAME, UserView};
pub use user::*;
