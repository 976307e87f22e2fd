//! preprocessing: the raw UCI EEG CSV to balanced, normalised, leakage-free LSTM tensors.
//!
//! `preprocessing run` validates the CSV, splits it by recording segment (stratified, seeded),
//! balances the training split, fits the normalisation on it, writes the processed-dataset
//! directory atomically and records it for DVC: the command line over [`eeg_data::prepare`].
//! `preprocessing synth` writes the deterministic synthetic data set in the same CSV format.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{bail, Context};
use artifact_store::atomic;
use artifact_store::dvc::DvcPointer;
use clap::{Args, Parser, Subcommand, ValueEnum};
use eeg_data::layout::{Centring, InputLayout};
use eeg_data::prepare::{prepare, PrepareOptions, Prepared, SplitOptions, DEFAULT_SEED};
use eeg_data::processed::{Balance, Fractions};
use eeg_data::synthetic::{self, SynthConfig};
use eeg_data::uci::{BadRows, RowError};
use service_flags::DvcArgs;
use stage_kit::DvcSettings;

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
    pub log: service_flags::LogArgs,
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

/// What is subtracted from each window before scaling (see [`Centring`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CentringArg {
    /// One mean fitted on the training split (a baseline shift moves the answer).
    Global,
    /// Each window's own mean (the answer ignores a constant baseline offset).
    PerWindow,
}

impl From<CentringArg> for Centring {
    fn from(arg: CentringArg) -> Self {
        match arg {
            CentringArg::Global => Centring::Global,
            CentringArg::PerWindow => Centring::PerWindow,
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
    #[arg(long, env = "CLASS_BALANCE", value_enum, default_value_t = BalanceArg::Weight)]
    pub balance: BalanceArg,
    /// What each window is centred on before scaling.
    #[arg(long, env = "INPUT_CENTRING", value_enum, default_value_t = CentringArg::PerWindow)]
    pub centring: CentringArg,
    /// Leave out invalid rows (reporting them) instead of stopping at the first.
    #[arg(long, env = "SKIP_BAD_ROWS")]
    pub skip_bad_rows: bool,
    #[command(flatten)]
    pub dvc: DvcArgs,
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
            balance: BalanceArg::Weight,
            centring: CentringArg::PerWindow,
            skip_bad_rows: false,
            dvc: DvcArgs::default(),
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
            let settings = args.settings()?;
            let prepared = preprocess(&settings)?;
            print_summary(&settings.prepare, &prepared);
            Ok(())
        }
        Command::Synth(args) => write_synthetic(&args),
    }
}

/// The split these arguments ask for.
pub fn split_options(args: &PreprocessArgs) -> anyhow::Result<SplitOptions> {
    let fractions = Fractions {
        train: args.train,
        validation: args.validation,
        test: args.test,
        patient_pool: args.patient_pool,
    };
    eeg_data::split::check_fractions(&fractions)
        .context("--train, --validation, --test and --patient-pool")?;
    Ok(SplitOptions {
        fractions,
        layout: InputLayout::new(args.timesteps, args.features)?,
        balance: args.balance.into(),
        centring: args.centring.into(),
        seed: args.seed,
        fold: None,
    })
}

/// A preprocessing run's settings, parsed from the command line ([`PreprocessArgs::settings`]):
/// what [`eeg_data::prepare`] is asked to do, and where its output is recorded.
#[derive(Debug, Clone)]
pub struct PreprocessSettings {
    pub prepare: PrepareOptions,
    pub dvc: DvcSettings,
}

impl PreprocessArgs {
    /// The run these arguments ask for: the fractions, layout and options checked here, before
    /// the CSV is read.
    pub fn settings(&self) -> anyhow::Result<PreprocessSettings> {
        Ok(PreprocessSettings {
            prepare: PrepareOptions {
                input: self.input.clone(),
                out: self.out.clone(),
                split: split_options(self)?,
                bad_rows: if self.skip_bad_rows {
                    BadRows::Skip
                } else {
                    BadRows::Fail
                },
            },
            dvc: self.dvc.settings(),
        })
    }
}

/// Runs preprocessing with these settings, reporting skipped rows and the balance choice, and
/// records the output for DVC (pushing it when a remote is configured).
#[tracing::instrument(name = "preprocessing", skip_all, fields(out = %settings.prepare.out.display()))]
pub fn preprocess(settings: &PreprocessSettings) -> anyhow::Result<Preprocessed> {
    let PreprocessSettings {
        prepare: options,
        dvc,
    } = settings;
    let prepared = prepare(options)?;
    let pointer = dvc.track(&options.out)?;
    // The raw input too, by its md5 (the manifest's `source.md5`, which training records as
    // `source_md5`): a fold of `seizure-ops cv` running elsewhere (a pod of the Kubernetes
    // Indexed Job) fetches exactly these bytes from the remote.
    if !dvc.no_dvc {
        if let Some(md5) = dvc.remote.push_file(&options.input)? {
            // The file read again to push it must be the one preprocessed.
            anyhow::ensure!(
                md5 == prepared.manifest.source.md5,
                "{} changed while it was preprocessed (md5 {} then {md5}): run again",
                options.input.display(),
                prepared.manifest.source.md5
            );
            tracing::info!(source = %options.input.display(), md5, "source pushed to the DVC remote");
        }
    }
    report_skipped(&prepared.skipped);
    let manifest = &prepared.manifest;
    tracing::info!(
        balance = ?manifest.balance,
        centring = ?manifest.normalisation.centring,
        class_weights = ?manifest.class_weights,
        mean = manifest.normalisation.mean,
        std = manifest.normalisation.std,
        "training split balanced; normalisation fitted on the training split only"
    );
    Ok(Preprocessed { prepared, pointer })
}

/// What a preprocessing run wrote, and its DVC pointer unless tracking was turned off.
#[derive(Debug, Clone)]
pub struct Preprocessed {
    pub prepared: Prepared,
    pub pointer: Option<DvcPointer>,
}

fn report_skipped(skipped: &[RowError]) {
    if skipped.is_empty() {
        return;
    }
    for error in skipped.iter().take(20) {
        tracing::warn!("skipped bad row: {error}");
    }
    let lines: Vec<String> = skipped.iter().map(|e| e.line.to_string()).collect();
    tracing::warn!(
        count = skipped.len(),
        "skipped {} bad rows, on lines {}",
        skipped.len(),
        lines.join(", ")
    );
}

fn print_summary(args: &PrepareOptions, outcome: &Preprocessed) {
    let manifest = &outcome.prepared.manifest;
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

pub fn write_synthetic(args: &SynthArgs) -> anyhow::Result<()> {
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
