//! The meta endpoints: the API's root, its version and the caller (`docs/api.md` §3, Meta).

use super::{Answer, ok};
use crate::AppState;
use crate::request::Call;
use crate::views::UserJson;
use axum::extract::State;
use serde_json::json;

/// `GET /api/v4/`: answers without authentication, so clients can probe the base URL.
pub(crate) async fn root(State(state): State<AppState>) -> Answer {
    Ok(ok(
        json!({ "message": "status-checks: GitLab-compatible REST API v4", "version": state.settings().version }),
    ))
}

/// `GET /version`.
pub(crate) async fn version(State(state): State<AppState>) -> Answer {
    let settings = state.settings();
    Ok(ok(
        json!({ "version": settings.version, "revision": settings.revision, "enterprise": false }),
    ))
}

/// `GET /user`: the caller.
pub(crate) async fn current_user(call: Call) -> Answer {
    let view = call.service().current_user(&call.actor).await?;
    Ok(ok(UserJson::of(view, call.base_url())))
}
