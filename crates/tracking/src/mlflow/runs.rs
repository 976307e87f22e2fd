//! Experiments and runs: creating them, logging params, metrics and tags in batches, finishing
//! them, and reading them back. Param values cannot change once logged.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::encoding::{metric_value, parse_metric_value, str_field};
use super::transport::is_code;
use super::MlflowTracker;
use crate::{now_ms, Metric, Result, RunInfo, RunStatus};

/// MLflow's limits per log-batch request.
const MAX_METRICS_PER_BATCH: usize = 1000;
const MAX_PARAMS_PER_BATCH: usize = 100;

impl MlflowTracker {
    fn experiment_id(&self, name: &str) -> Result<String> {
        match self
            .client
            .get("experiments/get-by-name", &[("experiment_name", name)])
        {
            Ok(found) => return str_field(&found["experiment"], "experiment_id"),
            Err(e) if is_code(&e, "RESOURCE_DOES_NOT_EXIST") => {}
            Err(e) => return Err(e),
        }
        match self
            .client
            .post("experiments/create", &json!({ "name": name }), false)
        {
            Ok(created) => str_field(&created, "experiment_id"),
            // Created concurrently by someone else: use theirs.
            Err(e) if is_code(&e, "RESOURCE_ALREADY_EXISTS") => {
                let found = self
                    .client
                    .get("experiments/get-by-name", &[("experiment_name", name)])?;
                str_field(&found["experiment"], "experiment_id")
            }
            Err(e) => Err(e),
        }
    }

    /// The run as `runs/get` answers it: `{"info", "data"}`.
    pub(super) fn run_info(&self, run_id: &str) -> Result<Value> {
        let run = self.client.get("runs/get", &[("run_id", run_id)])?;
        Ok(run["run"].clone())
    }

    fn log_batch(
        &self,
        run_id: &str,
        metrics: Vec<Value>,
        params: Vec<Value>,
        tags: Vec<Value>,
    ) -> Result<()> {
        let body = json!({ "run_id": run_id, "metrics": metrics, "params": params, "tags": tags });
        // Re-sending the same batch is harmless (same params, duplicate metric points), so retry.
        self.client.post("runs/log-batch", &body, true)?;
        Ok(())
    }
}

fn key_values(pairs: &[(String, String)]) -> Vec<Value> {
    pairs
        .iter()
        .map(|(k, v)| json!({ "key": k, "value": v }))
        .collect()
}

/// [`crate::Tracker::create_run`].
pub(super) fn create_run(
    tracker: &MlflowTracker,
    experiment: &str,
    run_name: &str,
) -> Result<RunInfo> {
    let experiment_id = tracker.experiment_id(experiment)?;
    let body = json!({
        "experiment_id": experiment_id,
        "run_name": run_name,
        "start_time": now_ms(),
    });
    let created = tracker.client.post("runs/create", &body, false)?;
    Ok(RunInfo {
        run_id: str_field(&created["run"]["info"], "run_id")?,
        experiment_id,
    })
}

/// [`crate::Tracker::log_params`].
pub(super) fn log_params(
    tracker: &MlflowTracker,
    run_id: &str,
    params: &[(String, String)],
) -> Result<()> {
    for chunk in params.chunks(MAX_PARAMS_PER_BATCH) {
        tracker.log_batch(run_id, vec![], key_values(chunk), vec![])?;
    }
    Ok(())
}

/// [`crate::Tracker::log_metrics`].
pub(super) fn log_metrics(tracker: &MlflowTracker, run_id: &str, metrics: &[Metric]) -> Result<()> {
    for chunk in metrics.chunks(MAX_METRICS_PER_BATCH) {
        let values = chunk
            .iter()
            .map(|m| {
                json!({
                    "key": m.key,
                    "value": metric_value(m.value),
                    "timestamp": m.timestamp_ms,
                    "step": m.step,
                })
            })
            .collect();
        tracker.log_batch(run_id, values, vec![], vec![])?;
    }
    Ok(())
}

/// [`crate::Tracker::set_tags`].
pub(super) fn set_tags(
    tracker: &MlflowTracker,
    run_id: &str,
    tags: &[(String, String)],
) -> Result<()> {
    tracker.log_batch(run_id, vec![], vec![], key_values(tags))
}

/// [`crate::Tracker::finish_run`].
pub(super) fn finish_run(tracker: &MlflowTracker, run_id: &str, status: RunStatus) -> Result<()> {
    let body = json!({ "run_id": run_id, "status": status.as_str(), "end_time": now_ms() });
    tracker.client.post("runs/update", &body, true)?;
    Ok(())
}

/// [`crate::Tracker::run_params`].
pub(super) fn run_params(
    tracker: &MlflowTracker,
    run_id: &str,
) -> Result<BTreeMap<String, String>> {
    let run = tracker.run_info(run_id)?;
    let mut params = BTreeMap::new();
    for param in run["data"]["params"].as_array().into_iter().flatten() {
        params.insert(str_field(param, "key")?, str_field(param, "value")?);
    }
    Ok(params)
}

/// [`crate::Tracker::metric_history`].
pub(super) fn metric_history(
    tracker: &MlflowTracker,
    run_id: &str,
    key: &str,
) -> Result<Vec<Metric>> {
    let answer = tracker.client.get(
        "metrics/get-history",
        &[
            ("run_id", run_id),
            ("metric_key", key),
            ("max_results", "25000"),
        ],
    )?;
    let mut history: Vec<Metric> = answer["metrics"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| Metric {
            key: key.to_owned(),
            value: parse_metric_value(&m["value"]),
            step: m["step"].as_i64().unwrap_or_default(),
            timestamp_ms: m["timestamp"].as_i64().unwrap_or_default(),
        })
        .collect();
    history.sort_by_key(|m| (m.step, m.timestamp_ms));
    Ok(history)
}

/// [`crate::Tracker::run_status`].
pub(super) fn run_status(tracker: &MlflowTracker, run_id: &str) -> Result<String> {
    str_field(&tracker.run_info(run_id)?["info"], "status")
}
