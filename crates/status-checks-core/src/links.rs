//! `web_url` fields: where a resource would live in a GitLab-style web UI, under the configured base URL.

use crate::ids::MergeRequestIid;

fn trimmed(base: &str) -> &str {
    base.trim_end_matches('/')
}

/// `<base>/<path_with_namespace>`.
pub fn project_web_url(base: &str, path_with_namespace: &str) -> String {
    format!("{}/{}", trimmed(base), path_with_namespace)
}

/// `<base>/<path_with_namespace>/-/merge_requests/<iid>`.
pub fn merge_request_web_url(
    base: &str,
    path_with_namespace: &str,
    iid: MergeRequestIid,
) -> String {
    format!(
        "{}/{}/-/merge_requests/{}",
        trimmed(base),
        path_with_namespace,
        iid
    )
}

/// `<base>/<username>`.
pub fn user_web_url(base: &str, username: &str) -> String {
    format!("{}/{}", trimmed(base), username)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(project_web_url("http://h/", "g/p"), "http://h/g/p");
        assert_eq!(
            merge_request_web_url("http://h", "g/p", MergeRequestIid(2)),
            "http://h/g/p/-/merge_requests/2"
        );
        assert_eq!(user_web_url("http://h", "root"), "http://h/root");
    }
}
