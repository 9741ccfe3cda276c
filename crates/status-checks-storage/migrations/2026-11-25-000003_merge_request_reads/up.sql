-- A status read (E5, polled) needs four columns of a merge request: read them from this index alone, read by
-- `INDEXED BY` (the planner prefers the unique (project_id, iid) index, which needs a visit of the table row:
-- one more page per read, a disk read on a database larger than the cache).
CREATE INDEX merge_requests_head
    ON merge_requests (project_id, iid, id, target_branch, sha, head_recorded_at);
-- A project's merge requests in id order (the list's order) without sorting all of them for every page.
CREATE INDEX merge_requests_project ON merge_requests (project_id, id);
