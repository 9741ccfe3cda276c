DROP INDEX merge_requests_head;
