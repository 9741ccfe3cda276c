//! The paths of the pages, as the API's `web_url`s spell them (`status_checks_core::links`): a namespace may
//! have several segments (`group/subgroup/project`), so one route takes every path and this module tells
//! which page it names.

use crate::errors::PageError;
use crate::session::Visitor;
use crate::{WebState, merge_requests, projects, users};
use axum::extract::{OriginalUri, State};
use axum::response::Response;
use status_checks_core::projects::ProjectRef;
use status_checks_core::{MergeRequestIid, StatusCheckId};

/// The page a path names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PagePath {
    /// `/<username>`.
    User(String),
    /// `/<namespace>/<project>`.
    Project(ProjectRef),
    /// `/<namespace>/<project>/-/merge_requests/<iid>`.
    MergeRequest(ProjectRef, MergeRequestIid),
    /// `/<namespace>/<project>/-/merge_requests/<iid>/status_checks/<check_id>/retry` (POST).
    Retry(ProjectRef, MergeRequestIid, StatusCheckId),
}

/// A segment of a name: what GitLab allows in a username or a path (letters, digits, `_`, `-`, `.`).
fn is_name(segment: &str) -> bool {
    !segment.is_empty()
        && segment
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

fn number(raw: &str) -> Option<i64> {
    raw.parse::<i64>().ok().filter(|n| *n > 0)
}

impl PagePath {
    /// Reads a request path; `None` if it names no page.
    pub(crate) fn parse(path: &str) -> Option<PagePath> {
        let path = path.strip_prefix('/')?;
        let path = path.strip_suffix('/').unwrap_or(path);
        let (project, rest) = match path.split_once("/-/") {
            Some((project, rest)) => (project, Some(rest)),
            None => (path, None),
        };
        let segments: Vec<&str> = project.split('/').collect();
        if !segments.iter().all(|s| is_name(s)) {
            return None;
        }
        let reference = || ProjectRef::Path(project.to_owned());
        match (segments.len(), rest) {
            (1, None) => Some(PagePath::User(project.to_owned())),
            (_, None) => Some(PagePath::Project(reference())),
            (1, Some(_)) => None,
            (_, Some(rest)) => {
                let parts: Vec<&str> = rest.split('/').collect();
                match parts.as_slice() {
                    ["merge_requests", iid] => Some(PagePath::MergeRequest(
                        reference(),
                        MergeRequestIid(number(iid)?),
                    )),
                    ["merge_requests", iid, "status_checks", check, "retry"] => {
                        Some(PagePath::Retry(
                            reference(),
                            MergeRequestIid(number(iid)?),
                            StatusCheckId(number(check)?),
                        ))
                    }
                    _ => None,
                }
            }
        }
    }
}

/// `GET /<anything>`: the page the path names, or the 404 page.
pub(crate) async fn show_page(
    State(state): State<WebState>,
    OriginalUri(uri): OriginalUri,
    visitor: Visitor,
) -> Result<Response, PageError> {
    match PagePath::parse(uri.path()) {
        Some(PagePath::User(username)) => users::user_page(&state, &visitor, &username).await,
        Some(PagePath::Project(project)) => {
            projects::project_page(&state, &visitor, &project).await
        }
        Some(PagePath::MergeRequest(project, iid)) => {
            merge_requests::merge_request_page(&state, &visitor, &project, iid).await
        }
        Some(PagePath::Retry(..)) | None => Err(PageError::NotFound),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(path: &str) -> ProjectRef {
        ProjectRef::Path(path.into())
    }

    #[test]
    fn paths_name_their_pages() {
        assert_eq!(
            PagePath::parse("/root"),
            Some(PagePath::User("root".into()))
        );
        assert_eq!(
            PagePath::parse("/team/demo"),
            Some(PagePath::Project(project("team/demo")))
        );
        assert_eq!(
            PagePath::parse("/group/sub/demo/"),
            Some(PagePath::Project(project("group/sub/demo")))
        );
        assert_eq!(
            PagePath::parse("/team/demo/-/merge_requests/12"),
            Some(PagePath::MergeRequest(
                project("team/demo"),
                MergeRequestIid(12)
            ))
        );
        assert_eq!(
            PagePath::parse("/g/s/p/-/merge_requests/3/status_checks/7/retry"),
            Some(PagePath::Retry(
                project("g/s/p"),
                MergeRequestIid(3),
                StatusCheckId(7)
            ))
        );
    }

    #[test]
    fn other_paths_name_nothing() {
        for path in [
            "",
            "/",
            "/team/demo/-/merge_requests/0",
            "/team/demo/-/merge_requests/-1",
            "/team/demo/-/merge_requests/x",
            "/team/demo/-/merge_requests/99999999999999999999",
            "/team/demo/-/issues/1",
            "/team//demo",
            "/team/de%20mo",
            "/root/-/merge_requests/1",
            "/team/demo/-/merge_requests/1/status_checks/1",
        ] {
            assert_eq!(PagePath::parse(path), None, "{path}");
        }
    }
}
