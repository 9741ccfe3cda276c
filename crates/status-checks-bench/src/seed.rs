//! Seeding: the project and its checks through the use cases, the bulk of merge requests and responses with
//! multi-row INSERTs through the store's writer.

use crate::{HEAD, ROOT_TOKEN};
use diesel::RunQueryDsl;
use status_checks_core::Timestamp;
use status_checks_core::ports::{Clock, SecretGenerator};
use status_checks_core::projects::NewProjectInput;
use status_checks_core::service::{Settings, StatusChecksService};
use status_checks_core::status_checks::StatusCheckInput;
use status_checks_storage::{Store, StoreOptions};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

pub(crate) struct Now;

impl Clock for Now {
    fn now(&self) -> Timestamp {
        chrono::Utc::now()
    }
}

#[derive(Default)]
pub(crate) struct Counter(AtomicU64);

impl SecretGenerator for Counter {
    fn personal_access_token(&self) -> String {
        format!("bench-token-{:020}", self.0.fetch_add(1, Ordering::Relaxed))
    }
    fn idempotency_key(&self) -> String {
        format!("bench-key-{}", self.0.fetch_add(1, Ordering::Relaxed))
    }
}

const ROWS_PER_STATEMENT: u32 = 400;
const ROWS_PER_TRANSACTION: u32 = 20_000;

/// Seeds `url`: a PostgreSQL URL seeds that database (`seed_postgres`), anything else a SQLite file;
/// returns the project id.
pub async fn seed(url: &str, merge_requests: u32, responses: u32) -> Result<i64, String> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return seed_postgres(url, merge_requests, responses).await;
    }
    let store = Store::open(url, StoreOptions::default()).map_err(|e| e.to_string())?;
    let ports = store.ports(Arc::new(Now), Arc::new(Counter::default()));
    let project_id = seed_project(ports).await?;

    let now = chrono::Utc::now().timestamp_millis();
    let mut first = 1;
    while first <= merge_requests {
        let last = (first + ROWS_PER_TRANSACTION - 1).min(merge_requests);
        store
            .raw_write(move |conn| {
                let mut start = first;
                while start <= last {
                    let end = (start + ROWS_PER_STATEMENT - 1).min(last);
                    let values: Vec<String> = (start..=end)
                        .map(|iid| format!("({project_id}, {iid}, 'MR {iid}', '', 'feature-{iid}', 'release/1.0', '{HEAD}', {now}, 'opened', 1, {now}, {now})"))
                        .collect();
                    diesel::sql_query(format!(
                        "INSERT INTO merge_requests (project_id, iid, title, description, source_branch, target_branch, sha, head_recorded_at, state, author_id, created_at, updated_at) VALUES {}",
                        values.join(",")
                    ))
                    .execute(conn)?;
                    start = end + 1;
                }
                Ok(())
            })
            .await
            .map_err(|e| e.to_string())?;
        first = last + 1;
    }

    let statuses = ["pending", "failed", "passed"];
    let mut first = 0;
    while first < responses {
        let last = (first + ROWS_PER_TRANSACTION).min(responses);
        let mrs = merge_requests.max(1);
        store
            .raw_write(move |conn| {
                let mut start = first;
                while start < last {
                    let end = (start + ROWS_PER_STATEMENT).min(last);
                    let values: Vec<String> = (start..end)
                        .map(|r| {
                            let mr = r % mrs + 1;
                            let check = (r / mrs) % 10 + 1;
                            let status = statuses[(r % 3) as usize];
                            format!("({mr}, {check}, '{HEAD}', '{status}', {now})")
                        })
                        .collect();
                    diesel::sql_query(format!(
                        "INSERT INTO status_check_responses (merge_request_id, external_status_check_id, sha, status, created_at) VALUES {}",
                        values.join(",")
                    ))
                    .execute(conn)?;
                    start = end;
                }
                Ok(())
            })
            .await
            .map_err(|e| e.to_string())?;
        first = last;
    }
    Ok(project_id)
}

/// The administrator (with [`ROOT_TOKEN`]), the project (id 1), its protected branch `release/*` and its 10
/// checks (5 scoped to it), made through the use cases on `ports`; returns the project id.
async fn seed_project(ports: status_checks_core::service::Ports) -> Result<i64, String> {
    let service = StatusChecksService::new(ports, Settings::default());
    let fail = |e: status_checks_core::DomainError| e.to_string();
    service.bootstrap_root(ROOT_TOKEN).await.map_err(fail)?;
    let (root, _) = service.authenticate(ROOT_TOKEN).await.map_err(fail)?;
    let input = NewProjectInput {
        name: "bench".into(),
        namespace: Some("bench".into()),
        only_allow_merge_if_all_status_checks_passed: Some(true),
        ..Default::default()
    };
    let project = service
        .create_project(&root, Ok(input))
        .await
        .map_err(fail)?;
    let reference = status_checks_core::projects::ProjectRef::Id(project.id);
    let release = service
        .protect_branch(&root, &reference, Ok("release/*".into()))
        .await
        .map_err(fail)?;
    for i in 0..10 {
        let scope = if i < 5 { vec![release.id] } else { vec![] };
        let input = StatusCheckInput {
            name: format!("check-{i}"),
            external_url: format!("https://check{i}.example.com/hook?token=t{i}"),
            shared_secret: Some(format!("secret-{i}")),
            protected_branch_ids: scope,
        };
        service
            .create_status_check(&root, &reference, Ok(input))
            .await
            .map_err(fail)?;
    }

    Ok(project.id.0)
}

/// Seeds the PostgreSQL database at `url` as [`seed`] seeds a SQLite file: the project through the use
/// cases, the bulk of merge requests and responses with `INSERT … SELECT generate_series` (ids from 1, as in
/// a fresh database, so a merge request's id is its iid).
async fn seed_postgres(url: &str, merge_requests: u32, responses: u32) -> Result<i64, String> {
    use diesel_async::SimpleAsyncConnection;
    let store = status_checks_postgres::PgStore::open(url, Default::default())
        .await
        .map_err(|e| e.to_string())?;
    let project_id = seed_project(store.ports(Arc::new(Now), Arc::new(Counter::default()))).await?;
    let now = chrono::Utc::now().timestamp_millis();
    let mrs = merge_requests.max(1);
    let mut conn = store.connection().await.map_err(|e| e.to_string())?;
    conn.batch_execute(&format!(
        "BEGIN; \
         INSERT INTO merge_requests (project_id, iid, title, description, source_branch, target_branch, sha, \
           head_recorded_at, state, author_id, created_at, updated_at) \
         SELECT {project_id}, g, 'MR ' || g, '', 'feature-' || g, 'release/1.0', '{HEAD}', {now}, 'opened', 1, \
           {now}, {now} FROM generate_series(1, {merge_requests}) g; \
         UPDATE projects SET last_merge_request_iid = {merge_requests} WHERE id = {project_id}; \
         INSERT INTO status_check_responses (project_id, merge_request_id, external_status_check_id, sha, \
           status, created_at) \
         SELECT {project_id}, r % {mrs} + 1, (r / {mrs}) % 10 + 1, '{HEAD}', \
           (ARRAY['pending', 'failed', 'passed'])[r % 3 + 1], {now} \
         FROM generate_series(0, {responses}::bigint - 1) r; \
         COMMIT; ANALYZE;"
    ))
    .await
    .map_err(|e| e.to_string())?;
    Ok(project_id)
}
