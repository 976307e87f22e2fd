//! The model registry: registered models, their versions and aliases (an unknown alias is a 400
//! `INVALID_PARAMETER_VALUE`), and downloading a version's files.

use std::path::Path;

use serde_json::{json, Value};

use super::artifacts::artifact_path_of;
use super::encoding::str_field;
use super::transport::is_code;
use super::MlflowTracker;
use crate::{write_under, ModelVersion, Result, TrackingError};

fn version_from(value: &Value) -> Result<ModelVersion> {
    Ok(ModelVersion {
        name: str_field(value, "name")?,
        version: str_field(value, "version")?,
        run_id: value["run_id"].as_str().unwrap_or_default().to_owned(),
        source: str_field(value, "source")?,
    })
}

/// [`crate::Tracker::register_version`].
pub(super) fn register_version(
    tracker: &MlflowTracker,
    model: &str,
    run_id: &str,
    artifact_path: &str,
) -> Result<ModelVersion> {
    match tracker
        .client
        .post("registered-models/create", &json!({ "name": model }), false)
    {
        Ok(_) => {}
        Err(e) if is_code(&e, "RESOURCE_ALREADY_EXISTS") => {}
        Err(e) => return Err(e),
    }
    let run = tracker.run_info(run_id)?;
    // MLflow 3: version the run's logged model, so the registry knows its signature and
    // `models:/<name>@<alias>` loads through it; runs logged without one (older runs)
    // are versioned from their artifacts as before.
    let body = match tracker.logged_model_of(&run, artifact_path)? {
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
    let created = tracker.client.post("model-versions/create", &body, false)?;
    version_from(&created["model_version"])
}

/// [`crate::Tracker::model_version`].
pub(super) fn model_version(
    tracker: &MlflowTracker,
    model: &str,
    version: &str,
) -> Result<ModelVersion> {
    let answer = tracker
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
    version_from(&answer["model_version"])
}

/// [`crate::Tracker::set_alias`].
pub(super) fn set_alias(
    tracker: &MlflowTracker,
    model: &str,
    alias: &str,
    version: &str,
) -> Result<()> {
    let body = json!({ "name": model, "alias": alias, "version": version });
    tracker
        .client
        .post("registered-models/alias", &body, true)?;
    Ok(())
}

/// [`crate::Tracker::alias`].
pub(super) fn alias(
    tracker: &MlflowTracker,
    model: &str,
    alias: &str,
) -> Result<Option<ModelVersion>> {
    match tracker.client.get(
        "registered-models/alias",
        &[("name", model), ("alias", alias)],
    ) {
        Ok(answer) => version_from(&answer["model_version"]).map(Some),
        // An unknown alias is a 400 INVALID_PARAMETER_VALUE; an unknown model a 404.
        Err(e)
            if is_code(&e, "INVALID_PARAMETER_VALUE") || is_code(&e, "RESOURCE_DOES_NOT_EXIST") =>
        {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// [`crate::Tracker::download_version`].
pub(super) fn download_version(
    tracker: &MlflowTracker,
    version: &ModelVersion,
    dest: &Path,
) -> Result<()> {
    let root = if let Some(rest) = version.source.strip_prefix("runs:/") {
        let (run_id, path) = rest.split_once('/').unwrap_or((rest, ""));
        format!("{}/{path}", tracker.run_artifact_root(run_id)?)
    } else if let Some(model_id) = version.source.strip_prefix("models:/") {
        tracker.logged_model_root(model_id)?
    } else {
        artifact_path_of(&version.source)?
    };
    let root = root.trim_end_matches('/');
    let files = tracker.client.list_artifact_files(root)?;
    if files.is_empty() {
        return Err(TrackingError::NotFound(format!(
            "files of model {} version {}",
            version.name, version.version
        )));
    }
    for relpath in files {
        let bytes = tracker.client.get_artifact(&format!("{root}/{relpath}"))?;
        write_under(dest, &relpath, &bytes)?;
    }
    Ok(())
}
