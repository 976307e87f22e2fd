-- Audit records the database refused (a constraint, a value it cannot store), set aside with
-- the reason instead of blocking the writer. Each row holds the whole record as JSON.
CREATE TABLE prediction_log_rejected (
    id          TEXT PRIMARY KEY,
    at_us       BIGINT NOT NULL,
    rejected_at BIGINT NOT NULL,
    reason      TEXT NOT NULL,
    record      TEXT NOT NULL
);
