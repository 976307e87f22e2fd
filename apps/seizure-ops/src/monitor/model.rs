//! The model that scores: loaded from the home's production install or `--model`, and what
//! identifies it in the outputs.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use seizure_model::Predictor;
use serde::Serialize;

use crate::Home;

/// What identifies the model that scored a signal.
#[derive(Debug, Clone, Serialize)]
pub struct ModelInfo {
    pub dir: String,
    pub name: String,
    pub version: Option<String>,
    pub weights_md5: String,
    pub decision_threshold: f64,
}

impl ModelInfo {
    pub fn of(dir: &Path, predictor: &Predictor) -> Self {
        let release = seizure_model::release::installed_release(dir)
            .ok()
            .flatten();
        Self {
            dir: dir.display().to_string(),
            name: predictor.card().name.clone(),
            version: release.map(|r| r.version),
            weights_md5: predictor.card().weights_md5.clone(),
            decision_threshold: predictor.card().threshold().0,
        }
    }
}

pub fn load_model(home: &Home, model: Option<&Path>) -> anyhow::Result<(PathBuf, Arc<Predictor>)> {
    let dir = model.map_or_else(|| home.path("production"), Path::to_owned);
    let predictor =
        Predictor::load(&dir).with_context(|| format!("loading the model in {}", dir.display()))?;
    Ok((dir, Arc::new(predictor)))
}
