-- Every prediction the service answered. Portable between SQLite and PostgreSQL: TEXT keys,
-- BIGINT times (microseconds since the Unix epoch), DOUBLE PRECISION probabilities.
CREATE TABLE prediction_log (
    id                   TEXT PRIMARY KEY,
    at_us                BIGINT NOT NULL,
    username             TEXT NOT NULL,
    role                 TEXT NOT NULL,
    request_id           TEXT,
    patient_id           BIGINT,
    model_version        TEXT NOT NULL,
    recordings           BIGINT NOT NULL,
    seizure_probability  DOUBLE PRECISION NOT NULL,
    prediction           BIGINT NOT NULL,
    epileptic_recordings TEXT NOT NULL
);
CREATE INDEX prediction_log_at ON prediction_log (at_us, id);
CREATE INDEX prediction_log_patient ON prediction_log (patient_id, at_us);
