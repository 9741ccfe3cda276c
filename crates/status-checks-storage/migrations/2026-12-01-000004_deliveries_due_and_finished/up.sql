-- Claims read the pending deliveries only: a partial index holds just them, so it stays as small as the
-- backlog however many delivered and dead rows are kept, and gives them in claim order (due time, then id).
-- Pruning finds old finished deliveries by a second partial index. Queries must spell the status as a
-- literal (`status = 'pending'`) for SQLite to use these.
DROP INDEX deliveries_due;
CREATE INDEX deliveries_due ON deliveries (next_attempt_at, id) WHERE status = 'pending';
CREATE INDEX deliveries_finished ON deliveries (last_attempt_at) WHERE status <> 'pending';
