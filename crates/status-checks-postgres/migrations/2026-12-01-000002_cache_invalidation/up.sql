-- Cache invalidation across instances (docs/postgres.md, "Caches on several instances").
--
-- Every instance caches tokens, projects with access levels, checks with their scopes and forge links
-- (status-checks-cache). A change to a row one of them holds sends, from this trigger and so inside the
-- writing transaction, `NOTIFY status_checks_invalidate` with what changed: delivered to every listening
-- instance if and only if the transaction commits, once per distinct payload. Triggers rather than a call in
-- each write: no write can forget it, the offline `users`/`tokens` commands and an operator's own SQL
-- included.
--
-- The payload is `<kind>` or `<kind>:<project id>`, exactly what `status_checks_cache::Invalidation::parse`
-- reads (a payload it does not understand forgets every cache): `users`, `tokens`, `projects:<id>`,
-- `members:<id>`, `protected_branches:<id>`, `status_checks:<id>`, `forge_links:<id>`. The first trigger
-- argument is the kind, the second (if any) the column that holds the project's id.
--
-- Only the columns a cache holds fire an UPDATE trigger: bumping a project's iid counter, a link's sync
-- schedule or a token's last use notifies no one.
CREATE FUNCTION status_checks_invalidate() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    payload TEXT := TG_ARGV[0];
BEGIN
    IF TG_NARGS > 1 THEN
        IF TG_OP = 'DELETE' THEN
            payload := payload || ':' || (to_jsonb(OLD) ->> TG_ARGV[1]);
        ELSE
            payload := payload || ':' || (to_jsonb(NEW) ->> TG_ARGV[1]);
        END IF;
    END IF;
    PERFORM pg_notify('status_checks_invalidate', payload);
    RETURN NULL;
END;
$$;

-- A new user or token needs no trigger: a token is cached only when found, and a user is reached only
-- through a token or a membership.
CREATE TRIGGER users_invalidate
    AFTER UPDATE OR DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION status_checks_invalidate('users');
CREATE TRIGGER personal_access_tokens_invalidate
    AFTER DELETE OR UPDATE OF user_id, name, token_hash, scopes, expires_at, revoked
    ON personal_access_tokens
    FOR EACH ROW EXECUTE FUNCTION status_checks_invalidate('tokens');
-- A new project: its id or path may be cached as "no such project".
CREATE TRIGGER projects_invalidate
    AFTER INSERT OR DELETE OR UPDATE OF name, path, namespace, path_with_namespace,
        only_allow_merge_if_all_status_checks_passed, created_at, updated_at
    ON projects
    FOR EACH ROW EXECUTE FUNCTION status_checks_invalidate('projects', 'id');
CREATE TRIGGER members_invalidate
    AFTER INSERT OR UPDATE OR DELETE ON members
    FOR EACH ROW EXECUTE FUNCTION status_checks_invalidate('members', 'project_id');
CREATE TRIGGER protected_branches_invalidate
    AFTER INSERT OR UPDATE OR DELETE ON protected_branches
    FOR EACH ROW EXECUTE FUNCTION status_checks_invalidate('protected_branches', 'project_id');
CREATE TRIGGER external_status_checks_invalidate
    AFTER INSERT OR UPDATE OR DELETE ON external_status_checks
    FOR EACH ROW EXECUTE FUNCTION status_checks_invalidate('status_checks', 'project_id');
CREATE TRIGGER status_check_protected_branches_invalidate
    AFTER INSERT OR UPDATE OR DELETE ON status_check_protected_branches
    FOR EACH ROW EXECUTE FUNCTION status_checks_invalidate('status_checks', 'project_id');
CREATE TRIGGER forge_links_invalidate
    AFTER INSERT OR DELETE OR UPDATE OF forge, api_url, repository, token, webhook_secret, status_name,
        per_check_statuses, author_id, last_event_at, created_at, updated_at
    ON forge_links
    FOR EACH ROW EXECUTE FUNCTION status_checks_invalidate('forge_links', 'project_id');
