//! Protected branches and GitLab's branch-name patterns.
//!
//! A protected branch's name is either an exact branch name or a pattern in which `*` matches any run of
//! characters, `/` included: `release/*` matches `release/1.0` and `release/a/b`, `*-stable` matches
//! `12-stable`. Every other character stands for itself. This one matcher decides which merge requests a
//! status check applies to (see [`crate::status_checks::ExternalStatusCheck::applies_to_branch`]).

use crate::Timestamp;
use crate::ids::{ProjectId, ProtectedBranchId};
use serde::{Deserialize, Serialize};

/// The longest branch name or pattern accepted, in characters.
pub const MAX_BRANCH_NAME_CHARS: usize = 255;

/// A protected branch name or wildcard pattern: not blank, at most 255 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct BranchPattern(String);

/// Why a branch name or pattern was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BranchNameError {
    /// Empty or only white space.
    #[error("can't be blank")]
    Blank,
    /// Longer than [`MAX_BRANCH_NAME_CHARS`].
    #[error("is too long (maximum is 255 characters)")]
    TooLong,
    /// Contains a control character.
    #[error("is invalid")]
    Invalid,
}

/// Checks a branch name (or pattern) for the rules shared by patterns and merge-request branches.
pub fn validate_branch_name(raw: &str) -> Result<(), BranchNameError> {
    if raw.trim().is_empty() {
        return Err(BranchNameError::Blank);
    }
    if raw.chars().count() > MAX_BRANCH_NAME_CHARS {
        return Err(BranchNameError::TooLong);
    }
    if raw.chars().any(char::is_control) {
        return Err(BranchNameError::Invalid);
    }
    Ok(())
}

impl BranchPattern {
    /// Validates a pattern.
    pub fn new(raw: impl Into<String>) -> Result<Self, BranchNameError> {
        let raw = raw.into();
        validate_branch_name(&raw)?;
        Ok(BranchPattern(raw))
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True when the pattern contains a `*` wildcard.
    pub fn is_wildcard(&self) -> bool {
        self.0.contains('*')
    }

    /// Whether `branch` matches: equal to the pattern, or matched by it with `*` standing for any run of
    /// characters (including none, and including `/`).
    pub fn matches(&self, branch: &str) -> bool {
        glob_match(self.0.as_bytes(), branch.as_bytes())
    }
}

impl TryFrom<String> for BranchPattern {
    type Error = BranchNameError;
    fn try_from(raw: String) -> Result<Self, Self::Error> {
        BranchPattern::new(raw)
    }
}

impl From<BranchPattern> for String {
    fn from(pattern: BranchPattern) -> String {
        pattern.0
    }
}

/// Linear-space wildcard matching with single-star backtracking: O(pattern × text) in the worst case,
/// never exponential. Works on bytes, which is exact for UTF-8 because `*` is ASCII and every other
/// byte must match literally.
fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0usize, 0usize);
    // Position of the last `*` seen in the pattern, and the text position it is currently matched up to.
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                // Let the last star swallow one more character and retry from there.
                Some((star_p, star_t)) => {
                    p = star_p + 1;
                    t = star_t + 1;
                    star = Some((star_p, star_t + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// A protected branch of a project. Status checks may be scoped to some of them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProtectedBranch {
    /// Its id.
    pub id: ProtectedBranchId,
    /// The project it belongs to.
    pub project_id: ProjectId,
    /// The branch name or wildcard pattern.
    pub name: BranchPattern,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it was last changed.
    pub updated_at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The reference matcher: the obvious recursive definition, exponential but clearly right.
    fn reference_match(pattern: &[u8], text: &[u8]) -> bool {
        match pattern.split_first() {
            None => text.is_empty(),
            Some((b'*', rest)) => (0..=text.len()).any(|skip| reference_match(rest, &text[skip..])),
            Some((c, rest)) => text.first() == Some(c) && reference_match(rest, &text[1..]),
        }
    }

    fn pattern(raw: &str) -> BranchPattern {
        BranchPattern::new(raw).unwrap_or_else(|e| panic!("{raw}: {e}"))
    }

    #[test]
    fn examples_from_the_contract() {
        assert!(pattern("release/*").matches("release/1.0"));
        assert!(pattern("release/*").matches("release/a/b"));
        assert!(pattern("release/*").matches("release/"));
        assert!(!pattern("release/*").matches("release"));
        assert!(!pattern("release/*").matches("hotfix/release/1"));
        assert!(pattern("main").matches("main"));
        assert!(!pattern("main").matches("main2"));
        assert!(!pattern("main").matches("Main"));
        assert!(pattern("*-stable").matches("12-stable"));
        assert!(pattern("*").matches("anything/at/all"));
        assert!(pattern("a*b*c").matches("aXbYbZc"));
        assert!(!pattern("a*b*c").matches("aXbYbZ"));
        // Regex metacharacters are literal.
        assert!(pattern("v1.0").matches("v1.0"));
        assert!(!pattern("v1.0").matches("v1x0"));
        assert!(pattern("fix?(x)").matches("fix?(x)"));
    }

    #[test]
    fn validation() {
        assert_eq!(BranchPattern::new(""), Err(BranchNameError::Blank));
        assert_eq!(BranchPattern::new("  "), Err(BranchNameError::Blank));
        assert_eq!(BranchPattern::new("a\nb"), Err(BranchNameError::Invalid));
        assert_eq!(
            BranchPattern::new("x".repeat(256)),
            Err(BranchNameError::TooLong)
        );
        assert!(BranchPattern::new("é".repeat(255)).is_ok());
    }

    #[test]
    fn pathological_patterns_stay_fast() {
        // Exponential backtracking would not finish; the linear matcher answers at once.
        let p = pattern(&"*a".repeat(100));
        assert!(!p.matches(&"a".repeat(99)));
        assert!(p.matches(&"a".repeat(100)));
    }

    proptest! {
        #[test]
        fn agrees_with_the_reference_matcher(p in "[ab/*]{0,8}", t in "[ab/]{0,10}") {
            prop_assert_eq!(glob_match(p.as_bytes(), t.as_bytes()), reference_match(p.as_bytes(), t.as_bytes()));
        }

        #[test]
        fn a_name_without_star_matches_exactly_itself(name in "[a-z0-9/._-]{1,20}", other in "[a-z0-9/._-]{1,20}") {
            let p = pattern(&name);
            prop_assert!(p.matches(&name));
            prop_assert_eq!(p.matches(&other), name == other);
        }

        #[test]
        fn prefix_star_matches_every_extension(prefix in "[a-z/]{1,10}", rest in "[a-z0-9/]{0,10}") {
            let p = pattern(&format!("{prefix}*"));
            let branch = format!("{prefix}{rest}");
            prop_assert!(p.matches(&branch));
        }

        #[test]
        fn unicode_is_matched_literally(p in "[é*a]{1,6}", t in "[éa]{0,8}") {
            prop_assert_eq!(pattern(&p).matches(&t), reference_match(p.as_bytes(), t.as_bytes()));
        }
    }
}
