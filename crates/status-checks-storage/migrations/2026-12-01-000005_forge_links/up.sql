-- The forge bridge: a project's link to its forge, the webhook deliveries already applied, what is kept about
-- a mirrored merge request besides the merge request itself, the outbox of commit status posts, and the state
-- last posted at each (commit, context, target). Times are Unix milliseconds (UTC); booleans are 0/1.
-- A link and a mirrored merge request's details are keyed by their owner's id as INTEGER PRIMARY KEY: the rowid
-- itself, so the key needs no index of its own.

CREATE TABLE forge_links (
    project_id INTEGER PRIMARY KEY NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    -- `gitlab`, `gitea`, `forgejo` or `github` (checked when read: a new forge needs no table rebuild).
    forge TEXT NOT NULL,
    api_url TEXT NOT NULL,
    repository TEXT NOT NULL,
    -- The credentials, as given: write-only through the API, never logged.
    token TEXT NOT NULL,
    webhook_secret TEXT NOT NULL,
    status_name TEXT NOT NULL,
    per_check_statuses BOOLEAN NOT NULL,
    -- No foreign key: the link, like the merge requests it mirrors, outlives its author's account.
    author_id BIGINT NOT NULL,
    last_event_at BIGINT,
    -- When a sync of the open merge requests is due; a claim moves it to the end of its lease, a finished
    -- sync clears it.
    sync_due_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
-- Sync claims read the links with a sync due, in claim order (due time, then project: the rowid).
CREATE INDEX forge_links_sync_due ON forge_links (sync_due_at) WHERE sync_due_at IS NOT NULL;

-- The keys of the webhook deliveries applied: a replay is recognized by its key.
CREATE TABLE forge_deliveries_seen (
    project_id BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    delivery_key TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    PRIMARY KEY (project_id, delivery_key)
);

-- A mirrored merge request's details: where its statuses go and the snapshot it was last brought to.
CREATE TABLE forge_merge_requests (
    merge_request_id INTEGER PRIMARY KEY NOT NULL REFERENCES merge_requests (id) ON DELETE CASCADE,
    source_project TEXT NOT NULL,
    web_url TEXT NOT NULL,
    snapshot_at BIGINT NOT NULL,
    -- The newest pipeline seen (GitLab): all three, or none.
    pipeline_id BIGINT,
    pipeline_sha TEXT,
    pipeline_merge_request_event BOOLEAN
);

-- The outbox of commit status posts.
CREATE TABLE forge_statuses (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    project_id BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    merge_request_id BIGINT NOT NULL REFERENCES merge_requests (id) ON DELETE CASCADE,
    merge_request_iid BIGINT NOT NULL,
    sha TEXT NOT NULL,
    context TEXT NOT NULL,
    -- No foreign key: a per-check context outlives its check (it is then posted as no longer applying).
    external_status_check_id BIGINT,
    state TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'dead')),
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    last_attempt_at BIGINT,
    next_attempt_at BIGINT,
    created_at BIGINT NOT NULL
);
-- Claims read the pending posts only, in claim order (due time, then id); queries must spell the status as
-- a literal (`status = 'pending'`) for SQLite to use it.
CREATE INDEX forge_statuses_due ON forge_statuses (next_attempt_at, id) WHERE status = 'pending';
-- A project's posts, newest first.
CREATE INDEX forge_statuses_project ON forge_statuses (project_id, id);
-- The cascade from a deleted merge request.
CREATE INDEX forge_statuses_merge_request ON forge_statuses (merge_request_id);

-- The state the forge was last told at each (commit, context, target).
CREATE TABLE forge_posted_states (
    project_id BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    sha TEXT NOT NULL,
    context TEXT NOT NULL,
    target TEXT NOT NULL,
    state TEXT NOT NULL,
    posted_at BIGINT NOT NULL,
    PRIMARY KEY (project_id, sha, context, target)
);
