//! `serve`: migrations, connections (SQLite or PostgreSQL, see [`crate::backend`]), the API with its limits,
//! health and metrics, and graceful shutdown.

use crate::backend::{Backend, BackendOptions};
use crate::config::{ServeArgs, SynchronousArg};
use crate::error::AppError;
use crate::observability::{self, Metrics};
use crate::platform::{OsSecrets, SystemClock};
use axum::error_handling::HandleErrorLayer;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router, ServiceExt as _};
use serde_json::json;
use status_checks_core::service::{Settings, StatusChecksService};
use status_checks_http::{AppState, HttpSettings};
use status_checks_postgres::PgStoreOptions;
use status_checks_storage::{StoreOptions, Synchronous};
use status_checks_web::{WebSettings, WebState};
use std::sync::Arc;
use tokio::net::TcpListener;
use tower::{BoxError, ServiceBuilder};

/// The API behind its limits (load shedding at `max_concurrent` requests in flight, a timeout), with the
/// operational routes in front of them: probes and scrapes are answered while the API sheds load.
///
/// Each stack wraps its router once: a layer put on an axum `Router` wraps every route, and a route's layered
/// service is cloned on every request (and gets a semaphore of its own). Only the route label is per route.
fn limited(
    api: Router,
    ops: Router,
    max_concurrent: usize,
    timeout: std::time::Duration,
) -> Router {
    let api = ServiceBuilder::new()
        .layer(HandleErrorLayer::new(unavailable))
        .load_shed()
        .concurrency_limit(max_concurrent)
        .timeout(timeout)
        .service(api.route_layer(observability::RememberRouteLayer));
    ops.route_layer(observability::RememberRouteLayer)
        .fallback_service(api)
}

#[derive(Clone)]
struct Ops {
    store: Backend,
    metrics: Arc<Metrics>,
    service: StatusChecksService,
}

async fn health() -> &'static str {
    "GitLab OK"
}

async fn liveness() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

async fn readiness(State(ops): State<Ops>) -> Response {
    match ops.store.ping().await {
        Ok(()) => Json(json!({ "status": "ok", "db_check": [{ "status": "ok" }] })).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness: database check failed");
            let body = json!({ "status": "failed", "db_check": [{ "status": "failed", "message": "database unavailable" }] });
            (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
        }
    }
}

async fn metrics_text(State(ops): State<Ops>) -> Response {
    ops.metrics
        .record_pool(ops.store.engine(), ops.store.pool_state());
    ops.metrics
        .record_listener(ops.store.engine(), ops.store.listener_connected());
    ops.metrics.record_writer(ops.store.writer_totals());
    match ops.service.ports().deliveries.count_pending().await {
        Ok(n) => {
            ops.metrics
                .pending_deliveries
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
        Err(e) => tracing::warn!(error = %e, "metrics: pending deliveries unknown"),
    }
    let now = ops.service.ports().clock.now();
    match ops.service.ports().deliveries.oldest_due(now).await {
        Ok(oldest) => {
            let waited = oldest.map_or(0.0, |due| {
                (now - due).num_milliseconds().max(0) as f64 / 1000.0
            });
            ops.metrics.oldest_due_delivery_age.set(waited);
        }
        Err(e) => tracing::warn!(error = %e, "metrics: oldest due delivery unknown"),
    }
    let mut response = ops.metrics.render().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    response
}

/// Overload and timeouts answer 503 at once, in the API's JSON shape.
async fn unavailable(error: BoxError) -> Response {
    let reason = if error.is::<tower::timeout::error::Elapsed>() {
        "request timeout"
    } else {
        "overloaded"
    };
    tracing::warn!(reason, "request refused");
    let mut response = (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({ "message": "503 Service Unavailable" })),
    )
        .into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

/// Resolves when SIGINT or SIGTERM arrives.
async fn shutdown_signal() {
    let interrupt = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}

/// Runs the service until a signal, then drains for at most `shutdown_timeout`.
pub async fn serve(database_url: &str, args: ServeArgs) -> Result<(), AppError> {
    let options = BackendOptions {
        sqlite: StoreOptions {
            read_connections: args.db_read_connections,
            synchronous: match args.sqlite_synchronous {
                SynchronousArg::Normal => Synchronous::Normal,
                SynchronousArg::Full => Synchronous::Full,
            },
            ..StoreOptions::default()
        },
        postgres: PgStoreOptions {
            max_connections: args.db_max_connections,
            ..PgStoreOptions::default()
        },
    };
    let store = Backend::open(database_url, options).await?;
    match &store {
        Backend::Postgres(pg) => tracing::info!(
            backend = "postgres",
            server = %pg.server(),
            max_connections = args.db_max_connections,
            "storage: PostgreSQL (other instances may share the database)"
        ),
        Backend::Sqlite(sqlite) => tracing::info!(
            backend = "sqlite",
            path = %sqlite.path().display(),
            "storage: SQLite (one instance)"
        ),
    }
    let listener = TcpListener::bind(args.listen)
        .await
        .map_err(|source| AppError::Listen {
            address: args.listen,
            source,
        })?;
    let address = listener.local_addr().map_err(AppError::BoundAddress)?;
    let base_url = args
        .external_url
        .clone()
        .unwrap_or_else(|| format!("http://{address}"));

    let ports = store.ports(Arc::new(SystemClock), Arc::new(OsSecrets));
    let settings = Settings {
        pending_timeout: args.pending_timeout,
        allow_local_requests: args.allow_local_requests,
        outbound_allowlist: args.outbound_allowlist.clone(),
        base_url,
    };
    let service = StatusChecksService::new(ports, settings);
    if let Some(token) = &args.root_token {
        match service.bootstrap_root(token).await {
            Ok(true) => tracing::info!("created administrator root with the given token"),
            Ok(false) => tracing::info!("user root exists; --root-token left unused"),
            Err(e) => return Err(AppError::Root(e)),
        }
    }

    let metrics = Metrics::new();
    let http = HttpSettings {
        max_body_bytes: args.max_body_size,
        version: env!("CARGO_PKG_VERSION").into(),
        revision: option_env!("STATUS_CHECKS_REVISION")
            .unwrap_or("unknown")
            .into(),
    };
    let ops = Router::new()
        .route("/-/health", get(health))
        .route("/-/liveness", get(liveness))
        .route("/-/readiness", get(readiness))
        .route("/-/metrics", get(metrics_text))
        .with_state(Ops {
            store: store.clone(),
            metrics: metrics.clone(),
            service: service.clone(),
        });
    let routes = limited(
        status_checks_http::router_with_pages(
            AppState::new(service.clone(), http),
            status_checks_web::router(WebState::new(
                service.clone(),
                WebSettings::for_base_url(&service.settings().base_url),
            )),
        ),
        ops,
        args.max_concurrent_requests as usize,
        args.request_timeout,
    );
    let app = ServiceBuilder::new()
        .layer(axum::middleware::from_fn_with_state(
            metrics.clone(),
            observability::observe,
        ))
        .service(routes);

    let sender = status_checks_notify::Sender::new(
        args.delivery_timeout,
        service.settings().url_policy(),
        status_checks_notify::guard::system_lookup(),
    )?;
    let reporter = status_checks_forge::Reporter::new(
        service.clone(),
        status_checks_forge::ForgeClient::new(
            args.forge_timeout,
            service.settings().url_policy(),
            status_checks_notify::guard::system_lookup(),
        )?,
        status_checks_forge::ReporterConfig {
            max_attempts: args.forge_attempts,
            retention: args.delivery_retention.0,
            // A claim outlives any post it covers (one forge call, bounded by its timeout).
            lease: (args.forge_timeout * 3).max(std::time::Duration::from_secs(30)),
            ..status_checks_forge::ReporterConfig::default()
        },
    )
    .woken_by(store.statuses_scheduled());
    let worker = status_checks_notify::DeliveryWorker::new(
        service.ports().deliveries.clone(),
        service.ports().clock.clone(),
        sender,
        status_checks_notify::WorkerConfig {
            max_attempts: args.delivery_attempts,
            timeout: args.delivery_timeout,
            concurrency: args.delivery_concurrency,
            concurrency_per_receiver: args.delivery_concurrency_per_receiver,
            batch_size: args.delivery_batch_size,
            retention: args.delivery_retention.0,
            ..status_checks_notify::WorkerConfig::default()
        },
        metrics.clone(),
    )
    .woken_by(store.deliveries_recorded());

    tracing::info!(%address, "listening on {address}");
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let mut worker_stop = stop_rx.clone();
    let worker = tokio::spawn(worker.run(async move {
        let _ = worker_stop.wait_for(|stopped| *stopped).await;
    }));
    let mut reporter_stop = stop_rx.clone();
    let reporter = tokio::spawn(reporter.run(async move {
        let _ = reporter_stop.wait_for(|stopped| *stopped).await;
    }));
    let server =
        axum::serve(listener, app.into_make_service()).with_graceful_shutdown(async move {
            shutdown_signal().await;
            tracing::info!("shutting down: draining in-flight requests");
            let _ = stop_tx.send(true);
        });
    let grace = args.shutdown_timeout;
    let deadline = async move {
        let _ = stop_rx.wait_for(|stopped| *stopped).await;
        tokio::time::sleep(grace).await;
    };
    tokio::select! {
        result = server.into_future() => result.map_err(AppError::Server)?,
        () = deadline => tracing::warn!("shutdown timeout passed; abandoning in-flight requests"),
    }
    // The worker stops claiming at the signal and finishes the attempts in flight (bounded by their timeout);
    // a delivery cut short stays in the outbox and is sent after the next start.
    if tokio::time::timeout(grace, worker).await.is_err() {
        tracing::warn!("delivery worker did not stop in time");
    }
    // A status post cut short keeps its claim, which expires: it is posted after the next start.
    let _ = tokio::time::timeout(grace, reporter).await;
    tracing::info!("stopped");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use std::time::Duration;
    use tokio::sync::{Notify, mpsc};
    use tower::ServiceExt;

    fn get_request(path: &str) -> Request<Body> {
        Request::get(path).body(Body::empty()).unwrap()
    }

    /// With every permit taken, the API answers 503 at once while the probes still answer, and a freed permit
    /// serves again.
    #[tokio::test]
    async fn probes_are_answered_while_the_api_sheds_load() {
        let (entered_tx, mut entered) = mpsc::unbounded_channel::<()>();
        let release = Arc::new(Notify::new());
        let held = release.clone();
        let api = Router::new()
            .route(
                "/api/v4/slow",
                get(move || {
                    let (entered_tx, held) = (entered_tx.clone(), held.clone());
                    async move {
                        let _ = entered_tx.send(());
                        held.notified().await;
                        "done"
                    }
                }),
            )
            .route("/api/v4/fast", get(|| async { "fast" }));
        let ops = Router::new().route("/-/liveness", get(|| async { "alive" }));
        let app = limited(api, ops, 1, Duration::from_secs(60));

        let first = tokio::spawn(app.clone().oneshot(get_request("/api/v4/slow")));
        entered.recv().await.unwrap();
        let shed = app
            .clone()
            .oneshot(get_request("/api/v4/fast"))
            .await
            .unwrap();
        assert_eq!(shed.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(shed.headers().get(header::RETRY_AFTER).unwrap(), "1");
        let probe = app
            .clone()
            .oneshot(get_request("/-/liveness"))
            .await
            .unwrap();
        assert_eq!(probe.status(), StatusCode::OK);

        release.notify_one();
        assert_eq!(first.await.unwrap().unwrap().status(), StatusCode::OK);
        let again = app
            .clone()
            .oneshot(get_request("/api/v4/fast"))
            .await
            .unwrap();
        assert_eq!(again.status(), StatusCode::OK);
    }
}
