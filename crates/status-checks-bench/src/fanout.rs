//! The fan-out benchmark: how fast the service's delivery worker empties the outbox, against ceiling **D** — a
//! bare reqwest client (the product's TLS stack and features) posting the very same bodies, with the same
//! headers, to the same local sink at the same concurrency over keep-alive connections.
//!
//! The sink is a small axum server in this process that answers 200 at once and counts deliveries by
//! `Idempotency-Key`, so a delivery sent twice shows up as a duplicate.

use crate::ROOT_TOKEN;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, Semaphore};

/// The merge requests opened, the checks each notifies, and the concurrency: the worker's default per
/// receiver (every check of the benchmark has the sink as its receiver).
pub struct Plan {
    pub merge_requests: u32,
    pub checks: u32,
    pub concurrency: u32,
}

/// One delivery as the sink received it: enough to send it again.
#[derive(Clone)]
struct Received {
    path: String,
    headers: Vec<(String, String)>,
    body: Bytes,
}

#[derive(Default)]
struct Seen {
    by_key: HashMap<String, u32>,
    first: Vec<Received>,
    first_at: Option<Instant>,
    last_at: Option<Instant>,
}

/// The local sink: answers 200 at once, and remembers what it received.
#[derive(Default)]
struct Sink {
    seen: Mutex<Seen>,
    arrived: Notify,
}

impl Sink {
    fn reset(&self) -> Vec<Received> {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        std::mem::take(&mut *seen).first
    }

    /// Distinct keys received, and deliveries received more than once.
    fn counts(&self) -> (usize, u32) {
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let duplicates = seen.by_key.values().map(|n| n - 1).sum();
        (seen.by_key.len(), duplicates)
    }

    fn last_at(&self) -> Option<Instant> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).last_at
    }

    /// From the first delivery received to the last.
    fn receiving(&self) -> Duration {
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        match (seen.first_at, seen.last_at) {
            (Some(first), Some(last)) => last.duration_since(first),
            _ => Duration::ZERO,
        }
    }

    /// Waits until `count` distinct keys arrived, or `limit` passed.
    async fn wait_for(&self, count: usize, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            let arrived = self.arrived.notified();
            if self.counts().0 >= count {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || tokio::time::timeout(left, arrived).await.is_err() {
                return self.counts().0 >= count;
            }
        }
    }
}

async fn receive(
    State(sink): State<Arc<Sink>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    {
        let mut seen = sink.seen.lock().unwrap_or_else(|e| e.into_inner());
        let count = seen.by_key.entry(key).or_insert(0);
        *count += 1;
        if *count == 1 {
            let kept = headers
                .iter()
                .filter(|(name, _)| {
                    !matches!(name.as_str(), "host" | "content-length" | "connection")
                })
                .filter_map(|(name, value)| {
                    Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
                })
                .collect();
            seen.first.push(Received {
                path: uri.path().to_owned(),
                headers: kept,
                body,
            });
        }
        let now = Instant::now();
        seen.first_at.get_or_insert(now);
        seen.last_at = Some(now);
    }
    sink.arrived.notify_waiters();
    StatusCode::OK
}

/// What one fan-out round measured.
#[derive(Debug, Clone, Default)]
pub struct Measured {
    /// Deliveries expected (merge requests × checks).
    pub expected: usize,
    /// Distinct deliveries the sink received from the service.
    pub delivered: usize,
    /// Deliveries the sink received more than once.
    pub duplicates: u32,
    /// From the first merge request sent to the last delivery received.
    pub end_to_end: Duration,
    /// Distinct deliveries the sink received from a service started on an outbox already holding them.
    pub drained: usize,
    /// From that service's start to the last of those deliveries received.
    pub drain: Duration,
    /// Ceiling D: the same bodies posted by a bare client, first request to last answer.
    pub ceiling: Duration,
}

impl Measured {
    /// Deliveries per second of the worker draining a full outbox.
    pub fn rate(&self) -> f64 {
        self.drained as f64 / self.drain.as_secs_f64().max(1e-9)
    }

    /// Deliveries per second of ceiling D.
    pub fn ceiling_rate(&self) -> f64 {
        self.expected as f64 / self.ceiling.as_secs_f64().max(1e-9)
    }
}

fn client(concurrency: u32) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .pool_max_idle_per_host(concurrency as usize)
        .build()
        .map_err(|e| e.to_string())
}

async fn api(
    client: &reqwest::Client,
    base: &str,
    path: &str,
    body: serde_json::Value,
) -> Result<(), String> {
    let answer = client
        .post(format!("{base}/api/v4{path}"))
        .header("PRIVATE-TOKEN", ROOT_TOKEN)
        .json(&body)
        .send()
        .await
        .map_err(|e| format!("POST {path}: {e}"))?;
    if answer.status().is_success() {
        Ok(())
    } else {
        Err(format!("POST {path}: {}", answer.status()))
    }
}

/// Creates project `bench/<name>` with `checks` signed checks whose URLs are the sink's.
async fn project_with_checks(
    client: &reqwest::Client,
    base: &str,
    name: &str,
    checks: u32,
    sink_address: &str,
) -> Result<(), String> {
    api(
        client,
        base,
        "/projects",
        serde_json::json!({ "name": name, "namespace": "bench" }),
    )
    .await?;
    for n in 1..=checks {
        api(
            client,
            base,
            &format!("/projects/bench%2F{name}/external_status_checks"),
            serde_json::json!({
                "name": format!("check-{n}"),
                "external_url": format!("http://{sink_address}/hook/{n}"),
                "shared_secret": format!("secret-{n}"),
            }),
        )
        .await?;
    }
    Ok(())
}

/// The end-to-end part of a round: `plan`'s merge requests opened through the service's API, until the sink
/// received every delivery; then ceiling D sends the same requests. The drain part is [`drain`].
pub async fn measure(
    plan: &Plan,
    service_base: &str,
    sink_address: &str,
    sink: &Arc<SinkHandle>,
) -> Result<Measured, String> {
    let sink = &sink.0;
    sink.reset();
    let client = client(plan.concurrency)?;
    project_with_checks(&client, service_base, "fanout", plan.checks, sink_address).await?;
    let expected = (plan.merge_requests * plan.checks) as usize;
    // The merge requests are opened by 8 clients at once, as a busy forge would.
    let started = Instant::now();
    let openers = Arc::new(Semaphore::new(8));
    let mut opened = Vec::new();
    for n in 1..=plan.merge_requests {
        let permit = openers
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| e.to_string())?;
        let (client, base) = (client.clone(), service_base.to_owned());
        opened.push(tokio::spawn(async move {
            let result = api(
                &client,
                &base,
                "/projects/bench%2Ffanout/merge_requests",
                serde_json::json!({
                    "source_branch": format!("feature-{n}"),
                    "target_branch": "main",
                    "title": format!("Fan-out {n}"),
                    "sha": format!("{n:040x}"),
                }),
            )
            .await;
            drop(permit);
            result
        }));
    }
    for task in opened {
        task.await.map_err(|e| e.to_string())??;
    }
    if !sink.wait_for(expected, Duration::from_secs(300)).await {
        return Err(format!(
            "only {} of {expected} deliveries arrived within 5 minutes",
            sink.counts().0
        ));
    }
    let end_to_end = sink
        .last_at()
        .map_or(started.elapsed(), |last| last.duration_since(started));
    let (delivered, duplicates) = sink.counts();

    // Ceiling D: the same requests, sent again by a bare client at the same concurrency.
    let received = sink.reset();
    let slots = Arc::new(Semaphore::new(plan.concurrency as usize));
    let started = Instant::now();
    let mut sent = Vec::with_capacity(received.len());
    for delivery in received {
        let permit = slots
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| e.to_string())?;
        let client = client.clone();
        let url = format!("http://{sink_address}{}", delivery.path);
        sent.push(tokio::spawn(async move {
            let mut request = client.post(url).body(delivery.body);
            for (name, value) in &delivery.headers {
                request = request.header(name, value);
            }
            let result = request.send().await.map(|answer| answer.status());
            drop(permit);
            result
        }));
    }
    for task in sent {
        let status = task
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        if !status.is_success() {
            return Err(format!("ceiling D got {status}"));
        }
    }
    let ceiling = started.elapsed();
    Ok(Measured {
        expected,
        delivered,
        duplicates,
        end_to_end,
        ceiling,
        ..Measured::default()
    })
}

/// Fills the outbox of a new database at `url` with `plan`'s deliveries to the sink, through the use cases
/// (as the API would, without sending anything: no worker runs here).
pub async fn prefill(url: &str, plan: &Plan, sink_address: &str) -> Result<(), String> {
    use status_checks_core::merge_requests::NewMergeRequestInput;
    use status_checks_core::projects::{NewProjectInput, ProjectRef};
    use status_checks_core::service::{Settings, StatusChecksService};
    use status_checks_core::status_checks::StatusCheckInput;
    let store =
        status_checks_storage::Store::open(url, status_checks_storage::StoreOptions::default())
            .map_err(|e| e.to_string())?;
    let ports = store.ports(
        Arc::new(crate::seed::Now),
        Arc::new(crate::seed::Counter::default()),
    );
    let settings = Settings {
        allow_local_requests: true,
        ..Settings::default()
    };
    let service = StatusChecksService::new(ports, settings);
    let fail = |e: status_checks_core::DomainError| e.to_string();
    service.bootstrap_root(ROOT_TOKEN).await.map_err(fail)?;
    let (root, _) = service.authenticate(ROOT_TOKEN).await.map_err(fail)?;
    let project = service
        .create_project(
            &root,
            Ok(NewProjectInput {
                name: "drain".into(),
                namespace: Some("bench".into()),
                ..Default::default()
            }),
        )
        .await
        .map_err(fail)?;
    let reference = ProjectRef::Id(project.id);
    for n in 1..=plan.checks {
        let input = StatusCheckInput {
            name: format!("check-{n}"),
            external_url: format!("http://{sink_address}/hook/{n}"),
            shared_secret: Some(format!("secret-{n}")),
            protected_branch_ids: Vec::new(),
        };
        service
            .create_status_check(&root, &reference, Ok(input))
            .await
            .map_err(fail)?;
    }
    for n in 1..=plan.merge_requests {
        let input = NewMergeRequestInput {
            source_branch: format!("feature-{n}"),
            target_branch: "main".into(),
            title: format!("Drain {n}"),
            sha: status_checks_core::CommitSha::parse(&format!("{n:040x}"))
                .map_err(|e| e.to_string())?,
            description: None,
        };
        service
            .create_merge_request(&root, &reference, Ok(input))
            .await
            .map_err(fail)?;
    }
    Ok(())
}

/// The drain part of a round: the sink receives every delivery of a service `start`ed on an outbox that
/// [`prefill`] filled; the time runs from the first delivery received to the last (the service's start-up
/// is not the worker's speed).
pub async fn drain<T>(
    plan: &Plan,
    sink: &Arc<SinkHandle>,
    start: impl FnOnce() -> Result<T, String>,
) -> Result<(usize, u32, Duration, T), String> {
    let sink = &sink.0;
    sink.reset();
    let expected = (plan.merge_requests * plan.checks) as usize;
    let running = start()?;
    if !sink.wait_for(expected, Duration::from_secs(300)).await {
        return Err(format!(
            "only {} of {expected} queued deliveries arrived within 5 minutes",
            sink.counts().0
        ));
    }
    let elapsed = sink.receiving();
    let (drained, duplicates) = sink.counts();
    Ok((drained, duplicates, elapsed, running))
}

/// A running sink; dropping it does not stop the server (it ends with the process).
pub struct SinkHandle(Arc<Sink>);

impl SinkHandle {
    /// Forgets what it received.
    pub fn clear(&self) {
        self.0.reset();
    }

    /// Distinct deliveries received (by `Idempotency-Key`), and deliveries received more than once.
    pub fn received(&self) -> (usize, u32) {
        self.0.counts()
    }
}

/// Starts the sink on a free port of 127.0.0.1; returns its address.
pub async fn start_sink() -> Result<(Arc<SinkHandle>, String), String> {
    let sink = Arc::new(Sink::default());
    let app = Router::new()
        .route("/hook/{n}", post(receive))
        .with_state(sink.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((Arc::new(SinkHandle(sink)), address.to_string()))
}

/// What the soak measured: the outbox's backlog over time under a steady stream of pushes.
#[derive(Debug, Clone, Default)]
pub struct Soaked {
    /// Pushes a second asked for, and checks each notifies.
    pub rate: u32,
    pub checks: u32,
    /// How long the stream ran.
    pub seconds: u32,
    /// Pushes answered 200.
    pub pushes: u64,
    /// Deliveries caused (pushes × checks) and received by the sink by the end.
    pub caused: u64,
    pub received: u64,
    /// Deliveries caused but not yet received, sampled once a second.
    pub waiting: Vec<u64>,
    /// Push latency, 50th and 99th percentile, in milliseconds.
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// The `p` quantile (0–1) of `sorted`, nearest rank, in milliseconds.
pub(crate) fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[index.min(sorted.len() - 1)].as_secs_f64() * 1000.0
}

/// The soak: `merge_requests` merge requests are opened, then pushed to (a new HEAD each time) at `rate`
/// pushes a second for `seconds`, round robin; once a second, the deliveries caused but not yet received
/// are counted. A worker that keeps up keeps that number flat.
pub async fn soak(
    service_base: &str,
    sink_address: &str,
    sink: &Arc<SinkHandle>,
    rate: u32,
    checks: u32,
    seconds: u32,
) -> Result<Soaked, String> {
    let sink = &sink.0;
    sink.reset();
    let client = client(64)?;
    let project = "/projects/bench%2Fsoak";
    project_with_checks(&client, service_base, "soak", checks, sink_address).await?;
    let merge_requests = rate.max(1);
    for n in 1..=merge_requests {
        api(
            &client,
            service_base,
            &format!("{project}/merge_requests"),
            serde_json::json!({
                "source_branch": format!("feature-{n}"),
                "target_branch": "main",
                "title": format!("Soak {n}"),
                "sha": format!("{n:040x}"),
            }),
        )
        .await?;
    }
    let opened = u64::from(merge_requests * checks);
    sink.wait_for(opened as usize, Duration::from_secs(60))
        .await;

    let pushes = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let mut waiting = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1) / rate.max(1));
    let mut sample = tokio::time::interval(Duration::from_secs(1));
    sample.tick().await;
    let end = Instant::now() + Duration::from_secs(u64::from(seconds));
    let mut n: u64 = 0;
    let mut tasks = Vec::new();
    while Instant::now() < end {
        tokio::select! {
            _ = tick.tick() => {
                n += 1;
                let iid = n % u64::from(merge_requests) + 1;
                let url = format!("{service_base}/api/v4{project}/merge_requests/{iid}");
                let body = serde_json::json!({ "sha": format!("{:040x}", 1_000_000 + n) });
                let (client, pushes, latencies) = (client.clone(), pushes.clone(), latencies.clone());
                tasks.push(tokio::spawn(async move {
                    let started = Instant::now();
                    let answer = client
                        .put(url)
                        .header("PRIVATE-TOKEN", ROOT_TOKEN)
                        .json(&body)
                        .send()
                        .await;
                    if answer.is_ok_and(|a| a.status().is_success()) {
                        pushes.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        latencies
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .push(started.elapsed());
                    }
                }));
            }
            _ = sample.tick() => {
                let caused = opened + pushes.load(std::sync::atomic::Ordering::Relaxed) * u64::from(checks);
                waiting.push(caused.saturating_sub(sink.counts().0 as u64));
            }
        }
    }
    for task in tasks {
        let _ = task.await;
    }
    let pushed = pushes.load(std::sync::atomic::Ordering::Relaxed);
    let caused = opened + pushed * u64::from(checks);
    sink.wait_for(caused as usize, Duration::from_secs(60))
        .await;
    let mut sorted = latencies.lock().unwrap_or_else(|e| e.into_inner()).clone();
    sorted.sort();
    Ok(Soaked {
        rate,
        checks,
        seconds,
        pushes: pushed,
        caused: caused - opened,
        received: (sink.counts().0 as u64).saturating_sub(opened),
        waiting,
        p50_ms: percentile(&sorted, 0.5),
        p99_ms: percentile(&sorted, 0.99),
    })
}
