//! Projects: the unit that owns members, protected branches, merge requests and status checks.

use crate::Timestamp;
use crate::ids::ProjectId;
use serde::{Deserialize, Serialize};

/// The longest project name, path or namespace accepted, in characters.
pub const MAX_PROJECT_FIELD_CHARS: usize = 255;

/// A project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Project {
    /// Its id.
    pub id: ProjectId,
    /// Display name.
    pub name: String,
    /// URL slug, unique within the namespace.
    pub path: String,
    /// The namespace (a user name or a group path such as `group/subgroup`).
    pub namespace: String,
    /// When true, a merge request may merge only when every applicable status check passed at its HEAD.
    pub only_allow_merge_if_all_status_checks_passed: bool,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it was last changed.
    pub updated_at: Timestamp,
}

impl Project {
    /// `namespace/path`, the project's full path.
    pub fn path_with_namespace(&self) -> String {
        format!("{}/{}", self.namespace, self.path)
    }
}

/// How a request names a project: `:id` is a numeric id or a (URL-decoded) `path_with_namespace`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ProjectRef {
    /// A numeric id.
    Id(ProjectId),
    /// A full path such as `group/project`.
    Path(String),
}

impl ProjectRef {
    /// Reads an already URL-decoded `:id`: all digits is an id, anything else a path.
    pub fn parse(decoded: &str) -> ProjectRef {
        if !decoded.is_empty()
            && decoded.bytes().all(|b| b.is_ascii_digit())
            && let Ok(id) = decoded.parse::<i64>()
        {
            return ProjectRef::Id(ProjectId(id));
        }
        ProjectRef::Path(decoded.to_owned())
    }
}

/// A project to store. The creator becomes its Owner in the same transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewProject {
    /// Display name.
    pub name: String,
    /// URL slug.
    pub path: String,
    /// The group or user the project belongs to: the first part of its full path.
    pub namespace: String,
    /// Merge gating on status checks.
    pub only_allow_merge_if_all_status_checks_passed: bool,
    /// Creation time.
    pub created_at: Timestamp,
}

/// What `POST /projects` asks for, after parameter parsing.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NewProjectInput {
    /// Required.
    pub name: String,
    /// Defaults to a slug of the name.
    pub path: Option<String>,
    /// Defaults to the creator's username.
    pub namespace: Option<String>,
    /// Defaults to false.
    pub only_allow_merge_if_all_status_checks_passed: Option<bool>,
}

/// What `PUT /projects/:id` changes; `None` leaves a field alone.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProjectUpdate {
    /// New display name.
    pub name: Option<String>,
    /// New merge gating setting.
    pub only_allow_merge_if_all_status_checks_passed: Option<bool>,
}

/// Whether a display name is acceptable: not blank, at most 255 characters, no control characters.
pub fn name_error(name: &str) -> Option<&'static str> {
    if name.trim().is_empty() {
        Some("can't be blank")
    } else if name.chars().count() > MAX_PROJECT_FIELD_CHARS {
        Some("is too long (maximum is 255 characters)")
    } else if name.chars().any(char::is_control) {
        Some("is invalid")
    } else {
        None
    }
}

fn is_slug_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')
}

/// Whether a path (slug) is acceptable: 1–255 characters of `[A-Za-z0-9_.-]`, starting and ending with a
/// letter, digit or `_`, not ending in `.git` or `.atom` (GitLab's rules).
pub fn path_error(path: &str) -> Option<&'static str> {
    if path.is_empty() {
        return Some("can't be blank");
    }
    if path.len() > MAX_PROJECT_FIELD_CHARS {
        return Some("is too long (maximum is 255 characters)");
    }
    let edge_ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
    if !path.chars().all(is_slug_char)
        || !edge_ok(path.chars().next())
        || !edge_ok(path.chars().last())
        || path.ends_with(".git")
        || path.ends_with(".atom")
    {
        return Some(
            "can contain only letters, digits, '_', '-' and '.'. Cannot start with '-', end in '.git' or end in '.atom'",
        );
    }
    None
}

/// Whether a namespace is acceptable: one or more valid paths joined by `/`.
pub fn namespace_error(namespace: &str) -> Option<&'static str> {
    if namespace.len() > MAX_PROJECT_FIELD_CHARS {
        return Some("is too long (maximum is 255 characters)");
    }
    if namespace
        .split('/')
        .any(|segment| path_error(segment).is_some())
    {
        return Some("is invalid");
    }
    None
}

/// GitLab's default path for a name: lower case, runs of other characters turned into one `-`, trimmed.
pub fn slugify(name: &str) -> String {
    let mut slug = String::with_capacity(name.len());
    for c in name.chars().flat_map(char::to_lowercase) {
        if is_slug_char(c) && c != '-' {
            slug.push(c);
        } else if !slug.ends_with('-') {
            slug.push('-');
        }
    }
    slug.trim_matches(|c| c == '-' || c == '.').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn project_refs() {
        assert_eq!(ProjectRef::parse("42"), ProjectRef::Id(ProjectId(42)));
        assert_eq!(
            ProjectRef::parse("group/proj"),
            ProjectRef::Path("group/proj".into())
        );
        assert_eq!(ProjectRef::parse("4a"), ProjectRef::Path("4a".into()));
        // Too large for an id: can only be a path (and is then not found).
        assert_eq!(
            ProjectRef::parse("99999999999999999999"),
            ProjectRef::Path("99999999999999999999".into())
        );
    }

    #[test]
    fn slugs() {
        assert_eq!(slugify("My Project"), "my-project");
        assert_eq!(slugify("  Hello,  World!  "), "hello-world");
        assert_eq!(slugify("a_b.c"), "a_b.c");
        assert_eq!(slugify("---"), "");
    }

    #[test]
    fn paths() {
        assert_eq!(path_error("proj"), None);
        assert_eq!(path_error("p.r_o-j9"), None);
        assert!(path_error("").is_some());
        assert!(path_error("-x").is_some());
        assert!(path_error("x.git").is_some());
        assert!(path_error("a b").is_some());
        assert_eq!(namespace_error("group/sub"), None);
        assert!(namespace_error("group//sub").is_some());
    }

    proptest! {
        #[test]
        fn a_slug_is_a_valid_path_or_empty(name in "\\PC{0,40}") {
            let slug = slugify(&name);
            prop_assert!(slug.is_empty() || slug.ends_with(".git") || slug.ends_with(".atom")
                || path_error(&slug).is_none(), "{slug:?}");
        }
    }
}
