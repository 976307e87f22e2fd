//! Run artifacts, through the proxied artifact API: `mlflow-artifacts:/X` is
//! `/api/2.0/mlflow-artifacts/artifacts/X` (the server must run with `--serve-artifacts`).

use std::path::Path;

use fs_err as fs;

use super::encoding::{percent_encode, str_field};
use super::transport::read_json;
use super::{MlflowClient, MlflowTracker};
use crate::{files_under, Result, TrackingError};

const ARTIFACTS: &str = "/api/2.0/mlflow-artifacts/artifacts";

impl MlflowClient {
    fn artifact_url(&self, path: &str) -> String {
        let encoded: Vec<String> = path.split('/').map(percent_encode).collect();
        format!("{}{ARTIFACTS}/{}", self.base, encoded.join("/"))
    }

    pub(super) fn put_artifact(&self, path: &str, bytes: Vec<u8>) -> Result<()> {
        let url = self.artifact_url(path);
        self.send("mlflow-artifacts PUT", true, || {
            self.http.put(&url).body(bytes.clone())
        })?;
        Ok(())
    }

    pub(super) fn get_artifact(&self, path: &str) -> Result<Vec<u8>> {
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
    pub(super) fn list_artifact_files(&self, path: &str) -> Result<Vec<String>> {
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

/// `root/path`, either of which may be empty.
pub(super) fn join_artifact_path(root: &str, path: &str) -> String {
    [root, path]
        .iter()
        .filter(|p| !p.is_empty())
        .cloned()
        .collect::<Vec<_>>()
        .join("/")
}

/// `mlflow-artifacts:/X` to the artifact path `X`.
pub(super) fn artifact_path_of(uri: &str) -> Result<String> {
    uri.strip_prefix("mlflow-artifacts:/")
        .map(|p| p.trim_start_matches('/').to_owned())
        .ok_or_else(|| {
            TrackingError::Invalid(format!(
                "artifact location {uri} is not proxied (start the server with --serve-artifacts)"
            ))
        })
}

impl MlflowTracker {
    pub(super) fn run_artifact_root(&self, run_id: &str) -> Result<String> {
        let run = self.run_info(run_id)?;
        artifact_path_of(&str_field(&run["info"], "artifact_uri")?)
    }

    /// Uploads every file under `local_dir` to the artifact path `root`.
    pub(super) fn upload_dir(&self, local_dir: &Path, root: &str) -> Result<()> {
        for (relpath, path) in files_under(local_dir)? {
            let bytes = fs::read(&path)?;
            self.client
                .put_artifact(&join_artifact_path(root, &relpath), bytes)?;
        }
        Ok(())
    }
}

/// [`crate::Tracker::log_artifacts`].
pub(super) fn log_artifacts(
    tracker: &MlflowTracker,
    run_id: &str,
    local_dir: &Path,
    artifact_path: &str,
) -> Result<()> {
    let root = tracker.run_artifact_root(run_id)?;
    tracker.upload_dir(local_dir, &join_artifact_path(&root, artifact_path))
}

/// [`crate::Tracker::list_artifacts`].
pub(super) fn list_artifacts(tracker: &MlflowTracker, run_id: &str) -> Result<Vec<String>> {
    let root = tracker.run_artifact_root(run_id)?;
    tracker.client.list_artifact_files(&root)
}

/// [`crate::Tracker::read_artifact`].
pub(super) fn read_artifact(tracker: &MlflowTracker, run_id: &str, path: &str) -> Result<Vec<u8>> {
    let root = tracker.run_artifact_root(run_id)?;
    if path
        .split('/')
        .any(|part| part.is_empty() || part == "." || part == "..")
    {
        return Err(TrackingError::Invalid(format!(
            "artifact path {path:?} must be relative, without '.' or '..'"
        )));
    }
    tracker
        .client
        .get_artifact(&join_artifact_path(&root, path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artifact_uris_map_to_the_proxy_api() {
        assert_eq!(
            artifact_path_of("mlflow-artifacts:/1/abc/artifacts").unwrap(),
            "1/abc/artifacts"
        );
        assert!(artifact_path_of("s3://bucket/x").is_err());
        assert_eq!(percent_encode("a b/c"), "a%20b%2Fc");
    }
}
