//! A model artifact is a directory: the weights (a burnpack file) and `model.json`, the model
//! card that makes it self-describing (architecture, input schema, normalisation, labels,
//! training-data version, metrics, provenance).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use artifact_store::dvc::file_md5;
use burn::module::{Module, ModuleMapper, Param, ParamId};
use burn::prelude::Device;
use burn::tensor::Tensor;
use eeg_data::layout::{InputLayout, Normalisation};
use eeg_data::SAMPLES_PER_RECORDING;
use nutype::nutype;
use serde::{Deserialize, Serialize};

use crate::config::ModelConfig;
use crate::network::SeizureNet;

pub const MODEL_CARD_FILE: &str = "model.json";
pub const WEIGHTS_FILE: &str = "weights.bpk";
pub const FORMAT_VERSION: u32 = 1;
pub const MODEL_NAME: &str = "seizure-lstm";
/// The burn release the weights were written with.
pub const BURN_VERSION: &str = "0.22.1";

/// What the model reads: raw recordings of `samples_per_recording` samples, laid out and
/// normalised as described here.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct InputSchema {
    pub samples_per_recording: usize,
    pub layout: InputLayout,
    /// The largest absolute raw sample value the model accepts. Larger values are not EEG
    /// (the UCI data set spans -1,885..2,047) and are refused before scoring. Cards written
    /// before this field existed get [`DEFAULT_MAX_ABS_SAMPLE`].
    #[serde(default = "default_max_abs_sample")]
    pub max_abs_sample: f64,
}

/// The default physical bound on raw samples: about five times the largest magnitude in the
/// UCI data set, so any real recording passes and overflowing or made-up values do not.
pub const DEFAULT_MAX_ABS_SAMPLE: f64 = 10_000.0;

fn default_max_abs_sample() -> f64 {
    DEFAULT_MAX_ABS_SAMPLE
}

const F32_MAX: f64 = f32::MAX as f64;

/// A bound on absolute raw sample values: a positive number within f32's range (the card's
/// `input.max_abs_sample`, checked on load, and inference's `MAX_ABS_SAMPLE` override).
#[nutype(
    validate(finite, greater = 0.0, less_or_equal = F32_MAX),
    derive(Debug, Clone, Copy, PartialEq, PartialOrd, Display)
)]
pub struct MaxAbsSample(f64);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelCard {
    pub format_version: u32,
    pub name: String,
    pub architecture: ModelConfig,
    pub input: InputSchema,
    pub normalisation: Normalisation,
    pub label_names: Vec<String>,
    /// The DVC `.dir` hash of the processed data the model was trained on.
    pub training_data_md5: Option<String>,
    /// Training and validation figures. A diverged run has NaN ones: JSON writes them as
    /// `null`, which reads back as NaN (the card must stay readable for the promotion gate to
    /// refuse it by name).
    #[serde(deserialize_with = "metrics_allowing_null")]
    pub metrics: BTreeMap<String, f64>,
    pub burn_version: String,
    /// RFC 3339, UTC.
    pub created_at: String,
    pub git_commit: Option<String>,
    /// The tracked training run that produced the model.
    pub run_id: Option<String>,
    /// The decision threshold chosen on validation (absent in cards older than the rule:
    /// they are served at [`crate::threshold::FALLBACK_THRESHOLD`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision_threshold: Option<crate::threshold::DecisionThreshold>,
    /// The window, patient and alarm decisions chosen out of fold ([`crate::decisions`]);
    /// absent in cards older than them, which use `decision_threshold` for every decision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decisions: Option<crate::decisions::Decisions>,
    /// Temperature scaling of the logits, if training fitted one (`--temperature-scaling`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature_scaling: Option<crate::temperature::TemperatureScaling>,
    pub weights_file: String,
    /// md5 of the weights file, checked on every load.
    pub weights_md5: String,
    /// The reference profile of the training input for drift and OOD scores, if training
    /// built one (absent in older cards: such a model serves without them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift_profile: Option<ProfileFile>,
}

/// A file of the artifact beside the weights, with its md5 (checked on every load).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProfileFile {
    pub file: String,
    pub md5: String,
}

fn metrics_allowing_null<'de, D>(deserializer: D) -> Result<BTreeMap<String, f64>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let raw: BTreeMap<String, Option<f64>> = Deserialize::deserialize(deserializer)?;
    Ok(raw
        .into_iter()
        .map(|(key, value)| (key, value.unwrap_or(f64::NAN)))
        .collect())
}

impl ModelCard {
    /// The window threshold this model is served and evaluated at, unless overridden: the
    /// out-of-fold one, else (an earlier card) the one chosen on validation, else 0.5.
    pub fn threshold(&self) -> (f64, crate::threshold::ThresholdSource) {
        if let Some(decisions) = &self.decisions {
            return (
                decisions.window.threshold,
                crate::threshold::ThresholdSource::ModelCard,
            );
        }
        match &self.decision_threshold {
            Some(chosen) => (chosen.value, crate::threshold::ThresholdSource::ModelCard),
            None => (
                crate::threshold::FALLBACK_THRESHOLD,
                crate::threshold::ThresholdSource::Fallback,
            ),
        }
    }

    /// How the card's decisions were chosen: `out_of_fold` (three decisions), `validation` (an
    /// earlier card: one threshold chosen on the validation split, for every decision) or
    /// `none` (older still: 0.5).
    pub fn decision_basis(&self) -> &'static str {
        match (&self.decisions, &self.decision_threshold) {
            (Some(_), _) => "out_of_fold",
            (None, Some(_)) => "validation",
            (None, None) => "none",
        }
    }

    /// How this card calls a patient, `window_threshold` being the window threshold in force
    /// (the card's, or an override): its out-of-fold patient decision (a `positive_fraction`
    /// counts windows at `window_threshold`, as the answer's per-recording calls do), or (an
    /// earlier card) the mean probability against `window_threshold`.
    pub fn patient_call(&self, window_threshold: f64) -> crate::decisions::PatientCall {
        match &self.decisions {
            Some(d) => crate::decisions::PatientCall {
                rule: d.patient.rule,
                window_threshold,
                threshold: d.patient.threshold,
            },
            None => crate::decisions::PatientCall::mean_at(window_threshold),
        }
    }

    /// A card for a network about to be saved (`weights_md5` is filled in by [`save`]).
    pub fn new(architecture: ModelConfig, normalisation: Normalisation) -> Self {
        Self {
            format_version: FORMAT_VERSION,
            name: MODEL_NAME.into(),
            architecture,
            input: InputSchema {
                samples_per_recording: SAMPLES_PER_RECORDING,
                layout: architecture.layout,
                max_abs_sample: DEFAULT_MAX_ABS_SAMPLE,
            },
            normalisation,
            label_names: eeg_data::LABEL_NAMES
                .iter()
                .map(|s| s.to_string())
                .collect(),
            training_data_md5: None,
            metrics: BTreeMap::new(),
            burn_version: BURN_VERSION.into(),
            created_at: now_rfc3339(),
            git_commit: None,
            run_id: None,
            decision_threshold: None,
            decisions: None,
            temperature_scaling: None,
            weights_file: WEIGHTS_FILE.into(),
            weights_md5: String::new(),
            drift_profile: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    /// Reading or writing a file (fs-err: the message names the path).
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("{}: invalid model card: {source}", path.display())]
    Card {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("{}: the artifact does not match what this build serves: {message}", dir.display())]
    Schema { dir: PathBuf, message: String },
    #[error("{}: the weights cannot be read: {message}", path.display())]
    Weights { path: PathBuf, message: String },
    #[error("{}: invalid drift profile: {source}", path.display())]
    Profile {
        path: PathBuf,
        source: drift::ProfileError,
    },
    #[error("{}: the file has md5 {actual}, the model card says {expected}", path.display())]
    Integrity {
        path: PathBuf,
        expected: String,
        actual: String,
    },
}

/// burn gives every parameter a random id, and the weights file records the ids: numbered in
/// the module's visiting order instead, the file is a function of the weights alone, so the
/// same data, seed and thread count give the same bytes (and weights md5) in any process.
struct NumberedParamIds(u64);

impl ModuleMapper for NumberedParamIds {
    fn map_float<const D: usize>(&mut self, mut param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        self.0 += 1;
        param.id = ParamId::from(self.0);
        param
    }
}

/// Writes `network` and its card into the existing directory `dir`; returns the saved card.
pub fn save(
    dir: &Path,
    network: &SeizureNet,
    card: &ModelCard,
) -> Result<ModelCard, ArtifactError> {
    let weights = dir.join(WEIGHTS_FILE);
    network
        .valid()
        .map(&mut NumberedParamIds(0))
        .save_file(&weights)
        .map_err(|e| ArtifactError::Weights {
            path: weights.clone(),
            message: e.to_string(),
        })?;
    let mut card = card.clone();
    card.weights_file = WEIGHTS_FILE.into();
    card.weights_md5 = file_md5(&weights).map_err(|e| ArtifactError::Weights {
        path: weights.clone(),
        message: e.to_string(),
    })?;
    let path = dir.join(MODEL_CARD_FILE);
    let text = serde_json::to_string_pretty(&card).expect("the card serialises") + "\n";
    fs_err::write(&path, text)?;
    Ok(card)
}

/// Writes `profile` into the existing directory `dir` (before [`save`]): the reference the
/// card's `drift_profile` names.
pub fn save_profile(dir: &Path, profile: &drift::Profile) -> Result<ProfileFile, ArtifactError> {
    let path = dir.join(drift::PROFILE_FILE);
    let text = serde_json::to_string(profile).expect("the profile serialises") + "\n";
    fs_err::write(&path, text)?;
    Ok(ProfileFile {
        file: drift::PROFILE_FILE.into(),
        md5: profile_md5(&path)?,
    })
}

fn profile_md5(path: &Path) -> Result<String, ArtifactError> {
    file_md5(path).map_err(|e| ArtifactError::Profile {
        path: path.to_owned(),
        source: drift::ProfileError::Invalid(e.to_string()),
    })
}

/// The drift profile the card names, integrity and content checked; `None` for a card
/// without one.
pub fn load_profile(dir: &Path, card: &ModelCard) -> Result<Option<drift::Profile>, ArtifactError> {
    let Some(reference) = &card.drift_profile else {
        return Ok(None);
    };
    let path = artifact_store::paths::contained_join(dir, &reference.file).map_err(|e| {
        ArtifactError::Schema {
            dir: dir.to_owned(),
            message: e.to_string(),
        }
    })?;
    let size = fs_err::metadata(&path)?.len();
    if size > drift::profile::MAX_PROFILE_BYTES {
        return Err(ArtifactError::Profile {
            path,
            source: drift::ProfileError::Invalid(format!(
                "{size} bytes, more than a profile holds ({} at most)",
                drift::profile::MAX_PROFILE_BYTES
            )),
        });
    }
    let actual = profile_md5(&path)?;
    if actual != reference.md5 {
        return Err(ArtifactError::Integrity {
            path,
            expected: reference.md5.clone(),
            actual,
        });
    }
    let text = fs_err::read_to_string(&path)?;
    drift::Profile::from_json(&text)
        .map(Some)
        .map_err(|source| ArtifactError::Profile { path, source })
}

/// Reads and checks the model card of the artifact in `dir`.
pub fn read_card(dir: &Path) -> Result<ModelCard, ArtifactError> {
    let path = dir.join(MODEL_CARD_FILE);
    let text = fs_err::read_to_string(&path)?;
    let card: ModelCard =
        serde_json::from_str(&text).map_err(|source| ArtifactError::Card { path, source })?;
    check_schema(dir, &card)?;
    Ok(card)
}

fn check_schema(dir: &Path, card: &ModelCard) -> Result<(), ArtifactError> {
    let fail = |message: String| {
        Err(ArtifactError::Schema {
            dir: dir.to_owned(),
            message,
        })
    };
    if card.format_version != FORMAT_VERSION {
        return fail(format!(
            "format version {} (supported: {FORMAT_VERSION})",
            card.format_version
        ));
    }
    if card.input.samples_per_recording != SAMPLES_PER_RECORDING {
        return fail(format!(
            "it reads recordings of {} samples, not {SAMPLES_PER_RECORDING}",
            card.input.samples_per_recording
        ));
    }
    let layout = card.input.layout;
    if InputLayout::new(layout.timesteps, layout.features).is_err() {
        return fail(format!(
            "input layout {} x {} does not fit a recording",
            layout.timesteps, layout.features
        ));
    }
    if card.architecture.layout != layout {
        return fail("the architecture's layout differs from the input schema's".into());
    }
    if let Err(message) = card.architecture.front_end.sequence_shape(layout) {
        return fail(message);
    }
    if card.architecture.classes != 2 || card.label_names.len() != 2 {
        return fail("it is not a two-class (non-seizure, seizure) classifier".into());
    }
    let bound = card.input.max_abs_sample;
    if MaxAbsSample::try_new(bound).is_err() {
        return fail(format!(
            "invalid input bound max_abs_sample {bound} (a positive number within f32)"
        ));
    }
    let norm = card.normalisation;
    if !(norm.mean.is_finite() && norm.std.is_finite() && norm.std > 0.0) {
        return fail(format!(
            "invalid normalisation (mean {}, std {})",
            norm.mean, norm.std
        ));
    }
    Ok(())
}

/// Loads the artifact in `dir` onto `device`: card checked, weights verified and loaded.
pub fn load(dir: &Path, device: &Device) -> Result<(ModelCard, SeizureNet), ArtifactError> {
    let card = read_card(dir)?;
    let weights = artifact_store::paths::contained_join(dir, &card.weights_file).map_err(|e| {
        ArtifactError::Schema {
            dir: dir.to_owned(),
            message: e.to_string(),
        }
    })?;
    let actual = file_md5(&weights).map_err(|e| ArtifactError::Weights {
        path: weights.clone(),
        message: e.to_string(),
    })?;
    if actual != card.weights_md5 {
        return Err(ArtifactError::Integrity {
            path: weights,
            expected: card.weights_md5.clone(),
            actual,
        });
    }
    let network = SeizureNet::for_loading(&card.architecture, device)
        .try_load_file(&weights)
        .map_err(|e| ArtifactError::Weights {
            path: weights.clone(),
            message: e.to_string(),
        })?;
    Ok((card, network))
}

pub use clock::now_rfc3339;
