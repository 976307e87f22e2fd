//! patient-pull: builds the per-patient store that inference reads.
//!
//! Input: the processed-dataset directory written by preprocessing (its held-out patient
//! pool). Output, replaced atomically and recorded for DVC as `<out>.dvc`:
//! * `<out>/store/`: the [`patient_store`] that inference opens (raw recordings, no labels);
//! * `<out>/labels.csv`: the ground truth of every patient, for evaluation only.
//!
//! A patient is one recording segment. Its id is the segment's 1-based position in the
//! name-sorted list of all segments of the source file (`manifest.segments`), so the id of a
//! segment does not change with the split seed or fractions.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use artifact_store::atomic;
use artifact_store::dvc::DvcPointer;
use clap::{Args, Parser};
use eeg_data::processed::{ProcessedDataset, Split};
use patient_store::labels::{self, PatientLabel};
use patient_store::{NewPatient, StoreIndex, StoreSource};
use service_flags::DvcArgs;
use stage_kit::DvcSettings;

/// Sub-directory of the output that inference reads.
pub const STORE_DIR: &str = "store";

#[derive(Debug, Parser)]
#[command(
    name = "patient-pull",
    version,
    about = "Builds the per-patient store for inference"
)]
pub struct Cli {
    #[command(flatten)]
    pub args: PatientPullArgs,
    #[command(flatten)]
    pub log: service_flags::LogArgs,
}

#[derive(Debug, Clone, Args)]
pub struct PatientPullArgs {
    /// The processed-dataset directory written by preprocessing.
    #[arg(long, env = "DATA_DIR", default_value = "data")]
    pub data: PathBuf,
    /// Output directory (replaced atomically; tracked by `<out>.dvc`).
    #[arg(long, env = "PATIENTS_DIR", default_value = "patients")]
    pub out: PathBuf,
    /// The production model the store is for: the store is rebuilt only if that model was
    /// trained on this data (its held-out patients are then unseen by it); otherwise it is
    /// left as it is and the reason printed. Unset: always rebuilt.
    #[arg(long, env = "PRODUCTION_DIR")]
    pub production: Option<PathBuf>,
    #[command(flatten)]
    pub dvc: DvcArgs,
}

/// A pull's settings, parsed from the command line ([`PatientPullArgs::settings`]).
#[derive(Debug, Clone)]
pub struct PatientPullSettings {
    /// The processed dataset whose patient pool becomes the store.
    pub data: PathBuf,
    /// Where the store and the labels go.
    pub out: PathBuf,
    /// The production model the store is for (see `--production`); None: always rebuilt.
    pub production: Option<PathBuf>,
    pub dvc: DvcSettings,
}

impl PatientPullArgs {
    pub fn settings(&self) -> PatientPullSettings {
        PatientPullSettings {
            data: self.data.clone(),
            out: self.out.clone(),
            production: self.production.clone(),
            dvc: self.dvc.settings(),
        }
    }
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    let outcome = match pull_patients(&cli.args.settings())? {
        Pulled::Built(outcome) => outcome,
        Pulled::Kept(reason) => {
            println!("patient store not rebuilt: {reason}");
            return Ok(());
        }
    };
    let ids: Vec<String> = outcome
        .index
        .patients
        .iter()
        .map(|p| p.patient_id.to_string())
        .collect();
    let recordings: usize = outcome.index.patients.iter().map(|p| p.chunks.len()).sum();
    println!(
        "wrote {} patients ({recordings} recordings) to {}; labels in {}",
        ids.len(),
        cli.args.out.join(STORE_DIR).display(),
        cli.args.out.join(labels::LABELS_FILE).display()
    );
    println!("patient ids: {}", ids.join(", "));
    if let Some(pointer) = &outcome.pointer {
        println!(
            "dvc md5 {} ({} files)",
            pointer.md5,
            pointer.nfiles.unwrap_or(0)
        );
    }
    Ok(())
}

#[derive(Debug, Clone)]
pub struct Outcome {
    pub index: StoreIndex,
    pub labels: Vec<PatientLabel>,
    pub pointer: Option<DvcPointer>,
}

/// What a pull did.
#[derive(Debug, Clone)]
pub enum Pulled {
    Built(Outcome),
    /// The store was left as it is (see `--production`), for this reason.
    Kept(String),
}

impl Pulled {
    /// The new store, or a panic naming why none was built (tests and callers that did not
    /// pass `--production`).
    pub fn built(self) -> Outcome {
        match self {
            Pulled::Built(outcome) => outcome,
            Pulled::Kept(reason) => panic!("the patient store was not rebuilt: {reason}"),
        }
    }
}

#[tracing::instrument(name = "patient_pull", skip_all, fields(out = %args.out.display()))]
pub fn pull_patients(args: &PatientPullSettings) -> anyhow::Result<Pulled> {
    args.dvc.fetch(&args.data)?;
    let dataset = ProcessedDataset::open(&args.data)
        .with_context(|| format!("cannot open the processed dataset {}", args.data.display()))?;
    let (patients, labels) = patients_from_pool(&dataset)?;
    if patients.is_empty() {
        bail!(
            "{}: the patient pool is empty (preprocessing ran with --patient-pool 0?)",
            args.data.display()
        );
    }
    let source = StoreSource {
        data_md5: Some(data_version(&args.data)?),
        split: Some("patient_pool".into()),
        split_seed: Some(dataset.manifest.seed),
    };
    if let Some(production) = &args.production {
        if let Some(reason) = production_mismatch(production, &source)? {
            // Keeping nothing is not a success: there would be no store at all (and a
            // `dvc repro` would miss its output), so say why instead.
            if !args
                .out
                .join(STORE_DIR)
                .join(patient_store::INDEX_FILE)
                .is_file()
            {
                bail!("{reason}; there is no patient store to keep, so none is written");
            }
            return Ok(Pulled::Kept(reason));
        }
    }
    let samples = dataset.manifest.samples_per_recording;
    let index = atomic::replace_dir(&args.out, |dir| -> anyhow::Result<StoreIndex> {
        let store = dir.join(STORE_DIR);
        fs_err::create_dir(&store)?;
        let index = patient_store::write_store(&store, samples, &source, &patients)?;
        labels::write_labels(&dir.join(labels::LABELS_FILE), &labels)?;
        Ok(index)
    })
    .with_context(|| format!("cannot write {}", args.out.display()))?;
    let pointer = args.dvc.track(&args.out)?;
    Ok(Pulled::Built(Outcome {
        index,
        labels,
        pointer,
    }))
}

/// Why the store must not be rebuilt for the model in `production` (none installed, or trained
/// on other data), or None when it may.
fn production_mismatch(production: &Path, source: &StoreSource) -> anyhow::Result<Option<String>> {
    if !production
        .join(seizure_model::artifact::MODEL_CARD_FILE)
        .is_file()
    {
        return Ok(Some(format!(
            "there is no production model in {} (the store is built together with a promotion)",
            production.display()
        )));
    }
    let card = seizure_model::artifact::read_card(production)?;
    Ok(patient_store::check_disjoint(
        source.data_md5.as_deref(),
        card.training_data_md5.as_deref(),
    )
    .err())
}

/// Groups the pool's rows into patients, recordings in chunk order, ordered by patient id.
pub fn patients_from_pool(
    dataset: &ProcessedDataset,
) -> anyhow::Result<(Vec<NewPatient>, Vec<PatientLabel>)> {
    let pool = dataset.split(Split::PatientPool)?;
    let raw = dataset.raw(Split::PatientPool)?;
    let mut rows_by_segment: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
    for (row, &segment) in pool.segment.iter().enumerate() {
        rows_by_segment.entry(segment).or_default().push(row);
    }
    let mut patients = Vec::with_capacity(rows_by_segment.len());
    let mut labels = Vec::with_capacity(rows_by_segment.len());
    for (segment, mut rows) in rows_by_segment {
        rows.sort_by_key(|&r| pool.chunk[r]);
        let patient_id = u64::from(segment) + 1;
        let name = dataset.manifest.segments[segment as usize].clone();
        let class = pool.class[rows[0]];
        patients.push(NewPatient {
            patient_id,
            segment: name.clone(),
            chunks: rows.iter().map(|&r| pool.chunk[r]).collect(),
            samples: rows.iter().flat_map(|&r| raw.row(r).to_vec()).collect(),
        });
        labels.push(PatientLabel {
            patient_id,
            segment: name,
            class,
            seizure: eeg_data::binary_label(class) == 1,
        });
    }
    Ok((patients, labels))
}

/// The DVC hash of the processed data, computed as training computes the one it records in
/// the model card.
fn data_version(data: &Path) -> anyhow::Result<String> {
    Ok(artifact_store::dvc::hash_dir(data)?.md5)
}
