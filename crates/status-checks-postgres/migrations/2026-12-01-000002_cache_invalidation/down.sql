-- Undoes the cache invalidation triggers (their tables keep their rows).
DROP TRIGGER forge_links_invalidate ON forge_links;
DROP TRIGGER status_check_protected_branches_invalidate ON status_check_protected_branches;
DROP TRIGGER external_status_checks_invalidate ON external_status_checks;
DROP TRIGGER protected_branches_invalidate ON protected_branches;
DROP TRIGGER members_invalidate ON members;
DROP TRIGGER projects_invalidate ON projects;
DROP TRIGGER personal_access_tokens_invalidate ON personal_access_tokens;
DROP TRIGGER users_invalidate ON users;
DROP FUNCTION status_checks_invalidate();
