//! The physical ceilings: what the machine, axum, diesel and SQLite allow at best for each kind of work, each
//! written as the plainest correct code for it, sharing nothing with the service's connection code.

use crate::{HEAD, Mode};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex};

#[derive(Serialize, Clone)]
struct Row {
    id: i64,
    name: String,
    external_url: String,
    status: &'static str,
}

#[derive(Deserialize)]
struct Pick {
    iid: Option<i64>,
    check: Option<i64>,
}

// Statements built with the adapter's own schema and diesel's DSL, so prepared once per connection like the
// adapter's (a `sql_query` would be prepared on every call).
use status_checks_storage::schema::{merge_requests, status_check_responses};

#[derive(diesel::Queryable, Serialize)]
struct MergeRequestRow {
    id: i64,
    iid: i64,
    sha: String,
    state: String,
}

/// The read ceiling's connections: as many as the service's read pool has by default.
const READ_CONNECTIONS: u32 = 8;

/// Opens a connection the plainest way: the file as it is (WAL, set by the service), a busy timeout, and
/// for the writer the service's default durability (`synchronous = NORMAL`).
fn connect(path: &str, writer: bool) -> Result<SqliteConnection, String> {
    let mut conn = SqliteConnection::establish(path).map_err(|e| e.to_string())?;
    let pragmas = if writer {
        "PRAGMA busy_timeout = 5000; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;"
    } else {
        "PRAGMA busy_timeout = 5000;"
    };
    conn.batch_execute(pragmas).map_err(|e| e.to_string())?;
    Ok(conn)
}

#[derive(Debug)]
struct Pragmas;

impl diesel::r2d2::CustomizeConnection<SqliteConnection, diesel::r2d2::Error> for Pragmas {
    fn on_acquire(&self, conn: &mut SqliteConnection) -> Result<(), diesel::r2d2::Error> {
        conn.batch_execute("PRAGMA busy_timeout = 5000;")
            .map_err(diesel::r2d2::Error::QueryError)
    }
}

/// A failed query answers 500, which wrk counts as an error: a ceiling that failed fast must not pass for a
/// fast ceiling.
fn failed(e: impl std::fmt::Display) -> axum::response::Response {
    (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response()
}

/// The PostgreSQL ceilings' pool: as many connections as the service's `--db-max-connections` default.
const PG_CONNECTIONS: usize = 10;

type PgPool = diesel_async::pooled_connection::deadpool::Pool<diesel_async::AsyncPgConnection>;

/// (b′) and (c′): diesel-async connections in a deadpool pool, as the service's PostgreSQL adapter uses them,
/// but nothing of the adapter itself.
fn pg_router(mode: Mode, url: &str) -> Result<Router, String> {
    use diesel_async::RunQueryDsl;
    let manager = diesel_async::pooled_connection::AsyncDieselConnectionManager::<
        diesel_async::AsyncPgConnection,
    >::new(url);
    let pool: PgPool = diesel_async::pooled_connection::deadpool::Pool::builder(manager)
        .max_size(PG_CONNECTIONS)
        .build()
        .map_err(|e| e.to_string())?;
    use status_checks_postgres::schema::{
        merge_requests as pg_mrs, status_check_responses as pg_responses,
    };
    let router = if mode == Mode::PgSelect {
        Router::new().route(
            "/ceiling",
            get(
                |State(pool): State<PgPool>, Query(pick): Query<Pick>| async move {
                    let iid = pick.iid.unwrap_or(1);
                    let mut conn = match pool.get().await {
                        Ok(conn) => conn,
                        Err(e) => return failed(e),
                    };
                    use pg_mrs::dsl as mr;
                    let query = mr::merge_requests
                        .filter(mr::project_id.eq(1).and(mr::iid.eq(iid)))
                        .select((mr::id, mr::iid, mr::sha, mr::state));
                    let rows = RunQueryDsl::load::<MergeRequestRow>(query, &mut conn).await;
                    match rows {
                        Ok(rows) => Json(rows).into_response(),
                        Err(e) => failed(e),
                    }
                },
            ),
        )
    } else {
        Router::new().route(
            "/ceiling",
            get(|| async { "POST" }).post(
                |State(pool): State<PgPool>, Query(pick): Query<Pick>| async move {
                    let (iid, check) = (pick.iid.unwrap_or(1), pick.check.unwrap_or(1));
                    let now = chrono::Utc::now().timestamp_millis();
                    let mut conn = match pool.get().await {
                        Ok(conn) => conn,
                        Err(e) => return failed(e),
                    };
                    use pg_responses::dsl as r;
                    let insert = diesel::insert_into(r::status_check_responses).values((
                        r::project_id.eq(1),
                        r::merge_request_id.eq(iid),
                        r::external_status_check_id.eq(check),
                        r::sha.eq(HEAD),
                        r::status.eq("passed"),
                        r::created_at.eq(now),
                    ));
                    let inserted = RunQueryDsl::execute(insert, &mut conn).await;
                    match inserted {
                        Ok(inserted) => (
                            StatusCode::CREATED,
                            Json(serde_json::json!({ "inserted": inserted })),
                        )
                            .into_response(),
                        Err(e) => failed(e),
                    }
                },
            ),
        )
    };
    Ok(router.with_state(pool))
}

/// Serves `mode` until killed, printing `listening on <address>`. Each ceiling is the plainest correct code
/// for its kind of work, sharing nothing with the service's connection code (docs/benchmarks.md).
pub async fn serve(mode: Mode, url: &str, listen: &str) -> Result<(), String> {
    if matches!(mode, Mode::PgSelect | Mode::PgInsert) {
        return listen_and_serve(pg_router(mode, url)?, listen).await;
    }
    let path = status_checks_storage::database_path(url)
        .map_err(|e| e.to_string())?
        .display()
        .to_string();
    let app = match mode {
        Mode::Json => Router::new().route(
            "/ceiling",
            get(|| async {
                // The size of E5's answer for the benchmark project: ten rows.
                let rows: Vec<Row> = (1..=10)
                    .map(|i| Row {
                        id: i,
                        name: format!("check-{i}"),
                        external_url: format!("https://check{i}.example.com/hook"),
                        status: "pending",
                    })
                    .collect();
                Json(rows)
            }),
        ),
        // (b): an r2d2 pool, one indexed SELECT on a pooled connection in `spawn_blocking`.
        Mode::Select => {
            let pool = diesel::r2d2::Pool::builder()
                .max_size(READ_CONNECTIONS)
                .connection_customizer(Box::new(Pragmas))
                .build(diesel::r2d2::ConnectionManager::<SqliteConnection>::new(
                    path,
                ))
                .map_err(|e| e.to_string())?;
            Router::new()
                .route(
                    "/ceiling",
                    get(
                        |State(pool): State<
                            diesel::r2d2::Pool<diesel::r2d2::ConnectionManager<SqliteConnection>>,
                        >,
                         Query(pick): Query<Pick>| async move {
                            let iid = pick.iid.unwrap_or(1);
                            let rows = tokio::task::spawn_blocking(move || {
                                let mut conn = pool.get().map_err(|e| e.to_string())?;
                                use merge_requests::dsl as mr;
                                mr::merge_requests
                                    .filter(mr::project_id.eq(1).and(mr::iid.eq(iid)))
                                    .select((mr::id, mr::iid, mr::sha, mr::state))
                                    .load::<MergeRequestRow>(&mut conn)
                                    .map_err(|e| e.to_string())
                            })
                            .await;
                            match rows {
                                Ok(Ok(rows)) => Json(rows).into_response(),
                                Ok(Err(e)) => failed(e),
                                Err(e) => failed(e),
                            }
                        },
                    ),
                )
                .with_state(pool)
        }
        // (c): one connection behind a `std::sync::Mutex`, taken inside the blocking closure; one INSERT in
        // its own `BEGIN IMMEDIATE` transaction.
        Mode::Insert => {
            let writer = Arc::new(Mutex::new(connect(&path, true)?));
            Router::new()
                .route(
                    "/ceiling",
                    get(|| async { "POST" }).post(
                        |State(writer): State<Arc<Mutex<SqliteConnection>>>,
                         Query(pick): Query<Pick>| async move {
                            let (iid, check) = (pick.iid.unwrap_or(1), pick.check.unwrap_or(1));
                            let now = chrono::Utc::now().timestamp_millis();
                            let inserted = tokio::task::spawn_blocking(move || {
                                let mut conn = writer.lock().map_err(|e| e.to_string())?;
                                conn.immediate_transaction(|conn| {
                                    use status_check_responses::dsl as r;
                                    diesel::insert_into(r::status_check_responses)
                                        .values((
                                            r::merge_request_id.eq(iid),
                                            r::external_status_check_id.eq(check),
                                            r::sha.eq(HEAD),
                                            r::status.eq("passed"),
                                            r::created_at.eq(now),
                                        ))
                                        .execute(conn)
                                })
                                .map_err(|e| e.to_string())
                            })
                            .await;
                            match inserted {
                                Ok(Ok(inserted)) => (
                                    StatusCode::CREATED,
                                    Json(serde_json::json!({ "inserted": inserted })),
                                )
                                    .into_response(),
                                Ok(Err(e)) => failed(e),
                                Err(e) => failed(e),
                            }
                        },
                    ),
                )
                .with_state(writer)
        }
        Mode::PgSelect | Mode::PgInsert => pg_router(mode, url)?,
    };
    listen_and_serve(app, listen).await
}

async fn listen_and_serve(app: Router, listen: &str) -> Result<(), String> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| e.to_string())?;
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    println!("listening on {address}");
    axum::serve(listener, app).await.map_err(|e| e.to_string())
}
