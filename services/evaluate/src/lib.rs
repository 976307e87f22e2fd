//! evaluate: scores a candidate model against production and promotes only a better one.
//!
//! `evaluate run` scores the candidate (and the current production model, if any) on the
//! held-out test split of the same data version, per recording and per patient (each segment's
//! recordings averaged), writes `metrics.json` and SVG plots, logs them to the tracker, and
//! promotes the candidate if there is no production model or it beats production on the
//! primary metric by more than the margin. `evaluate rollback` moves production back to the
//! version before.
//!
//! [`evaluate`] is `evaluate run`, step by step: [`config`] has the command line, `inputs`
//! loads the candidate, the test split and production, `compare` scores them and decides
//! (by the rules of [`promotion`]), `report` and `logged` write the reports and the run, and
//! `promote` carries out a promotion.

pub mod calibration;
mod compare;
pub mod config;
mod inputs;
pub mod intervals;
mod logged;
pub mod metrics;
pub mod plots;
mod promote;
pub mod promotion;
pub mod registry;
mod report;
pub mod robustness;
pub mod scoring;

use serde::Serialize;

pub use crate::config::PromotionFlags;
pub use crate::config::{Cli, Command, EvaluateArgs};
pub use crate::promotion::{Decision, PrimaryMetric, PromotionPolicy, QualityFloor};
pub use crate::scoring::ModelEvaluation;

use crate::compare::ScoredModel;
use crate::inputs::{load_production, Inputs};
use crate::logged::log_evaluation;
use crate::registry::AuditRecord;
use crate::report::{print_report, write_reports};

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub data_md5: String,
    pub test_recordings: usize,
    pub test_patients: usize,
    /// The candidate's decision threshold (the one inference would serve it with).
    pub threshold: f64,
    pub threshold_source: &'static str,
    pub candidate: ModelEvaluation,
    pub production: Option<ModelEvaluation>,
    pub decision: Decision,
    /// The candidate on test windows at other offsets and under other recording conditions.
    pub robustness: robustness::Robustness,
    pub warnings: Vec<String>,
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Run(args) => {
            let (report, promoted) = evaluate(&args)?;
            print_report(&report, promoted.as_ref());
            Ok(())
        }
        Command::Rollback(args) => {
            let record = registry::rollback(&args)?;
            println!(
                "rolled back {}: production is version {} again (was {})",
                record.model_name,
                record.to_version,
                record.from_version.as_deref().unwrap_or("-")
            );
            Ok(())
        }
    }
}

/// Evaluates the candidate and promotes it if it is better. Returns the report and, when the
/// candidate was promoted, the audit record.
#[tracing::instrument(name = "evaluate", skip_all, fields(candidate = %args.candidate.display()))]
pub fn evaluate(args: &EvaluateArgs) -> anyhow::Result<(Report, Option<AuditRecord>)> {
    let force = args.force()?;
    let inputs = Inputs::load(args)?;
    let tracker = args.registry.tracking.open()?;
    let scratch = tempfile::tempdir()?;
    let production = load_production(&args.registry, tracker.as_ref(), scratch.path())?;

    let settings = args.policy.policy().interval_settings();
    let test = &inputs.test;
    let candidate = ScoredModel::score(&inputs.candidate, None, test, args.threshold, &settings);
    let production = production.as_ref().map(|(predictor, version)| {
        ScoredModel::score(predictor, version.clone(), test, args.threshold, &settings)
    });
    let mut warnings = compare::production_warnings(production.as_ref(), &inputs.data_md5);
    let decision = compare::decide(
        args,
        &inputs,
        &candidate,
        production.as_ref(),
        force.as_ref(),
    );
    let robustness = compare::robustness(&inputs, &candidate, &settings, &mut warnings);
    let report = Report {
        data_md5: inputs.data_md5.clone(),
        test_recordings: test.labels.len(),
        test_patients: candidate.evaluation.patients.count,
        threshold: candidate.evaluation.recordings.threshold,
        threshold_source: candidate.evaluation.threshold_source,
        candidate: candidate.evaluation,
        production: production.map(|p| p.evaluation),
        decision,
        robustness,
        warnings,
    };
    write_reports(&args.reports, &report, &candidate.scores, &test.labels)?;
    log_evaluation(
        tracker.as_ref(),
        &args.registry.tracking.experiment,
        &report,
        &args.reports,
    )?;
    let promoted = if report.decision.promote {
        Some(promote::promote(
            args,
            tracker.as_ref(),
            &inputs.candidate,
            &report,
        )?)
    } else {
        None
    };
    Ok((report, promoted))
}
