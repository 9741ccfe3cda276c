//! The forge-bridge benchmark (`status-checks-bench forge`): the real `status-checks` binary, linked to a fake
//! GitLab in this process, receives `open` merge-request webhooks from many clients at once and reports what
//! its checks say back as commit statuses.
//!
//! Two rows, each against its physical ceiling measured in the same run:
//!
//! - **webhooks**: `concurrency` clients (tokio tasks sharing one keep-alive reqwest client) send
//!   `merge_requests` distinct `Merge Request Hook` deliveries (GitLab's own `open` payload of
//!   `tests/fixtures/gitlab/mr_open.json`, with a distinct iid, branch and HEAD each, and a distinct
//!   `Idempotency-Key`); each is timed from send to answer, and every answer must be 200 `applied`. Ceiling
//!   **(W)**: the same clients sending the same requests to a bare axum handler in this process that reads
//!   the body, walks its JSON and answers the same 200 — HTTP and JSON, nothing else.
//! - **status posts**: the fake GitLab answers `POST /api/v4/projects/:id/statuses/:sha` with 201 and a job
//!   at once and counts posts by (name, sha, state); the time runs from the first webhook sent until it
//!   received every expected post — per merge request the aggregate context and one per check, all
//!   `pending` (the checks never answer), `(1 + checks) × merge_requests` in all. Ceiling **(G)**: a bare
//!   reqwest client (the product's client settings, HTTP/1.1 keep-alive) posting the very posts the fake
//!   received — same paths, bodies and token — to the same fake, as many at once as the reporter's batch.
//!
//! The checks' URLs point at the fan-out benchmark's sink (signed deliveries, answered 200): the delivery
//! worker runs, as it would in production, while the bridge reports.

use crate::ROOT_TOKEN;
use crate::fanout::{SinkHandle, percentile};
use crate::run::{Server, cpu_seconds, host, serve_command};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// GitLab's `open` delivery, as recorded from gitlab.com.
const MR_OPEN: &str = include_str!("../../../tests/fixtures/gitlab/mr_open.json");
/// The GitLab project of that delivery: the link's repository, and where statuses are posted.
const GL_PROJECT: i64 = 32_059_612;
/// The link's token (the fake GitLab accepts only it) and webhook secret.
const FORGE_TOKEN: &str = "glpat-bench-forge-token-0123456789";
const SECRET: &str = "bench-webhook-secret-0123456789";
/// How long the service may take to post every status.
const POSTS_LIMIT: Duration = Duration::from_secs(120);
/// How long to go on listening for late (duplicate) posts once every expected one arrived.
const GRACE: Duration = Duration::from_secs(1);

/// What to run.
pub struct Plan {
    /// Merge requests opened, one webhook each (M).
    pub merge_requests: u32,
    /// Checks of the project (N).
    pub checks: u32,
    /// Webhook clients at once.
    pub concurrency: u32,
    /// Posts at once of ceiling (G): the reporter's batch.
    pub post_concurrency: u32,
    /// Where to write the table, between the forge markers, if anywhere.
    pub out: Option<String>,
}

// ---------------------------------------------------------------------------------------------------------
// The fake GitLab.

/// A status post's body, the fields the fake reads.
#[derive(Deserialize)]
struct StatusBody {
    state: String,
    name: String,
    #[serde(rename = "ref", default)]
    branch: Option<String>,
    #[serde(default)]
    pipeline_id: Option<i64>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    target_url: Option<String>,
}

/// One accepted post, kept to be sent again by ceiling (G).
struct Recorded {
    path: String,
    body: Bytes,
}

#[derive(Default)]
struct Posts {
    /// Posts by (name, sha, state).
    by_key: HashMap<(String, String, String), u32>,
    /// The first post of each key.
    recorded: Vec<Recorded>,
    /// Posts with another token, an unreadable body or a state other than `pending`.
    unexpected: u64,
    /// The first such refusal, in words.
    first_unexpected: Option<String>,
    /// The client ends (address and port) posts came from: the connections used.
    peers: HashSet<SocketAddr>,
    /// `GET …/merge_requests` calls (the link's sync).
    lists: u32,
    first_at: Option<Instant>,
    last_at: Option<Instant>,
}

/// The fake GitLab's state.
#[derive(Default)]
struct Fake {
    posts: Mutex<Posts>,
    /// The state every post must carry (`pending` while no check answers).
    state: String,
}

impl Fake {
    fn posts(&self) -> std::sync::MutexGuard<'_, Posts> {
        self.posts.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Distinct posts received, and posts received more than once.
    fn counts(&self) -> (usize, u32) {
        let posts = self.posts();
        let duplicates = posts.by_key.values().map(|n| n - 1).sum();
        (posts.by_key.len(), duplicates)
    }

    /// Forgets every post (not the syncs); answers the posts recorded.
    fn reset(&self) -> Vec<Recorded> {
        let mut posts = self.posts();
        let lists = posts.lists;
        let recorded = std::mem::take(&mut *posts).recorded;
        posts.lists = lists;
        recorded
    }

    /// Waits until `count` distinct posts arrived, or `limit` passed; answers whether they did.
    async fn wait_for(&self, count: usize, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while self.counts().0 < count {
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        true
    }
}

fn refused(fake: &Fake, status: StatusCode, why: String) -> Response {
    let mut posts = fake.posts();
    posts.unexpected += 1;
    posts.first_unexpected.get_or_insert(why.clone());
    (status, axum::Json(json!({ "message": why }))).into_response()
}

/// `POST /api/v4/projects/:id/statuses/:sha`: 201 and the job, as GitLab answers a new commit status.
async fn post_status(
    State(fake): State<Arc<Fake>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path((project, sha)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if headers.get("private-token").and_then(|v| v.to_str().ok()) != Some(FORGE_TOKEN) {
        return refused(&fake, StatusCode::UNAUTHORIZED, "401 Unauthorized".into());
    }
    let status: StatusBody = match serde_json::from_slice(&body) {
        Ok(status) => status,
        Err(e) => return refused(&fake, StatusCode::BAD_REQUEST, format!("unreadable: {e}")),
    };
    if status.state != fake.state {
        return refused(
            &fake,
            StatusCode::BAD_REQUEST,
            format!("{} posted {}", status.name, status.state),
        );
    }
    let id = {
        let mut posts = fake.posts();
        let now = Instant::now();
        posts.first_at.get_or_insert(now);
        posts.peers.insert(peer);
        let key = (status.name.clone(), sha.clone(), status.state.clone());
        let count = posts.by_key.entry(key).or_insert(0);
        *count += 1;
        if *count == 1 {
            posts.recorded.push(Recorded {
                path: format!("/api/v4/projects/{project}/statuses/{sha}"),
                body,
            });
            posts.last_at = Some(now);
        }
        posts.recorded.len()
    };
    // GitLab's answer: the commit status job it created.
    let job = json!({
        "id": 7_000_000 + id,
        "sha": sha,
        "ref": status.branch,
        "status": status.state,
        "name": status.name,
        "target_url": status.target_url,
        "description": status.description,
        "created_at": "2026-12-01T04:00:00.000Z",
        "started_at": null,
        "finished_at": null,
        "allow_failure": false,
        "coverage": null,
        "pipeline_id": status.pipeline_id.unwrap_or(451_230_912),
        "author": {
            "id": 2_251_488,
            "username": "status-checks-bot",
            "name": "status-checks",
            "state": "active",
            "web_url": "https://gitlab.com/status-checks-bot"
        }
    });
    (StatusCode::CREATED, axum::Json(job)).into_response()
}

/// `GET /api/v4/projects/:id/merge_requests`: no open merge request (the link's first sync).
async fn list_merge_requests(State(fake): State<Arc<Fake>>) -> Response {
    fake.posts().lists += 1;
    let mut answer = (StatusCode::OK, axum::Json(json!([]))).into_response();
    let headers = answer.headers_mut();
    for (name, value) in [
        ("x-page", "1"),
        ("x-per-page", "100"),
        ("x-next-page", ""),
        ("x-prev-page", ""),
        ("x-total", "0"),
        ("x-total-pages", "1"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    answer
}

/// Starts the fake GitLab on a free port of 127.0.0.1; answers its state and address.
async fn start_fake() -> Result<(Arc<Fake>, String), String> {
    let fake = Arc::new(Fake {
        state: "pending".into(),
        ..Fake::default()
    });
    let app = Router::new()
        .route(
            "/api/v4/projects/{project}/statuses/{sha}",
            post(post_status),
        )
        .route(
            "/api/v4/projects/{project}/merge_requests",
            get(list_merge_requests),
        )
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        let _ = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await;
    });
    Ok((fake, address.to_string()))
}

// ---------------------------------------------------------------------------------------------------------
// Ceiling (W): a bare webhook handler.

/// Reads the body, walks its JSON, and answers as the service does when a delivery applied.
async fn bare_webhook(body: Bytes) -> Response {
    match serde_json::from_slice::<serde::de::IgnoredAny>(&body) {
        Ok(_) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            r#"{"message":"applied"}"#,
        )
            .into_response(),
        Err(_) => StatusCode::UNPROCESSABLE_ENTITY.into_response(),
    }
}

async fn start_bare() -> Result<String, String> {
    let app = Router::new().route(
        "/api/v4/projects/{project}/forge/webhook",
        post(bare_webhook),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(address.to_string())
}

// ---------------------------------------------------------------------------------------------------------
// The webhooks.

/// One delivery: its `Idempotency-Key` and body.
struct Delivery {
    key: String,
    body: Bytes,
}

fn set(payload: &mut Value, pointer: &str, value: Value) -> Result<(), String> {
    *payload
        .pointer_mut(pointer)
        .ok_or_else(|| format!("{pointer} is not in mr_open.json"))? = value;
    Ok(())
}

/// The HEAD of merge request `iid`.
fn head(iid: u32) -> String {
    format!(
        "{:08x}{:032x}",
        iid,
        u128::from(iid) * 0x9e37_79b9_7f4a_7c15
    )
}

/// `count` `open` deliveries of distinct merge requests (iid 1, 2, …), each with its own branch, HEAD and key.
fn deliveries(count: u32) -> Result<Vec<Delivery>, String> {
    let fixture: Value = serde_json::from_str(MR_OPEN).map_err(|e| format!("mr_open.json: {e}"))?;
    let web = "https://gitlab.com/anbraten/woodpecker";
    (1..=count)
        .map(|iid| {
            let mut payload = fixture.clone();
            let (sha, branch) = (head(iid), format!("bench-{iid}"));
            let title = format!("Bench {iid}");
            for (pointer, value) in [
                ("/object_attributes/iid", json!(iid)),
                ("/object_attributes/id", json!(134_400_602 + i64::from(iid))),
                ("/object_attributes/title", json!(title)),
                ("/object_attributes/source_branch", json!(branch)),
                (
                    "/object_attributes/url",
                    json!(format!("{web}/-/merge_requests/{iid}")),
                ),
                ("/object_attributes/last_commit/id", json!(sha)),
                (
                    "/object_attributes/last_commit/url",
                    json!(format!("{web}/-/commit/{sha}")),
                ),
                ("/changes/iid/current", json!(iid)),
                ("/changes/title/current", json!(title)),
                ("/changes/source_branch/current", json!(branch)),
            ] {
                set(&mut payload, pointer, value)?;
            }
            Ok(Delivery {
                key: format!("bench-forge-{}-{iid}", std::process::id()),
                body: Bytes::from(payload.to_string()),
            })
        })
        .collect()
}

/// What a load of webhooks measured.
#[derive(Debug, Clone, Default)]
struct Load {
    /// Deliveries sent.
    sent: usize,
    /// Send-to-answer times, sorted.
    latencies: Vec<Duration>,
    /// First send to last answer.
    elapsed: Duration,
    /// Answers other than 200 `applied`, and the first of them.
    failures: usize,
    first_failure: Option<String>,
}

impl Load {
    fn rate(&self) -> f64 {
        self.sent as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// The webhook of project `project` at `address`, sent every delivery by `concurrency` clients at once over
/// one keep-alive client.
async fn send_webhooks(
    address: &str,
    project: i64,
    deliveries: &Arc<Vec<Delivery>>,
    concurrency: u32,
) -> Result<Load, String> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .pool_max_idle_per_host(concurrency as usize)
        .build()
        .map_err(|e| e.to_string())?;
    let url = format!("http://{address}/api/v4/projects/{project}/forge/webhook");
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut clients = Vec::new();
    for _ in 0..concurrency {
        let (client, url, next, deliveries) = (
            client.clone(),
            url.clone(),
            next.clone(),
            deliveries.clone(),
        );
        clients.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut failures = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(delivery) = deliveries.get(i) else {
                    break;
                };
                let sent = Instant::now();
                let answer = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .header("user-agent", "GitLab/17.5.0-ee")
                    .header("x-gitlab-event", "Merge Request Hook")
                    .header("x-gitlab-token", SECRET)
                    .header("x-gitlab-instance", "https://gitlab.com")
                    .header(
                        "x-gitlab-webhook-uuid",
                        "2c0f5d1e-5b3a-4a5e-9d8e-3f1b2a7c6d90",
                    )
                    .header("x-gitlab-event-uuid", &delivery.key)
                    .header("idempotency-key", &delivery.key)
                    .body(delivery.body.clone())
                    .send()
                    .await;
                let outcome = match answer {
                    Ok(answer) => {
                        let status = answer.status();
                        match answer.bytes().await {
                            Ok(body) => Ok((status, body)),
                            Err(e) => Err(e.to_string()),
                        }
                    }
                    Err(e) => Err(e.to_string()),
                };
                latencies.push(sent.elapsed());
                match outcome {
                    Ok((status, body)) => {
                        let message = serde_json::from_slice::<Value>(&body).ok().and_then(|v| {
                            v.get("message").and_then(Value::as_str).map(str::to_owned)
                        });
                        if status != StatusCode::OK || message.as_deref() != Some("applied") {
                            failures.push(format!(
                                "{status} {}",
                                String::from_utf8_lossy(&body)
                                    .chars()
                                    .take(200)
                                    .collect::<String>()
                            ));
                        }
                    }
                    Err(e) => failures.push(e),
                }
            }
            (latencies, failures)
        }));
    }
    let mut load = Load {
        sent: deliveries.len(),
        ..Load::default()
    };
    for task in clients {
        let (latencies, failures) = task.await.map_err(|e| e.to_string())?;
        load.latencies.extend(latencies);
        load.failures += failures.len();
        if load.first_failure.is_none() {
            load.first_failure = failures.into_iter().next();
        }
    }
    load.elapsed = started.elapsed();
    load.latencies.sort();
    Ok(load)
}

// ---------------------------------------------------------------------------------------------------------
// The service.

fn api_client() -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .no_proxy()
        .build()
        .map_err(|e| e.to_string())
}

/// `method path` on the service with the root token; answers the JSON of a 2xx answer.
async fn api(
    client: &reqwest::Client,
    base: &str,
    method: reqwest::Method,
    path: &str,
    body: Value,
) -> Result<Value, String> {
    let answer = client
        .request(method.clone(), format!("{base}/api/v4{path}"))
        .header("PRIVATE-TOKEN", ROOT_TOKEN)
        .json(&body)
        .send()
        .await
        .map_err(|e| format!("{method} {path}: {e}"))?;
    let status = answer.status();
    let text = answer.text().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!("{method} {path}: {status} {text}"));
    }
    serde_json::from_str(&text).map_err(|e| format!("{method} {path}: {e}"))
}

/// A project with `checks` signed checks answered by the sink, linked to the fake GitLab; answers its id once
/// the link's first sync read the fake's (empty) list of open merge requests.
async fn linked_project(
    base: &str,
    checks: u32,
    sink_address: &str,
    fake: &Fake,
    fake_address: &str,
) -> Result<i64, String> {
    let client = api_client()?;
    let created = api(
        &client,
        base,
        reqwest::Method::POST,
        "/projects",
        json!({ "name": "forge", "namespace": "bench" }),
    )
    .await?;
    let project = created
        .get("id")
        .and_then(Value::as_i64)
        .ok_or("the created project has no id")?;
    for n in 1..=checks {
        api(
            &client,
            base,
            reqwest::Method::POST,
            &format!("/projects/{project}/external_status_checks"),
            json!({
                "name": format!("check-{n}"),
                "external_url": format!("http://{sink_address}/hook/{n}"),
                "shared_secret": format!("secret-{n}"),
            }),
        )
        .await?;
    }
    api(
        &client,
        base,
        reqwest::Method::PUT,
        &format!("/projects/{project}/forge"),
        json!({
            "forge": "gitlab",
            "api_url": format!("http://{fake_address}/api/v4"),
            "repository": GL_PROJECT.to_string(),
            "token": FORGE_TOKEN,
            "webhook_secret": SECRET,
        }),
    )
    .await?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while fake.posts().lists == 0 {
        if Instant::now() >= deadline {
            return Err("the link's first sync never read the fake GitLab".into());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Let the sync record its outcome before the load starts.
    tokio::time::sleep(Duration::from_millis(200)).await;
    Ok(project)
}

/// What the service did with the webhooks.
#[derive(Debug, Clone, Default)]
struct Bridged {
    load: Load,
    /// Status posts expected, and received (distinct).
    expected: usize,
    posts: usize,
    /// From the first webhook sent to the last post received.
    reporting: Duration,
    /// From the first webhook sent to the first post received.
    first_post: Duration,
    /// Posts received when the last webhook was answered.
    posts_at_last_answer: usize,
    /// Posts received again (same name, sha, state), counted a second after the last expected one.
    duplicates: u32,
    /// Posts with another state, another token or an unreadable body, and the first of them.
    unexpected: u64,
    first_unexpected: Option<String>,
    /// TCP connections the service posted over.
    connections: usize,
    /// Notifications the checks' sink received (distinct), and twice, when the last post arrived.
    notified: usize,
    notified_twice: u32,
    /// The service's peak RSS.
    rss_mib: f64,
    /// CPU seconds of the service and of the harness (clients, fake GitLab, sink) while the webhooks were
    /// sent, and from the last answer to the last post.
    service_cpu: (f64, f64),
    harness_cpu: (f64, f64),
}

/// CPU seconds used so far by the service and by this process.
fn cpu(server: &Server) -> (f64, f64) {
    (server.cpu_seconds(), cpu_seconds("/proc/self/stat"))
}

impl Bridged {
    fn rate(&self) -> f64 {
        self.posts as f64 / self.reporting.as_secs_f64().max(1e-9)
    }
}

async fn bridge(
    plan: &Plan,
    project: i64,
    server: &Server,
    deliveries: &Arc<Vec<Delivery>>,
    fake: &Fake,
    sink: &SinkHandle,
) -> Result<Bridged, String> {
    let expected = (1 + plan.checks as usize) * deliveries.len();
    let cpu_at_start = cpu(server);
    let started = Instant::now();
    let load = send_webhooks(&server.address, project, deliveries, plan.concurrency).await?;
    let posts_at_last_answer = fake.counts().0;
    let cpu_at_last_answer = cpu(server);
    if !fake.wait_for(expected, POSTS_LIMIT).await {
        return Err(format!(
            "only {} of {expected} status posts reached the fake GitLab within {} s ({} webhooks not \
             answered 200 applied; first: {})",
            fake.counts().0,
            POSTS_LIMIT.as_secs(),
            load.failures,
            load.first_failure.as_deref().unwrap_or("none")
        ));
    }
    let cpu_at_last_post = cpu(server);
    let (notified, notified_twice) = sink.received();
    tokio::time::sleep(GRACE).await;
    let (posts, duplicates) = fake.counts();
    let recorded = fake.posts();
    let since = |at: Option<Instant>| at.map_or(Duration::ZERO, |at| at.duration_since(started));
    Ok(Bridged {
        expected,
        posts,
        reporting: since(recorded.last_at),
        first_post: since(recorded.first_at),
        posts_at_last_answer,
        duplicates,
        unexpected: recorded.unexpected,
        first_unexpected: recorded.first_unexpected.clone(),
        connections: recorded.peers.len(),
        notified,
        notified_twice,
        load,
        rss_mib: 0.0,
        service_cpu: (
            cpu_at_last_answer.0 - cpu_at_start.0,
            cpu_at_last_post.0 - cpu_at_last_answer.0,
        ),
        harness_cpu: (
            cpu_at_last_answer.1 - cpu_at_start.1,
            cpu_at_last_post.1 - cpu_at_last_answer.1,
        ),
    })
}

// ---------------------------------------------------------------------------------------------------------
// Ceiling (G): a bare client posting the same statuses.

/// What ceiling (G) measured.
#[derive(Debug, Clone, Default)]
struct Posted {
    posts: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
    connections: usize,
}

impl Posted {
    fn rate(&self) -> f64 {
        self.posts as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

async fn post_again(
    fake: &Fake,
    fake_address: &str,
    recorded: Vec<Recorded>,
    concurrency: u32,
) -> Result<Posted, String> {
    // The product's client settings (crates/status-checks-forge/src/client.rs), without its resolver: the
    // fake's address is an IP literal.
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .connect_timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .user_agent(concat!("status-checks-bench/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| e.to_string())?;
    let count = recorded.len();
    let slots = Arc::new(Semaphore::new(concurrency as usize));
    let started = Instant::now();
    let mut sent = Vec::with_capacity(count);
    for post in recorded {
        let permit = slots
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| e.to_string())?;
        let client = client.clone();
        let url = format!("http://{fake_address}{}", post.path);
        sent.push(tokio::spawn(async move {
            let at = Instant::now();
            let result = async {
                let answer = client
                    .post(url)
                    .header("PRIVATE-TOKEN", FORGE_TOKEN)
                    .header("content-type", "application/json")
                    .body(post.body)
                    .send()
                    .await?;
                let status = answer.status();
                answer.bytes().await.map(|_| status)
            }
            .await;
            drop(permit);
            result.map(|status| (status, at.elapsed()))
        }));
    }
    let mut latencies = Vec::with_capacity(count);
    for task in sent {
        let (status, latency) = task
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("ceiling (G): {e}"))?;
        if status != StatusCode::CREATED {
            return Err(format!("ceiling (G) got {status}"));
        }
        latencies.push(latency);
    }
    let elapsed = started.elapsed();
    latencies.sort();
    let (received, _) = fake.counts();
    if received != count {
        return Err(format!(
            "ceiling (G): the fake counted {received} of {count} posts"
        ));
    }
    Ok(Posted {
        posts: count,
        elapsed,
        latencies,
        connections: fake.posts().peers.len(),
    })
}

// ---------------------------------------------------------------------------------------------------------
// The run.

/// The whole forge benchmark: ceiling (W), the service, ceiling (G), the table.
pub async fn run(plan: Plan) -> Result<(), String> {
    let (sink, sink_address) = crate::fanout::start_sink().await?;
    let (fake, fake_address) = start_fake().await?;
    let bare_address = start_bare().await?;
    let deliveries = Arc::new(deliveries(plan.merge_requests)?);

    eprintln!(
        "measuring ceiling (W): {} webhooks to a bare handler, {} clients…",
        deliveries.len(),
        plan.concurrency
    );
    let bare = send_webhooks(&bare_address, GL_PROJECT, &deliveries, plan.concurrency).await?;
    if bare.failures > 0 {
        return Err(format!(
            "ceiling (W): {} answers not 200 applied; first: {}",
            bare.failures,
            bare.first_failure.as_deref().unwrap_or("")
        ));
    }

    let dir =
        std::env::temp_dir().join(format!("status-checks-bench-forge-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let command = serve_command(
        &dir.join("forge.db"),
        &["--allow-local-requests", "--root-token", ROOT_TOKEN],
    )?;
    let server = tokio::task::spawn_blocking(move || Server::start(command))
        .await
        .map_err(|e| e.to_string())??
        .0;
    let base = format!("http://{}", server.address);
    eprintln!(
        "measuring the service: {} webhooks, {} checks, {} clients, status posts to the fake GitLab…",
        deliveries.len(),
        plan.checks,
        plan.concurrency
    );
    let measured =
        match linked_project(&base, plan.checks, &sink_address, &fake, &fake_address).await {
            Ok(project) => bridge(&plan, project, &server, &deliveries, &fake, &sink).await,
            Err(e) => Err(e),
        };
    let rss_mib = server.peak_rss_mib();
    server.stop();
    let _ = std::fs::remove_dir_all(&dir);
    let mut bridged = measured?;
    bridged.rss_mib = rss_mib;

    eprintln!(
        "measuring ceiling (G): the same {} posts from a bare client, {} at once…",
        bridged.posts, plan.post_concurrency
    );
    let recorded = fake.reset();
    let posted = post_again(&fake, &fake_address, recorded, plan.post_concurrency).await?;
    sink.clear();

    let body_bytes = deliveries.first().map_or(0, |d| d.body.len());
    let table = render(&plan, body_bytes, &bare, &bridged, &posted);
    println!("{table}");
    if let Some(out) = &plan.out {
        write_results(out, &table)?;
    }
    if bridged.load.failures > 0 {
        return Err(format!(
            "{} of {} webhooks were not answered 200 applied; first: {}",
            bridged.load.failures,
            bridged.load.sent,
            bridged.load.first_failure.as_deref().unwrap_or("")
        ));
    }
    if bridged.unexpected > 0 {
        return Err(format!(
            "the fake GitLab refused {} status posts; first: {}",
            bridged.unexpected,
            bridged.first_unexpected.as_deref().unwrap_or("")
        ));
    }
    Ok(())
}

fn render(
    plan: &Plan,
    body_bytes: usize,
    bare: &Load,
    bridged: &Bridged,
    posted: &Posted,
) -> String {
    let load = &bridged.load;
    let ms = |latencies: &[Duration], p: f64| percentile(latencies, p);
    let max = |latencies: &[Duration]| latencies.last().map_or(0.0, |d| d.as_secs_f64() * 1000.0);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Run on {} — {}; load generator, sink and fake GitLab in the harness's process on the same machine.\n",
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"),
        host()
    );
    let _ = writeln!(
        out,
        "{} `open` webhooks (GitLab's `Merge Request Hook` of `mr_open.json`, {} bytes each, a distinct merge \
         request, HEAD and `Idempotency-Key` each) from {} clients at once over keep-alive connections, to a \
         project with {} checks (signed, answered 200 by a local sink; none answers the check) linked to a fake \
         GitLab that answers every status post 201 at once. One run.\n",
        load.sent, body_bytes, plan.concurrency, plan.checks
    );
    let _ = writeln!(
        out,
        "| what | requests | seconds | per second | p50 ms | p99 ms | max ms | ratio to ceiling |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---|");
    let _ = writeln!(
        out,
        "| (W) bare axum handler: reads the body, walks its JSON, answers 200 — same clients and requests | {} | \
         {:.3} | {:.0} | {:.2} | {:.2} | {:.2} | — |",
        bare.sent,
        bare.elapsed.as_secs_f64(),
        bare.rate(),
        ms(&bare.latencies, 0.5),
        ms(&bare.latencies, 0.99),
        max(&bare.latencies)
    );
    let _ = writeln!(
        out,
        "| webhooks answered 200 `applied` ({} not), first sent to last answered | {} | {:.3} | {:.0} | {:.2} | \
         {:.2} | {:.2} | {:.0} % of (W) |",
        load.failures,
        load.sent,
        load.elapsed.as_secs_f64(),
        load.rate(),
        ms(&load.latencies, 0.5),
        ms(&load.latencies, 0.99),
        max(&load.latencies),
        load.rate() / bare.rate().max(1e-9) * 100.0
    );
    let _ = writeln!(
        out,
        "| (G) bare reqwest client: the same status posts to the same fake, {} at once | {} | {:.3} | {:.0} | \
         {:.2} | {:.2} | {:.2} | — |",
        plan.post_concurrency,
        posted.posts,
        posted.elapsed.as_secs_f64(),
        posted.rate(),
        ms(&posted.latencies, 0.5),
        ms(&posted.latencies, 0.99),
        max(&posted.latencies)
    );
    let _ = writeln!(
        out,
        "| status posts (aggregate + one per check, `pending`), first webhook sent to last post received | {} | \
         {:.3} | {:.0} | — | — | — | {:.0} % of (G) |",
        bridged.posts,
        bridged.reporting.as_secs_f64(),
        bridged.rate(),
        bridged.rate() / posted.rate().max(1e-9) * 100.0
    );
    let tail = bridged.reporting.saturating_sub(load.elapsed);
    let _ = writeln!(
        out,
        "\nStatus posts expected {}, received {}; the first {:.1} ms after the first webhook; {} received by the \
         time the last webhook was answered, the other {} in the {:.3} s after it ({:.0} a second). Received \
         twice: {}. Refused by the fake (wrong state, token or body): {}. TCP connections the service posted \
         over: {} (ceiling (G): {}). Notifications received by the checks' sink when the last post arrived: {} \
         of {} ({} twice). Service peak RSS {:.1} MiB.",
        bridged.expected,
        bridged.posts,
        bridged.first_post.as_secs_f64() * 1000.0,
        bridged.posts_at_last_answer,
        bridged.posts.saturating_sub(bridged.posts_at_last_answer),
        tail.as_secs_f64(),
        bridged.posts.saturating_sub(bridged.posts_at_last_answer) as f64
            / tail.as_secs_f64().max(1e-9),
        bridged.duplicates,
        bridged.unexpected,
        bridged.connections,
        posted.connections,
        bridged.notified,
        plan.checks as usize * load.sent,
        bridged.notified_twice,
        bridged.rss_mib
    );
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let _ = writeln!(
        out,
        "\nCPU seconds, of the {cores} cores' {:.1} while the webhooks were sent and {:.1} from the last answer to \
         the last post: the service {:.2}, then {:.2}; the harness (clients, sink, fake GitLab) {:.2}, then {:.2}.",
        load.elapsed.as_secs_f64() * cores,
        tail.as_secs_f64() * cores,
        bridged.service_cpu.0,
        bridged.service_cpu.1,
        bridged.harness_cpu.0,
        bridged.harness_cpu.1
    );
    out
}

const START: &str = "<!-- forge:start -->";
const END: &str = "<!-- forge:end -->";

fn write_results(path: &str, table: &str) -> Result<(), String> {
    let current = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let (before, rest) = current
        .split_once(START)
        .ok_or_else(|| format!("{path} has no {START} marker"))?;
    let (_, after) = rest
        .split_once(END)
        .ok_or_else(|| format!("{path} has no {END} marker"))?;
    let updated = format!("{before}{START}\n{table}{END}{after}");
    std::fs::write(path, updated).map_err(|e| e.to_string())
}
