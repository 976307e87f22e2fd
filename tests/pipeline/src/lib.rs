//! Helpers for the cross-service tests in tests/: a workspace that runs the real pipeline
//! (synthetic data, training, evaluation and promotion, patient-pull) in a temp directory.

use std::path::PathBuf;

pub mod serving;
pub mod sockets;

use eeg_data::prepare::{prepare, PrepareOptions};
use eeg_data::synthetic::{self, SynthConfig};
use evaluate::registry;
use evaluate::RegistryArgs;
use evaluate::{EvaluateArgs, PrimaryMetric};
use service_flags::TrackingArgs;
use training::{train_model, TrainingArgs};

/// A throw-away project directory with synthetic data prepared in `data/`, tracked in
/// `tracking/` (or a real MLflow server).
pub struct Workspace {
    pub dir: tempfile::TempDir,
    pub tracking: TrackingArgs,
}

impl Workspace {
    pub fn new(tracking_uri: Option<String>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("raw")).unwrap();
        let csv = dir.path().join("raw/eeg.csv");
        let config = SynthConfig {
            seed: 5,
            segments_per_class: 10,
        };
        std::fs::write(&csv, synthetic::csv_bytes(&config)).unwrap();
        prepare(&PrepareOptions::new(csv, dir.path().join("data"))).unwrap();
        let experiment = format!("pipeline-{}", tracking::now_ms());
        let tracking = TrackingArgs {
            tracking_uri,
            tracking_dir: dir.path().join("tracking"),
            experiment,
        };
        Self { dir, tracking }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn train(&self, epochs: usize, learning_rate: f64) -> training::TrainingOutcome {
        self.train_with(epochs, learning_rate, |_| {})
    }

    pub fn train_seeded(
        &self,
        epochs: usize,
        learning_rate: f64,
        seed: u64,
    ) -> training::TrainingOutcome {
        self.train_with(epochs, learning_rate, |args| args.seed = seed)
    }

    /// Trains with the workspace's tiny settings, changed by `edit`.
    pub fn train_with(
        &self,
        epochs: usize,
        learning_rate: f64,
        edit: impl FnOnce(&mut TrainingArgs),
    ) -> training::TrainingOutcome {
        let mut args = TrainingArgs {
            data: self.path("data"),
            out: self.path("models"),
            epochs,
            batch_size: 32,
            learning_rate,
            patience: 3,
            seed: 1,
            max_train_rows: Some(230),
            grad_shards: 2,
            engine: training::engine::Engine::default(),
            threads: None,
            drift_window: 1_000,
            drift_permutations: 1_000,
            threshold_specificity: 0.98,
            // Out-of-fold decisions cost a training per fold: tests that need them ask.
            oof_folds: 0,
            patient_specificity: seizure_model::decisions::DEFAULT_PATIENT_TARGET_SPECIFICITY,
            alarm_budget_per_hour: seizure_model::decisions::DEFAULT_ALARM_BUDGET_PER_HOUR,
            temperature_scaling: false,
            front_end: training::FrontEndArg::Frames,
            lstm_hidden: 56,
            dense_hidden: 20,
            dropout: 0.3,
            windows: training::windows::Windows::Random,
            augment_gain: 0.2,
            augment_noise: 0.0,
            tracking: self.tracking.clone(),
            dvc: Default::default(),
        };
        edit(&mut args);
        train_model(&args.settings().unwrap()).unwrap()
    }

    pub fn registry(&self) -> RegistryArgs {
        RegistryArgs {
            production: self.path("production"),
            audit_log: self.path("audit/promotions.jsonl"),
            model_name: format!("seizure-{}", self.tracking.experiment),
            tracking: self.tracking.clone(),
            dvc: Default::default(),
        }
    }

    /// `evaluate run` as the CLI runs it with no flags (the default floors, margin,
    /// confidence), on this workspace.
    pub fn evaluate_args(&self) -> EvaluateArgs {
        let defaults: EvaluateArgs = service_flags::defaults();
        EvaluateArgs {
            candidate: self.path("models"),
            data: self.path("data"),
            reports: self.path("reports"),
            primary_metric: PrimaryMetric::RocAuc,
            registry: self.registry(),
            ..defaults
        }
    }

    /// Evaluates with the default policy.
    pub fn evaluate(&self) -> (evaluate::Report, Option<registry::AuditRecord>) {
        evaluate::evaluate(&self.evaluate_args().settings().unwrap()).unwrap()
    }

    /// Evaluates with `--force --force-reason <reason>`.
    pub fn evaluate_forced(
        &self,
        reason: &str,
    ) -> (evaluate::Report, Option<registry::AuditRecord>) {
        let args = EvaluateArgs {
            force: true,
            force_reason: Some(reason.into()),
            ..self.evaluate_args()
        };
        evaluate::evaluate(&args.settings().unwrap()).unwrap()
    }
}

/// One promoted model (one epoch) and patient store per test binary, built by the first test
/// that asks and shared by the tests that only read them.
pub fn shared_workspace() -> &'static Workspace {
    static WORKSPACE: std::sync::OnceLock<Workspace> = std::sync::OnceLock::new();
    WORKSPACE.get_or_init(|| Workspace::promoted(1))
}

impl Workspace {
    /// The whole local pipeline with a tiny model: prepare, train `epochs`, promote, and
    /// build the patient store. The result serves: `production/`, `patients/store`.
    pub fn promoted(epochs: usize) -> Self {
        let ws = Self::new(None);
        ws.train(epochs, 3e-3);
        let (report, promotion) = ws.evaluate();
        assert!(
            promotion.is_some(),
            "the first model is promoted: {}",
            report.decision.reason
        );
        ws.pull_patients();
        ws
    }

    pub fn pull_patients(&self) -> patient_pull::Outcome {
        patient_pull::pull_patients(&patient_pull::PatientPullSettings {
            data: self.path("data"),
            out: self.path("patients"),
            production: None,
            dvc: Default::default(),
        })
        .unwrap()
        .built()
    }
}
