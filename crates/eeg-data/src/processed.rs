//! The processed-dataset directory: what preprocessing writes and every later stage reads.
//!
//! For each split `S` in `train`, `validation`, `test`, `patient_pool`:
//! * `S_x.npy`: float32 `[n, timesteps, features]`, normalised model inputs;
//! * `S_y.npy`: uint8 `[n]`, binary label (1 = seizure);
//! * `S_class.npy`: uint8 `[n]`, the original UCI class 1..=5;
//! * `S_segment.npy`: uint32 `[n]`, index into `manifest.segments`;
//! * `S_chunk.npy`: uint8 `[n]`, the one-second chunk index 1..=23.
//!
//! plus `test_raw.npy` and `patient_pool_raw.npy` (float32 `[n, 178]`: the raw samples that
//! evaluation scores and patient-pull serves), for `train`, `validation` and `test` the whole
//! segments as continuous signals (see [`Signals`]: `S_signal.npy`, float32 `[m, 4094]`,
//! `S_signal_segment.npy`, uint32 `[m]`, `S_signal_y.npy`, uint8 `[m]`), and `manifest.json`.
//! The directory's content is a pure function of the input file and the options, so the DVC
//! hash of an unchanged run does not change.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use ndarray::{Array1, Array2, Array3};
use ndarray_npy::{ReadNpyExt, WriteNpyExt};
use serde::{Deserialize, Serialize};

use crate::layout::{InputLayout, Normalisation};

pub const MANIFEST_FILE: &str = "manifest.json";
pub const FORMAT_VERSION: u32 = 1;
/// The splits whose raw samples are kept too: evaluation and inference score from raw.
pub const RAW_SPLITS: [Split; 2] = [Split::Test, Split::PatientPool];
/// The splits whose whole segments are kept as continuous signals: training draws windows
/// at random offsets from them, evaluation scores test windows at other offsets.
pub const SIGNAL_SPLITS: [Split; 3] = [Split::Train, Split::Validation, Split::Test];
/// Samples in a segment's continuous signal: 23 chunks of 178 (23.6 s at 173.61 Hz).
pub const SIGNAL_SAMPLES: usize = crate::CHUNKS_PER_SEGMENT * crate::SAMPLES_PER_RECORDING;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Split {
    Train,
    Validation,
    Test,
    PatientPool,
}

impl Split {
    pub const ALL: [Split; 4] = [
        Split::Train,
        Split::Validation,
        Split::Test,
        Split::PatientPool,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Validation => "validation",
            Split::Test => "test",
            Split::PatientPool => "patient_pool",
        }
    }
}

/// How the training split was balanced between seizure and non-seizure rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Balance {
    /// Majority-class training rows are dropped at random until both classes have as many
    /// (the default until 2026-12-07).
    Undersample,
    /// All rows are kept; the loss weighs each class by `class_weights` (the default: better
    /// nested 5-fold cross-validation ROC AUC, sensitivity, patients and calibration,
    /// docs/evaluation.md).
    #[default]
    Weight,
    /// Nothing is done.
    None,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format_version: u32,
    pub source: SourceInfo,
    pub seed: u64,
    pub fractions: Fractions,
    pub layout: InputLayout,
    pub samples_per_recording: usize,
    pub balance: Balance,
    /// Loss weight per binary label (all 1.0 unless `balance` is `weight`).
    pub class_weights: [f64; 2],
    /// Fitted on the training split only.
    pub normalisation: Normalisation,
    pub label_names: [String; 2],
    /// Segment names; `S_segment.npy` holds indices into this list.
    pub segments: Vec<String>,
    pub splits: BTreeMap<Split, SplitSummary>,
    /// For cross-validation: the test split is this fold of the segments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fold: Option<Fold>,
}

/// Fold `index` (0-based) of `count` segment-wise, class-stratified folds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fold {
    pub index: usize,
    pub count: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceInfo {
    pub file_name: String,
    pub md5: String,
    pub rows: usize,
    /// Line numbers of rows left out under `--skip-bad-rows`.
    pub skipped_lines: Vec<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Fractions {
    pub train: f64,
    pub validation: f64,
    pub test: f64,
    pub patient_pool: f64,
}

impl Fractions {
    pub fn of(&self, split: Split) -> f64 {
        match split {
            Split::Train => self.train,
            Split::Validation => self.validation,
            Split::Test => self.test,
            Split::PatientPool => self.patient_pool,
        }
    }
}

impl Default for Fractions {
    fn default() -> Self {
        Self {
            train: 0.6,
            validation: 0.1,
            test: 0.2,
            patient_pool: 0.1,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SplitSummary {
    pub rows: usize,
    pub segments: usize,
    /// Shape of `S_x.npy`.
    pub x_shape: [usize; 3],
    /// Rows per binary label: `[non-seizure, seizure]`.
    pub label_counts: [usize; 2],
    /// Rows per UCI class, keyed "1".."5".
    pub class_counts: BTreeMap<String, usize>,
    /// Segments kept whole as continuous signals (zero outside [`SIGNAL_SPLITS`], and for
    /// segments with a chunk left out as a bad row).
    #[serde(default)]
    pub signals: usize,
}

/// Whole segments of a split as continuous signals: each segment's 23 one-second chunks
/// joined in chunk order, raw (not normalised). Under undersampling the training split
/// keeps every chunk here, whatever rows `S_x.npy` kept: the balance is in which rows are
/// drawn, the signals are where windows are cut from.
#[derive(Debug, Clone, PartialEq)]
pub struct Signals {
    /// `[segments, SIGNAL_SAMPLES]`.
    pub samples: Array2<f32>,
    /// Index into `manifest.segments`.
    pub segment: Array1<u32>,
    /// Binary label of each segment.
    pub y: Array1<u8>,
}

impl Signals {
    pub fn len(&self) -> usize {
        self.y.len()
    }

    pub fn is_empty(&self) -> bool {
        self.y.is_empty()
    }

    /// The signal row of each segment index (`None` for segments without a whole signal).
    pub fn row_of_segment(&self, segments: usize) -> Vec<Option<usize>> {
        let mut rows = vec![None; segments];
        for (row, &segment) in self.segment.iter().enumerate() {
            if let Some(slot) = rows.get_mut(segment as usize) {
                *slot = Some(row);
            }
        }
        rows
    }
}

/// The arrays of one split, row-aligned.
#[derive(Debug, Clone, PartialEq)]
pub struct SplitArrays {
    pub x: Array3<f32>,
    pub y: Array1<u8>,
    pub class: Array1<u8>,
    pub segment: Array1<u32>,
    pub chunk: Array1<u8>,
}

impl SplitArrays {
    pub fn rows(&self) -> usize {
        self.y.len()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {message}", path.display())]
    Npy { path: PathBuf, message: String },
    #[error("{}: invalid manifest: {source}", path.display())]
    Manifest {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("{}: {message}", path.display())]
    Mismatch { path: PathBuf, message: String },
}

fn array_path(dir: &Path, split: Split, part: &str) -> PathBuf {
    dir.join(format!("{}_{part}.npy", split.name()))
}

fn write_array<A: WriteNpyExt>(path: &Path, array: &A) -> Result<(), DatasetError> {
    let file = File::create(path).map_err(|source| DatasetError::Io {
        path: path.to_owned(),
        source,
    })?;
    array
        .write_npy(BufWriter::new(file))
        .map_err(|e| DatasetError::Npy {
            path: path.to_owned(),
            message: e.to_string(),
        })
}

fn read_array<A: ReadNpyExt>(path: &Path) -> Result<A, DatasetError> {
    let file = File::open(path).map_err(|source| DatasetError::Io {
        path: path.to_owned(),
        source,
    })?;
    A::read_npy(std::io::BufReader::new(file)).map_err(|e| DatasetError::Npy {
        path: path.to_owned(),
        message: e.to_string(),
    })
}

pub fn write_split(dir: &Path, split: Split, arrays: &SplitArrays) -> Result<(), DatasetError> {
    write_array(&array_path(dir, split, "x"), &arrays.x)?;
    write_array(&array_path(dir, split, "y"), &arrays.y)?;
    write_array(&array_path(dir, split, "class"), &arrays.class)?;
    write_array(&array_path(dir, split, "segment"), &arrays.segment)?;
    write_array(&array_path(dir, split, "chunk"), &arrays.chunk)
}

/// Writes the raw samples of a split (one of [`RAW_SPLITS`]).
pub fn write_raw(dir: &Path, split: Split, raw: &Array2<f32>) -> Result<(), DatasetError> {
    write_array(&array_path(dir, split, "raw"), raw)
}

/// Writes the continuous signals of a split (one of [`SIGNAL_SPLITS`]).
pub fn write_signals(dir: &Path, split: Split, signals: &Signals) -> Result<(), DatasetError> {
    write_array(&array_path(dir, split, "signal"), &signals.samples)?;
    write_array(&array_path(dir, split, "signal_segment"), &signals.segment)?;
    write_array(&array_path(dir, split, "signal_y"), &signals.y)
}

pub fn write_manifest(dir: &Path, manifest: &Manifest) -> Result<(), DatasetError> {
    let path = dir.join(MANIFEST_FILE);
    let mut text =
        serde_json::to_string_pretty(manifest).map_err(|source| DatasetError::Manifest {
            path: path.clone(),
            source,
        })?;
    text.push('\n');
    std::fs::write(&path, text).map_err(|source| DatasetError::Io { path, source })
}

/// A processed-dataset directory whose manifest has been read and checked.
#[derive(Debug, Clone)]
pub struct ProcessedDataset {
    pub dir: PathBuf,
    pub manifest: Manifest,
}

impl ProcessedDataset {
    pub fn open(dir: &Path) -> Result<Self, DatasetError> {
        let path = dir.join(MANIFEST_FILE);
        let text = std::fs::read_to_string(&path).map_err(|source| DatasetError::Io {
            path: path.clone(),
            source,
        })?;
        let manifest: Manifest =
            serde_json::from_str(&text).map_err(|source| DatasetError::Manifest {
                path: path.clone(),
                source,
            })?;
        if manifest.format_version != FORMAT_VERSION {
            return Err(DatasetError::Mismatch {
                path,
                message: format!(
                    "format version {} is not the supported version {FORMAT_VERSION}",
                    manifest.format_version
                ),
            });
        }
        Ok(Self {
            dir: dir.to_owned(),
            manifest,
        })
    }

    /// Loads one split and checks it against the manifest.
    pub fn split(&self, split: Split) -> Result<SplitArrays, DatasetError> {
        let dir = &self.dir;
        let arrays = SplitArrays {
            x: read_array(&array_path(dir, split, "x"))?,
            y: read_array(&array_path(dir, split, "y"))?,
            class: read_array(&array_path(dir, split, "class"))?,
            segment: read_array(&array_path(dir, split, "segment"))?,
            chunk: read_array(&array_path(dir, split, "chunk"))?,
        };
        let expected = self.summary(split)?.x_shape;
        let mismatch = |message: String| DatasetError::Mismatch {
            path: array_path(dir, split, "x"),
            message,
        };
        if arrays.x.shape() != expected {
            return Err(mismatch(format!(
                "shape {:?} does not match the manifest's {expected:?}",
                arrays.x.shape()
            )));
        }
        let n = expected[0];
        if [
            arrays.y.len(),
            arrays.class.len(),
            arrays.segment.len(),
            arrays.chunk.len(),
        ]
        .iter()
        .any(|&len| len != n)
        {
            return Err(mismatch(format!(
                "the label, class, segment and chunk arrays do not all have {n} rows"
            )));
        }
        if let Some(&bad) = arrays
            .segment
            .iter()
            .find(|&&s| s as usize >= self.manifest.segments.len())
        {
            return Err(mismatch(format!("segment index {bad} is out of range")));
        }
        Ok(arrays)
    }

    /// The raw samples of a split in [`RAW_SPLITS`], row-aligned with its other arrays.
    pub fn raw(&self, split: Split) -> Result<Array2<f32>, DatasetError> {
        let path = array_path(&self.dir, split, "raw");
        let raw: Array2<f32> = read_array(&path)?;
        let rows = self.summary(split)?.rows;
        let expected = [rows, self.manifest.samples_per_recording];
        if raw.shape() != expected {
            return Err(DatasetError::Mismatch {
                path,
                message: format!(
                    "shape {:?} does not match the manifest's {expected:?}",
                    raw.shape()
                ),
            });
        }
        Ok(raw)
    }

    /// The continuous signals of a split in [`SIGNAL_SPLITS`], checked against the manifest.
    pub fn signals(&self, split: Split) -> Result<Signals, DatasetError> {
        let path = array_path(&self.dir, split, "signal");
        if !path.exists() {
            return Err(DatasetError::Mismatch {
                path,
                message: format!(
                    "the dataset keeps no continuous signals of the {} split (written by an \
                     older preprocessing: run preprocessing again)",
                    split.name()
                ),
            });
        }
        let signals = Signals {
            samples: read_array(&path)?,
            segment: read_array(&array_path(&self.dir, split, "signal_segment"))?,
            y: read_array(&array_path(&self.dir, split, "signal_y"))?,
        };
        let rows = self.summary(split)?.signals;
        let mismatch = |message: String| DatasetError::Mismatch {
            path: path.clone(),
            message,
        };
        if signals.samples.shape() != [rows, SIGNAL_SAMPLES] {
            return Err(mismatch(format!(
                "shape {:?} does not match the manifest's [{rows}, {SIGNAL_SAMPLES}]",
                signals.samples.shape()
            )));
        }
        if signals.segment.len() != rows || signals.y.len() != rows {
            return Err(mismatch(format!(
                "the segment and label arrays do not both have {rows} rows"
            )));
        }
        if let Some(&bad) = signals
            .segment
            .iter()
            .find(|&&s| s as usize >= self.manifest.segments.len())
        {
            return Err(mismatch(format!("segment index {bad} is out of range")));
        }
        Ok(signals)
    }

    pub fn summary(&self, split: Split) -> Result<&SplitSummary, DatasetError> {
        self.manifest
            .splits
            .get(&split)
            .ok_or_else(|| DatasetError::Mismatch {
                path: self.dir.join(MANIFEST_FILE),
                message: format!("the manifest has no {} split", split.name()),
            })
    }
}
