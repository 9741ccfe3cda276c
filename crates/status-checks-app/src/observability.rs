//! Logs, request spans and Prometheus metrics. Tokens and shared secrets are never logged: spans carry the
//! matched route (`/api/v4/projects/{id}/…`), never the raw URI with its query string or any header.

use crate::backend::{Engine, PoolState};
use crate::config::LogFormat;
use crate::json_log::JsonLines;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::future::Future;
use std::io::IsTerminal;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::task::{Context, Poll};
use std::time::Instant;
use tracing::Instrument;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::JsonFields;
use tracing_subscriber::fmt::writer::BoxMakeWriter;

/// Installs the global subscriber: level from `RUST_LOG` (default `info`), pretty on a terminal, else JSON;
/// on stdout (`serve`) or stderr (the commands whose stdout is their answer).
pub fn init_logging(format: Option<LogFormat>, to_stdout: bool) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let terminal = if to_stdout {
        std::io::stdout().is_terminal()
    } else {
        std::io::stderr().is_terminal()
    };
    let format = format.unwrap_or(if terminal {
        LogFormat::Pretty
    } else {
        LogFormat::Json
    });
    let writer = if to_stdout {
        BoxMakeWriter::new(std::io::stdout)
    } else {
        BoxMakeWriter::new(std::io::stderr)
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(terminal)
        .with_writer(writer);
    // A second initialisation (tests) is harmless: keep the first.
    let _ = match format {
        LogFormat::Pretty => builder.try_init(),
        LogFormat::Json => builder
            .fmt_fields(JsonFields::new())
            .event_format(JsonLines)
            .try_init(),
    };
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolLabels {
    backend: &'static str,
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BackendLabels {
    backend: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
    cause: &'static str,
}

/// The service's metrics.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RequestLabels, Histogram>,
    /// Delivery attempts by outcome (`delivered`, `failed`, `dead`) and cause of failure (`none`, `http_5xx`,
    /// `timeout`, …).
    deliveries: Family<OutcomeLabels, Counter>,
    /// Delivery latency in seconds.
    delivery_latency: Histogram,
    /// Pending deliveries.
    pub pending_deliveries: Gauge<i64, std::sync::atomic::AtomicI64>,
    /// Seconds the oldest due and unclaimed delivery has waited.
    pub oldest_due_delivery_age: Gauge<f64, AtomicU64>,
    /// SQLite: read connections open.
    pool_connections: Gauge<i64, std::sync::atomic::AtomicI64>,
    /// SQLite: read connections idle.
    pool_idle: Gauge<i64, std::sync::atomic::AtomicI64>,
    /// Pooled connections by backend (`sqlite`: the read connections; `postgres`: the whole pool) and state
    /// (`in_use`, `idle`).
    pool: Family<PoolLabels, Gauge<i64, std::sync::atomic::AtomicI64>>,
    /// Whether the `LISTEN` connection is open (1) or not (0), by backend (`postgres` only).
    listener: Family<BackendLabels, Gauge<i64, std::sync::atomic::AtomicI64>>,
    /// SQLite's group commit: batches, writes and seconds queued (counters, advanced to the writer's totals
    /// at each scrape), writes waiting and the largest batch.
    write_batches: Counter,
    writes: Counter,
    write_queue_seconds: Counter<f64, AtomicU64>,
    writes_waiting: Gauge<i64, std::sync::atomic::AtomicI64>,
    write_batch_largest: Gauge<i64, std::sync::atomic::AtomicI64>,
    /// The writer's totals at the last scrape.
    writer_seen: std::sync::Mutex<crate::backend::WriterTotals>,
}

fn latency_buckets() -> impl Iterator<Item = f64> {
    [
        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    ]
    .into_iter()
}

impl Metrics {
    /// A registry with every metric registered.
    pub fn new() -> Arc<Self> {
        let mut registry = Registry::with_prefix("status_checks");
        let requests = Family::<RequestLabels, Counter<u64, AtomicU64>>::default();
        let latency = Family::<RequestLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(latency_buckets())
        });
        let deliveries = Family::<OutcomeLabels, Counter>::default();
        let delivery_latency = Histogram::new(latency_buckets());
        let pending_deliveries = Gauge::default();
        let oldest_due_delivery_age = Gauge::<f64, AtomicU64>::default();
        let pool_connections = Gauge::default();
        let pool_idle = Gauge::default();
        let pool = Family::<PoolLabels, Gauge<i64, std::sync::atomic::AtomicI64>>::default();
        let listener = Family::<BackendLabels, Gauge<i64, std::sync::atomic::AtomicI64>>::default();
        registry.register(
            "http_requests",
            "HTTP requests by method, route and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency",
            latency.clone(),
        );
        registry.register(
            "delivery_attempts",
            "Notification delivery attempts by outcome and cause of failure",
            deliveries.clone(),
        );
        registry.register(
            "delivery_duration_seconds",
            "Notification delivery latency",
            delivery_latency.clone(),
        );
        registry.register(
            "deliveries_pending",
            "Notifications waiting to be delivered",
            pending_deliveries.clone(),
        );
        registry.register(
            "deliveries_oldest_due_age_seconds",
            "Seconds the oldest due notification not yet claimed has waited",
            oldest_due_delivery_age.clone(),
        );
        registry.register(
            "db_read_connections",
            "Database read connections open",
            pool_connections.clone(),
        );
        registry.register(
            "db_read_connections_idle",
            "Database read connections idle",
            pool_idle.clone(),
        );
        registry.register(
            "db_pool_connections",
            "Pooled database connections by backend and state (in_use, idle)",
            pool.clone(),
        );
        let write_batches = Counter::default();
        let writes = Counter::default();
        let write_queue_seconds = Counter::<f64, AtomicU64>::default();
        let writes_waiting = Gauge::default();
        let write_batch_largest = Gauge::default();
        registry.register(
            "db_write_batches",
            "SQLite: write transactions committed by the group-commit writer, each holding one or more writes",
            write_batches.clone(),
        );
        registry.register(
            "db_writes",
            "SQLite: writes run by the group-commit writer (divided by db_write_batches: the mean batch size)",
            writes.clone(),
        );
        registry.register(
            "db_write_queue_seconds",
            "SQLite: seconds the writes waited for their batch, summed (divided by db_writes: the mean wait)",
            write_queue_seconds.clone(),
        );
        registry.register(
            "db_writes_waiting",
            "SQLite: writes waiting for the writer now",
            writes_waiting.clone(),
        );
        registry.register(
            "db_write_batch_largest",
            "SQLite: the most writes committed together since the start",
            write_batch_largest.clone(),
        );
        registry.register(
            "db_listener_connected",
            "Whether the database connection that listens for other instances' wake-ups is open (1) or not (0)",
            listener.clone(),
        );
        Arc::new(Metrics {
            registry,
            requests,
            latency,
            deliveries,
            delivery_latency,
            pending_deliveries,
            oldest_due_delivery_age,
            pool_connections,
            pool_idle,
            pool,
            listener,
            write_batches,
            writes,
            write_queue_seconds,
            writes_waiting,
            write_batch_largest,
            writer_seen: std::sync::Mutex::new(Default::default()),
        })
    }

    /// Advances the group-commit metrics to the writer's totals (SQLite; nothing for `None`).
    pub fn record_writer(&self, totals: Option<crate::backend::WriterTotals>) {
        let Some(now) = totals else {
            return;
        };
        let Ok(mut seen) = self.writer_seen.lock() else {
            return;
        };
        self.write_batches
            .inc_by(now.batches.saturating_sub(seen.batches));
        self.writes.inc_by(now.writes.saturating_sub(seen.writes));
        self.write_queue_seconds
            .inc_by(now.queued_micros.saturating_sub(seen.queued_micros) as f64 / 1e6);
        self.writes_waiting
            .set(i64::try_from(now.waiting).unwrap_or(i64::MAX));
        self.write_batch_largest
            .set(i64::try_from(now.largest_batch).unwrap_or(i64::MAX));
        *seen = now;
    }

    /// Records the pool's usage, under `status_checks_db_pool_connections{backend, state}`; on SQLite also
    /// under the read-connection gauges it has always had.
    pub fn record_pool(&self, engine: Engine, state: PoolState) {
        let backend = engine.as_str();
        let set = |label: &'static str, value: u32| {
            self.pool
                .get_or_create(&PoolLabels {
                    backend,
                    state: label,
                })
                .set(i64::from(value));
        };
        set("in_use", state.in_use);
        set("idle", state.idle);
        if engine == Engine::Sqlite {
            self.pool_connections
                .set(i64::from(state.in_use.saturating_add(state.idle)));
            self.pool_idle.set(i64::from(state.idle));
        }
    }

    /// Records whether the backend's `LISTEN` connection is open, under
    /// `status_checks_db_listener_connected{backend}`; nothing for a backend without one (SQLite).
    pub fn record_listener(&self, engine: Engine, connected: Option<bool>) {
        if let Some(connected) = connected {
            self.listener
                .get_or_create(&BackendLabels {
                    backend: engine.as_str(),
                })
                .set(i64::from(connected));
        }
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::error!(error = %e, "metrics encoding failed");
        }
        out
    }
}

impl status_checks_notify::DeliveryObserver for Metrics {
    fn attempted(
        &self,
        outcome: status_checks_notify::Outcome,
        cause: Option<status_checks_notify::Cause>,
        elapsed: std::time::Duration,
    ) {
        self.deliveries
            .get_or_create(&OutcomeLabels {
                outcome: outcome.as_str(),
                cause: cause.map_or("none", status_checks_notify::Cause::as_str),
            })
            .inc();
        self.delivery_latency.observe(elapsed.as_secs_f64());
    }
}

/// Inner layer (a `route_layer`): copies the route a request matched onto its response, for the outer
/// observer (which runs outside the router, where the route is not known). Hand-written rather than
/// `from_fn`, which boxes the inner service and the future on every request.
#[derive(Debug, Clone, Copy)]
pub struct RememberRouteLayer;

impl<S> tower::Layer<S> for RememberRouteLayer {
    type Service = RememberRoute<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RememberRoute(inner)
    }
}

/// The service of [`RememberRouteLayer`].
#[derive(Debug, Clone)]
pub struct RememberRoute<S>(S);

impl<S> tower::Service<Request> for RememberRoute<S>
where
    S: tower::Service<Request, Response = Response>,
    S::Future: Unpin,
{
    type Response = Response;
    type Error = S::Error;
    type Future = RememberRouteFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        RememberRouteFuture {
            route: request.extensions().get::<MatchedPath>().cloned(),
            inner: self.0.call(request),
        }
    }
}

/// The future of [`RememberRoute`].
#[derive(Debug)]
pub struct RememberRouteFuture<F> {
    inner: F,
    route: Option<MatchedPath>,
}

impl<F, E> Future for RememberRouteFuture<F>
where
    F: Future<Output = Result<Response, E>> + Unpin,
{
    type Output = Result<Response, E>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let mut response = std::task::ready!(Pin::new(&mut this.inner).poll(cx))?;
        if let Some(route) = this.route.take() {
            response.extensions_mut().insert(route);
        }
        Poll::Ready(Ok(response))
    }
}

/// Outer layer: a span per request with its method, an event with route, status and latency; request
/// metrics.
pub async fn observe(
    State(metrics): State<Arc<Metrics>>,
    request: Request,
    next: Next,
) -> Response {
    let method = request.method().as_str().to_owned();
    let started = Instant::now();
    // The span carries only what is known before the answer; route, status and latency go on the event.
    // (Recording them on the span afterwards made the JSON formatter re-parse and re-write the span's
    // fields twice per request.)
    let span = tracing::info_span!("request", method = %method);
    let response = next.run(request).instrument(span.clone()).await;
    let elapsed = started.elapsed();
    let route = response
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |r| r.as_str().to_owned());
    let status = response.status().as_u16();
    let latency_ms = elapsed.as_secs_f64() * 1000.0;
    if status >= 500 {
        tracing::warn!(parent: &span, route = %route, status, latency_ms, "request failed");
    } else {
        tracing::info!(parent: &span, route = %route, status, latency_ms, "request");
    }
    let labels = RequestLabels {
        method,
        route,
        status,
    };
    metrics.requests.get_or_create(&labels).inc();
    metrics
        .latency
        .get_or_create(&labels)
        .observe(elapsed.as_secs_f64());
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_group_commit_counters_follow_the_writer() {
        let metrics = Metrics::new();
        let totals = |batches, writes, queued_micros| crate::backend::WriterTotals {
            batches,
            writes,
            queued_micros,
            waiting: 3,
            largest_batch: 7,
        };
        metrics.record_writer(Some(totals(2, 10, 500_000)));
        metrics.record_writer(Some(totals(5, 20, 1_500_000)));
        let text = metrics.render();
        for line in [
            "status_checks_db_write_batches_total 5",
            "status_checks_db_writes_total 20",
            "status_checks_db_write_queue_seconds_total 1.5",
            "status_checks_db_writes_waiting 3",
            "status_checks_db_write_batch_largest 7",
        ] {
            assert!(text.contains(line), "{line} in {text}");
        }
        metrics.record_writer(None);
        assert!(
            metrics
                .render()
                .contains("status_checks_db_writes_total 20")
        );
    }

    #[test]
    fn the_listener_gauge_is_exported_for_postgres_only() {
        let metrics = Metrics::new();
        metrics.record_listener(Engine::Sqlite, None);
        assert!(
            !metrics
                .render()
                .contains("status_checks_db_listener_connected{"),
            "SQLite has no listener"
        );
        metrics.record_listener(Engine::Postgres, Some(true));
        assert!(
            metrics
                .render()
                .contains("status_checks_db_listener_connected{backend=\"postgres\"} 1"),
            "{}",
            metrics.render()
        );
        metrics.record_listener(Engine::Postgres, Some(false));
        assert!(
            metrics
                .render()
                .contains("status_checks_db_listener_connected{backend=\"postgres\"} 0")
        );
    }
}
