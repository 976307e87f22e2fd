//! preprocessing: the raw UCI EEG CSV to balanced, normalised, leakage-free LSTM tensors.
//!
//! `preprocessing run` validates the CSV, splits it by recording segment (stratified, seeded),
//! balances the training split, fits the normalisation on it, writes the processed-dataset
//! directory (see [`eeg_data::processed`]) atomically and records it for DVC.
//! `preprocessing synth` writes the deterministic synthetic data set in the same CSV format.

pub mod split;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use artifact_store::atomic;
use artifact_store::dvc::{self, DvcPointer, DvcRepo};
use clap::{Args, Parser, Subcommand, ValueEnum};
use eeg_data::layout::{InputLayout, Normalisation};
use eeg_data::processed::{
    self, Balance, Fractions, Manifest, SourceInfo, Split, SplitArrays, SplitSummary,
};
use eeg_data::synthetic::{self, SynthConfig};
use eeg_data::uci::{self, BadRows, UciData};
use eeg_data::{binary_label, LABEL_NAMES, SAMPLES_PER_RECORDING};
use ndarray::{Array1, Array2, Array3};

/// The default seed of the split.
pub const DEFAULT_SEED: u64 = 42;

#[derive(Debug, Parser)]
#[command(
    name = "preprocessing",
    version,
    about = "Turns the UCI EEG CSV into LSTM tensors"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    #[command(flatten)]
    pub log: telemetry::LogArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate, split, balance, normalise and write the processed dataset.
    Run(PreprocessArgs),
    /// Write the deterministic synthetic EEG data set as a UCI-format CSV.
    Synth(SynthArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BalanceArg {
    Undersample,
    Weight,
    None,
}

impl From<BalanceArg> for Balance {
    fn from(arg: BalanceArg) -> Self {
        match arg {
            BalanceArg::Undersample => Balance::Undersample,
            BalanceArg::Weight => Balance::Weight,
            BalanceArg::None => Balance::None,
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct PreprocessArgs {
    /// The UCI "Epileptic Seizure Recognition" CSV.
    #[arg(
        long,
        env = "RAW_CSV",
        default_value = "raw/epileptic_seizure_recognition.csv"
    )]
    pub input: PathBuf,
    /// Output directory (replaced atomically; tracked by `<out>.dvc`).
    #[arg(long, env = "DATA_DIR", default_value = "data")]
    pub out: PathBuf,
    /// Seed of the split, the undersampling and the training-row order.
    #[arg(long, env = "SPLIT_SEED", default_value_t = DEFAULT_SEED)]
    pub seed: u64,
    /// Fraction of segments used for training.
    #[arg(long, env = "TRAIN_FRACTION", default_value_t = Fractions::default().train)]
    pub train: f64,
    /// Fraction of segments for validation (early stopping).
    #[arg(long, env = "VALIDATION_FRACTION", default_value_t = Fractions::default().validation)]
    pub validation: f64,
    /// Fraction of segments held out for evaluation and promotion.
    #[arg(long, env = "TEST_FRACTION", default_value_t = Fractions::default().test)]
    pub test: f64,
    /// Fraction of segments held out as patients for the inference service.
    #[arg(long, env = "PATIENT_POOL_FRACTION", default_value_t = Fractions::default().patient_pool)]
    pub patient_pool: f64,
    /// Model input layout: timesteps per recording.
    #[arg(long, env = "INPUT_TIMESTEPS", default_value_t = InputLayout::default().timesteps)]
    pub timesteps: usize,
    /// Model input layout: consecutive samples per timestep.
    #[arg(long, env = "INPUT_FEATURES", default_value_t = InputLayout::default().features)]
    pub features: usize,
    /// How the training split is balanced between seizure and non-seizure.
    #[arg(long, env = "CLASS_BALANCE", value_enum, default_value_t = BalanceArg::Undersample)]
    pub balance: BalanceArg,
    /// Leave out invalid rows (reporting them) instead of stopping at the first.
    #[arg(long, env = "SKIP_BAD_ROWS")]
    pub skip_bad_rows: bool,
    /// Do not write `<out>.dvc` or fill the DVC cache.
    #[arg(long)]
    pub no_dvc: bool,
    /// DVC repository root (default: the nearest one above the output, else its parent).
    #[arg(long, env = "DVC_ROOT")]
    pub dvc_root: Option<PathBuf>,
}

impl PreprocessArgs {
    /// The defaults of every option, reading `input` and writing `out`.
    pub fn new(input: PathBuf, out: PathBuf) -> Self {
        let (fractions, layout) = (Fractions::default(), InputLayout::default());
        Self {
            input,
            out,
            seed: DEFAULT_SEED,
            train: fractions.train,
            validation: fractions.validation,
            test: fractions.test,
            patient_pool: fractions.patient_pool,
            timesteps: layout.timesteps,
            features: layout.features,
            balance: BalanceArg::Undersample,
            skip_bad_rows: false,
            no_dvc: false,
            dvc_root: None,
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct SynthArgs {
    /// Where to write the CSV.
    #[arg(long, default_value = "raw/synthetic_eeg.csv")]
    pub out: PathBuf,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Segments per class (each has 23 one-second recordings; the real file has 100).
    #[arg(long, default_value_t = 100)]
    pub segments_per_class: usize,
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Run(args) => {
            let outcome = preprocess(&args)?;
            print_summary(&args, &outcome);
            Ok(())
        }
        Command::Synth(args) => write_synthetic(&args),
    }
}

/// What a preprocessing run produced.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub manifest: Manifest,
    pub pointer: Option<DvcPointer>,
}

/// Runs the whole preprocessing step. Nothing is written unless every check passes.
pub fn preprocess(args: &PreprocessArgs) -> anyhow::Result<Outcome> {
    let fractions = Fractions {
        train: args.train,
        validation: args.validation,
        test: args.test,
        patient_pool: args.patient_pool,
    };
    split::check_fractions(&fractions)?;
    let layout = InputLayout::new(args.timesteps, args.features)?;
    let bytes = std::fs::read(&args.input)
        .with_context(|| format!("cannot read {}", args.input.display()))?;
    let bad_rows = if args.skip_bad_rows {
        BadRows::Skip
    } else {
        BadRows::Fail
    };
    let data = uci::parse(&args.input, &bytes, bad_rows)?;
    report_skipped(&data);

    let source = SourceInfo {
        file_name: args
            .input
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        md5: dvc::bytes_md5(&bytes),
        rows: data.rows.len(),
        skipped_lines: data.skipped.iter().map(|e| e.line).collect(),
    };
    let options = SplitOptions {
        fractions,
        layout,
        balance: args.balance.into(),
        seed: args.seed,
    };
    let (manifest, outputs) = build_outputs(&data, source, &options);
    tracing::info!(
        balance = ?manifest.balance,
        class_weights = ?manifest.class_weights,
        mean = manifest.normalisation.mean,
        std = manifest.normalisation.std,
        "training split balanced; normalisation fitted on the training split only"
    );

    atomic::replace_dir(&args.out, |dir| write_outputs(dir, &manifest, &outputs))
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    let pointer = if args.no_dvc {
        None
    } else {
        Some(DvcRepo::for_output(&args.out, args.dvc_root.as_deref())?.add_dir(&args.out)?)
    };
    Ok(Outcome { manifest, pointer })
}

/// Everything that shapes the split, independent of where files go.
#[derive(Debug, Clone, Copy)]
pub struct SplitOptions {
    pub fractions: Fractions,
    pub layout: InputLayout,
    pub balance: Balance,
    pub seed: u64,
}

/// The arrays to write, per split, plus the raw pool samples.
#[derive(Debug, Clone)]
pub struct Outputs {
    pub splits: BTreeMap<Split, SplitArrays>,
    pub pool_raw: Array2<f32>,
}

/// Splits, balances and normalises validated data. Pure: no I/O.
pub fn build_outputs(
    data: &UciData,
    source: SourceInfo,
    options: &SplitOptions,
) -> (Manifest, Outputs) {
    let segments = split::group_segments(data);
    let assignment = split::assign_splits(&segments, &options.fractions, options.seed);
    let mut rows_of: BTreeMap<Split, Vec<usize>> =
        Split::ALL.iter().map(|&s| (s, vec![])).collect();
    let mut segment_index = vec![0u32; data.rows.len()];
    for (index, (segment, split)) in segments.iter().zip(&assignment).enumerate() {
        rows_of.get_mut(split).unwrap().extend(&segment.rows);
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
    );
    let mut splits = BTreeMap::new();
    let mut summaries = BTreeMap::new();
    for (&split, rows) in &rows_of {
        let arrays = split_arrays(data, rows, &segment_index, options.layout, &normalisation);
        summaries.insert(split, summarise(&arrays, rows, data));
        splits.insert(split, arrays);
    }
    let pool = &rows_of[&Split::PatientPool];
    let pool_raw = Array2::from_shape_vec(
        (pool.len(), SAMPLES_PER_RECORDING),
        pool.iter()
            .flat_map(|&r| data.row_samples(r).iter().copied())
            .collect(),
    )
    .expect("every row has 178 samples");

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
        splits: summaries,
    };
    (manifest, Outputs { splits, pool_raw })
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
    }
}

fn write_outputs(dir: &Path, manifest: &Manifest, outputs: &Outputs) -> anyhow::Result<()> {
    for (&split, arrays) in &outputs.splits {
        processed::write_split(dir, split, arrays)?;
    }
    processed::write_pool_raw(dir, &outputs.pool_raw)?;
    processed::write_manifest(dir, manifest)?;
    Ok(())
}

fn report_skipped(data: &UciData) {
    if data.skipped.is_empty() {
        return;
    }
    for error in data.skipped.iter().take(20) {
        tracing::warn!("skipped bad row: {error}");
    }
    let lines: Vec<String> = data.skipped.iter().map(|e| e.line.to_string()).collect();
    tracing::warn!(
        count = data.skipped.len(),
        "skipped {} bad rows, on lines {}",
        data.skipped.len(),
        lines.join(", ")
    );
}

fn print_summary(args: &PreprocessArgs, outcome: &Outcome) {
    let manifest = &outcome.manifest;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "{} rows from {} (md5 {}), {} segments, layout {} x {}, balance {:?}",
        manifest.source.rows,
        args.input.display(),
        manifest.source.md5,
        manifest.segments.len(),
        manifest.layout.timesteps,
        manifest.layout.features,
        manifest.balance
    );
    let _ = writeln!(
        out,
        "{:<13} {:>8} {:>6} {:>8} {:>12}  shape",
        "split", "segments", "rows", "seizure", "non-seizure"
    );
    for (split, s) in &manifest.splits {
        let _ = writeln!(
            out,
            "{:<13} {:>8} {:>6} {:>8} {:>12}  {:?}",
            split.name(),
            s.segments,
            s.rows,
            s.label_counts[1],
            s.label_counts[0],
            s.x_shape
        );
    }
    match &outcome.pointer {
        Some(p) => {
            let _ = writeln!(
                out,
                "wrote {} ({} files, {} bytes, dvc md5 {})",
                args.out.display(),
                p.nfiles.unwrap_or(0),
                p.size,
                p.md5
            );
        }
        None => {
            let _ = writeln!(out, "wrote {} (not tracked by DVC)", args.out.display());
        }
    }
}

fn write_synthetic(args: &SynthArgs) -> anyhow::Result<()> {
    if args.segments_per_class == 0 {
        bail!("--segments-per-class must be at least 1");
    }
    let config = SynthConfig {
        seed: args.seed,
        segments_per_class: args.segments_per_class,
    };
    atomic::write_file(&args.out, &synthetic::csv_bytes(&config))
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    println!(
        "wrote {} synthetic segments ({} rows) to {}",
        args.segments_per_class * 5,
        args.segments_per_class * 5 * eeg_data::CHUNKS_PER_SEGMENT,
        args.out.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use eeg_data::synthetic::csv_bytes;
    use proptest::prelude::*;
    use std::collections::HashSet;

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
            seed,
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
            prop_assert_eq!(seen.len(), manifest.segments.len());
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
