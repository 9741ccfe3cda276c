-- "The newest response of each check at a merge request's HEAD" (every status page, every response) reads
-- only this index: it also carries the columns the answer needs, so no row of the table is visited, and its
-- order is the GROUP BY's, so no temporary B-tree is built.
DROP INDEX status_check_responses_head;
CREATE INDEX status_check_responses_head
    ON status_check_responses (merge_request_id, sha, external_status_check_id, id, status, created_at, retried_at);
