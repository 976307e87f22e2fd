//! An MLflow 3 REST client.
//!
//! Facts it relies on (measured against MLflow 3.17): POST bodies need
//! `Content-Type: application/json`; errors are `{"error_code", "message"}` and the client
//! branches on `error_code`, not the HTTP status (an unknown alias is a 400
//! `INVALID_PARAMETER_VALUE`); metric values NaN and ±Infinity must be sent as strings; param
//! values cannot change; artifacts go through the proxied artifact API
//! (`mlflow-artifacts:/X` is `/api/2.0/mlflow-artifacts/artifacts/X`). Every call has a timeout,
//! and idempotent calls are retried with exponential backoff on transport errors, 429 and 5xx.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use backon::{BlockingRetryable, ExponentialBuilder};
use fs_err as fs;
use reqwest::blocking::{Client, RequestBuilder, Response};
use reqwest::Method;
use serde_json::{json, Value};

use crate::{
    files_under, now_ms, write_under, Metric, ModelVersion, Result, RunInfo, RunStatus, Tracker,
    TrackingError,
};

const API: &str = "/api/2.0/mlflow";
const ARTIFACTS: &str = "/api/2.0/mlflow-artifacts/artifacts";
/// Tries of an idempotent call, the first included.
const ATTEMPTS: usize = 4;
/// MLflow's limits per log-batch request.
const MAX_METRICS_PER_BATCH: usize = 1000;
const MAX_PARAMS_PER_BATCH: usize = 100;

/// A connection to one MLflow tracking server.
#[derive(Debug, Clone)]
pub struct MlflowClient {
    base: String,
    http: Client,
    /// Delay before the first retry, doubled before each further one (tests shorten it).
    backoff: Duration,
}

impl MlflowClient {
    pub fn new(base_url: &str) -> Result<Self> {
        let base = base_url.trim_end_matches('/').to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(TrackingError::Invalid(format!(
                "MLflow tracking URI {base_url:?} is not an http(s) URL"
            )));
        }
        let http = Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| TrackingError::Invalid(format!("HTTP client: {e}")))?;
        Ok(Self {
            base,
            http,
            backoff: Duration::from_millis(250),
        })
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// Sends a request, retrying it on transient errors if `idempotent`; returns the successful
    /// response, or the last error.
    fn send(
        &self,
        endpoint: &str,
        idempotent: bool,
        build: impl Fn() -> RequestBuilder,
    ) -> Result<Response> {
        let once = || -> Result<Response> {
            let response = build().send().map_err(|e| TrackingError::Transport {
                endpoint: endpoint.to_owned(),
                message: e.to_string(),
            })?;
            if response.status().is_success() {
                Ok(response)
            } else {
                Err(api_error(endpoint, response))
            }
        };
        let retries = if idempotent { ATTEMPTS - 1 } else { 0 };
        let backoff = ExponentialBuilder::default()
            .with_min_delay(self.backoff)
            .with_factor(2.0)
            .with_max_times(retries);
        let mut attempt = 0u32;
        once.retry(backoff)
            .when(is_transient)
            .notify(|error: &TrackingError, delay: Duration| {
                attempt += 1;
                tracing::warn!(
                    endpoint,
                    attempt,
                    %error,
                    "MLflow call failed, retrying in {delay:?}"
                );
            })
            .call()
    }

    fn get(&self, endpoint: &str, query: &[(&str, &str)]) -> Result<Value> {
        let url = format!("{}{API}/{endpoint}", self.base);
        let response = self.send(endpoint, true, || self.http.get(&url).query(query))?;
        read_json(endpoint, response)
    }

    fn post(&self, endpoint: &str, body: &Value, idempotent: bool) -> Result<Value> {
        self.send_json(Method::POST, endpoint, body, idempotent)
    }

    /// PATCH: setting a status is idempotent, so it is retried.
    fn patch(&self, endpoint: &str, body: &Value) -> Result<Value> {
        self.send_json(Method::PATCH, endpoint, body, true)
    }

    fn send_json(
        &self,
        method: Method,
        endpoint: &str,
        body: &Value,
        idempotent: bool,
    ) -> Result<Value> {
        let url = format!("{}{API}/{endpoint}", self.base);
        let response = self.send(endpoint, idempotent, || {
            self.http
                .request(method.clone(), &url)
                .header("Content-Type", "application/json")
                .body(body.to_string())
        })?;
        read_json(endpoint, response)
    }

    fn artifact_url(&self, path: &str) -> String {
        let encoded: Vec<String> = path.split('/').map(percent_encode).collect();
        format!("{}{ARTIFACTS}/{}", self.base, encoded.join("/"))
    }

    fn put_artifact(&self, path: &str, bytes: Vec<u8>) -> Result<()> {
        let url = self.artifact_url(path);
        self.send("mlflow-artifacts PUT", true, || {
            self.http.put(&url).body(bytes.clone())
        })?;
        Ok(())
    }

    fn get_artifact(&self, path: &str) -> Result<Vec<u8>> {
        let url = self.artifact_url(path);
        let response = self.send("mlflow-artifacts GET", true, || self.http.get(&url))?;
        response
            .bytes()
            .map(|b| b.to_vec())
            .map_err(|e| TrackingError::Transport {
                endpoint: "mlflow-artifacts GET".into(),
                message: e.to_string(),
            })
    }

    /// Files under artifact `path`, recursively, relative to `path`.
    fn list_artifact_files(&self, path: &str) -> Result<Vec<String>> {
        let url = format!("{}{ARTIFACTS}", self.base);
        let response = self.send("mlflow-artifacts list", true, || {
            self.http.get(&url).query(&[("path", path)])
        })?;
        let listing = read_json("mlflow-artifacts list", response)?;
        let mut files = Vec::new();
        for entry in listing["files"].as_array().into_iter().flatten() {
            let name = str_field(entry, "path")?;
            if entry["is_dir"].as_bool().unwrap_or(false) {
                for inner in self.list_artifact_files(&format!("{path}/{name}"))? {
                    files.push(format!("{name}/{inner}"));
                }
            } else {
                files.push(name);
            }
        }
        files.sort();
        Ok(files)
    }
}

fn api_error(endpoint: &str, response: Response) -> TrackingError {
    let status = response.status().as_u16();
    let body = response.text().unwrap_or_default();
    let parsed: Option<Value> = serde_json::from_str(&body).ok();
    let field = |name: &str| {
        parsed
            .as_ref()
            .and_then(|v| v[name].as_str())
            .map(str::to_owned)
    };
    TrackingError::Api {
        endpoint: endpoint.to_owned(),
        status,
        error_code: field("error_code").unwrap_or_else(|| "HTTP_ERROR".into()),
        message: field("message").unwrap_or_else(|| body.chars().take(200).collect()),
    }
}

fn read_json(endpoint: &str, response: Response) -> Result<Value> {
    response.json().map_err(|e| TrackingError::Transport {
        endpoint: endpoint.to_owned(),
        message: format!("invalid JSON answer: {e}"),
    })
}

fn str_field(value: &Value, name: &str) -> Result<String> {
    value[name]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| TrackingError::Invalid(format!("MLflow answer lacks `{name}`: {value}")))
}

/// Worth retrying: the server was not reached, throttled (429) or failed (5xx).
fn is_transient(error: &TrackingError) -> bool {
    match error {
        TrackingError::Transport { .. } => true,
        TrackingError::Api { status, .. } => *status == 429 || (500..600).contains(status),
        _ => false,
    }
}

fn is_code(error: &TrackingError, code: &str) -> bool {
    matches!(error, TrackingError::Api { error_code, .. } if error_code == code)
}

fn percent_encode(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A metric value as MLflow accepts it: non-finite values as the strings it understands.
fn metric_value(value: f64) -> Value {
    if value.is_nan() {
        json!("NaN")
    } else if value == f64::INFINITY {
        json!("Infinity")
    } else if value == f64::NEG_INFINITY {
        json!("-Infinity")
    } else {
        json!(value)
    }
}

fn parse_metric_value(value: &Value) -> f64 {
    match value {
        Value::String(s) if s == "NaN" => f64::NAN,
        Value::String(s) if s == "Infinity" => f64::INFINITY,
        Value::String(s) if s == "-Infinity" => f64::NEG_INFINITY,
        other => other.as_f64().unwrap_or(f64::NAN),
    }
}

/// `LoggedModelStatus` values.
const LOGGED_MODEL_READY: i64 = 2;
const LOGGED_MODEL_UPLOAD_FAILED: i64 = 3;
/// Pages of a logged-model search read before giving up.
const MAX_SEARCH_PAGES: usize = 100;

/// `root/path`, either of which may be empty.
fn join_artifact_path(root: &str, path: &str) -> String {
    [root, path]
        .iter()
        .filter(|p| !p.is_empty())
        .cloned()
        .collect::<Vec<_>>()
        .join("/")
}

/// `mlflow-artifacts:/X` to the artifact path `X`.
fn artifact_path_of(uri: &str) -> Result<String> {
    uri.strip_prefix("mlflow-artifacts:/")
        .map(|p| p.trim_start_matches('/').to_owned())
        .ok_or_else(|| {
            TrackingError::Invalid(format!(
                "artifact location {uri} is not proxied (start the server with --serve-artifacts)"
            ))
        })
}

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

    fn run_info(&self, run_id: &str) -> Result<Value> {
        let run = self.client.get("runs/get", &[("run_id", run_id)])?;
        Ok(run["run"].clone())
    }

    fn run_artifact_root(&self, run_id: &str) -> Result<String> {
        let run = self.run_info(run_id)?;
        artifact_path_of(&str_field(&run["info"], "artifact_uri")?)
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

    /// Uploads every file under `local_dir` to the artifact path `root`.
    fn upload_dir(&self, local_dir: &Path, root: &str) -> Result<()> {
        for (relpath, path) in files_under(local_dir)? {
            let bytes = fs::read(&path)?;
            self.client
                .put_artifact(&join_artifact_path(root, &relpath), bytes)?;
        }
        Ok(())
    }

    /// The ready logged model named `name` that run `run` produced (the latest if several), as
    /// MLflow's own client finds it when registering `runs:/<run>/<name>`.
    fn logged_model_of(&self, run: &Value, name: &str) -> Result<Option<String>> {
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
    fn logged_model_root(&self, model_id: &str) -> Result<String> {
        let found = self
            .client
            .get(&format!("logged-models/{}", percent_encode(model_id)), &[])?;
        artifact_path_of(&str_field(&found["model"]["info"], "artifact_uri")?)
    }

    fn version_from(value: &Value) -> Result<ModelVersion> {
        Ok(ModelVersion {
            name: str_field(value, "name")?,
            version: str_field(value, "version")?,
            run_id: value["run_id"].as_str().unwrap_or_default().to_owned(),
            source: str_field(value, "source")?,
        })
    }
}

fn key_values(pairs: &[(String, String)]) -> Vec<Value> {
    pairs
        .iter()
        .map(|(k, v)| json!({ "key": k, "value": v }))
        .collect()
}

impl Tracker for MlflowTracker {
    fn kind(&self) -> &'static str {
        "mlflow"
    }

    fn location(&self) -> String {
        self.client.base.clone()
    }

    fn create_run(&self, experiment: &str, run_name: &str) -> Result<RunInfo> {
        let experiment_id = self.experiment_id(experiment)?;
        let body = json!({
            "experiment_id": experiment_id,
            "run_name": run_name,
            "start_time": now_ms(),
        });
        let created = self.client.post("runs/create", &body, false)?;
        Ok(RunInfo {
            run_id: str_field(&created["run"]["info"], "run_id")?,
            experiment_id,
        })
    }

    fn log_params(&self, run_id: &str, params: &[(String, String)]) -> Result<()> {
        for chunk in params.chunks(MAX_PARAMS_PER_BATCH) {
            self.log_batch(run_id, vec![], key_values(chunk), vec![])?;
        }
        Ok(())
    }

    fn log_metrics(&self, run_id: &str, metrics: &[Metric]) -> Result<()> {
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
            self.log_batch(run_id, values, vec![], vec![])?;
        }
        Ok(())
    }

    fn set_tags(&self, run_id: &str, tags: &[(String, String)]) -> Result<()> {
        self.log_batch(run_id, vec![], vec![], key_values(tags))
    }

    fn log_artifacts(&self, run_id: &str, local_dir: &Path, artifact_path: &str) -> Result<()> {
        let root = self.run_artifact_root(run_id)?;
        self.upload_dir(local_dir, &join_artifact_path(&root, artifact_path))
    }

    fn log_model(&self, run_id: &str, local_dir: &Path, name: &str) -> Result<()> {
        // One look at the run: its artifact root and its experiment.
        let run = self.run_info(run_id)?;
        let run_root = artifact_path_of(&str_field(&run["info"], "artifact_uri")?)?;
        self.upload_dir(local_dir, &join_artifact_path(&run_root, name))?;
        let experiment_id = str_field(&run["info"], "experiment_id")?;
        let created = self.client.post(
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
            .and_then(|root| self.upload_dir(local_dir, &root));
        let status = if uploaded.is_ok() {
            LOGGED_MODEL_READY
        } else {
            LOGGED_MODEL_UPLOAD_FAILED
        };
        let finalised = self.client.patch(
            &format!("logged-models/{}", percent_encode(&model_id)),
            &json!({ "model_id": model_id, "status": status }),
        );
        uploaded?;
        finalised?;
        // Not retried: each call records another output row.
        self.client.post(
            "runs/outputs",
            &json!({ "run_id": run_id, "models": [{ "model_id": model_id, "step": 0 }] }),
            false,
        )?;
        tracing::info!(model_id, run_id, "logged model {name} in MLflow");
        Ok(())
    }

    fn finish_run(&self, run_id: &str, status: RunStatus) -> Result<()> {
        let body = json!({ "run_id": run_id, "status": status.as_str(), "end_time": now_ms() });
        self.client.post("runs/update", &body, true)?;
        Ok(())
    }

    fn run_params(&self, run_id: &str) -> Result<BTreeMap<String, String>> {
        let run = self.run_info(run_id)?;
        let mut params = BTreeMap::new();
        for param in run["data"]["params"].as_array().into_iter().flatten() {
            params.insert(str_field(param, "key")?, str_field(param, "value")?);
        }
        Ok(params)
    }

    fn metric_history(&self, run_id: &str, key: &str) -> Result<Vec<Metric>> {
        let answer = self.client.get(
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

    fn list_artifacts(&self, run_id: &str) -> Result<Vec<String>> {
        let root = self.run_artifact_root(run_id)?;
        self.client.list_artifact_files(&root)
    }

    fn run_status(&self, run_id: &str) -> Result<String> {
        str_field(&self.run_info(run_id)?["info"], "status")
    }

    fn register_version(
        &self,
        model: &str,
        run_id: &str,
        artifact_path: &str,
    ) -> Result<ModelVersion> {
        match self
            .client
            .post("registered-models/create", &json!({ "name": model }), false)
        {
            Ok(_) => {}
            Err(e) if is_code(&e, "RESOURCE_ALREADY_EXISTS") => {}
            Err(e) => return Err(e),
        }
        let run = self.run_info(run_id)?;
        // MLflow 3: version the run's logged model, so the registry knows its signature and
        // `models:/<name>@<alias>` loads through it; runs logged without one (older runs)
        // are versioned from their artifacts as before.
        let body = match self.logged_model_of(&run, artifact_path)? {
            Some(model_id) => json!({
                "name": model,
                "source": format!("models:/{model_id}"),
                "run_id": run_id,
                "model_id": model_id,
            }),
            None => {
                let source = format!(
                    "{}/{}",
                    str_field(&run["info"], "artifact_uri")?,
                    artifact_path
                );
                json!({ "name": model, "source": source, "run_id": run_id })
            }
        };
        let created = self.client.post("model-versions/create", &body, false)?;
        Self::version_from(&created["model_version"])
    }

    fn model_version(&self, model: &str, version: &str) -> Result<ModelVersion> {
        let answer = self
            .client
            .get(
                "model-versions/get",
                &[("name", model), ("version", version)],
            )
            .map_err(|e| {
                if is_code(&e, "RESOURCE_DOES_NOT_EXIST") {
                    TrackingError::NotFound(format!("model {model} version {version}"))
                } else {
                    e
                }
            })?;
        Self::version_from(&answer["model_version"])
    }

    fn set_alias(&self, model: &str, alias: &str, version: &str) -> Result<()> {
        let body = json!({ "name": model, "alias": alias, "version": version });
        self.client.post("registered-models/alias", &body, true)?;
        Ok(())
    }

    fn alias(&self, model: &str, alias: &str) -> Result<Option<ModelVersion>> {
        match self.client.get(
            "registered-models/alias",
            &[("name", model), ("alias", alias)],
        ) {
            Ok(answer) => Self::version_from(&answer["model_version"]).map(Some),
            // An unknown alias is a 400 INVALID_PARAMETER_VALUE; an unknown model a 404.
            Err(e)
                if is_code(&e, "INVALID_PARAMETER_VALUE")
                    || is_code(&e, "RESOURCE_DOES_NOT_EXIST") =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    fn download_version(&self, version: &ModelVersion, dest: &Path) -> Result<()> {
        let root = if let Some(rest) = version.source.strip_prefix("runs:/") {
            let (run_id, path) = rest.split_once('/').unwrap_or((rest, ""));
            format!("{}/{path}", self.run_artifact_root(run_id)?)
        } else if let Some(model_id) = version.source.strip_prefix("models:/") {
            self.logged_model_root(model_id)?
        } else {
            artifact_path_of(&version.source)?
        };
        let root = root.trim_end_matches('/');
        let files = self.client.list_artifact_files(root)?;
        if files.is_empty() {
            return Err(TrackingError::NotFound(format!(
                "files of model {} version {}",
                version.name, version.version
            )));
        }
        for relpath in files {
            let bytes = self.client.get_artifact(&format!("{root}/{relpath}"))?;
            write_under(dest, &relpath, &bytes)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_finite_metrics_are_sent_as_strings() {
        assert_eq!(metric_value(f64::NAN), json!("NaN"));
        assert_eq!(metric_value(f64::INFINITY), json!("Infinity"));
        assert_eq!(metric_value(f64::NEG_INFINITY), json!("-Infinity"));
        assert_eq!(metric_value(0.5), json!(0.5));
        assert!(parse_metric_value(&json!("NaN")).is_nan());
        assert_eq!(parse_metric_value(&json!(2.0)), 2.0);
    }

    #[test]
    fn artifact_uris_map_to_the_proxy_api() {
        assert_eq!(
            artifact_path_of("mlflow-artifacts:/1/abc/artifacts").unwrap(),
            "1/abc/artifacts"
        );
        assert!(artifact_path_of("s3://bucket/x").is_err());
        assert_eq!(percent_encode("a b/c"), "a%20b%2Fc");
    }

    #[test]
    fn only_http_urls_are_accepted() {
        assert!(MlflowClient::new("localhost:5000").is_err());
        assert!(MlflowClient::new("http://127.0.0.1:5000/").is_ok());
    }

    #[test]
    fn only_transport_errors_429_and_5xx_are_retried() {
        let api = |status| TrackingError::Api {
            endpoint: "x".into(),
            status,
            error_code: "E".into(),
            message: String::new(),
        };
        assert!(is_transient(&TrackingError::Transport {
            endpoint: "x".into(),
            message: "refused".into(),
        }));
        assert!(is_transient(&api(429)));
        assert!(is_transient(&api(500)));
        assert!(is_transient(&api(503)));
        assert!(!is_transient(&api(400)));
        assert!(!is_transient(&api(404)));
        assert!(!is_transient(&TrackingError::NotFound("run".into())));
    }

    #[test]
    fn an_unreachable_server_is_a_transport_error_after_retries() {
        let mut client = MlflowClient::new("http://127.0.0.1:9").unwrap();
        client.backoff = Duration::from_millis(1);
        let err = client.get("experiments/get-by-name", &[]).unwrap_err();
        assert!(matches!(err, TrackingError::Transport { .. }), "{err}");
    }
}
