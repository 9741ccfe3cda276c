//! Projects: the start page (the projects the visitor can see) and the project page (its checks, its open
//! merge requests with their aggregate status, its forge link).

use crate::WebState;
use crate::errors::PageError;
use crate::layout::{self, Chrome};
use crate::session::Visitor;
use axum::extract::State;
use axum::response::Response;
use maud::{Markup, html};
use status_checks_core::PageRequest;
use status_checks_core::links;
use status_checks_core::projects::ProjectRef;
use status_checks_core::status_checks::CheckStatus;

/// The most projects the start page lists.
const START_PAGE_PROJECTS: u32 = 100;

/// `GET /`: the projects the visitor can see, or an invitation to sign in.
pub(crate) async fn start_page(
    State(state): State<WebState>,
    visitor: Visitor,
) -> Result<Response, PageError> {
    let Some(actor) = &visitor.actor else {
        let content = html! {
            h1 { "status-checks" }
            p {
                "External status checks for merge requests: each merge request may merge only when every "
                "applicable check passed. "
                a href="/users/sign_in" { "Sign in" } " to see your projects."
            }
        };
        return Ok(layout::page(&Chrome::of("Start", &visitor), content));
    };
    let projects = state
        .service()
        .list_projects(actor, PageRequest::new(1, START_PAGE_PROJECTS))
        .await?;
    let base = state.base_url();
    let content = html! {
        h1 { "Projects" }
        @if projects.items.is_empty() {
            p { "You are not a member of any project yet." }
        } @else {
            p.muted { (projects.total) " project" (if projects.total == 1 { "" } else { "s" }) " you can see." }
            ul {
                @for project in &projects.items {
                    li {
                        a href=(links::project_web_url(base, &project.path_with_namespace())) {
                            (project.path_with_namespace())
                        }
                        " — " (project.name)
                    }
                }
            }
        }
    };
    Ok(layout::page(&Chrome::of("Projects", &visitor), content))
}

/// The breadcrumbs of a project's pages.
pub(crate) fn crumbs(base: &str, path_with_namespace: &str, last: Option<Markup>) -> Markup {
    html! {
        nav.crumbs aria-label="Breadcrumb" {
            ol {
                li { a href="/" { "Projects" } }
                li { a href=(links::project_web_url(base, path_with_namespace)) { (path_with_namespace) } }
                @if let Some(last) = last { li { (last) } }
            }
        }
    }
}

/// `GET /<namespace>/<project>`.
pub(crate) async fn project_page(
    state: &WebState,
    visitor: &Visitor,
    reference: &ProjectRef,
) -> Result<Response, PageError> {
    let Some(actor) = &visitor.actor else {
        return Err(PageError::NotFound);
    };
    let overview = state.service().project_overview(actor, reference).await?;
    let project = &overview.project;
    let path = project.path_with_namespace();
    let base = state.base_url();
    let content = html! {
        (crumbs(base, &path, None))
        h1 { (project.name) }
        dl.facts {
            dt { "Path" } dd { code { (path) } }
            dt { "Your role" } dd {
                @match overview.level {
                    Some(level) => (level),
                    None => "Administrator",
                }
            }
            dt { "Merging" } dd {
                @if project.only_allow_merge_if_all_status_checks_passed {
                    "only when every applicable status check passed"
                } @else {
                    "not blocked by status checks (they are shown only)"
                }
            }
        }
        @if let Some(checks) = &overview.checks {
            h2 #checks { "External status checks" }
            @if checks.is_empty() {
                p { "No status check is registered." }
            } @else {
                div.table { table {
                    caption.sr-only { "External status checks of " (path) }
                    thead { tr { th scope="col" { "Name" } th scope="col" { "URL" } th scope="col" { "Applies to" } th scope="col" { "HMAC" } } }
                    tbody {
                        @for check in checks {
                            tr {
                                td { (check.name) }
                                td {
                                    @if check.external_url.is_empty() { span.muted { "hidden for your role" } }
                                    @else { code { (check.external_url) } }
                                }
                                td {
                                    @if check.protected_branches.is_empty() { "every branch" }
                                    @else {
                                        @for (i, branch) in check.protected_branches.iter().enumerate() {
                                            @if i > 0 { ", " }
                                            code { (branch.name.as_str()) }
                                        }
                                    }
                                }
                                td { (if check.hmac { "yes" } else { "no" }) }
                            }
                        }
                    }
                } }
            }
        }
        @if let Some(open) = &overview.open_merge_requests {
            h2 #merge-requests { "Open merge requests" }
            @if open.items.is_empty() {
                p { "No merge request is open." }
            } @else {
                div.table { table {
                    caption.sr-only { "Open merge requests of " (path) }
                    thead { tr { th scope="col" { "Merge request" } th scope="col" { "Branches" } th scope="col" { "Status checks" } th scope="col" { "May merge" } } }
                    tbody {
                        @for mr in &open.items {
                            @let m = &mr.view.merge_request;
                            tr {
                                td { a href=(links::merge_request_web_url(base, &path, m.iid)) { "!" (m.iid.0) " " (m.title) } }
                                td { code { (m.source_branch) } " → " code { (m.target_branch) } }
                                td { (layout::status_badge(mr.checks.status)) " " (mr.checks.description) }
                                td { (crate::merge_requests::may_merge_words(mr.view.detailed_merge_status)) }
                            }
                        }
                    }
                } }
                @if open.total > open.items.len() as u64 {
                    p.muted { "The newest " (open.items.len()) " of " (open.total) " open merge requests." }
                }
            }
        }
        @if let Some(link) = &overview.forge_link {
            h2 #forge { "Forge link" }
            dl.facts {
                dt { "Forge" } dd { (link.forge.as_str()) }
                dt { "API" } dd { code { (link.api_url) } }
                dt { "Repository" } dd { code { (link.repository) } }
                dt { "Status name" } dd { code { (link.status_name) } }
                dt { "Last webhook event" } dd { (layout::maybe_time(link.last_event_at)) }
                dt { "Failing status reports" } dd {
                    @if link.failing.is_empty() { (layout::status_badge(CheckStatus::Passed)) " none among the newest" }
                    @else { (layout::status_badge(CheckStatus::Failed)) " " (link.failing.len()) " among the newest" }
                }
            }
            @if !link.failing.is_empty() {
                div.table { table {
                    caption.sr-only { "Failing status reports" }
                    thead { tr { th scope="col" { "Merge request" } th scope="col" { "Context" } th scope="col" { "State" } th scope="col" { "Attempts" } th scope="col" { "Last error" } } }
                    tbody {
                        @for post in &link.failing {
                            tr {
                                td { a href=(links::merge_request_web_url(base, &path, post.merge_request_iid)) { "!" (post.merge_request_iid.0) } }
                                td { code { (post.context) } }
                                td { (post.state) " (" (post.status.as_str()) ")" }
                                td { (post.attempts) }
                                td { (post.last_error.as_deref().unwrap_or("—")) }
                            }
                        }
                    }
                } }
            }
        }
    };
    Ok(layout::page(&Chrome::of(&project.name, visitor), content))
}
