//! What is evaluated: the candidate (checked to be trained on the data version scored), the
//! test split, and the current production model.

use std::path::Path;

use anyhow::{bail, Context};
use artifact_store::dvc;
use eeg_data::processed::ProcessedDataset;
use seizure_model::Predictor;
use tracking::{Tracker, PRODUCTION_ALIAS};

use crate::registry::{self, RegistrySettings};
use crate::scoring::TestSet;
use crate::settings::EvaluateSettings;

/// The candidate and the data it is scored on.
pub(crate) struct Inputs {
    pub candidate: Predictor,
    pub dataset: ProcessedDataset,
    /// The data version (DVC's hash of `--data`), the one the candidate was trained on.
    pub data_md5: String,
    pub test: TestSet,
}

impl Inputs {
    /// Fetches (`--dvc`) and loads the candidate and the dataset; refuses a candidate trained
    /// on another data version.
    pub fn load(args: &EvaluateSettings) -> anyhow::Result<Self> {
        args.registry.dvc.fetch(&args.data)?;
        args.registry.dvc.fetch(&args.candidate)?;
        let candidate = Predictor::load(&args.candidate).with_context(|| {
            format!(
                "cannot load the candidate model {}",
                args.candidate.display()
            )
        })?;
        let dataset = ProcessedDataset::open(&args.data).with_context(|| {
            format!("cannot open the processed dataset {}", args.data.display())
        })?;
        let data_md5 = dvc::hash_dir(&args.data)?.md5;
        if candidate.card().training_data_md5.as_deref() != Some(data_md5.as_str()) {
            bail!(
                "the candidate was trained on data {} but {} is version {data_md5}: \
                 evaluate a model on the data version it was trained on",
                candidate
                    .card()
                    .training_data_md5
                    .as_deref()
                    .unwrap_or("(unknown)"),
                args.data.display()
            );
        }
        let test = TestSet::load(&dataset)?;
        Ok(Self {
            candidate,
            dataset,
            data_md5,
            test,
        })
    }
}

/// The current production model: `production/` if installed, else the registry alias.
pub(crate) fn load_production(
    args: &RegistrySettings,
    tracker: &dyn Tracker,
    scratch: &Path,
) -> anyhow::Result<Option<(Predictor, Option<String>)>> {
    if let Some(release) = registry::installed_release(&args.production)? {
        let predictor = Predictor::load(&args.production).with_context(|| {
            format!(
                "the production model in {} does not load",
                args.production.display()
            )
        })?;
        return Ok(Some((predictor, Some(release.version))));
    }
    match tracker.alias(&args.model_name, PRODUCTION_ALIAS)? {
        Some(version) => {
            tracker.download_version(&version, scratch)?;
            Ok(Some((Predictor::load(scratch)?, Some(version.version))))
        }
        None => Ok(None),
    }
}
