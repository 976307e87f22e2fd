//! Preprocessing: validated UCI data to the processed-dataset directory.
//!
//! Rows are grouped by segment and split (see [`crate::split`]), the training split is balanced,
//! the normalisation is fitted on the training rows only, and every split is written as `.npy`
//! arrays plus `manifest.json` (see [`crate::processed`]), atomically.
//! Recording the output for DVC and pushing it to a remote is the preprocessing service's
//! job, not the data crate's.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use artifact_store::atomic;
use artifact_store::dvc;
use ndarray::{Array1, Array2, Array3};

use crate::layout::{Centring, InputLayout, Normalisation};
use crate::processed::{
    self, Balance, DatasetError, Fractions, Manifest, Signals, SourceInfo, Split, SplitArrays,
    SplitSummary,
};
use crate::split::{self, FractionsError};
use crate::uci::{self, BadRows, RowError, UciData, UciError};
use crate::{binary_label, CHUNKS_PER_SEGMENT, LABEL_NAMES, SAMPLES_PER_RECORDING};

/// Everything about one preprocessing run.
#[derive(Debug, Clone)]
pub struct PrepareOptions {
    /// The UCI CSV.
    pub input: PathBuf,
    /// The output directory, replaced atomically.
    pub out: PathBuf,
    pub split: SplitOptions,
    pub bad_rows: BadRows,
}

impl PrepareOptions {
    /// The defaults: the reference split, layout and balancing, bad rows fail.
    pub fn new(input: PathBuf, out: PathBuf) -> Self {
        Self {
            input,
            out,
            split: SplitOptions::default(),
            bad_rows: BadRows::Fail,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    #[error(transparent)]
    Fractions(#[from] FractionsError),
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Uci(#[from] UciError),
    #[error("cannot write {}: {message}", path.display())]
    Write { path: PathBuf, message: String },
}

/// What a preprocessing run produced.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub manifest: Manifest,
    /// Rows left out under [`BadRows::Skip`].
    pub skipped: Vec<RowError>,
}

/// Runs preprocessing end to end. Nothing is written unless every check passes.
pub fn prepare(options: &PrepareOptions) -> Result<Prepared, PrepareError> {
    split::check_fractions(&options.split.fractions)?;
    let bytes = std::fs::read(&options.input).map_err(|source| PrepareError::Read {
        path: options.input.clone(),
        source,
    })?;
    let data = uci::parse(&options.input, &bytes, options.bad_rows)?;
    let source = SourceInfo {
        file_name: options
            .input
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        md5: dvc::bytes_md5(&bytes),
        rows: data.rows.len(),
        skipped_lines: data.skipped.iter().map(|e| e.line).collect(),
    };
    let (manifest, outputs) = build_outputs(&data, source, &options.split);
    atomic::replace_dir(&options.out, |dir| write_outputs(dir, &manifest, &outputs)).map_err(
        |e| PrepareError::Write {
            path: options.out.clone(),
            message: e.to_string(),
        },
    )?;
    Ok(Prepared {
        manifest,
        skipped: data.skipped,
    })
}

/// Everything that shapes the split, independent of where files go.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SplitOptions {
    pub fractions: Fractions,
    pub layout: InputLayout,
    pub balance: Balance,
    /// What each window is centred on before scaling.
    pub centring: Centring,
    pub seed: u64,
    /// Cross-validation: the test split is this fold; the other segments are shared among
    /// train, validation and the patient pool in their fractions' proportions.
    pub fold: Option<processed::Fold>,
}

impl Default for SplitOptions {
    fn default() -> Self {
        Self {
            fractions: Fractions::default(),
            layout: InputLayout::default(),
            balance: Balance::default(),
            centring: Centring::PerWindow,
            seed: DEFAULT_SEED,
            fold: None,
        }
    }
}

/// The default seed of the split.
pub const DEFAULT_SEED: u64 = 42;

/// The arrays to write, per split, plus the raw pool samples.
#[derive(Debug, Clone)]
pub struct Outputs {
    pub splits: BTreeMap<Split, SplitArrays>,
    /// Raw samples of the [`processed::RAW_SPLITS`].
    pub raw: BTreeMap<Split, Array2<f32>>,
    /// Whole segments of the [`processed::SIGNAL_SPLITS`].
    pub signals: BTreeMap<Split, Signals>,
}

/// Splits, balances and normalises validated data. Pure: no I/O.
pub fn build_outputs(
    data: &UciData,
    source: SourceInfo,
    options: &SplitOptions,
) -> (Manifest, Outputs) {
    let segments = split::group_segments(data);
    let assignment = match options.fold {
        None => split::assign_splits(&segments, &options.fractions, options.seed),
        Some(fold) => split::assign_fold(&segments, &options.fractions, fold, options.seed),
    };
    let mut rows_of: BTreeMap<Split, Vec<usize>> =
        Split::ALL.iter().map(|&s| (s, vec![])).collect();
    let mut segments_of: BTreeMap<Split, Vec<usize>> =
        Split::ALL.iter().map(|&s| (s, vec![])).collect();
    let mut segment_index = vec![0u32; data.rows.len()];
    for (index, (segment, split)) in segments.iter().zip(&assignment).enumerate() {
        rows_of.get_mut(split).unwrap().extend(&segment.rows);
        segments_of.get_mut(split).unwrap().push(index);
        for &row in &segment.rows {
            segment_index[row] = index as u32;
        }
    }
    let class_of = |row: usize| data.rows[row].class;
    let (train_rows, class_weights) = split::balance_training_rows(
        &rows_of[&Split::Train],
        class_of,
        options.balance,
        options.seed,
    );
    rows_of.insert(Split::Train, train_rows);

    let normalisation = Normalisation::fit(
        rows_of[&Split::Train].iter().map(|&r| data.row_samples(r)),
        options.layout,
        options.centring,
    );
    let signals: BTreeMap<Split, Signals> = processed::SIGNAL_SPLITS
        .iter()
        .map(|&split| (split, signals_of(data, &segments, &segments_of[&split])))
        .collect();
    let mut splits = BTreeMap::new();
    let mut summaries = BTreeMap::new();
    for (&split, rows) in &rows_of {
        let arrays = split_arrays(data, rows, &segment_index, options.layout, &normalisation);
        let mut summary = summarise(&arrays, rows, data);
        summary.signals = signals.get(&split).map_or(0, Signals::len);
        summaries.insert(split, summary);
        splits.insert(split, arrays);
    }
    let raw = processed::RAW_SPLITS
        .iter()
        .map(|&split| {
            let rows = &rows_of[&split];
            let samples = rows
                .iter()
                .flat_map(|&r| data.row_samples(r).iter().copied())
                .collect();
            let array = Array2::from_shape_vec((rows.len(), SAMPLES_PER_RECORDING), samples)
                .expect("every row has 178 samples");
            (split, array)
        })
        .collect();

    let manifest = Manifest {
        format_version: processed::FORMAT_VERSION,
        source,
        seed: options.seed,
        fractions: options.fractions,
        layout: options.layout,
        samples_per_recording: SAMPLES_PER_RECORDING,
        balance: options.balance,
        class_weights,
        normalisation,
        label_names: LABEL_NAMES.map(String::from),
        segments: segments.into_iter().map(|s| s.name).collect(),
        fold: options.fold,
        splits: summaries,
    };
    (
        manifest,
        Outputs {
            splits,
            raw,
            signals,
        },
    )
}

/// The continuous signals of the whole segments among `indices` (into `segments`). A segment
/// missing a chunk (a row skipped as bad) has no continuous signal and is left out.
fn signals_of(data: &UciData, segments: &[split::Segment], indices: &[usize]) -> Signals {
    let whole: Vec<usize> = indices
        .iter()
        .copied()
        .filter(|&i| segments[i].rows.len() == CHUNKS_PER_SEGMENT)
        .collect();
    let mut samples = Vec::with_capacity(whole.len() * processed::SIGNAL_SAMPLES);
    for &i in &whole {
        // Rows are in chunk order, and ids are unique, so 23 rows are chunks 1..=23.
        for &row in &segments[i].rows {
            samples.extend_from_slice(data.row_samples(row));
        }
    }
    Signals {
        samples: Array2::from_shape_vec((whole.len(), processed::SIGNAL_SAMPLES), samples)
            .expect("each whole segment has 23 chunks of 178 samples"),
        segment: whole.iter().map(|&i| i as u32).collect(),
        y: whole
            .iter()
            .map(|&i| binary_label(segments[i].class))
            .collect(),
    }
}

fn split_arrays(
    data: &UciData,
    rows: &[usize],
    segment_index: &[u32],
    layout: InputLayout,
    normalisation: &Normalisation,
) -> SplitArrays {
    let mut x = Vec::with_capacity(rows.len() * layout.samples_used());
    for &row in rows {
        normalisation.append_input(data.row_samples(row), layout, &mut x);
    }
    SplitArrays {
        x: Array3::from_shape_vec((rows.len(), layout.timesteps, layout.features), x)
            .expect("each row contributes timesteps * features values"),
        y: rows
            .iter()
            .map(|&r| binary_label(data.rows[r].class))
            .collect::<Array1<u8>>(),
        class: rows.iter().map(|&r| data.rows[r].class).collect(),
        segment: rows.iter().map(|&r| segment_index[r]).collect(),
        chunk: rows.iter().map(|&r| data.rows[r].chunk).collect(),
    }
}

fn summarise(arrays: &SplitArrays, rows: &[usize], data: &UciData) -> SplitSummary {
    let mut class_counts: BTreeMap<String, usize> = (1..=5).map(|c| (c.to_string(), 0)).collect();
    let mut label_counts = [0usize; 2];
    for &row in rows {
        let class = data.rows[row].class;
        *class_counts.get_mut(&class.to_string()).unwrap() += 1;
        label_counts[binary_label(class) as usize] += 1;
    }
    let mut segments: Vec<u32> = arrays.segment.to_vec();
    segments.sort_unstable();
    segments.dedup();
    let shape = arrays.x.shape();
    SplitSummary {
        rows: rows.len(),
        segments: segments.len(),
        x_shape: [shape[0], shape[1], shape[2]],
        label_counts,
        class_counts,
        signals: 0,
    }
}

fn write_outputs(dir: &Path, manifest: &Manifest, outputs: &Outputs) -> Result<(), DatasetError> {
    for (&split, arrays) in &outputs.splits {
        processed::write_split(dir, split, arrays)?;
    }
    for (&split, raw) in &outputs.raw {
        processed::write_raw(dir, split, raw)?;
    }
    for (&split, signals) in &outputs.signals {
        processed::write_signals(dir, split, signals)?;
    }
    processed::write_manifest(dir, manifest)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synthetic::{csv_bytes, SynthConfig};
    use crate::uci;
    use proptest::prelude::*;
    use std::collections::HashSet;
    use std::path::Path;

    fn synthetic(seed: u64) -> UciData {
        let bytes = csv_bytes(&SynthConfig {
            seed,
            segments_per_class: 5,
        });
        uci::parse(Path::new("s.csv"), &bytes, BadRows::Fail).unwrap()
    }

    fn options(seed: u64, balance: Balance) -> SplitOptions {
        SplitOptions {
            fractions: Fractions::default(),
            layout: InputLayout::default(),
            balance,
            centring: Centring::Global,
            seed,
            fold: None,
        }
    }

    fn source() -> SourceInfo {
        SourceInfo {
            file_name: "s.csv".into(),
            md5: String::new(),
            rows: 0,
            skipped_lines: vec![],
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(12))]

        #[test]
        fn outputs_never_share_a_segment_and_train_is_standardised(seed in any::<u64>()) {
            let data = synthetic(seed);
            let (manifest, outputs) = build_outputs(&data, source(), &options(seed, Balance::Undersample));
            let mut seen: HashSet<u32> = HashSet::new();
            for arrays in outputs.splits.values() {
                let here: HashSet<u32> = arrays.segment.iter().copied().collect();
                prop_assert!(seen.is_disjoint(&here));
                seen.extend(here);
            }
            // Every segment outside training keeps all its rows; undersampling may leave a
            // training segment without any.
            let held_out: usize = [Split::Validation, Split::Test, Split::PatientPool]
                .iter()
                .map(|s| manifest.splits[s].segments)
                .sum();
            prop_assert_eq!(held_out, 15, "3 held-out splits x 5 classes x 1 segment");
            prop_assert!(seen.len() <= manifest.segments.len());
            let train = &outputs.splits[&Split::Train];
            prop_assert_eq!(manifest.splits[&Split::Train].label_counts[0],
                            manifest.splits[&Split::Train].label_counts[1]);
            // Fitted on exactly these rows, the normalised training inputs have mean 0, std 1.
            let n = train.x.len() as f64;
            let mean = train.x.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
            let var = train.x.iter().map(|&v| (f64::from(v) - mean).powi(2)).sum::<f64>() / n;
            prop_assert!(mean.abs() < 1e-4, "mean {}", mean);
            prop_assert!((var.sqrt() - 1.0).abs() < 1e-4, "std {}", var.sqrt());
        }

        #[test]
        fn normalisation_ignores_every_non_training_row(seed in any::<u64>(), scale in 2.0f32..50.0) {
            let data = synthetic(seed);
            let (manifest, outputs) = build_outputs(&data, source(), &options(seed, Balance::Weight));
            let train_segments: HashSet<u32> = outputs.splits[&Split::Train].segment.iter().copied().collect();
            let mut changed = data.clone();
            let segments = split::group_segments(&data);
            for (index, segment) in segments.iter().enumerate() {
                if !train_segments.contains(&(index as u32)) {
                    for &row in &segment.rows {
                        let start = row * SAMPLES_PER_RECORDING;
                        for v in &mut changed.samples[start..start + SAMPLES_PER_RECORDING] {
                            *v = *v * scale + 100.0;
                        }
                    }
                }
            }
            let (again, _) = build_outputs(&changed, source(), &options(seed, Balance::Weight));
            prop_assert_eq!(manifest.normalisation, again.normalisation);
        }
    }

    #[test]
    fn signals_are_whole_segments_in_chunk_order() {
        let data = synthetic(5);
        let (manifest, outputs) = build_outputs(&data, source(), &options(5, Balance::Undersample));
        for split in processed::SIGNAL_SPLITS {
            let signals = &outputs.signals[&split];
            let arrays = &outputs.splits[&split];
            assert_eq!(manifest.splits[&split].signals, signals.len());
            // Every segment of the split has its signal (none was skipped), including training
            // segments whose rows undersampling dropped.
            let mut segments: Vec<u32> = arrays.segment.to_vec();
            segments.sort_unstable();
            segments.dedup();
            assert!(signals.len() >= segments.len());
            for (row, &segment) in signals.segment.iter().enumerate() {
                let name = &manifest.segments[segment as usize];
                let mut chunks: Vec<(u8, &[f32])> = data
                    .rows
                    .iter()
                    .enumerate()
                    .filter(|(_, r)| &r.segment == name)
                    .map(|(i, r)| (r.chunk, data.row_samples(i)))
                    .collect();
                chunks.sort_by_key(|c| c.0);
                let joined: Vec<f32> = chunks.iter().flat_map(|c| c.1.iter().copied()).collect();
                assert_eq!(signals.samples.row(row).to_vec(), joined, "{name}");
                let class = data.rows.iter().find(|r| &r.segment == name).unwrap().class;
                assert_eq!(signals.y[row], crate::binary_label(class));
            }
        }
        let train_segments = manifest.splits[&Split::Train].segments;
        assert!(outputs.signals[&Split::Train].len() >= train_segments);
        assert!(!outputs.signals.contains_key(&Split::PatientPool));
    }

    #[test]
    fn a_segment_missing_a_chunk_has_no_signal() {
        let mut data = synthetic(6);
        let (_, before) = build_outputs(&data, source(), &options(6, Balance::None));
        // Drop one row (as --skip-bad-rows would) of the first test segment.
        let victim = before.signals[&Split::Test].segment[0];
        let segments = split::group_segments(&data);
        let name = segments[victim as usize].name.clone();
        let drop = data.rows.iter().position(|r| r.segment == name).unwrap();
        data.rows.remove(drop);
        data.samples
            .drain(drop * SAMPLES_PER_RECORDING..(drop + 1) * SAMPLES_PER_RECORDING);
        let (manifest, after) = build_outputs(&data, source(), &options(6, Balance::None));
        let names: Vec<&String> = after
            .signals
            .values()
            .flat_map(|s| s.segment.iter().map(|&i| &manifest.segments[i as usize]))
            .collect();
        assert!(!names.contains(&&name));
    }

    #[test]
    fn same_input_and_options_give_identical_outputs() {
        let data = synthetic(1);
        let a = build_outputs(&data, source(), &options(3, Balance::Undersample));
        let b = build_outputs(&data, source(), &options(3, Balance::Undersample));
        assert_eq!(a.0, b.0);
        assert_eq!(a.1.splits, b.1.splits);
        let c = build_outputs(&data, source(), &options(4, Balance::Undersample));
        // Another seed picks other segments (with the same per-class segment counts).
        assert_eq!(a.0.splits[&Split::Test], c.0.splits[&Split::Test]);
        assert_ne!(
            a.1.splits[&Split::Test].segment,
            c.1.splits[&Split::Test].segment
        );
    }
}
