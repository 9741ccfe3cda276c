//! # status-checks-web
//!
//! The pages behind every `web_url` the API hands out: server-rendered HTML of a merge request (its checks at
//! HEAD with a Retry button, their whole history, the deliveries), a project, a user, and a start page, with
//! sign-in by personal access token (`docs/pages.md`).
//!
//! ## Layout
//! - [`router`], here: the page routes, at the paths the API's `web_url`s use (`/<namespace>/<project>`,
//!   `/<namespace>/<project>/-/merge_requests/<iid>`, `/<username>`), with `/users/sign_in` and
//!   `/users/sign_out`.
//! - `session`: the visitor ([`session::Visitor`], from the `HttpOnly`, `SameSite=Strict` session cookie) and
//!   the CSRF tokens every form carries.
//! - one module per concept, as in the core: `users` (sign-in, sign-out, the user page), `projects` (the
//!   start page and the project page), `merge_requests` (the merge request page and its Retry).
//! - `layout`: the page shell, the stylesheet and the status badges shared by every page. `errors`: the only
//!   place where an error becomes a status and an error page.
//!
//! Every page calls one use case of `status_checks_core::service`, which applies the same permission policy
//! as the API: a project the visitor may not see is the same 404 page whether it exists or not. The pages
//! load nothing from another host and work without JavaScript; one small script, served at
//! `/-/pages/refresh.js`, refreshes the status checks of a merge request page in place.
//!
//! ## What this crate must never depend on
//! SQL or storage (it sees only the core's use cases), the JSON API's crate, and the binary's configuration
//! (it is handed a [`WebSettings`]). It holds no rule of the domain: what may merge, which checks apply, who
//! may retry and who may see what are the core's answers, only rendered here.

mod errors;
mod layout;
mod merge_requests;
mod paths;
mod projects;
mod session;
mod users;

use axum::Router;
use axum::routing::{get, post};
use status_checks_core::service::StatusChecksService;
use std::sync::Arc;

/// Settings of the pages.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WebSettings {
    /// Mark cookies `Secure` (the service is reached over https).
    pub secure_cookies: bool,
}

impl WebSettings {
    /// The settings for a service whose `web_url`s start with `base_url`: cookies are `Secure` when it is
    /// https.
    pub fn for_base_url(base_url: &str) -> Self {
        WebSettings {
            secure_cookies: base_url
                .get(..8)
                .is_some_and(|scheme| scheme.eq_ignore_ascii_case("https://")),
        }
    }
}

struct Web {
    service: StatusChecksService,
    settings: WebSettings,
}

/// What every page handler shares. Cheap to clone.
#[derive(Clone)]
pub struct WebState(Arc<Web>);

impl WebState {
    /// The state of the pages over `service`.
    pub fn new(service: StatusChecksService, settings: WebSettings) -> Self {
        WebState(Arc::new(Web { service, settings }))
    }

    pub(crate) fn service(&self) -> &StatusChecksService {
        &self.0.service
    }

    pub(crate) fn settings(&self) -> &WebSettings {
        &self.0.settings
    }

    /// The base of every link (the `web_url`s' base, without a trailing slash).
    pub(crate) fn base_url(&self) -> &str {
        self.0.service.settings().base_url.trim_end_matches('/')
    }
}

/// The page routes. Paths under `/api/` are not pages: the binary routes them to the API (whose own 404
/// answers an unknown one); any other unknown path is the HTML 404 page.
pub fn router(state: WebState) -> Router {
    Router::new()
        .route("/", get(projects::start_page))
        .route(
            "/users/sign_in",
            get(users::sign_in_page).post(users::sign_in),
        )
        .route("/users/sign_out", post(users::sign_out))
        .route("/-/pages/refresh.js", get(layout::refresh_script))
        .route(
            "/{*path}",
            get(paths::show_page).post(merge_requests::retry_status_check),
        )
        .fallback(errors::not_found)
        .with_state(state)
}
