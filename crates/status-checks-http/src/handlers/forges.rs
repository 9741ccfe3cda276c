//! A project's link to its forge, the status posts it made, and the webhook the forge delivers to
//! (`docs/forges.md`).

use super::{Answer, accepted, created, no_content, ok};
use crate::AppState;
use crate::error::ApiError;
use crate::params::{Params, checked};
use crate::paths::{ApiPath, ProjectPath};
use crate::request::{Call, read_body};
use crate::views::{ForgeLinkJson, ForgeStatusJson, json_response};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use serde_json::json;
use status_checks_core::ParamErrors;
use status_checks_core::forges::{EventOutcome, ForgeLinkInput};
use status_checks_forge::inbound::{Inbound, InboundError, read_delivery};

fn link_input(p: &Params) -> Result<ForgeLinkInput, ParamErrors> {
    let mut errors = ParamErrors::new();
    let forge = p.optional_string("forge", &mut errors);
    let api_url = p.optional_string("api_url", &mut errors);
    let repository = p.optional_string("repository", &mut errors);
    let token = p.optional_string("token", &mut errors);
    let webhook_secret = p.optional_string("webhook_secret", &mut errors);
    let status_name = p.optional_string("status_name", &mut errors);
    let per_check_statuses = p.optional_bool("per_check_statuses", &mut errors);
    checked(errors, || {
        Some(ForgeLinkInput {
            forge,
            api_url,
            repository,
            token,
            webhook_secret,
            status_name,
            per_check_statuses,
        })
    })
}

/// `PUT /projects/:id/forge`: 201 when created, 200 when updated.
pub(crate) async fn put_forge_link(ApiPath(path): ApiPath<ProjectPath>, call: Call) -> Answer {
    let input = link_input(&call.params);
    let (view, was_created) = call
        .service()
        .put_forge_link(&call.actor, &path.project, input)
        .await?;
    let body = ForgeLinkJson::of(view);
    Ok(if was_created { created(body) } else { ok(body) })
}

/// `GET /projects/:id/forge`.
pub(crate) async fn get_forge_link(ApiPath(path): ApiPath<ProjectPath>, call: Call) -> Answer {
    let view = call
        .service()
        .get_forge_link(&call.actor, &path.project)
        .await?;
    Ok(ok(ForgeLinkJson::of(view)))
}

/// `DELETE /projects/:id/forge`: 204.
pub(crate) async fn delete_forge_link(ApiPath(path): ApiPath<ProjectPath>, call: Call) -> Answer {
    call.service()
        .delete_forge_link(&call.actor, &path.project)
        .await?;
    Ok(no_content())
}

/// `POST /projects/:id/forge/sync`: 202; the sync runs in the background.
pub(crate) async fn sync_forge(ApiPath(path): ApiPath<ProjectPath>, call: Call) -> Answer {
    call.service()
        .sync_forge(&call.actor, &path.project)
        .await?;
    Ok(accepted())
}

/// `GET /projects/:id/forge/deliveries`: status posts, newest first.
pub(crate) async fn list_forge_deliveries(
    ApiPath(path): ApiPath<ProjectPath>,
    call: Call,
) -> Answer {
    let page = call.page_request()?;
    let posts = call
        .service()
        .list_forge_statuses(&call.actor, &path.project, page)
        .await?;
    Ok(call.paginated(posts, ForgeStatusJson::of))
}

/// `POST /projects/:id/forge/webhook`: no token; the forge authenticates with the link's secret, checked over
/// the raw body before it is parsed. Answers after the delivery's effects are committed.
pub(crate) async fn receive_webhook(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<ProjectPath>,
    request: Request,
) -> Answer {
    let (parts, body) = request.into_parts();
    let limit = state.settings().max_body_bytes;
    let body = read_body(body, limit).await?;
    let service = state.service();
    let (project, link) = service.forge_link_for_webhook(&path.project).await?;
    let headers: &HeaderMap = &parts.headers;
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let event = match read_delivery(&link, &header, &body) {
        Ok(Inbound::Event(event)) => event,
        Ok(Inbound::Ignored) => return Ok(said(StatusCode::OK, "ignored")),
        Err(InboundError::Unauthorized) => return Err(ApiError::WebhookUnauthorized),
        Err(InboundError::Unprocessable(reason)) => {
            return Err(status_checks_core::DomainError::Unprocessable(reason).into());
        }
    };
    let outcome = service.apply_forge_event(&project, &link, *event).await?;
    Ok(match outcome {
        EventOutcome::Applied => said(StatusCode::OK, "applied"),
        EventOutcome::Unchanged => said(StatusCode::OK, "unchanged"),
        EventOutcome::Seen => said(StatusCode::OK, "already applied"),
    })
}

fn said(status: StatusCode, message: &str) -> axum::response::Response {
    json_response(status, &json!({ "message": message }))
}
