//! Projects: the entity, how names, paths and namespaces are validated, how a project is referred to (id or
//! full path), and the use cases of `/projects`.

mod overview;
mod project;
mod use_cases;

#[cfg(test)]
mod tests;

pub use overview::*;
pub use project::*;
