//! MLflow 3 logged models: a model is created as a logged model of its run, its files uploaded,
//! its status finalised, and it is recorded as an output of the run; the registry then versions
//! it (see `registry.rs`).

use std::path::Path;

use serde_json::{json, Value};

use super::artifacts::{artifact_path_of, join_artifact_path};
use super::encoding::{percent_encode, str_field};
use super::MlflowTracker;
use crate::{Result, TrackingError};

/// `LoggedModelStatus` values.
const LOGGED_MODEL_READY: i64 = 2;
const LOGGED_MODEL_UPLOAD_FAILED: i64 = 3;
/// Pages of a logged-model search read before giving up.
const MAX_SEARCH_PAGES: usize = 100;

impl MlflowTracker {
    /// The ready logged model named `name` that run `run` produced (the latest if several), as
    /// MLflow's own client finds it when registering `runs:/<run>/<name>`.
    pub(super) fn logged_model_of(&self, run: &Value, name: &str) -> Result<Option<String>> {
        let run_id = str_field(&run["info"], "run_id")?;
        let experiment_id = str_field(&run["info"], "experiment_id")?;
        // MLflow's filter strings have no escapes: a quote cannot be searched for.
        if name.contains(['\'', '"']) || run_id.contains(['\'', '"']) {
            return Err(TrackingError::Invalid(format!(
                "model name {name:?} or run id {run_id:?} contains a quote"
            )));
        }
        let filter = format!("name = '{name}' AND source_run_id = '{run_id}'");
        let mut page_token: Option<String> = None;
        let mut latest: Option<(i64, String)> = None;
        // A run logs a handful of models; the bound stops a server that repeats a page token.
        for _ in 0..MAX_SEARCH_PAGES {
            let mut body = json!({
                "experiment_ids": [experiment_id],
                "filter": filter,
                "max_results": 100,
            });
            if let Some(token) = &page_token {
                body["page_token"] = json!(token);
            }
            // A search changes nothing: safe to retry.
            let page = self.client.post("logged-models/search", &body, true)?;
            for model in page["models"].as_array().into_iter().flatten() {
                let info = &model["info"];
                let ready = info["status"] == json!("LOGGED_MODEL_READY")
                    || info["status"] == json!(LOGGED_MODEL_READY);
                if info["source_run_id"].as_str() == Some(run_id.as_str()) && ready {
                    let created = info["creation_timestamp_ms"]
                        .as_i64()
                        .or_else(|| info["creation_timestamp_ms"].as_str()?.parse().ok())
                        .unwrap_or_default();
                    let id = str_field(info, "model_id")?;
                    if latest.as_ref().is_none_or(|(when, _)| created >= *when) {
                        latest = Some((created, id));
                    }
                }
            }
            match page["next_page_token"].as_str() {
                Some(token) if !token.is_empty() && page_token.as_deref() != Some(token) => {
                    page_token = Some(token.to_owned())
                }
                _ => return Ok(latest.map(|(_, id)| id)),
            }
        }
        Err(TrackingError::Invalid(format!(
            "more than {MAX_SEARCH_PAGES} pages of logged models named {name} for run {run_id}"
        )))
    }

    /// The artifact path of logged model `model_id`'s files.
    pub(super) fn logged_model_root(&self, model_id: &str) -> Result<String> {
        let found = self
            .client
            .get(&format!("logged-models/{}", percent_encode(model_id)), &[])?;
        artifact_path_of(&str_field(&found["model"]["info"], "artifact_uri")?)
    }
}

/// [`crate::Tracker::log_model`].
pub(super) fn log_model(
    tracker: &MlflowTracker,
    run_id: &str,
    local_dir: &Path,
    name: &str,
) -> Result<()> {
    // One look at the run: its artifact root and its experiment.
    let run = tracker.run_info(run_id)?;
    let run_root = artifact_path_of(&str_field(&run["info"], "artifact_uri")?)?;
    tracker.upload_dir(local_dir, &join_artifact_path(&run_root, name))?;
    let experiment_id = str_field(&run["info"], "experiment_id")?;
    let created = tracker.client.post(
        "logged-models",
        &json!({
            "experiment_id": experiment_id,
            "name": name,
            "source_run_id": run_id,
            "model_type": "onnx",
        }),
        false,
    )?;
    let info = &created["model"]["info"];
    let model_id = str_field(info, "model_id")?;
    let uploaded = artifact_path_of(&str_field(info, "artifact_uri")?)
        .and_then(|root| tracker.upload_dir(local_dir, &root));
    let status = if uploaded.is_ok() {
        LOGGED_MODEL_READY
    } else {
        LOGGED_MODEL_UPLOAD_FAILED
    };
    let finalised = tracker.client.patch(
        &format!("logged-models/{}", percent_encode(&model_id)),
        &json!({ "model_id": model_id, "status": status }),
    );
    uploaded?;
    finalised?;
    // Not retried: each call records another output row.
    tracker.client.post(
        "runs/outputs",
        &json!({ "run_id": run_id, "models": [{ "model_id": model_id, "step": 0 }] }),
        false,
    )?;
    tracing::info!(model_id, run_id, "logged model {name} in MLflow");
    Ok(())
}
