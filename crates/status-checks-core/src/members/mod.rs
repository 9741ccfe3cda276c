//! Project members: who has which role in a project, the last-Owner rule (a project never loses its last
//! Owner), and the use cases of `/projects/:id/members`.

mod member;
mod use_cases;

#[cfg(test)]
mod tests;

pub use member::*;
