//! Experiments and runs: creating them, logging params, metrics and tags in batches, finishing
//! them, and reading them back. Param values cannot change once logged.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::encoding::{metric_value, parse_metric_value, str_field};
use super::transport::is_code;
use super::MlflowTracker;
use crate::{check_search_value, now_ms, Metric, Result, RunInfo, RunStatus, RunSummary};

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

/// [`crate::Tracker::search_runs`]: `runs/search` with a tag filter, every page.
pub(super) fn search_runs(
    tracker: &MlflowTracker,
    experiment: &str,
    key: &str,
    value: &str,
) -> Result<Vec<RunSummary>> {
    check_search_value(key)?;
    check_search_value(value)?;
    let experiment_id = match tracker.client.get(
        "experiments/get-by-name",
        &[("experiment_name", experiment)],
    ) {
        Ok(found) => str_field(&found["experiment"], "experiment_id")?,
        Err(e) if is_code(&e, "RESOURCE_DOES_NOT_EXIST") => return Ok(vec![]),
        Err(e) => return Err(e),
    };
    let mut found = Vec::new();
    let mut page_token: Option<String> = None;
    loop {
        let mut body = json!({
            "experiment_ids": [experiment_id],
            "filter": format!("tags.`{key}` = '{value}'"),
            "max_results": 1000,
            "order_by": ["attributes.start_time ASC"],
        });
        if let Some(token) = &page_token {
            body["page_token"] = json!(token);
        }
        // A search changes nothing: safe to retry.
        let answer = tracker.client.post("runs/search", &body, true)?;
        for run in answer["runs"].as_array().into_iter().flatten() {
            let mut tags = BTreeMap::new();
            for tag in run["data"]["tags"].as_array().into_iter().flatten() {
                tags.insert(str_field(tag, "key")?, str_field(tag, "value")?);
            }
            found.push(RunSummary {
                run_id: str_field(&run["info"], "run_id")?,
                status: str_field(&run["info"], "status")?,
                start_time_ms: run["info"]["start_time"]
                    .as_i64()
                    .or_else(|| run["info"]["start_time"].as_str()?.parse().ok())
                    .unwrap_or_default(),
                tags,
            });
        }
        match answer["next_page_token"].as_str() {
            Some(token) if !token.is_empty() => page_token = Some(token.to_owned()),
            _ => break,
        }
    }
    Ok(found)
}
