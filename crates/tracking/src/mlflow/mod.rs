//! An MLflow 3 REST client.
//!
//! Facts it relies on (measured against MLflow 3.17): POST bodies need
//! `Content-Type: application/json`; errors are `{"error_code", "message"}` and the client
//! branches on `error_code`, not the HTTP status (an unknown alias is a 400
//! `INVALID_PARAMETER_VALUE`); metric values NaN and ±Infinity must be sent as strings; param
//! values cannot change; artifacts go through the proxied artifact API
//! (`mlflow-artifacts:/X` is `/api/2.0/mlflow-artifacts/artifacts/X`). Every call has a timeout,
//! and idempotent calls are retried with exponential backoff on transport errors, 429 and 5xx.
//!
//! One file per part of the API: `transport.rs` (HTTP, errors, retries), `encoding.rs` (wire
//! formats), `runs.rs` (experiments, runs, params, metrics, tags), `artifacts.rs`,
//! `logged_models.rs` and `registry.rs` (registered models, versions, aliases). Here: the
//! [`Tracker`] implementation, which hands each call to the file of its part.

mod artifacts;
mod encoding;
mod logged_models;
mod registry;
mod runs;
mod transport;

use std::collections::BTreeMap;
use std::path::Path;

pub use transport::MlflowClient;

use crate::{Metric, ModelVersion, Result, RunInfo, RunStatus, RunSummary, Tracker};

/// [`Tracker`] on an MLflow server.
#[derive(Debug, Clone)]
pub struct MlflowTracker {
    client: MlflowClient,
}

impl MlflowTracker {
    pub fn new(base_url: &str) -> Result<Self> {
        Ok(Self {
            client: MlflowClient::new(base_url)?,
        })
    }

    pub fn client(&self) -> &MlflowClient {
        &self.client
    }
}

impl Tracker for MlflowTracker {
    fn kind(&self) -> &'static str {
        "mlflow"
    }

    fn location(&self) -> String {
        self.client.base_url().to_owned()
    }

    fn create_run(&self, experiment: &str, run_name: &str) -> Result<RunInfo> {
        runs::create_run(self, experiment, run_name)
    }

    fn log_params(&self, run_id: &str, params: &[(String, String)]) -> Result<()> {
        runs::log_params(self, run_id, params)
    }

    fn log_metrics(&self, run_id: &str, metrics: &[Metric]) -> Result<()> {
        runs::log_metrics(self, run_id, metrics)
    }

    fn set_tags(&self, run_id: &str, tags: &[(String, String)]) -> Result<()> {
        runs::set_tags(self, run_id, tags)
    }

    fn log_artifacts(&self, run_id: &str, local_dir: &Path, artifact_path: &str) -> Result<()> {
        artifacts::log_artifacts(self, run_id, local_dir, artifact_path)
    }

    fn log_model(&self, run_id: &str, local_dir: &Path, name: &str) -> Result<()> {
        logged_models::log_model(self, run_id, local_dir, name)
    }

    fn finish_run(&self, run_id: &str, status: RunStatus) -> Result<()> {
        runs::finish_run(self, run_id, status)
    }

    fn run_params(&self, run_id: &str) -> Result<BTreeMap<String, String>> {
        runs::run_params(self, run_id)
    }

    fn metric_history(&self, run_id: &str, key: &str) -> Result<Vec<Metric>> {
        runs::metric_history(self, run_id, key)
    }

    fn list_artifacts(&self, run_id: &str) -> Result<Vec<String>> {
        artifacts::list_artifacts(self, run_id)
    }

    fn search_runs(&self, experiment: &str, key: &str, value: &str) -> Result<Vec<RunSummary>> {
        runs::search_runs(self, experiment, key, value)
    }

    fn read_artifact(&self, run_id: &str, path: &str) -> Result<Vec<u8>> {
        artifacts::read_artifact(self, run_id, path)
    }

    fn run_status(&self, run_id: &str) -> Result<String> {
        runs::run_status(self, run_id)
    }

    fn register_version(
        &self,
        model: &str,
        run_id: &str,
        artifact_path: &str,
    ) -> Result<ModelVersion> {
        registry::register_version(self, model, run_id, artifact_path)
    }

    fn model_version(&self, model: &str, version: &str) -> Result<ModelVersion> {
        registry::model_version(self, model, version)
    }

    fn set_alias(&self, model: &str, alias: &str, version: &str) -> Result<()> {
        registry::set_alias(self, model, alias, version)
    }

    fn alias(&self, model: &str, alias: &str) -> Result<Option<ModelVersion>> {
        registry::alias(self, model, alias)
    }

    fn download_version(&self, version: &ModelVersion, dest: &Path) -> Result<()> {
        registry::download_version(self, version, dest)
    }
}
