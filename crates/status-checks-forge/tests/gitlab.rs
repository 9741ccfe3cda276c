//! The GitLab adapter against real HTTP: the hook payloads GitLab sends, read into the core's words, and
//! the API calls answered by a small real server that plays GitLab's status state machine and pagination.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a panic is how a test fails"
)]

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use status_checks_core::forges::{
    ForgeEventKind, ForgeKind, ForgeLink, ForgeSecret, PostedKey, StatusPost, StatusTarget,
};
use status_checks_core::status_checks::UrlPolicy;
use status_checks_core::{CommitSha, MergeRequestIid, MergeRequestState, ProjectId, UserId};
use status_checks_forge::ForgeClient;
use status_checks_forge::gitlab::api::{open_merge_requests, post_status};
use status_checks_forge::inbound::{Inbound, InboundError, read_delivery};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const SECRET: &str = "hook-secret-0123456789";
const TOKEN: &str = "glpat-the-real-token";
const HEAD: &str = "c136499ec574e1034b24c5d306de9acda3005367";

fn link(api_url: &str, token: &str) -> ForgeLink {
    ForgeLink {
        project_id: ProjectId(1),
        forge: ForgeKind::Gitlab,
        api_url: api_url.into(),
        repository: "32059612".into(),
        token: ForgeSecret::from_stored(token.into()),
        webhook_secret: ForgeSecret::from_stored(SECRET.into()),
        status_name: "status-checks".into(),
        per_check_statuses: true,
        author_id: UserId(1),
        last_event_at: None,
        created_at: Default::default(),
        updated_at: Default::default(),
    }
}

/// A merge request hook as gitlab.com sent it for a push (only `updated_at` in `changes`).
fn pushed() -> Value {
    json!({
        "object_kind": "merge_request",
        "event_type": "merge_request",
        "user": {"id": 2251488, "name": "Anbraten", "username": "anbraten"},
        "project": {"id": 32059612, "name": "woodpecker", "path_with_namespace": "anbraten/woodpecker",
                    "web_url": "https://gitlab.com/anbraten/woodpecker", "default_branch": "main"},
        "object_attributes": {
            "id": 134400602, "iid": 3, "title": "Update client.go 🎉", "description": null, "state": "opened",
            "action": "update", "source_branch": "anbraten-main-patch-05373", "target_branch": "main",
            "source_project_id": 32059612, "target_project_id": 32059612,
            "oldrev": "8b641937b7340066d882b9d8a8cc5b0573a207de",
            "last_commit": {"id": HEAD, "timestamp": "2022-01-17T15:47:38+00:00"},
            "merge_commit_sha": null, "work_in_progress": false, "head_pipeline_id": null,
            "url": "https://gitlab.com/anbraten/woodpecker/-/merge_requests/3",
            "updated_at": "2022-01-17 15:47:39 UTC"
        },
        "changes": {"updated_at": {"previous": "2022-01-17 15:46:23 UTC", "current": "2022-01-17 15:47:39 UTC"}}
    })
}

fn headers(event: &str, token: Option<&str>) -> impl Fn(&str) -> Option<String> + use<> {
    let event = event.to_owned();
    let token = token.map(str::to_owned);
    move |name: &str| match name {
        "x-gitlab-event" => Some(event.clone()),
        "x-gitlab-token" => token.clone(),
        "idempotency-key" => Some("f5e5f430-f57b-4e6e-9fac-d9128cd7232f".into()),
        _ => None,
    }
}

#[test]
fn a_push_is_read_as_the_merge_request_now() {
    let body = serde_json::to_vec(&pushed()).unwrap();
    let link = link("https://gitlab.example/api/v4", TOKEN);
    let read = read_delivery(&link, &headers("Merge Request Hook", Some(SECRET)), &body).unwrap();
    let Inbound::Event(event) = read else {
        panic!("ignored")
    };
    assert_eq!(
        event.delivery_key.as_deref(),
        Some("gitlab:f5e5f430-f57b-4e6e-9fac-d9128cd7232f")
    );
    assert_eq!(event.repository.id.as_deref(), Some("32059612"));
    assert_eq!(event.sender.username, "anbraten");
    let ForgeEventKind::MergeRequest {
        snapshot,
        source_project,
        web_url,
    } = event.kind
    else {
        panic!("not a merge request")
    };
    assert_eq!(snapshot.number, MergeRequestIid(3));
    assert_eq!(snapshot.sha.as_str(), HEAD);
    assert_eq!(snapshot.state, MergeRequestState::Opened);
    assert_eq!(snapshot.title, "Update client.go 🎉");
    assert_eq!(snapshot.description, "");
    assert_eq!(source_project, "32059612");
    assert!(web_url.ends_with("/merge_requests/3"));
}

#[test]
fn approvals_pushes_and_bad_heads() {
    let link = link("https://gitlab.example/api/v4", TOKEN);
    let mut approved = pushed();
    approved["object_attributes"]["action"] = "approved".into();
    let body = serde_json::to_vec(&approved).unwrap();
    assert_eq!(
        read_delivery(&link, &headers("Merge Request Hook", Some(SECRET)), &body),
        Ok(Inbound::Ignored)
    );
    let push = br#"{"object_kind":"push"}"#;
    assert_eq!(
        read_delivery(&link, &headers("Push Hook", Some(SECRET)), push),
        Ok(Inbound::Ignored)
    );
    let mut bad = pushed();
    bad["object_attributes"]["last_commit"]["id"] = "not-a-sha".into();
    let body = serde_json::to_vec(&bad).unwrap();
    assert!(matches!(
        read_delivery(&link, &headers("Merge Request Hook", Some(SECRET)), &body),
        Err(InboundError::Unprocessable(m)) if m.contains("not a commit SHA")
    ));
    assert!(matches!(
        read_delivery(&link, &headers("Merge Request Hook", Some(SECRET)), b"{"),
        Err(InboundError::Unprocessable(_))
    ));
    // Authentication comes before parsing: a broken body with a wrong token is 401.
    assert_eq!(
        read_delivery(&link, &headers("Merge Request Hook", Some("nope")), b"{"),
        Err(InboundError::Unauthorized)
    );
}

#[test]
fn a_merge_request_pipeline_names_its_merge_request() {
    let link = link("https://gitlab.example/api/v4", TOKEN);
    let body = serde_json::to_vec(&json!({
        "object_kind": "pipeline",
        "object_attributes": {"id": 31, "ref": "refs/merge-requests/3/head", "sha": HEAD,
                              "source": "merge_request_event", "status": "pending"},
        "merge_request": {"id": 134400602, "iid": 3},
        "user": {"id": 1, "name": "A", "username": "a"},
        "project": {"id": 32059612, "path_with_namespace": "anbraten/woodpecker"}
    }))
    .unwrap();
    let Ok(Inbound::Event(event)) =
        read_delivery(&link, &headers("Pipeline Hook", Some(SECRET)), &body)
    else {
        panic!("not read")
    };
    let ForgeEventKind::Pipeline {
        number, pipeline, ..
    } = event.kind
    else {
        panic!("not a pipeline")
    };
    assert_eq!(number, Some(MergeRequestIid(3)));
    assert_eq!(pipeline.id, 31);
    assert!(pipeline.merge_request_event);
}

/// A GitLab that knows one project (32059612) and plays the status state machine per (sha, name).
#[derive(Clone, Default)]
struct FakeGitlab {
    jobs: Arc<Mutex<HashMap<(String, String), String>>>,
    posts: Arc<Mutex<Vec<Value>>>,
    locked: Arc<Mutex<u32>>,
}

async fn statuses(
    State(fake): State<FakeGitlab>,
    Path((project, sha)): Path<(String, String)>,
    headers: HeaderMap,
    body: axum::Json<Value>,
) -> Response {
    if headers.get("private-token").and_then(|v| v.to_str().ok()) != Some(TOKEN) {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"message": "401 Unauthorized"})),
        )
            .into_response();
    }
    if project != "32059612" {
        return (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"message": "404 Project Not Found"})),
        )
            .into_response();
    }
    {
        let mut locked = fake.locked.lock().unwrap();
        if *locked > 0 {
            *locked -= 1;
            return (
                StatusCode::CONFLICT,
                axum::Json(
                    json!({"message": "Another update to this commit status is in progress"}),
                ),
            )
                .into_response();
        }
    }
    fake.posts.lock().unwrap().push(body.0.clone());
    let state = body["state"].as_str().unwrap_or_default().to_owned();
    let name = body["name"].as_str().unwrap_or_default().to_owned();
    let mut jobs = fake.jobs.lock().unwrap();
    let current = jobs.get(&(sha.clone(), name.clone())).cloned();
    if state == "pending" && current.as_deref() == Some("pending") {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"message": "Cannot transition status via :enqueue from :pending"})),
        )
            .into_response();
    }
    jobs.insert((sha, name.clone()), state.clone());
    axum::Json(json!({"id": 1, "name": name, "status": state})).into_response()
}

async fn merge_requests(RawQuery(query): RawQuery) -> Response {
    let page: usize = query
        .unwrap_or_default()
        .split('&')
        .find_map(|pair| pair.strip_prefix("page="))
        .and_then(|p| p.parse().ok())
        .unwrap_or(1);
    let all: Vec<Value> = (1..=3)
        .map(|iid| {
            json!({"iid": iid, "title": format!("MR {iid}"), "description": null,
                   "source_branch": format!("f{iid}"), "target_branch": "main", "state": "opened",
                   "sha": format!("{iid}{}", &HEAD[1..]), "source_project_id": 32059612,
                   "web_url": format!("https://gitlab.example/g/p/-/merge_requests/{iid}"),
                   "updated_at": "2022-01-17T15:47:39.000Z"})
        })
        .collect();
    let per_page = 2;
    let items: Vec<Value> = all
        .iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .cloned()
        .collect();
    let next = if page * per_page < all.len() {
        (page + 1).to_string()
    } else {
        String::new()
    };
    ([("x-next-page", next)], axum::Json(Value::Array(items))).into_response()
}

async fn serve(fake: FakeGitlab) -> String {
    let app = Router::new()
        .route("/api/v4/projects/{project}/statuses/{sha}", post(statuses))
        .route(
            "/api/v4/projects/{project}/merge_requests",
            get(merge_requests),
        )
        .with_state(fake);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{address}/api/v4")
}

fn client() -> ForgeClient {
    let policy = UrlPolicy {
        allow_local_requests: true,
        ..UrlPolicy::default()
    };
    ForgeClient::new(
        Duration::from_secs(5),
        policy,
        status_checks_notify::guard::system_lookup(),
    )
    .unwrap()
}

fn post_of(link: ForgeLink, state: &'static str) -> StatusPost {
    let sha = CommitSha::parse(HEAD).unwrap();
    StatusPost {
        forge_project: "32059612".into(),
        key: PostedKey {
            project_id: ProjectId(1),
            sha: sha.clone(),
            context: "status-checks".into(),
            target: "ref:feature".into(),
        },
        link,
        sha,
        context: "status-checks".into(),
        state,
        description: "0 of 1 passed, 1 pending".into(),
        target_url: Some("https://gitlab.example/g/p/-/merge_requests/3".into()),
        target: StatusTarget::Ref("feature".into()),
        already_posted: false,
        deadline: None,
    }
}

#[tokio::test]
async fn statuses_follow_gitlabs_state_machine() {
    let fake = FakeGitlab::default();
    let api = serve(fake.clone()).await;
    let client = client();
    let pending = post_of(link(&api, TOKEN), "pending");
    assert_eq!(post_status(&client, &pending).await, Ok(()));
    // GitLab refuses a second pending with 400 `Cannot transition status`: the job already shows it.
    assert_eq!(post_status(&client, &pending).await, Ok(()));
    let posts = fake.posts.lock().unwrap().clone();
    assert_eq!(posts[0]["ref"], "feature");
    assert_eq!(posts[0]["name"], "status-checks");
    assert!(posts[0].get("pipeline_id").is_none());

    // A lock is retried, not final.
    *fake.locked.lock().unwrap() = 1;
    let failed = post_status(&client, &post_of(link(&api, TOKEN), "failed"))
        .await
        .unwrap_err();
    assert!(failed.retryable, "{failed:?}");
    assert!(failed.reason.starts_with("HTTP 409"), "{failed:?}");
    assert_eq!(
        post_status(&client, &post_of(link(&api, TOKEN), "failed")).await,
        Ok(())
    );

    // A pipeline target goes by id.
    let mut into_pipeline = post_of(link(&api, TOKEN), "success");
    into_pipeline.target = StatusTarget::Pipeline(77);
    assert_eq!(post_status(&client, &into_pipeline).await, Ok(()));
    let last = fake.posts.lock().unwrap().last().cloned().unwrap();
    assert_eq!(last["pipeline_id"], 77);
    assert!(last.get("ref").is_none());
}

#[tokio::test]
async fn a_bad_token_is_final_and_never_quoted() {
    let fake = FakeGitlab::default();
    let api = serve(fake.clone()).await;
    let wrong = "glpat-wrong-token-value";
    let failure = post_status(&client(), &post_of(link(&api, wrong), "pending"))
        .await
        .unwrap_err();
    assert!(!failure.retryable);
    assert_eq!(failure.reason, "HTTP 401: 401 Unauthorized");
    assert!(!failure.reason.contains(wrong));
}

#[tokio::test]
async fn an_unreachable_forge_is_retried() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let api = format!("http://127.0.0.1:{port}/api/v4");
    let failure = post_status(&client(), &post_of(link(&api, TOKEN), "pending"))
        .await
        .unwrap_err();
    assert!(failure.retryable, "{failure:?}");
    assert!(!failure.reason.contains(TOKEN));
}

#[tokio::test]
async fn a_blocked_forge_is_refused_before_any_request() {
    let strict = ForgeClient::new(
        Duration::from_secs(5),
        UrlPolicy::default(),
        status_checks_notify::guard::system_lookup(),
    )
    .unwrap();
    let fake = FakeGitlab::default();
    let api = serve(fake.clone()).await;
    let failure = post_status(&strict, &post_of(link(&api, TOKEN), "pending"))
        .await
        .unwrap_err();
    assert!(!failure.retryable);
    assert!(failure.reason.contains("blocked"), "{failure:?}");
    assert!(fake.posts.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_sync_reads_every_page() {
    let api = serve(FakeGitlab::default()).await;
    let open = open_merge_requests(&client(), &link(&api, TOKEN))
        .await
        .unwrap();
    let iids: Vec<i64> = open.iter().map(|mr| mr.snapshot.number.0).collect();
    assert_eq!(iids, [1, 2, 3]);
    assert_eq!(open[2].source_project, "32059612");
    assert_eq!(open[0].snapshot.source_branch, "f1");
}
