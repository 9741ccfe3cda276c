//! Response shapes: GitLab's field names and types (ids as numbers, RFC 3339 UTC times with milliseconds).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::SecondsFormat;
use serde::Serialize;
use status_checks_core::deliveries::Delivery;
use status_checks_core::forges::{ForgeLinkView, ForgeStatus};
use status_checks_core::links;
use status_checks_core::members::Member;
use status_checks_core::projects::Project;
use status_checks_core::protected_branches::ProtectedBranch;
use status_checks_core::service::{
    MergeRequestStatusCheck, MergeRequestView, RecordedResponse, StatusCheckView, UserView,
};
use status_checks_core::users::PersonalAccessToken;
use status_checks_core::*;

/// `2020-10-12T14:04:50.787Z`.
pub fn time(at: Timestamp) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn time_opt(at: Option<Timestamp>) -> Option<String> {
    at.map(time)
}

/// GitLab's user object; `is_admin` and `email` only for the caller's own user, or for an administrator.
#[derive(Serialize)]
pub struct UserJson {
    id: UserId,
    username: String,
    name: String,
    state: &'static str,
    locked: bool,
    avatar_url: Option<String>,
    web_url: String,
    created_at: String,
    bot: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    is_admin: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<Option<String>>,
}

impl UserJson {
    /// The user as the caller may see them.
    pub fn of(view: UserView, base: &str) -> Self {
        let user = view.user;
        UserJson {
            id: user.id,
            web_url: links::user_web_url(base, user.username.as_str()),
            state: user.state(),
            username: user.username.as_str().to_owned(),
            name: user.name,
            locked: false,
            avatar_url: None,
            created_at: time(user.created_at),
            bot: false,
            is_admin: view.show_private.then_some(user.is_admin),
            email: view.show_private.then_some(user.email),
        }
    }
}

/// A personal access token (with `token` only when just created).
#[derive(Serialize)]
pub struct TokenJson {
    id: TokenId,
    name: String,
    revoked: bool,
    created_at: String,
    scopes: Vec<&'static str>,
    user_id: UserId,
    last_used_at: Option<String>,
    active: bool,
    expires_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    token: Option<String>,
}

impl TokenJson {
    /// The token as of `now`; `raw` only at creation.
    pub fn of(token: PersonalAccessToken, now: Timestamp, raw: Option<String>) -> Self {
        TokenJson {
            id: token.id,
            active: token.is_active_at(now),
            name: token.name,
            revoked: token.revoked,
            created_at: time(token.created_at),
            scopes: token.scopes.iter().map(|s| s.as_str()).collect(),
            user_id: token.user_id,
            last_used_at: time_opt(token.last_used_at),
            expires_at: token.expires_at.map(|d| d.format("%Y-%m-%d").to_string()),
            token: raw,
        }
    }
}

#[derive(Serialize)]
struct NamespaceJson {
    name: String,
    path: String,
    kind: &'static str,
    full_path: String,
}

/// GitLab's project object: always `private`, its namespace shown as a group.
#[derive(Serialize)]
pub struct ProjectJson {
    id: ProjectId,
    name: String,
    name_with_namespace: String,
    path: String,
    path_with_namespace: String,
    description: Option<String>,
    visibility: &'static str,
    default_branch: Option<String>,
    namespace: NamespaceJson,
    only_allow_merge_if_all_status_checks_passed: bool,
    created_at: String,
    last_activity_at: String,
    web_url: String,
}

impl ProjectJson {
    /// `base` is the external URL that `web_url` starts with.
    pub fn of(project: Project, base: &str) -> Self {
        let full = project.path_with_namespace();
        let namespace_name = project
            .namespace
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_owned();
        ProjectJson {
            id: project.id,
            name_with_namespace: format!(
                "{} / {}",
                project.namespace.replace('/', " / "),
                project.name
            ),
            web_url: links::project_web_url(base, &full),
            namespace: NamespaceJson {
                name: namespace_name.clone(),
                path: namespace_name,
                kind: "group",
                full_path: project.namespace.clone(),
            },
            name: project.name,
            path: project.path,
            path_with_namespace: full,
            description: None,
            visibility: "private",
            default_branch: None,
            only_allow_merge_if_all_status_checks_passed: project
                .only_allow_merge_if_all_status_checks_passed,
            created_at: time(project.created_at),
            last_activity_at: time(project.updated_at),
        }
    }
}

/// GitLab's member object: the user's public fields and their access level in the project.
#[derive(Serialize)]
pub struct MemberJson {
    id: UserId,
    username: String,
    name: String,
    state: &'static str,
    avatar_url: Option<String>,
    web_url: String,
    access_level: AccessLevel,
    created_at: String,
    expires_at: Option<String>,
}

impl MemberJson {
    /// `base` is the external URL that `web_url` starts with.
    pub fn of(member: Member, base: &str) -> Self {
        MemberJson {
            id: member.user.id,
            web_url: links::user_web_url(base, member.user.username.as_str()),
            state: member.user.state(),
            username: member.user.username.as_str().to_owned(),
            name: member.user.name,
            avatar_url: None,
            access_level: member.access_level,
            created_at: time(member.created_at),
            expires_at: None,
        }
    }
}

#[derive(Serialize)]
struct AccessLevelJson {
    access_level: i32,
    access_level_description: &'static str,
}

/// GitLab's protected branch object; push and merge are always allowed to Maintainers.
#[derive(Serialize)]
pub struct ProtectedBranchJson {
    id: ProtectedBranchId,
    project_id: ProjectId,
    name: String,
    created_at: String,
    updated_at: String,
    code_owner_approval_required: bool,
    allow_force_push: bool,
    push_access_levels: Vec<AccessLevelJson>,
    merge_access_levels: Vec<AccessLevelJson>,
}

impl ProtectedBranchJson {
    /// Only the name and times are stored; the other fields are GitLab's defaults.
    pub fn of(branch: ProtectedBranch) -> Self {
        let maintainers = || {
            vec![AccessLevelJson {
                access_level: 40,
                access_level_description: "Maintainers",
            }]
        };
        ProtectedBranchJson {
            id: branch.id,
            project_id: branch.project_id,
            name: branch.name.as_str().to_owned(),
            created_at: time(branch.created_at),
            updated_at: time(branch.updated_at),
            code_owner_approval_required: false,
            allow_force_push: false,
            push_access_levels: maintainers(),
            merge_access_levels: maintainers(),
        }
    }
}

#[derive(Serialize)]
struct ReferencesJson {
    short: String,
    relative: String,
    full: String,
}

/// GitLab's merge request object, its `detailed_merge_status` decided by the status checks.
#[derive(Serialize)]
pub struct MergeRequestJson {
    id: MergeRequestId,
    iid: MergeRequestIid,
    project_id: ProjectId,
    title: String,
    description: String,
    state: &'static str,
    created_at: String,
    updated_at: String,
    merged_at: Option<String>,
    closed_at: Option<String>,
    target_branch: String,
    source_branch: String,
    source_project_id: ProjectId,
    target_project_id: ProjectId,
    author_id: UserId,
    draft: bool,
    work_in_progress: bool,
    labels: Vec<String>,
    sha: String,
    merge_status: &'static str,
    detailed_merge_status: &'static str,
    has_conflicts: bool,
    references: ReferencesJson,
    web_url: String,
}

impl MergeRequestJson {
    /// `base` is the external URL that `web_url` starts with.
    pub fn of(view: MergeRequestView, base: &str) -> Self {
        let mr = view.merge_request;
        MergeRequestJson {
            id: mr.id,
            iid: mr.iid,
            project_id: mr.project_id,
            web_url: links::merge_request_web_url(base, &view.path_with_namespace, mr.iid),
            references: ReferencesJson {
                short: format!("!{}", mr.iid),
                relative: format!("!{}", mr.iid),
                full: format!("{}!{}", view.path_with_namespace, mr.iid),
            },
            title: mr.title,
            description: mr.description,
            state: mr.state.as_str(),
            created_at: time(mr.created_at),
            updated_at: time(mr.updated_at),
            merged_at: time_opt(mr.merged_at),
            closed_at: time_opt(mr.closed_at),
            target_branch: mr.target_branch,
            source_branch: mr.source_branch,
            source_project_id: mr.project_id,
            target_project_id: mr.project_id,
            author_id: mr.author_id,
            draft: false,
            work_in_progress: false,
            labels: Vec::new(),
            sha: mr.sha.as_str().to_owned(),
            merge_status: view.detailed_merge_status.merge_status(),
            detailed_merge_status: view.detailed_merge_status.as_str(),
            has_conflicts: false,
        }
    }
}

/// An external status check (E1–E4, and nested in E6).
#[derive(Serialize)]
pub struct StatusCheckJson {
    id: StatusCheckId,
    name: String,
    project_id: ProjectId,
    external_url: String,
    hmac: bool,
    protected_branches: Vec<ProtectedBranchJson>,
}

impl StatusCheckJson {
    /// The check, its URL already redacted by the core for the caller.
    pub fn of(view: StatusCheckView) -> Self {
        StatusCheckJson {
            id: view.id,
            name: view.name,
            project_id: view.project_id,
            external_url: view.external_url,
            hmac: view.hmac,
            protected_branches: view
                .protected_branches
                .into_iter()
                .map(ProtectedBranchJson::of)
                .collect(),
        }
    }
}

/// One row of E5.
#[derive(Serialize)]
pub struct MergeRequestStatusCheckJson {
    id: StatusCheckId,
    name: String,
    external_url: String,
    status: &'static str,
}

impl MergeRequestStatusCheckJson {
    /// The check with its status at the merge request's HEAD, as the core computed it.
    pub fn of(row: MergeRequestStatusCheck) -> Self {
        MergeRequestStatusCheckJson {
            id: row.id,
            name: row.name,
            external_url: row.external_url,
            status: row.status.as_str(),
        }
    }
}

/// E6's answer.
#[derive(Serialize)]
pub struct ResponseJson {
    id: ResponseId,
    merge_request: MergeRequestJson,
    external_status_check: StatusCheckJson,
    status: &'static str,
    sha: String,
    created_at: String,
}

impl ResponseJson {
    /// The answer, with its merge request and its check as the caller may see them.
    pub fn of(recorded: RecordedResponse, base: &str) -> Self {
        ResponseJson {
            id: recorded.response.id,
            status: recorded.response.status.as_str(),
            sha: recorded.response.sha.as_str().to_owned(),
            created_at: time(recorded.response.created_at),
            merge_request: MergeRequestJson::of(recorded.merge_request, base),
            external_status_check: StatusCheckJson::of(recorded.external_status_check),
        }
    }
}

/// A delivery of a notification.
#[derive(Serialize)]
pub struct DeliveryJson {
    id: DeliveryId,
    merge_request_iid: MergeRequestIid,
    action: Option<&'static str>,
    status: &'static str,
    attempts: u32,
    last_error: Option<String>,
    last_attempt_at: Option<String>,
    next_attempt_at: Option<String>,
    idempotency_key: String,
    created_at: String,
}

impl DeliveryJson {
    /// The delivery (without its body).
    pub fn of(delivery: Delivery) -> Self {
        DeliveryJson {
            id: delivery.id,
            merge_request_iid: delivery.merge_request_iid,
            action: delivery.action.map(|a| a.as_str()),
            status: delivery.status.as_str(),
            attempts: delivery.attempts,
            last_error: delivery.last_error,
            last_attempt_at: time_opt(delivery.last_attempt_at),
            next_attempt_at: time_opt(delivery.next_attempt_at),
            idempotency_key: delivery.idempotency_key,
            created_at: time(delivery.created_at),
        }
    }
}

/// A project's forge link (`GET /projects/:id/forge`): never its token or webhook secret, only whether they
/// are set.
#[derive(Serialize)]
pub struct ForgeLinkJson {
    forge: &'static str,
    api_url: String,
    repository: String,
    status_name: String,
    per_check_statuses: bool,
    webhook_url: String,
    token_set: bool,
    webhook_secret_set: bool,
    last_event_at: Option<String>,
    created_at: String,
    updated_at: String,
}

impl ForgeLinkJson {
    /// The link's view.
    pub fn of(view: ForgeLinkView) -> Self {
        let link = view.link;
        ForgeLinkJson {
            forge: link.forge.as_str(),
            token_set: !link.token.expose().is_empty(),
            webhook_secret_set: !link.webhook_secret.expose().is_empty(),
            api_url: link.api_url,
            repository: link.repository,
            status_name: link.status_name,
            per_check_statuses: link.per_check_statuses,
            webhook_url: view.webhook_url,
            last_event_at: time_opt(link.last_event_at),
            created_at: time(link.created_at),
            updated_at: time(link.updated_at),
        }
    }
}

/// A status post to the forge (`GET /projects/:id/forge/deliveries`), as deliveries of notifications are
/// listed, with what it is about.
#[derive(Serialize)]
pub struct ForgeStatusJson {
    id: i64,
    merge_request_iid: MergeRequestIid,
    sha: String,
    context: String,
    state: String,
    status: &'static str,
    attempts: u32,
    last_error: Option<String>,
    last_attempt_at: Option<String>,
    next_attempt_at: Option<String>,
    created_at: String,
}

impl ForgeStatusJson {
    /// The post's view.
    pub fn of(post: ForgeStatus) -> Self {
        ForgeStatusJson {
            id: post.id.0,
            merge_request_iid: post.merge_request_iid,
            sha: post.sha.to_string(),
            context: post.context,
            state: post.state,
            status: post.status.as_str(),
            attempts: post.attempts,
            last_error: post.last_error,
            last_attempt_at: time_opt(post.last_attempt_at),
            next_attempt_at: time_opt(post.next_attempt_at),
            created_at: time(post.created_at),
        }
    }
}

/// A JSON answer, serialised straight into one buffer rather than through axum's `Json`, which writes through a
/// growing `BytesMut` (measured in `docs/benchmarks.md`).
pub fn json_response(status: StatusCode, body: &impl Serialize) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => (
            status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            bytes,
        )
            .into_response(),
        // Only a map with non-string keys or a failing `Serialize` impl can get here; neither is in this crate.
        Err(e) => {
            tracing::error!(error = %e, "answer not serialisable");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                )],
                r#"{"message":"500 Internal Server Error"}"#,
            )
                .into_response()
        }
    }
}
