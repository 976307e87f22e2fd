//! The production release: a model artifact installed in a directory (`production/`) with a
//! `release.json` saying which registered version it is. Written by evaluate's promotion and
//! rollback, read by inference.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub const RELEASE_FILE: &str = "release.json";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Release {
    pub model_name: String,
    pub version: String,
    pub run_id: String,
    pub source: String,
    pub installed_at: String,
    pub installed_by: String,
    pub tracker: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ReleaseError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} is invalid: {source}", path.display())]
    Invalid {
        path: PathBuf,
        source: serde_json::Error,
    },
}

/// The release installed in `dir`, if any.
pub fn installed_release(dir: &Path) -> Result<Option<Release>, ReleaseError> {
    let path = dir.join(RELEASE_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|source| ReleaseError::Invalid { path, source }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(ReleaseError::Read { path, source }),
    }
}

impl Release {
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a release serialises") + "\n"
    }
}
