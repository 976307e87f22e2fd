-- The patient decision a prediction's call came from: the rule, the recordings' score by it,
-- the threshold it was called at and where that threshold came from ('model_card' or
-- 'override'). NULL for other kinds of record and for predictions logged before it was kept.
ALTER TABLE prediction_log ADD COLUMN decision_rule TEXT;
ALTER TABLE prediction_log ADD COLUMN decision_score DOUBLE PRECISION;
ALTER TABLE prediction_log ADD COLUMN decision_threshold DOUBLE PRECISION;
ALTER TABLE prediction_log ADD COLUMN decision_source TEXT;
