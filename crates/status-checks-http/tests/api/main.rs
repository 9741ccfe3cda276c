//! The API through the real router (`tower::ServiceExt::oneshot`) on a real temporary database: every test
//! on SQLite, and (with [`also_on_postgres!`]) again on PostgreSQL, as `<module>::on_postgres::<test>`.
//!
//! The PostgreSQL runs use the server `STATUS_CHECKS_TEST_POSTGRES_URL` names (`.ci/run` starts a throw-away
//! cluster and sets it), a new database per test; its user must be allowed to `CREATE DATABASE`. Without the
//! variable they print a notice and pass locally, but fail under `CI=true`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a panic is how a test fails"
)]

/// Runs the listed tests of the calling module again on PostgreSQL: for each, `on_postgres::<test>` calls
/// the SQLite test's own function (its runtime, its body, its snapshots) with [`TestApp`] building its app
/// on a fresh PostgreSQL database instead. A test left out of the list runs on SQLite only: say why where
/// the list is.
macro_rules! also_on_postgres {
    ($($test:ident),+ $(,)?) => {
        mod on_postgres {
            $(
                #[test]
                fn $test() {
                    $crate::postgres::run(concat!(module_path!(), "::", stringify!($test)), super::$test);
                }
            )+
        }
    };
}

mod errors;
mod forges;
mod postgres;
mod resources;
mod roles;
mod statements;
mod status_checks;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use status_checks_core::service::{Ports, Settings, StatusChecksService};
use status_checks_core::testkit::{FixedClock, SequentialSecrets};
use status_checks_http::{AppState, HttpSettings, router};
use status_checks_storage::{Store, StoreOptions};
use std::sync::Arc;
use std::time::Duration;
use tempfile::TempDir;
use tower::ServiceExt;

pub(crate) const ROOT_TOKEN: &str = "root-token-0123456789abcdef";
pub(crate) const HEAD: &str = "1111111111111111111111111111111111111111";
pub(crate) const OTHER_SHA: &str = "2222222222222222222222222222222222222222";

/// An answer: status, headers and the JSON body (`Value::Null` when empty).
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Value,
}

impl Answer {
    pub(crate) fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("<none>")
    }

    #[track_caller]
    pub(crate) fn expect(self, status: u16) -> Value {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected status; body: {}",
            self.body
        );
        self.body
    }
}

pub(crate) struct TestApp {
    pub(crate) router: Router,
    pub(crate) clock: Arc<FixedClock>,
    /// The SQLite store, `None` on PostgreSQL.
    store: Option<Store>,
    _dir: Option<TempDir>,
}

impl TestApp {
    pub(crate) async fn new() -> Self {
        Self::with_limit(1024 * 1024).await
    }

    /// A fresh app with project "proj" (gated as given) and its merge request into `main`: (app, project, iid).
    pub(crate) async fn with_merge_request(gated: bool) -> (Self, i64, i64) {
        let app = Self::new().await;
        let project = app.project("proj", gated).await;
        let iid = app.merge_request(project, "main").await;
        (app, project, iid)
    }

    /// A fresh app whose requests may carry bodies of `max_body_bytes`, on SQLite, or on PostgreSQL when the
    /// test runs through [`also_on_postgres!`].
    pub(crate) async fn with_limit(max_body_bytes: usize) -> Self {
        let clock = Arc::new(FixedClock::default());
        let secrets = Arc::new(SequentialSecrets::default());
        let (ports, store, dir): (Ports, _, _) = match postgres::database().await {
            Some(url) => (
                postgres::ports(&url, clock.clone(), secrets).await,
                None,
                None,
            ),
            None => {
                let dir = tempfile::tempdir().unwrap();
                let store = Store::open(
                    &format!("sqlite://{}", dir.path().join("api.db").display()),
                    StoreOptions::default(),
                )
                .unwrap();
                (store.ports(clock.clone(), secrets), Some(store), Some(dir))
            }
        };
        let settings = Settings {
            pending_timeout: Duration::from_secs(120),
            allow_local_requests: false,
            base_url: "http://sc.test".into(),
            ..Settings::default()
        };
        let service = StatusChecksService::new(ports, settings);
        assert!(service.bootstrap_root(ROOT_TOKEN).await.unwrap());
        let http = HttpSettings {
            max_body_bytes,
            ..HttpSettings::default()
        };
        TestApp {
            router: router(AppState::new(service, http)),
            clock,
            store,
            _dir: dir,
        }
    }

    /// The SQLite store under the app, for the tests that are about SQLite itself.
    #[track_caller]
    pub(crate) fn sqlite_store(&self) -> &Store {
        self.store
            .as_ref()
            .expect("a SQLite-only test runs on SQLite")
    }

    pub(crate) async fn send(&self, request: Request<Body>) -> Answer {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            assert_eq!(
                headers.get("content-type").and_then(|v| v.to_str().ok()),
                Some("application/json"),
                "every body is JSON: {}",
                String::from_utf8_lossy(&bytes)
            );
            serde_json::from_slice(&bytes).unwrap()
        };
        Answer {
            status,
            headers,
            body,
        }
    }

    fn builder(method: Method, uri: &str, token: Option<&str>) -> axum::http::request::Builder {
        let mut builder = Request::builder()
            .method(method)
            .uri(uri)
            .header("host", "sc.test");
        if let Some(token) = token {
            builder = builder.header("PRIVATE-TOKEN", token);
        }
        builder
    }

    pub(crate) async fn call(
        &self,
        method: Method,
        uri: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        let builder = Self::builder(method, uri, token);
        let request = match body {
            Some(body) => builder
                .header("content-type", "application/json")
                .body(Body::from(body.to_string())),
            None => builder.body(Body::empty()),
        };
        self.send(request.unwrap()).await
    }

    pub(crate) async fn form(&self, method: Method, uri: &str, token: &str, body: &str) -> Answer {
        let request = Self::builder(method, uri, Some(token))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(body.to_owned()))
            .unwrap();
        self.send(request).await
    }

    pub(crate) async fn get(&self, uri: &str, token: &str) -> Answer {
        self.call(Method::GET, uri, Some(token), None).await
    }

    pub(crate) async fn post(&self, uri: &str, token: &str, body: Value) -> Answer {
        self.call(Method::POST, uri, Some(token), Some(body)).await
    }

    pub(crate) async fn put(&self, uri: &str, token: &str, body: Value) -> Answer {
        self.call(Method::PUT, uri, Some(token), Some(body)).await
    }

    pub(crate) async fn delete(&self, uri: &str, token: &str) -> Answer {
        self.call(Method::DELETE, uri, Some(token), None).await
    }

    /// Creates a user and an `api` token for them; returns (id, token).
    pub(crate) async fn user(&self, username: &str) -> (i64, String) {
        self.user_with_scope(username, "api").await
    }

    pub(crate) async fn user_with_scope(&self, username: &str, scope: &str) -> (i64, String) {
        let user = self
            .post(
                "/api/v4/users",
                ROOT_TOKEN,
                json!({"username": username, "name": username}),
            )
            .await
            .expect(201);
        let id = user["id"].as_i64().unwrap();
        let token = self
            .post(
                &format!("/api/v4/users/{id}/personal_access_tokens"),
                ROOT_TOKEN,
                json!({"name": "t", "scopes": [scope]}),
            )
            .await
            .expect(201);
        (id, token["token"].as_str().unwrap().to_owned())
    }

    /// Creates as root (201) and returns the new resource's `key`.
    async fn create(&self, uri: &str, body: Value, key: &str) -> i64 {
        self.post(uri, ROOT_TOKEN, body).await.expect(201)[key]
            .as_i64()
            .unwrap()
    }

    /// A project owned by root, with `only_allow_merge_if_all_status_checks_passed` as given.
    pub(crate) async fn project(&self, path: &str, gated: bool) -> i64 {
        let body = json!({"name": path, "path": path, "namespace": "grp", "only_allow_merge_if_all_status_checks_passed": gated});
        self.create("/api/v4/projects", body, "id").await
    }

    pub(crate) async fn member(&self, project: i64, user: i64, level: i64) {
        self.post(
            &format!("/api/v4/projects/{project}/members"),
            ROOT_TOKEN,
            json!({"user_id": user, "access_level": level}),
        )
        .await
        .expect(201);
    }

    pub(crate) async fn branch(&self, project: i64, name: &str) -> i64 {
        let uri = format!("/api/v4/projects/{project}/protected_branches");
        self.create(&uri, json!({"name": name}), "id").await
    }

    pub(crate) async fn check(&self, project: i64, name: &str, url: &str, branches: &[i64]) -> i64 {
        let body = json!({"name": name, "external_url": url, "protected_branch_ids": branches});
        let uri = format!("/api/v4/projects/{project}/external_status_checks");
        self.create(&uri, body, "id").await
    }

    /// A merge request from `feature` into `target` at HEAD; returns its iid.
    pub(crate) async fn merge_request(&self, project: i64, target: &str) -> i64 {
        let body = json!({"source_branch": format!("feature-{target}"), "target_branch": target, "title": "Change", "sha": HEAD});
        let uri = format!("/api/v4/projects/{project}/merge_requests");
        self.create(&uri, body, "iid").await
    }

    /// E6 as root: `check`'s `status` on the merge request at HEAD (201); returns the recorded answer.
    pub(crate) async fn respond(&self, project: i64, iid: i64, check: i64, status: &str) -> Value {
        self.post(
            &format!("/api/v4/projects/{project}/merge_requests/{iid}/status_check_responses"),
            ROOT_TOKEN,
            json!({"external_status_check_id": check, "sha": HEAD, "status": status}),
        )
        .await
        .expect(201)
    }
}

/// Whether a value is an RFC 3339 UTC time with milliseconds, e.g. `2020-10-12T14:04:50.787Z`.
pub(crate) fn is_gitlab_time(value: &Value) -> bool {
    let Some(s) = value.as_str() else {
        return false;
    };
    s.len() == 24
        && s.ends_with('Z')
        && s.as_bytes()[10] == b'T'
        && s.as_bytes()[19] == b'.'
        && chrono::DateTime::parse_from_rfc3339(s).is_ok()
}
