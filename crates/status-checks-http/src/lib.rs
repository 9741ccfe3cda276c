//! # status-checks-http
//!
//! The GitLab-compatible REST v4 API of status-checks, with axum: [`router`] serves every endpoint of the
//! contract (`docs/api.md` §2) — the seven external status check endpoints and the users, tokens, projects,
//! members, protected branches and merge requests around them — so GitLab clients work unmodified.
//!
//! ## Layout
//! - [`router`], here: the route table, one entry per path, served under `/api/v4`.
//! - `handlers`: one module per concept, grouped as `docs/api.md` §2 groups the endpoints: `meta`, `users`,
//!   `tokens`, `projects`, `members`, `protected_branches`, `merge_requests`, `status_checks` (E1–E7) and
//!   `deliveries`. A handler is named after its endpoint in GitLab's API docs (`list_merge_request_checks`,
//!   `set_check_status`, `retry_status_check`, …) and is thin: it takes its typed path and the [`request::Call`], reads
//!   its input, calls one use case of `status_checks_core::service` and renders a view.
//! - `paths`: one `Deserialize` struct per shape of path (`ProjectPath`, `MergeRequestPath`, …), read with
//!   axum's `Path`; an id that does not parse is reported by the handler, after authentication.
//! - [`request::Call`]: the extractor of every authenticated endpoint. It authenticates (`PRIVATE-TOKEN`,
//!   `Authorization: Bearer`, `private_token`) and merges the query string with a JSON or form body into
//!   [`params::Params`], with GitLab's coercions. Each input of the core is read by one function of its handler
//!   module that ends in `params::checked`: the input, or every parameter error at once.
//! - [`views`]: the response shapes. [`pagination`]: GitLab's headers and an absolute `Link` on every list.
//! - [`error::ApiError`]: the only place where errors become statuses and bodies, with GitLab's texts; unknown
//!   routes and wrong methods answer JSON too.
//!
//! ## What this crate must never depend on
//! SQL or storage (it sees only the core's use cases) and the binary's configuration (it is handed an
//! [`HttpSettings`]). It holds no rule of the domain: a rule found here belongs in `status-checks-core`.

pub mod error;
mod handlers;
pub mod pagination;
pub mod params;
mod paths;
pub mod request;
pub mod views;

use axum::Router;
use axum::routing::{get, post, put};
use error::ApiError;
use handlers::{
    deliveries, forges, members, merge_requests, meta, projects, protected_branches, status_checks,
    tokens, users,
};
use status_checks_core::service::StatusChecksService;
use std::sync::Arc;

/// Settings of the HTTP layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpSettings {
    /// Request bodies larger than this are refused with 413.
    pub max_body_bytes: usize,
    /// `version` of `GET /version`.
    pub version: String,
    /// `revision` of `GET /version`.
    pub revision: String,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            max_body_bytes: 1024 * 1024,
            version: env!("CARGO_PKG_VERSION").into(),
            revision: "unknown".into(),
        }
    }
}

struct App {
    service: StatusChecksService,
    settings: HttpSettings,
}

/// What every handler shares: the use cases and the settings. Cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<App>);

impl AppState {
    /// The state of a router over `service`.
    pub fn new(service: StatusChecksService, settings: HttpSettings) -> Self {
        AppState(Arc::new(App { service, settings }))
    }

    /// The core's use cases, the only way to the domain and the storage.
    pub fn service(&self) -> &StatusChecksService {
        &self.0.service
    }

    /// The body limit and the answer of `GET /version`.
    pub fn settings(&self) -> &HttpSettings {
        &self.0.settings
    }

    /// The base of `web_url` fields.
    pub fn base_url(&self) -> &str {
        &self.0.service.settings().base_url
    }
}

/// The API's routes under `/api/v4`, with JSON answers for unknown routes (404) and wrong methods (405).
pub fn router(state: AppState) -> Router {
    routes(state).fallback(|| async { ApiError::RouteNotFound })
}

/// The API's routes beside `pages`, the router of everything outside `/api/` (with a fallback of its own):
/// an unknown path under `/api/` still answers the API's JSON 404, any other is for `pages`.
pub fn router_with_pages(state: AppState, pages: Router) -> Router {
    routes(state)
        .route(
            "/api/{*rest}",
            axum::routing::any(|| async { ApiError::RouteNotFound }),
        )
        .merge(pages)
}

/// The API's routes, each with the JSON 405 as its fallback; no fallback of the whole.
fn routes(state: AppState) -> Router {
    let routes = [
        ("", get(meta::root)),
        ("/", get(meta::root)),
        ("/version", get(meta::version)),
        ("/user", get(meta::current_user)),
        ("/users", get(users::list_users).post(users::create_user)),
        (
            "/users/{id}",
            get(users::get_user).delete(users::delete_user),
        ),
        (
            "/users/{user_id}/personal_access_tokens",
            post(tokens::create_token),
        ),
        ("/personal_access_tokens", get(tokens::list_tokens)),
        (
            "/personal_access_tokens/{id}",
            get(tokens::get_token).delete(tokens::revoke_token),
        ),
        (
            "/projects",
            get(projects::list_projects).post(projects::create_project),
        ),
        (
            "/projects/{id}",
            get(projects::get_project)
                .put(projects::update_project)
                .delete(projects::delete_project),
        ),
        (
            "/projects/{id}/members",
            get(members::list_members).post(members::add_member),
        ),
        (
            "/projects/{id}/members/{user_id}",
            get(members::get_member)
                .put(members::update_member)
                .delete(members::remove_member),
        ),
        (
            "/projects/{id}/protected_branches",
            get(protected_branches::list_protected_branches)
                .post(protected_branches::protect_branch),
        ),
        (
            "/projects/{id}/protected_branches/{name}",
            get(protected_branches::get_protected_branch)
                .delete(protected_branches::unprotect_branch),
        ),
        (
            "/projects/{id}/merge_requests",
            get(merge_requests::list_merge_requests).post(merge_requests::create_merge_request),
        ),
        (
            "/projects/{id}/merge_requests/{iid}",
            get(merge_requests::get_merge_request).put(merge_requests::update_merge_request),
        ),
        (
            "/projects/{id}/merge_requests/{iid}/merge",
            put(merge_requests::merge_merge_request),
        ),
        (
            "/projects/{id}/external_status_checks",
            get(status_checks::list_status_checks).post(status_checks::create_status_check),
        ),
        (
            "/projects/{id}/external_status_checks/{check_id}",
            put(status_checks::update_status_check).delete(status_checks::delete_status_check),
        ),
        (
            "/projects/{id}/external_status_checks/{check_id}/deliveries",
            get(deliveries::list_deliveries),
        ),
        (
            "/projects/{id}/merge_requests/{iid}/status_checks",
            get(status_checks::list_merge_request_checks),
        ),
        (
            "/projects/{id}/merge_requests/{iid}/status_check_responses",
            post(status_checks::set_check_status),
        ),
        (
            "/projects/{id}/merge_requests/{iid}/status_checks/{check_id}/retry",
            post(status_checks::retry_status_check),
        ),
        (
            "/projects/{id}/forge",
            get(forges::get_forge_link)
                .put(forges::put_forge_link)
                .delete(forges::delete_forge_link),
        ),
        ("/projects/{id}/forge/sync", post(forges::sync_forge)),
        (
            "/projects/{id}/forge/deliveries",
            get(forges::list_forge_deliveries),
        ),
        (
            "/projects/{id}/forge/webhook",
            post(forges::receive_webhook),
        ),
    ];
    // Routes spelled out under `/api/v4` rather than nested, and the JSON 405 as each route's own fallback
    // rather than a layer: a nested router or a layer costs every request another boxed service
    // (`docs/benchmarks.md`). The route patterns are also the `route` label of the request metrics.
    routes
        .into_iter()
        .fold(Router::new(), |router, (path, methods)| {
            router.route(
                &format!("/api/v4{path}"),
                methods.fallback(|| async { ApiError::MethodNotAllowed }),
            )
        })
        .with_state(state)
}
