//! seizure-ops: the whole job on one machine, on embedded defaults (local files, the local
//! tracking store, SQLite).
//!
//! `pipeline` runs preprocessing, training, evaluation/promotion and patient-pull in order;
//! `serve` runs the auth and inference APIs side by side; `up` does both. The stage
//! subcommands (`preprocessing`, `training`, `evaluate`, `patient-pull`) are the services' own
//! command lines, which `dvc.yaml` calls.

pub mod annotated;
pub mod cv;
mod descriptors;
pub mod event_summary;
pub mod events;
pub mod fanout;
pub mod monitor;
mod ops;
mod pipeline;
pub mod reference;
mod serve;
pub mod tune;

use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand};

pub use pipeline::{run_pipeline, PipelineArgs};
pub use serve::{serve, ServeArgs};

#[derive(Debug, Parser)]
#[command(
    name = "seizure-ops",
    version,
    about = "Train, promote and serve the seizure LSTM on one machine"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// preprocessing -> training -> evaluate/promote -> patient-pull, stopping at the first failure.
    Pipeline(PipelineCommand),
    /// k-fold cross-validation of the training recipe: one training per fold, mean and sd of
    /// every test figure (nothing is promoted); `cv/cv.json` and a parent tracked run. The
    /// folds can run apart (`--fold N --group G` each, then `--gather --group G`).
    Cv(CvCommand),
    /// Hyper-parameter search (random search with median pruning) over architecture, layout,
    /// hidden sizes, dropout, learning rate, batch size and augmentation; trials are child runs
    /// of one parent run, scored on validation only; `tune/tune.json`, `tune/best-params.yaml`.
    Tune(TuneCommand),
    /// Score a long recording offline (one sample per line, or a CSV column) with the bedside
    /// alarm rule; write its events (JSON) and a strip chart of trace, probability and alarms (SVG).
    Monitor(MonitorCommand),
    /// Event-level evaluation (SzCORE conventions) on long recordings spliced from held-out
    /// segments: event sensitivity, false alarms per hour, detection latency.
    EvaluateEvents(EventsCommand),
    /// The auth and inference APIs on two local ports, until Ctrl-C.
    Serve(ServeCommand),
    /// `pipeline`, then `serve`.
    Up(UpCommand),
    /// The preprocessing stage's own command line.
    Preprocessing(preprocessing::Cli),
    /// The training stage's own command line.
    Training(training::Cli),
    /// The evaluate/promote stage's own command line.
    Evaluate(evaluate::Cli),
    /// The patient-pull stage's own command line.
    PatientPull(patient_pull::Cli),
    /// The auth service alone (its own command line).
    Auth(auth::Cli),
    /// The inference service alone (its own command line).
    Inference(Box<inference::Cli>),
    /// Create the token signing key (RS256, owner-only) unless it exists; write its public JWKS.
    Keygen(ops::KeygenArgs),
    /// Exit 0 when the URL answers 2xx (container health checks; the image has no curl).
    Healthcheck(ops::HealthcheckArgs),
}

/// The directory everything lives in: data, models, production, patients, databases, keys.
#[derive(Debug, Clone, Args)]
pub struct Home {
    /// Project directory; every default path is inside it.
    #[arg(long = "home", env = "SEIZURE_OPS_HOME", default_value = ".")]
    pub dir: PathBuf,
}

impl Home {
    pub fn path(&self, relative: impl AsRef<Path>) -> PathBuf {
        self.dir.join(relative)
    }
}

#[derive(Debug, Args)]
pub struct PipelineCommand {
    #[command(flatten)]
    pub home: Home,
    #[command(flatten)]
    pub pipeline: PipelineArgs,
    #[command(flatten)]
    pub log: service_flags::LogArgs,
}

#[derive(Debug, Args)]
pub struct CvCommand {
    #[command(flatten)]
    pub home: Home,
    #[command(flatten)]
    pub pipeline: PipelineArgs,
    #[command(flatten)]
    pub cv: cv::CvArgs,
    #[command(flatten)]
    pub log: service_flags::LogArgs,
}

#[derive(Debug, Args)]
pub struct TuneCommand {
    #[command(flatten)]
    pub home: Home,
    #[command(flatten)]
    pub pipeline: PipelineArgs,
    #[command(flatten)]
    pub tune: tune::TuneArgs,
    #[command(flatten)]
    pub log: service_flags::LogArgs,
}

#[derive(Debug, Args)]
pub struct MonitorCommand {
    #[command(flatten)]
    pub monitor: monitor::MonitorArgs,
    #[command(flatten)]
    pub log: service_flags::LogArgs,
}

#[derive(Debug, Args)]
pub struct EventsCommand {
    #[command(flatten)]
    pub events: events::EventsArgs,
    #[command(flatten)]
    pub log: service_flags::LogArgs,
}

#[derive(Debug, Args)]
pub struct ServeCommand {
    #[command(flatten)]
    pub home: Home,
    #[command(flatten)]
    pub serve: ServeArgs,
    #[command(flatten)]
    pub log: service_flags::LogArgs,
}

#[derive(Debug, Args)]
pub struct UpCommand {
    #[command(flatten)]
    pub home: Home,
    #[command(flatten)]
    pub pipeline: PipelineArgs,
    #[command(flatten)]
    pub serve: ServeArgs,
    #[command(flatten)]
    pub log: service_flags::LogArgs,
}

impl Cli {
    pub fn log_settings(&self) -> telemetry::LogSettings {
        match &self.command {
            Command::Pipeline(c) => c.log.settings(),
            Command::Cv(c) => c.log.settings(),
            Command::Tune(c) => c.log.settings(),
            Command::Monitor(c) => c.log.settings(),
            Command::EvaluateEvents(c) => c.log.settings(),
            Command::Serve(c) => c.log.settings(),
            Command::Up(c) => c.log.settings(),
            Command::Preprocessing(c) => c.log.settings(),
            Command::Training(c) => c.log.settings(),
            Command::Evaluate(c) => c.log.settings(),
            Command::PatientPull(c) => c.log.settings(),
            Command::Auth(c) => c.log.settings(),
            Command::Inference(c) => c.log.settings(),
            Command::Keygen(_) | Command::Healthcheck(_) => telemetry::LogSettings::default(),
        }
    }
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Pipeline(c) => run_pipeline(&c.home, &c.pipeline, &c.log),
        Command::Cv(c) => cv::run(&c.home, &c.pipeline, &c.cv),
        Command::Tune(c) => tune::run(&c.home, &c.pipeline, &c.tune),
        Command::Monitor(c) => monitor::run_monitor(&c.monitor),
        Command::EvaluateEvents(c) if !c.events.edf.is_empty() => {
            annotated::run_annotated(&c.events).map(|_| ())
        }
        Command::EvaluateEvents(c) => events::run_events(&c.events).map(|_| ()),
        Command::Serve(c) => serve(&c.home, &c.serve),
        Command::Up(c) => {
            // The services' settings are checked before the pipeline runs for minutes.
            serve::check(&c.home, &c.serve)?;
            run_pipeline(&c.home, &c.pipeline, &c.log)?;
            serve(&c.home, &c.serve)
        }
        Command::Preprocessing(c) => preprocessing::run(c),
        Command::Training(c) => training::run(c),
        Command::Evaluate(c) => evaluate::run(c),
        Command::PatientPull(c) => patient_pull::run(c),
        Command::Auth(c) => auth::run(c),
        Command::Inference(c) => inference::run(*c),
        Command::Keygen(args) => ops::keygen(&args),
        Command::Healthcheck(args) => ops::healthcheck(&args),
    }
}
