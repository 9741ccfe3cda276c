//! Merge requests: the merge request page (`/<namespace>/<project>/-/merge_requests/<iid>`) — GitLab's
//! merge request widget and more: each applicable check at HEAD with a Retry button, the history of every
//! answer, the notifications and the forge's status reports — and the Retry it posts.

use crate::WebState;
use crate::errors::PageError;
use crate::layout::{self, Chrome};
use crate::paths::PagePath;
use crate::projects::crumbs;
use crate::session::{CSRF_FIELD, Form, Visitor};
use axum::body::Bytes;
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use status_checks_core::forges::aggregate;
use status_checks_core::links;
use status_checks_core::merge_requests::{CheckAtHead, MergeRequestOverview};
use status_checks_core::projects::ProjectRef;
use status_checks_core::{DetailedMergeStatus, MergeRequestIid};

/// Whether a merge request may merge, and why not, in words.
pub(crate) fn may_merge_words(status: DetailedMergeStatus) -> Markup {
    match status {
        DetailedMergeStatus::Mergeable => html! { span.badge.passed { "Ready to merge" } },
        DetailedMergeStatus::StatusChecksMustPass => html! {
            span.badge.failed { "Blocked" } " every applicable status check must pass"
        },
        DetailedMergeStatus::NotOpen => html! { span.badge.neutral { "Not open" } },
    }
}

fn checks_table(overview: &MergeRequestOverview, action_base: &str, csrf: &str) -> Markup {
    let summary = aggregate(overview.checks.iter().map(|c| c.status));
    html! {
        p { (layout::status_badge(summary.status)) " " (summary.description) }
        @if !overview.checks.is_empty() {
            div.table { table {
                caption.sr-only { "Status checks at HEAD" }
                thead { tr {
                    th scope="col" { "Check" } th scope="col" { "Status" } th scope="col" { "Answered" }
                    th scope="col" { "Pending until" }
                    @if overview.may_retry { th scope="col" { span.sr-only { "Action" } } }
                } }
                tbody {
                    @for check in &overview.checks { (check_row(check, overview.may_retry, action_base, csrf)) }
                }
            } }
        }
    }
}

fn check_row(check: &CheckAtHead, may_retry: bool, action_base: &str, csrf: &str) -> Markup {
    html! {
        tr data-check=(check.id.0) {
            td {
                (check.name)
                @if !check.external_url.is_empty() { br; code.muted { (check.external_url) } }
            }
            td { (layout::status_badge(check.status)) }
            td { (layout::maybe_time(check.answered_at)) }
            td { (layout::maybe_time(check.pending_until)) }
            @if may_retry {
                td {
                    @if check.retry_allowed {
                        form method="post" action={ (action_base) "/status_checks/" (check.id.0) "/retry" } {
                            input type="hidden" name=(CSRF_FIELD) value=(csrf);
                            button type="submit" aria-label={ "Retry " (check.name) } { "Retry" }
                        }
                    }
                }
            }
        }
    }
}

/// `GET /<namespace>/<project>/-/merge_requests/<iid>`.
pub(crate) async fn merge_request_page(
    state: &WebState,
    visitor: &Visitor,
    reference: &ProjectRef,
    iid: MergeRequestIid,
) -> Result<Response, PageError> {
    let Some(actor) = &visitor.actor else {
        return Err(PageError::NotFound);
    };
    let overview = state
        .service()
        .merge_request_overview(actor, reference, iid)
        .await?;
    let view = &overview.merge_request;
    let mr = &view.merge_request;
    let path = &view.path_with_namespace;
    let base = state.base_url();
    let here = links::merge_request_web_url(base, path, mr.iid);
    let title = format!("{} (!{})", mr.title, mr.iid.0);
    let content = html! {
        (crumbs(base, path, Some(html! { "Merge requests" })))
        h1 { (mr.title) " " span.muted { "!" (mr.iid.0) } }
        dl.facts #merge-status data-refresh {
            dt { "State" } dd { (layout::state_badge(mr.state)) }
            dt { "Branches" } dd { code { (mr.source_branch) } " → " code { (mr.target_branch) } }
            dt { "HEAD" } dd { code { (mr.sha.as_str()) } }
            dt { "HEAD since" } dd { (layout::time(mr.head_recorded_at)) }
            dt { "May merge" } dd { (may_merge_words(view.detailed_merge_status)) }
        }
        @if !mr.description.is_empty() {
            h2 { "Description" }
            p style="white-space:pre-wrap" { (mr.description) }
        }
        h2 #checks-heading { "Status checks" }
        section #status-checks aria-labelledby="checks-heading" aria-live="polite" data-refresh {
            (checks_table(&overview, &here, visitor.csrf_token()))
        }
        h2 #history-heading { "History" }
        section #history aria-labelledby="history-heading" data-refresh {
            @if overview.history.items.is_empty() {
                p { "No check has answered yet." }
            } @else {
                div.table { table {
                    caption.sr-only { "Every answer about this merge request, newest first" }
                    thead { tr { th scope="col" { "When" } th scope="col" { "Check" } th scope="col" { "Commit" } th scope="col" { "Status" } } }
                    tbody {
                        @for entry in &overview.history.items {
                            @let r = &entry.response;
                            tr {
                                td { (layout::time(r.created_at)) }
                                td { (entry.check_name.as_deref().unwrap_or("(deleted check)")) }
                                td { (layout::short_sha(r.sha.as_str())) @if r.sha == mr.sha { " (HEAD)" } }
                                td {
                                    (layout::status_badge(r.status))
                                    @if r.retried_at.is_some() { " retried" }
                                }
                            }
                        }
                    }
                } }
                (more(overview.history.items.len(), overview.history.total))
            }
        }
        @if let Some(deliveries) = &overview.deliveries {
            h2 #deliveries-heading { "Notifications sent" }
            section #deliveries aria-labelledby="deliveries-heading" data-refresh {
                @if deliveries.items.is_empty() {
                    p { "No notification was sent about this merge request." }
                } @else {
                    div.table { table {
                        caption.sr-only { "Notifications to the checks, newest first" }
                        thead { tr {
                            th scope="col" { "Created" } th scope="col" { "Check" } th scope="col" { "Action" }
                            th scope="col" { "Status" } th scope="col" { "Attempts" } th scope="col" { "Last attempt" }
                            th scope="col" { "Last error" }
                        } }
                        tbody {
                            @for d in &deliveries.items {
                                tr {
                                    td { (layout::time(d.created_at)) }
                                    td { (overview.checks.iter().find(|c| c.id == d.external_status_check_id).map_or("—", |c| c.name.as_str())) " #" (d.external_status_check_id.0) }
                                    td { (d.action.map_or("retry", |a| a.as_str())) }
                                    td { (d.status.as_str()) }
                                    td { (d.attempts) }
                                    td { (layout::maybe_time(d.last_attempt_at)) }
                                    td { (d.last_error.as_deref().unwrap_or("—")) }
                                }
                            }
                        }
                    } }
                    (more(deliveries.items.len(), deliveries.total))
                }
            }
        }
        @if let Some(statuses) = &overview.forge_statuses {
            h2 #forge-heading { "Status reports to the forge" }
            section #forge-statuses aria-labelledby="forge-heading" data-refresh {
                @if statuses.items.is_empty() {
                    p { "No commit status was posted about this merge request." }
                } @else {
                    div.table { table {
                        caption.sr-only { "Commit statuses posted to the forge, newest first" }
                        thead { tr {
                            th scope="col" { "Created" } th scope="col" { "Context" } th scope="col" { "Commit" }
                            th scope="col" { "State" } th scope="col" { "Status" } th scope="col" { "Attempts" }
                            th scope="col" { "Last error" }
                        } }
                        tbody {
                            @for s in &statuses.items {
                                tr {
                                    td { (layout::time(s.created_at)) }
                                    td { code { (s.context) } }
                                    td { (layout::short_sha(s.sha.as_str())) }
                                    td { (s.state) }
                                    td { (s.status.as_str()) }
                                    td { (s.attempts) }
                                    td { (s.last_error.as_deref().unwrap_or("—")) }
                                }
                            }
                        }
                    } }
                    (more(statuses.items.len(), statuses.total))
                }
            }
        }
    };
    Ok(layout::page(
        &Chrome::of(&title, visitor).refreshing(),
        content,
    ))
}

fn more(shown: usize, total: u64) -> Markup {
    html! {
        @if total > shown as u64 { p.muted { "The newest " (shown) " of " (total) "." } }
    }
}

/// `POST /<namespace>/<project>/-/merge_requests/<iid>/status_checks/<check_id>/retry`: E7 for the Retry
/// button, then back to the merge request page (303).
pub(crate) async fn retry_status_check(
    State(state): State<WebState>,
    OriginalUri(uri): OriginalUri,
    visitor: Visitor,
    body: Bytes,
) -> Result<Response, PageError> {
    let Some(PagePath::Retry(project, iid, check)) = PagePath::parse(uri.path()) else {
        return Err(PageError::NotFound);
    };
    let Some(actor) = &visitor.actor else {
        return Err(PageError::NotFound);
    };
    visitor.check_csrf(&Form::parse(&body))?;
    state
        .service()
        .retry_status_check(actor, &project, iid, check)
        .await?;
    let back = uri
        .path()
        .rsplit_once("/status_checks/")
        .map_or("/", |(page, _)| page);
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(location) = HeaderValue::from_str(back) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}
