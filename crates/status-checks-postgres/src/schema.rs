//! The diesel schema, mirroring `migrations/` (written by hand; keep the two in step).
//!
//! Tables, columns and their types are the SQLite adapter's, so that queries read the same on both, with
//! what PostgreSQL adds: `project_id` on the tables SQLite reaches through a parent row
//! (`status_check_protected_branches`, `status_check_responses`, `status_check_response_details`,
//! `forge_merge_requests`) and the iid counter `projects.last_merge_request_iid`. Keys are declared as on
//! SQLite (`id` for `find()`); the database's primary keys lead with `project_id`, which `id` needs not name:
//! ids are unique on their own.

diesel::table! {
    users (id) {
        id -> BigInt,
        username -> Text,
        name -> Text,
        email -> Nullable<Text>,
        is_admin -> Bool,
        created_at -> BigInt,
    }
}

diesel::table! {
    personal_access_tokens (id) {
        id -> BigInt,
        user_id -> BigInt,
        name -> Text,
        token_hash -> Text,
        scopes -> Text,
        expires_at -> Nullable<Text>,
        revoked -> Bool,
        created_at -> BigInt,
        last_used_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    projects (id) {
        id -> BigInt,
        name -> Text,
        path -> Text,
        namespace -> Text,
        path_with_namespace -> Text,
        only_allow_merge_if_all_status_checks_passed -> Bool,
        last_merge_request_iid -> BigInt,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    members (project_id, user_id) {
        project_id -> BigInt,
        user_id -> BigInt,
        access_level -> Integer,
        created_at -> BigInt,
    }
}

diesel::table! {
    protected_branches (id) {
        id -> BigInt,
        project_id -> BigInt,
        name -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    merge_requests (id) {
        id -> BigInt,
        project_id -> BigInt,
        iid -> BigInt,
        title -> Text,
        description -> Text,
        source_branch -> Text,
        target_branch -> Text,
        sha -> Text,
        head_recorded_at -> BigInt,
        state -> Text,
        author_id -> BigInt,
        created_at -> BigInt,
        updated_at -> BigInt,
        merged_at -> Nullable<BigInt>,
        closed_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    external_status_checks (id) {
        id -> BigInt,
        project_id -> BigInt,
        name -> Text,
        external_url -> Text,
        shared_secret -> Nullable<Text>,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    status_check_protected_branches (external_status_check_id, protected_branch_id) {
        project_id -> BigInt,
        external_status_check_id -> BigInt,
        protected_branch_id -> BigInt,
    }
}

diesel::table! {
    status_check_responses (id) {
        id -> BigInt,
        project_id -> BigInt,
        merge_request_id -> BigInt,
        external_status_check_id -> BigInt,
        sha -> Text,
        status -> Text,
        created_at -> BigInt,
        retried_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    status_check_response_details (response_id) {
        project_id -> BigInt,
        response_id -> BigInt,
        target_url -> Nullable<Text>,
        description -> Nullable<Text>,
    }
}

diesel::table! {
    deliveries (id) {
        id -> BigInt,
        project_id -> BigInt,
        external_status_check_id -> BigInt,
        merge_request_id -> BigInt,
        merge_request_iid -> BigInt,
        action -> Nullable<Text>,
        status -> Text,
        attempts -> Integer,
        last_error -> Nullable<Text>,
        last_attempt_at -> Nullable<BigInt>,
        next_attempt_at -> Nullable<BigInt>,
        idempotency_key -> Text,
        body -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    forge_links (project_id) {
        project_id -> BigInt,
        forge -> Text,
        api_url -> Text,
        repository -> Text,
        token -> Text,
        webhook_secret -> Text,
        status_name -> Text,
        per_check_statuses -> Bool,
        author_id -> BigInt,
        last_event_at -> Nullable<BigInt>,
        sync_due_at -> Nullable<BigInt>,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    forge_deliveries_seen (project_id, delivery_key) {
        project_id -> BigInt,
        delivery_key -> Text,
        received_at -> BigInt,
    }
}

diesel::table! {
    forge_merge_requests (merge_request_id) {
        project_id -> BigInt,
        merge_request_id -> BigInt,
        source_project -> Text,
        web_url -> Text,
        snapshot_at -> BigInt,
        pipeline_id -> Nullable<BigInt>,
        pipeline_sha -> Nullable<Text>,
        pipeline_merge_request_event -> Nullable<Bool>,
    }
}

diesel::table! {
    forge_statuses (id) {
        id -> BigInt,
        project_id -> BigInt,
        merge_request_id -> BigInt,
        merge_request_iid -> BigInt,
        sha -> Text,
        context -> Text,
        external_status_check_id -> Nullable<BigInt>,
        state -> Text,
        status -> Text,
        attempts -> Integer,
        last_error -> Nullable<Text>,
        last_attempt_at -> Nullable<BigInt>,
        next_attempt_at -> Nullable<BigInt>,
        created_at -> BigInt,
    }
}

diesel::table! {
    forge_posted_states (project_id, sha, context, target) {
        project_id -> BigInt,
        sha -> Text,
        context -> Text,
        target -> Text,
        state -> Text,
        posted_at -> BigInt,
    }
}

diesel::joinable!(personal_access_tokens -> users (user_id));
diesel::joinable!(members -> users (user_id));
diesel::joinable!(members -> projects (project_id));
diesel::joinable!(protected_branches -> projects (project_id));
diesel::joinable!(merge_requests -> projects (project_id));
diesel::joinable!(external_status_checks -> projects (project_id));
diesel::joinable!(status_check_protected_branches -> external_status_checks (external_status_check_id));
diesel::joinable!(status_check_protected_branches -> protected_branches (protected_branch_id));
diesel::joinable!(status_check_responses -> merge_requests (merge_request_id));
diesel::joinable!(deliveries -> external_status_checks (external_status_check_id));
diesel::joinable!(forge_links -> projects (project_id));
diesel::joinable!(forge_deliveries_seen -> projects (project_id));
diesel::joinable!(forge_merge_requests -> merge_requests (merge_request_id));
diesel::joinable!(forge_statuses -> merge_requests (merge_request_id));
diesel::joinable!(forge_posted_states -> projects (project_id));

diesel::allow_tables_to_appear_in_same_query!(
    users,
    personal_access_tokens,
    projects,
    members,
    protected_branches,
    merge_requests,
    external_status_checks,
    status_check_protected_branches,
    status_check_responses,
    status_check_response_details,
    deliveries,
    forge_links,
    forge_deliveries_seen,
    forge_merge_requests,
    forge_statuses,
    forge_posted_states,
);
