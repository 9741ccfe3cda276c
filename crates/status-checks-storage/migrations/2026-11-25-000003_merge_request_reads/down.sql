DROP INDEX merge_requests_project;
DROP INDEX merge_requests_head;
