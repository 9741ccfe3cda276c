//! GitLab's REST API, the two calls the bridge makes: `POST /projects/:id/statuses/:sha` (with GitLab's
//! state machine: a repeated `pending` is refused with 400 `Cannot transition status`, which means the job
//! already shows it) and the paginated list of open merge requests (a sync).

use crate::client::{Failure, ForgeClient, forge_message};
use crate::gitlab::hooks::snapshot;
use serde::Deserialize;
use status_checks_core::forges::ForgeMergeRequest;
use status_checks_core::forges::{ForgeLink, StatusPost, StatusTarget};

/// GitLab's limit on a status's `target_url` and `description`.
const MAX_FIELD_CHARS: usize = 255;

/// The most pages a sync reads (100 merge requests each).
const MAX_PAGES: u32 = 1000;

fn project_url(link: &ForgeLink, project: &str) -> String {
    let encoded: String = url::form_urlencoded::byte_serialize(project.as_bytes()).collect();
    format!("{}/projects/{encoded}", link.api_url.trim_end_matches('/'))
}

/// Posts one status.
pub async fn post_status(client: &ForgeClient, post: &StatusPost) -> Result<(), Failure> {
    let url = format!(
        "{}/statuses/{}",
        project_url(&post.link, &post.forge_project),
        post.sha
    );
    let mut body = serde_json::json!({
        "state": post.state,
        "name": post.context,
        "description": cut(&post.description),
    });
    match &post.target {
        StatusTarget::Pipeline(id) => body["pipeline_id"] = (*id).into(),
        StatusTarget::Ref(branch) => body["ref"] = branch.as_str().into(),
    }
    if let Some(target_url) = post
        .target_url
        .as_deref()
        .filter(|u| u.chars().count() <= MAX_FIELD_CHARS)
    {
        body["target_url"] = target_url.into();
    }
    let request = client
        .http()
        .post(&url)
        .header("PRIVATE-TOKEN", post.link.token.expose())
        .json(&body);
    let response = client.send(&url, request, &post.link).await?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let retry_after = crate::client::retry_after(&response);
    let message = forge_message(response, &post.link).await;
    if status.as_u16() == 400 && message.contains("Cannot transition status") {
        // The job already shows this state (GitLab refuses a repeated pending or running).
        return Ok(());
    }
    Err(Failure::from_status(status.as_u16(), message, retry_after))
}

fn cut(text: &str) -> String {
    text.chars().take(MAX_FIELD_CHARS).collect()
}

#[derive(Deserialize)]
struct Listed {
    iid: i64,
    title: String,
    #[serde(default)]
    description: Option<String>,
    source_branch: String,
    target_branch: String,
    state: String,
    #[serde(default)]
    sha: Option<String>,
    #[serde(default)]
    source_project_id: Option<i64>,
    #[serde(default)]
    web_url: Option<String>,
    updated_at: String,
}

/// A merge request read from the forge's list, with where its statuses go and its page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenMergeRequest {
    /// Its state.
    pub snapshot: ForgeMergeRequest,
    /// The project of its source branch.
    pub source_project: String,
    /// Its page.
    pub web_url: String,
}

/// Every open merge request of the linked repository, all pages (those that cannot be read, such as one
/// without commits, are left out).
pub async fn open_merge_requests(
    client: &ForgeClient,
    link: &ForgeLink,
) -> Result<Vec<OpenMergeRequest>, Failure> {
    let mut found = Vec::new();
    let mut page = 1u32;
    loop {
        let url = format!(
            "{}/merge_requests?state=opened&per_page=100&page={page}",
            project_url(link, &link.repository)
        );
        let request = client
            .http()
            .get(&url)
            .header("PRIVATE-TOKEN", link.token.expose());
        let response = client.send(&url, request, link).await?;
        let status = response.status();
        if !status.is_success() {
            let retry_after = crate::client::retry_after(&response);
            let message = forge_message(response, link).await;
            return Err(Failure::from_status(status.as_u16(), message, retry_after));
        }
        let next = response
            .headers()
            .get("x-next-page")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u32>().ok());
        let items: Vec<Listed> = response
            .json()
            .await
            .map_err(|e| Failure::retry(format!("unreadable merge request list: {e}"), None))?;
        for item in items {
            let source_project = item
                .source_project_id
                .map(|id| id.to_string())
                .unwrap_or_else(|| link.repository.clone());
            if let Ok(snapshot) = snapshot(
                item.iid,
                item.title,
                item.description,
                item.source_branch,
                item.target_branch,
                &item.state,
                item.sha,
                &item.updated_at,
            ) {
                found.push(OpenMergeRequest {
                    snapshot,
                    source_project,
                    web_url: item.web_url.unwrap_or_default(),
                });
            }
        }
        match next {
            Some(n) if n > page && n <= MAX_PAGES => page = n,
            _ => return Ok(found),
        }
    }
}
