//! What a run trains and chooses on: the processed dataset (fetched and hashed), its training
//! and validation splits, the windows training reads, and the validation windows the
//! decision threshold is chosen on.

use anyhow::{bail, Context};
use artifact_store::dvc;
use eeg_data::offsets::{QuarterOffsets, Windows as OffsetWindows};
use eeg_data::processed::{ProcessedDataset, Signals, Split, SplitArrays};

use crate::settings::TrainingSettings;
use crate::windows::{TrainingWindows, Windows};

pub(crate) struct Inputs {
    pub dataset: ProcessedDataset,
    /// The MD5 of the dataset directory (DVC's hash), recorded in the card and the run.
    pub data_md5: String,
    /// The training rows (the first `--max-train-rows` of them when set).
    pub train_split: SplitArrays,
    pub validation: SplitArrays,
    /// The training segments' continuous signals, when the dataset keeps them: where random
    /// windows are cut from, and what the drift profile describes.
    pub training_signals: Option<Signals>,
    /// The validation segments cut at every quarter chunk, when the dataset keeps their
    /// signals (see [`crate::decide::choose_threshold`]).
    pub threshold_windows: Option<OffsetWindows>,
}

impl Inputs {
    /// Fetches (`--dvc`) and opens `--data`, and cuts what training needs from it.
    pub fn load(args: &TrainingSettings) -> anyhow::Result<Self> {
        args.dvc.fetch(&args.data)?;
        let dataset = ProcessedDataset::open(&args.data).with_context(|| {
            format!("cannot open the processed dataset {}", args.data.display())
        })?;
        let data_md5 = dvc::hash_dir(&args.data)?.md5;
        let mut train_split = dataset.split(Split::Train)?;
        let validation = dataset.split(Split::Validation)?;
        if let Some(limit) = args.max_train_rows {
            train_split = first_rows(&train_split, limit.get());
        }
        if train_split.rows() == 0 || validation.rows() == 0 {
            bail!(
                "{}: the training and validation splits must not be empty",
                args.data.display()
            );
        }
        let training_signals = match dataset.signals(Split::Train) {
            Ok(signals) => Some(signals).filter(|s| !s.is_empty()),
            Err(e) if needs_signals(args) => return Err(e.into()),
            Err(_) => None,
        };
        // The decision threshold is chosen on the validation segments cut at every quarter
        // chunk when the dataset keeps their signals (see `choose_threshold`).
        let threshold_windows = dataset
            .signals(Split::Validation)
            .ok()
            .filter(|s| !s.is_empty())
            .map(|s| OffsetWindows::cut(&s, QuarterOffsets::All));
        Ok(Self {
            dataset,
            data_md5,
            train_split,
            validation,
            training_signals,
            threshold_windows,
        })
    }

    /// The windows training reads: cut from the training signals (`--windows random`, or
    /// augmented) or the training rows themselves.
    pub fn training_windows(&self, args: &TrainingSettings) -> anyhow::Result<TrainingWindows<'_>> {
        let manifest = &self.dataset.manifest;
        Ok(TrainingWindows::new(
            &self.train_split,
            self.training_signals
                .as_ref()
                .filter(|_| needs_signals(args)),
            manifest.segments.len(),
            manifest.normalisation,
            args.windows,
            args.augmentation,
        )?)
    }
}

/// Whether training cuts its windows from the continuous signals: random windows, or any
/// augmentation. (Without them a dataset's signals only serve the drift profile.)
fn needs_signals(args: &TrainingSettings) -> bool {
    args.windows == Windows::Random || !args.augmentation.is_none()
}

/// The first `limit` rows of a split.
fn first_rows(split: &SplitArrays, limit: usize) -> SplitArrays {
    let n = limit.min(split.rows());
    SplitArrays {
        x: split.x.slice(ndarray::s![..n, .., ..]).to_owned(),
        y: split.y.slice(ndarray::s![..n]).to_owned(),
        class: split.class.slice(ndarray::s![..n]).to_owned(),
        segment: split.segment.slice(ndarray::s![..n]).to_owned(),
        chunk: split.chunk.slice(ndarray::s![..n]).to_owned(),
    }
}
