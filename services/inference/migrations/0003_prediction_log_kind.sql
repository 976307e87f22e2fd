-- Bedside monitoring alarms share the audit log: what kind of answer a row records
-- ('prediction' for /predict and /v2 infer, 'monitor_alarm' for a seizure onset raised in a
-- monitoring session) and the session it came from.
ALTER TABLE prediction_log ADD COLUMN kind TEXT NOT NULL DEFAULT 'prediction';
ALTER TABLE prediction_log ADD COLUMN session_id TEXT;
