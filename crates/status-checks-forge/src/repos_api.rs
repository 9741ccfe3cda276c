//! The REST API Gitea, Forgejo and GitHub share for what the bridge does: `POST /repos/:owner/:repo/statuses/:sha`
//! on the **base** repository (`state`, `context`, `description` ≤ 140 characters, `target_url`) and the list
//! of open pull requests, page by page through `Link` headers. `api_url` is the API's root
//! (`https://git.example.com/api/v1`, `https://api.github.com`), so both forges take the same paths; they
//! differ in how the token is sent, in GitHub's version headers, and in GitHub's rate limits (a 403 or 429
//! with `Retry-After`, or with `x-ratelimit-remaining: 0` and `x-ratelimit-reset`, is retried at the time it
//! names; any other 403 is final).

use crate::client::{Failure, ForgeClient, forge_message, retry_after};
use crate::gitlab::api::OpenMergeRequest;
use crate::pull_requests::{PullRequest, next_link, snapshot};
use status_checks_core::forges::{ForgeKind, ForgeLink, StatusPost};
use std::time::Duration;

/// The most pages a sync reads.
const MAX_PAGES: u32 = 1000;

/// The longest wait for a rate limit's reset that is honoured as such.
const MAX_RESET_WAIT: Duration = Duration::from_secs(3600);

/// The API version GitHub's REST calls name.
const GITHUB_API_VERSION: &str = "2022-11-28";

/// `owner/repo`, each part percent-encoded for a path.
fn repo_path(repository: &str) -> String {
    repository
        .split('/')
        .map(|part| url::form_urlencoded::byte_serialize(part.as_bytes()).collect::<String>())
        .collect::<Vec<_>>()
        .join("/")
}

/// The request with the link's credentials and, for GitHub, its media type and API version.
fn authorized(link: &ForgeLink, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    let token = link.token.expose();
    match link.forge {
        ForgeKind::Github => request
            .bearer_auth(token)
            .header("Accept", "application/vnd.github+json")
            .header("X-GitHub-Api-Version", GITHUB_API_VERSION),
        _ => request.header("Authorization", format!("token {token}")),
    }
}

/// Posts one status on the base repository.
pub async fn post_status(client: &ForgeClient, post: &StatusPost) -> Result<(), Failure> {
    let link = &post.link;
    let url = format!(
        "{}/repos/{}/statuses/{}",
        link.api_url.trim_end_matches('/'),
        repo_path(&link.repository),
        post.sha
    );
    let mut body = serde_json::json!({
        "state": post.state,
        "context": post.context,
        "description": post.description,
    });
    if let Some(target_url) = post.target_url.as_deref() {
        body["target_url"] = target_url.into();
    }
    let request = authorized(link, client.http().post(&url)).json(&body);
    let response = client.send(&url, request, link).await?;
    if response.status().is_success() {
        return Ok(());
    }
    Err(failure(response, link).await)
}

/// Every open pull request of the linked repository, all pages (those that cannot be read are left out).
pub async fn open_pull_requests(
    client: &ForgeClient,
    link: &ForgeLink,
) -> Result<Vec<OpenMergeRequest>, Failure> {
    let root = link.api_url.trim_end_matches('/');
    let first = match link.forge {
        ForgeKind::Github => format!(
            "{root}/repos/{}/pulls?state=open&per_page=100",
            repo_path(&link.repository)
        ),
        _ => format!(
            "{root}/repos/{}/pulls?state=open&limit=50",
            repo_path(&link.repository)
        ),
    };
    let mut url = first.clone();
    let mut found = Vec::new();
    for _ in 0..MAX_PAGES {
        let request = authorized(link, client.http().get(&url));
        let response = client.send(&url, request, link).await?;
        if !response.status().is_success() {
            return Err(failure(response, link).await);
        }
        let next = response
            .headers()
            .get(reqwest::header::LINK)
            .and_then(|v| v.to_str().ok())
            .and_then(next_link);
        let items: Vec<serde_json::Value> = response
            .json()
            .await
            .map_err(|e| Failure::retry(format!("unreadable pull request list: {e}"), None))?;
        for item in items {
            let Ok(pr) = serde_json::from_value::<PullRequest>(item) else {
                continue;
            };
            let web_url = pr.html_url.clone().unwrap_or_default();
            if let Ok(snapshot) = snapshot(pr) {
                found.push(OpenMergeRequest {
                    snapshot,
                    source_project: link.repository.clone(),
                    web_url,
                });
            }
        }
        // The next page is asked of `api_url`, by the page number the `Link` names: the link itself is built
        // from the forge's public URL (Gitea's ROOT_URL), which may not be the address the token is for.
        match next.as_deref().and_then(page_of) {
            Some(page) => url = format!("{first}&page={page}"),
            None => return Ok(found),
        }
    }
    Ok(found)
}

/// The `page` a pagination link asks for.
fn page_of(link: &str) -> Option<u32> {
    let parsed = url::Url::parse(link).ok()?;
    parsed
        .query_pairs()
        .find(|(name, _)| name == "page")
        .and_then(|(_, value)| value.parse().ok())
        .filter(|page| *page > 1)
}

/// What a refusal means: GitHub's rate limits are retried when they end; the rest as
/// [`Failure::from_status`] says.
async fn failure(response: reqwest::Response, link: &ForgeLink) -> Failure {
    let status = response.status().as_u16();
    let wait = retry_after(&response).or_else(|| rate_limit_reset(&response));
    let limited = status == 429
        || (status == 403
            && (wait.is_some()
                || response
                    .headers()
                    .get("x-ratelimit-remaining")
                    .is_some_and(|v| v.as_bytes() == b"0")));
    let message = forge_message(response, link).await;
    // GitHub's secondary rate limit may come as a bare 403 whose message says so: wait a minute, as asked.
    let secondary = status == 403 && message.to_ascii_lowercase().contains("rate limit");
    if limited || secondary {
        let wait = wait.or(secondary.then_some(Duration::from_secs(60)));
        let reason = format!("HTTP {status}: {message}");
        return Failure::retry(reason, wait);
    }
    Failure::from_status(status, message, wait)
}

/// How long until `x-ratelimit-reset` (epoch seconds) when `x-ratelimit-remaining` is 0.
fn rate_limit_reset(response: &reqwest::Response) -> Option<Duration> {
    let headers = response.headers();
    if headers
        .get("x-ratelimit-remaining")
        .is_none_or(|v| v.as_bytes() != b"0")
    {
        return None;
    }
    let reset: i64 = headers
        .get("x-ratelimit-reset")?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    let seconds = u64::try_from(reset.saturating_sub(now)).unwrap_or(0).max(1);
    Some(Duration::from_secs(seconds).min(MAX_RESET_WAIT))
}
