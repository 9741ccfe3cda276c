//! Protected branches: branch names and `*` patterns, the scope of external status checks, and the use
//! cases of `/projects/:id/protected_branches`.

mod branch;
mod use_cases;

#[cfg(test)]
mod tests;

pub use branch::*;
