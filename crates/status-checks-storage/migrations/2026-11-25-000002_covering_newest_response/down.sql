DROP INDEX status_check_responses_head;
CREATE INDEX status_check_responses_head
    ON status_check_responses (merge_request_id, sha, external_status_check_id, id);
