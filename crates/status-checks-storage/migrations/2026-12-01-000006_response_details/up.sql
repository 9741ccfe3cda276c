-- What an external service said with its answer (E6's optional target_url and description), kept beside the
-- response rather than in it: E5 reads responses through a covering index that these columns would widen.
CREATE TABLE status_check_response_details (
    response_id INTEGER PRIMARY KEY NOT NULL REFERENCES status_check_responses (id) ON DELETE CASCADE,
    target_url TEXT,
    description TEXT
);
