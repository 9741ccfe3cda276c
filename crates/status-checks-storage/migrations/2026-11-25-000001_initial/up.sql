-- The whole schema of status-checks. Times are Unix milliseconds (UTC); booleans are 0/1.
-- AUTOINCREMENT: ids are never reused after a delete, so a deleted check's id never names another one.

CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    username TEXT NOT NULL UNIQUE COLLATE NOCASE,
    name TEXT NOT NULL,
    email TEXT,
    is_admin BOOLEAN NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);

CREATE TABLE personal_access_tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    -- SHA-256 of the token, lower-case hex: the token itself is never stored.
    token_hash TEXT NOT NULL UNIQUE,
    -- Comma-separated scopes: "api", "read_api" or "api,read_api".
    scopes TEXT NOT NULL,
    -- YYYY-MM-DD: the token stops working at 00:00 UTC that day.
    expires_at TEXT,
    revoked BOOLEAN NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT
);
CREATE INDEX personal_access_tokens_user ON personal_access_tokens (user_id, id);

CREATE TABLE projects (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    name TEXT NOT NULL,
    path TEXT NOT NULL,
    namespace TEXT NOT NULL,
    path_with_namespace TEXT NOT NULL UNIQUE COLLATE NOCASE,
    only_allow_merge_if_all_status_checks_passed BOOLEAN NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE members (
    project_id BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    access_level INTEGER NOT NULL CHECK (access_level IN (10, 20, 30, 40, 50)),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (project_id, user_id)
);
CREATE INDEX members_user ON members (user_id, project_id);

CREATE TABLE protected_branches (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    project_id BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (project_id, name)
);

CREATE TABLE merge_requests (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    project_id BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    iid BIGINT NOT NULL,
    title TEXT NOT NULL,
    description TEXT NOT NULL,
    source_branch TEXT NOT NULL,
    target_branch TEXT NOT NULL,
    sha TEXT NOT NULL,
    head_recorded_at BIGINT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('opened', 'closed', 'merged')),
    -- No foreign key: a merge request outlives its author's account.
    author_id BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    merged_at BIGINT,
    closed_at BIGINT,
    UNIQUE (project_id, iid)
);
CREATE INDEX merge_requests_state ON merge_requests (project_id, state, id);

CREATE TABLE external_status_checks (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    project_id BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    external_url TEXT NOT NULL,
    shared_secret TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (project_id, name),
    UNIQUE (project_id, external_url)
);

CREATE TABLE status_check_protected_branches (
    external_status_check_id BIGINT NOT NULL REFERENCES external_status_checks (id) ON DELETE CASCADE,
    protected_branch_id BIGINT NOT NULL REFERENCES protected_branches (id) ON DELETE CASCADE,
    PRIMARY KEY (external_status_check_id, protected_branch_id)
);
CREATE INDEX status_check_protected_branches_branch ON status_check_protected_branches (protected_branch_id);

CREATE TABLE status_check_responses (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    merge_request_id BIGINT NOT NULL REFERENCES merge_requests (id) ON DELETE CASCADE,
    external_status_check_id BIGINT NOT NULL REFERENCES external_status_checks (id) ON DELETE CASCADE,
    sha TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('passed', 'failed', 'pending')),
    created_at BIGINT NOT NULL,
    retried_at BIGINT
);
-- "The newest response for (merge request, sha, check)": a range scan of this index.
CREATE INDEX status_check_responses_head
    ON status_check_responses (merge_request_id, sha, external_status_check_id, id);
CREATE INDEX status_check_responses_check ON status_check_responses (external_status_check_id);

CREATE TABLE deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    project_id BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    external_status_check_id BIGINT NOT NULL REFERENCES external_status_checks (id) ON DELETE CASCADE,
    merge_request_id BIGINT NOT NULL REFERENCES merge_requests (id) ON DELETE CASCADE,
    merge_request_iid BIGINT NOT NULL,
    action TEXT,
    status TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'dead')),
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    last_attempt_at BIGINT,
    next_attempt_at BIGINT,
    idempotency_key TEXT NOT NULL UNIQUE,
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX deliveries_due ON deliveries (status, next_attempt_at);
CREATE INDEX deliveries_check ON deliveries (external_status_check_id, id);
CREATE INDEX deliveries_merge_request ON deliveries (merge_request_id);
