-- The patient decision a prediction's call came from, as JSON: {rule, score, threshold,
-- source}, `source` being 'model_card' or 'override'. NULL for other kinds of record and for
-- predictions logged before it was kept. One TEXT column, not four typed ones: a batch that
-- mixes records with and without a decision binds NULL and a number to the same typed
-- parameter, which PostgreSQL refuses through sqlx's Any driver ("incorrect binary data
-- format in bind parameter"), measured in services/inference/tests/audit.rs.
ALTER TABLE prediction_log ADD COLUMN decision TEXT;
