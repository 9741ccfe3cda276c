//! The physical ceilings: what the machine, axum and the storage adapter's connection strategy allow at best.

use crate::{HEAD, Mode};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use status_checks_storage::{Store, StoreOptions};

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

/// Serves `mode` until killed, printing `listening on <address>`.
pub async fn serve(mode: Mode, url: &str, listen: &str) -> Result<(), String> {
    let store = Store::open(url, StoreOptions::default()).map_err(|e| e.to_string())?;
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
        Mode::Select => Router::new().route(
            "/ceiling",
            get(
                |State(store): State<Store>, Query(pick): Query<Pick>| async move {
                    let iid = pick.iid.unwrap_or(1);
                    let rows = store
                        .raw_read(move |conn| {
                            use merge_requests::dsl as mr;
                            mr::merge_requests
                                .filter(mr::project_id.eq(1).and(mr::iid.eq(iid)))
                                .select((mr::id, mr::iid, mr::sha, mr::state))
                                .load::<MergeRequestRow>(conn)
                        })
                        .await;
                    // A failed read answers 500, which wrk counts as an error: a ceiling that failed fast
                    // must not pass for a fast ceiling.
                    match rows {
                        Ok(rows) => Json(rows).into_response(),
                        Err(e) => {
                            (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response()
                        }
                    }
                },
            ),
        ),
        Mode::Insert => Router::new().route(
            "/ceiling",
            get(|| async { "POST" }).post(
                |State(store): State<Store>, Query(pick): Query<Pick>| async move {
                    let (iid, check) = (pick.iid.unwrap_or(1), pick.check.unwrap_or(1));
                    let now = chrono::Utc::now().timestamp_millis();
                    let inserted = store
                        .raw_write(move |conn| {
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
                        .await;
                    match inserted {
                        Ok(inserted) => (
                            StatusCode::CREATED,
                            Json(serde_json::json!({ "inserted": inserted })),
                        )
                            .into_response(),
                        Err(e) => {
                            (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response()
                        }
                    }
                },
            ),
        ),
    }
    .with_state(store);
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| e.to_string())?;
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    println!("listening on {address}");
    axum::serve(listener, app).await.map_err(|e| e.to_string())
}
