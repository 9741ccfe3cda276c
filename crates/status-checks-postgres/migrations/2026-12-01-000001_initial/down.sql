-- Undoes the initial migration: drops every table (children first), with their indexes and constraints.
DROP TABLE forge_posted_states;
DROP TABLE forge_statuses;
DROP TABLE forge_merge_requests;
DROP TABLE forge_deliveries_seen;
DROP TABLE forge_links;
DROP TABLE deliveries;
DROP TABLE status_check_response_details;
DROP TABLE status_check_responses;
DROP TABLE status_check_protected_branches;
DROP TABLE external_status_checks;
DROP TABLE merge_requests;
DROP TABLE protected_branches;
DROP TABLE members;
DROP TABLE projects;
DROP TABLE personal_access_tokens;
DROP TABLE users;
