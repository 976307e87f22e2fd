//! The local tracking store: MLflow's information in a human-readable directory.
//!
//! ```text
//! <root>/experiments/<name>.json                 {"name", "experiment_id"}
//! <root>/runs/<run_id>/run.json                  name, experiment, status, start/end times, tags
//! <root>/runs/<run_id>/params.json               {"key": "value"}
//! <root>/runs/<run_id>/metrics/<key>.csv         step,timestamp_ms,value   (full history)
//! <root>/runs/<run_id>/artifacts/...             the run's files
//! <root>/models/<name>/versions/<n>.json         {"version", "run_id", "source", "created_ms"}
//! <root>/models/<name>/aliases.json              {"production": "3"}
//! <root>/models/<name>/alias_history.jsonl       one line per alias move
//! ```
//!
//! Every file is written atomically. The store is meant for one pipeline at a time.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use artifact_store::atomic;
use fs_err as fs;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::{
    check_search_value, files_under, now_ms, write_under, Metric, ModelVersion, Result, RunInfo,
    RunStatus, RunSummary, Tracker, TrackingError,
};

#[derive(Debug, Clone)]
pub struct LocalTracker {
    root: PathBuf,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct RunRecord {
    run_id: String,
    run_name: String,
    experiment: String,
    experiment_id: String,
    status: String,
    start_time_ms: i64,
    end_time_ms: Option<i64>,
    tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct VersionRecord {
    version: String,
    run_id: String,
    source: String,
    created_ms: i64,
}

/// Names that become file names must be plain.
fn check_name(kind: &str, name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name != "."
        && name != ".."
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if ok {
        Ok(())
    } else {
        Err(TrackingError::Invalid(format!(
            "{kind} {name:?} may only use letters, digits, '-', '_' and '.'"
        )))
    }
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T> {
    let text = fs::read_to_string(path)?;
    serde_json::from_str(&text)
        .map_err(|e| TrackingError::Invalid(format!("{}: {e}", path.display())))
}

/// Writes `bytes` to `path` atomically; the error names the file (`atomic`'s do not).
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    atomic::write_file(path, bytes).map_err(|source| TrackingError::Write {
        path: path.to_owned(),
        source,
    })
}

fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(value).expect("records serialise") + "\n";
    write_atomic(path, text.as_bytes())
}

fn append_line(path: &Path, line: &str) -> Result<()> {
    let mut text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e.into()),
    };
    text.push_str(line);
    text.push('\n');
    write_atomic(path, text.as_bytes())
}

impl LocalTracker {
    pub fn open(root: &Path) -> Result<Self> {
        fs::create_dir_all(root)?;
        Ok(Self {
            root: root.to_owned(),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn run_dir(&self, run_id: &str) -> Result<PathBuf> {
        check_name("run id", run_id)?;
        let dir = self.root.join("runs").join(run_id);
        if dir.is_dir() {
            Ok(dir)
        } else {
            Err(TrackingError::NotFound(format!("run {run_id}")))
        }
    }

    fn run_record(&self, run_id: &str) -> Result<RunRecord> {
        read_json(&self.run_dir(run_id)?.join("run.json"))
    }

    fn model_dir(&self, model: &str) -> Result<PathBuf> {
        check_name("model name", model)?;
        Ok(self.root.join("models").join(model))
    }

    fn aliases(&self, model: &str) -> Result<BTreeMap<String, String>> {
        let path = self.model_dir(model)?.join("aliases.json");
        if path.exists() {
            read_json(&path)
        } else {
            Ok(BTreeMap::new())
        }
    }

    /// Where a version's files are on disk.
    pub fn version_files(&self, version: &ModelVersion) -> Result<PathBuf> {
        let rest = version.source.strip_prefix("runs:/").ok_or_else(|| {
            TrackingError::Invalid(format!("{} is not a runs:/ source", version.source))
        })?;
        let (run_id, path) = rest.split_once('/').unwrap_or((rest, ""));
        Ok(self.run_dir(run_id)?.join("artifacts").join(path))
    }
}

impl Tracker for LocalTracker {
    fn kind(&self) -> &'static str {
        "local"
    }

    fn location(&self) -> String {
        self.root.display().to_string()
    }

    fn create_run(&self, experiment: &str, run_name: &str) -> Result<RunInfo> {
        check_name("experiment", experiment)?;
        let experiment_path = self
            .root
            .join("experiments")
            .join(format!("{experiment}.json"));
        let experiment_id = if experiment_path.exists() {
            let record: serde_json::Value = read_json(&experiment_path)?;
            record["experiment_id"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        } else {
            let existing = fs::read_dir(self.root.join("experiments"))
                .map(|d| d.count())
                .unwrap_or(0);
            let id = (existing + 1).to_string();
            write_json(
                &experiment_path,
                &json!({ "name": experiment, "experiment_id": id }),
            )?;
            id
        };
        let seed = format!(
            "{run_name}{}{:?}",
            std::process::id(),
            std::time::SystemTime::now()
        );
        let run_id = artifact_store::dvc::bytes_md5(seed.as_bytes());
        let record = RunRecord {
            run_id: run_id.clone(),
            run_name: run_name.to_owned(),
            experiment: experiment.to_owned(),
            experiment_id: experiment_id.clone(),
            status: "RUNNING".into(),
            start_time_ms: now_ms(),
            end_time_ms: None,
            tags: BTreeMap::new(),
        };
        write_json(
            &self.root.join("runs").join(&run_id).join("run.json"),
            &record,
        )?;
        Ok(RunInfo {
            run_id,
            experiment_id,
        })
    }

    fn log_params(&self, run_id: &str, params: &[(String, String)]) -> Result<()> {
        let mut current = self.run_params(run_id)?;
        for (key, value) in params {
            match current.get(key) {
                Some(old) if old != value => {
                    return Err(TrackingError::Invalid(format!(
                    "param {key} of run {run_id} is {old:?}; changing param values is not allowed"
                )))
                }
                _ => {
                    current.insert(key.clone(), value.clone());
                }
            }
        }
        write_json(&self.run_dir(run_id)?.join("params.json"), &current)
    }

    fn log_metrics(&self, run_id: &str, metrics: &[Metric]) -> Result<()> {
        let dir = self.run_dir(run_id)?.join("metrics");
        let mut by_key: BTreeMap<&str, Vec<&Metric>> = BTreeMap::new();
        for metric in metrics {
            check_name("metric key", &metric.key)?;
            by_key.entry(&metric.key).or_default().push(metric);
        }
        for (key, points) in by_key {
            let path = dir.join(format!("{key}.csv"));
            let mut text = match fs::read_to_string(&path) {
                Ok(text) => text,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    "step,timestamp_ms,value\n".into()
                }
                Err(e) => return Err(e.into()),
            };
            for point in points {
                text.push_str(&format!(
                    "{},{},{}\n",
                    point.step, point.timestamp_ms, point.value
                ));
            }
            write_atomic(&path, text.as_bytes())?;
        }
        Ok(())
    }

    fn set_tags(&self, run_id: &str, tags: &[(String, String)]) -> Result<()> {
        let mut record = self.run_record(run_id)?;
        record.tags.extend(tags.iter().cloned());
        write_json(&self.run_dir(run_id)?.join("run.json"), &record)
    }

    fn log_artifacts(&self, run_id: &str, local_dir: &Path, artifact_path: &str) -> Result<()> {
        let target = self.run_dir(run_id)?.join("artifacts").join(artifact_path);
        for (relpath, path) in files_under(local_dir)? {
            let bytes = fs::read(&path)?;
            write_atomic(&target.join(relpath), &bytes)?;
        }
        Ok(())
    }

    /// This store has no separate logged-model entity: the run's artifacts under `name` are
    /// the MLflow model directory (which `mlflow.pyfunc.load_model` reads from a path).
    fn log_model(&self, run_id: &str, local_dir: &Path, name: &str) -> Result<()> {
        self.log_artifacts(run_id, local_dir, name)
    }

    fn finish_run(&self, run_id: &str, status: RunStatus) -> Result<()> {
        let mut record = self.run_record(run_id)?;
        record.status = status.as_str().into();
        record.end_time_ms = Some(now_ms());
        write_json(&self.run_dir(run_id)?.join("run.json"), &record)
    }

    fn run_params(&self, run_id: &str) -> Result<BTreeMap<String, String>> {
        let path = self.run_dir(run_id)?.join("params.json");
        if path.exists() {
            read_json(&path)
        } else {
            Ok(BTreeMap::new())
        }
    }

    fn metric_history(&self, run_id: &str, key: &str) -> Result<Vec<Metric>> {
        check_name("metric key", key)?;
        let path = self
            .run_dir(run_id)?
            .join("metrics")
            .join(format!("{key}.csv"));
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
            Err(e) => return Err(e.into()),
        };
        let bad =
            |line: &str| TrackingError::Invalid(format!("{}: bad line {line:?}", path.display()));
        text.lines()
            .skip(1)
            .map(|line| {
                let mut fields = line.split(',');
                let mut next = || fields.next().ok_or_else(|| bad(line));
                Ok(Metric {
                    key: key.to_owned(),
                    step: next()?.parse().map_err(|_| bad(line))?,
                    timestamp_ms: next()?.parse().map_err(|_| bad(line))?,
                    value: next()?.parse().map_err(|_| bad(line))?,
                })
            })
            .collect()
    }

    fn list_artifacts(&self, run_id: &str) -> Result<Vec<String>> {
        let dir = self.run_dir(run_id)?.join("artifacts");
        if !dir.exists() {
            return Ok(vec![]);
        }
        Ok(files_under(&dir)?.into_iter().map(|(rel, _)| rel).collect())
    }

    fn run_status(&self, run_id: &str) -> Result<String> {
        Ok(self.run_record(run_id)?.status)
    }

    fn search_runs(&self, experiment: &str, key: &str, value: &str) -> Result<Vec<RunSummary>> {
        check_search_value(key)?;
        check_search_value(value)?;
        let runs = self.root.join("runs");
        if !runs.is_dir() {
            return Ok(vec![]);
        }
        let mut found = Vec::new();
        for entry in fs::read_dir(&runs)? {
            let path = entry?.path().join("run.json");
            if !path.is_file() {
                continue;
            }
            // One damaged record does not hide every other run from a search.
            let record: RunRecord = match read_json(&path) {
                Ok(record) => record,
                Err(e) => {
                    tracing::warn!(path = %path.display(), "run record skipped: {e}");
                    continue;
                }
            };
            if record.experiment == experiment
                && record.tags.get(key).map(String::as_str) == Some(value)
            {
                found.push(RunSummary {
                    run_id: record.run_id,
                    status: record.status,
                    start_time_ms: record.start_time_ms,
                    tags: record.tags,
                });
            }
        }
        found.sort_by(|a, b| (a.start_time_ms, &a.run_id).cmp(&(b.start_time_ms, &b.run_id)));
        Ok(found)
    }

    fn read_artifact(&self, run_id: &str, path: &str) -> Result<Vec<u8>> {
        let root = self.run_dir(run_id)?.join("artifacts");
        let file = artifact_store::paths::contained_join(&root, path)
            .map_err(|e| TrackingError::Invalid(e.to_string()))?;
        Ok(fs::read(file)?)
    }

    fn register_version(
        &self,
        model: &str,
        run_id: &str,
        artifact_path: &str,
    ) -> Result<ModelVersion> {
        self.run_dir(run_id)?;
        let versions = self.model_dir(model)?.join("versions");
        let existing = fs::read_dir(&versions).map(|d| d.count()).unwrap_or(0);
        let record = VersionRecord {
            version: (existing + 1).to_string(),
            run_id: run_id.to_owned(),
            source: format!("runs:/{run_id}/{artifact_path}"),
            created_ms: now_ms(),
        };
        write_json(&versions.join(format!("{}.json", record.version)), &record)?;
        Ok(ModelVersion {
            name: model.to_owned(),
            version: record.version,
            run_id: record.run_id,
            source: record.source,
        })
    }

    fn model_version(&self, model: &str, version: &str) -> Result<ModelVersion> {
        check_name("version", version)?;
        let path = self
            .model_dir(model)?
            .join("versions")
            .join(format!("{version}.json"));
        if !path.exists() {
            return Err(TrackingError::NotFound(format!(
                "model {model} version {version}"
            )));
        }
        let record: VersionRecord = read_json(&path)?;
        Ok(ModelVersion {
            name: model.to_owned(),
            version: record.version,
            run_id: record.run_id,
            source: record.source,
        })
    }

    fn set_alias(&self, model: &str, alias: &str, version: &str) -> Result<()> {
        check_name("alias", alias)?;
        self.model_version(model, version)?;
        let mut aliases = self.aliases(model)?;
        let previous = aliases.insert(alias.to_owned(), version.to_owned());
        let dir = self.model_dir(model)?;
        write_json(&dir.join("aliases.json"), &aliases)?;
        let entry = json!({
            "timestamp_ms": now_ms(),
            "alias": alias,
            "from_version": previous,
            "to_version": version,
        });
        append_line(&dir.join("alias_history.jsonl"), &entry.to_string())
    }

    fn alias(&self, model: &str, alias: &str) -> Result<Option<ModelVersion>> {
        match self.aliases(model)?.get(alias) {
            Some(version) => self.model_version(model, version).map(Some),
            None => Ok(None),
        }
    }

    fn download_version(&self, version: &ModelVersion, dest: &Path) -> Result<()> {
        let source = self.version_files(version)?;
        let files = files_under(&source)?;
        if files.is_empty() {
            return Err(TrackingError::NotFound(format!(
                "files of model {} version {}",
                version.name, version.version
            )));
        }
        for (relpath, path) in files {
            let bytes = fs::read(&path)?;
            write_under(dest, &relpath, &bytes)?;
        }
        Ok(())
    }
}
