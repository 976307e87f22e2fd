-- Alarms are records until acknowledged: an acknowledgement ('alarm_acknowledged', with who
-- and when like every row) names the alarm row it acknowledges.
ALTER TABLE prediction_log ADD COLUMN acknowledges TEXT;
CREATE INDEX prediction_log_acknowledges ON prediction_log (acknowledges);
