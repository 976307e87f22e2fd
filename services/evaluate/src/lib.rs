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
pub mod settings;

pub use crate::config::PromotionFlags;
pub use crate::config::{Cli, Command, EvaluateArgs, RegistryArgs};
pub use crate::promotion::{Decision, PrimaryMetric, PromotionPolicy, QualityFloor};
pub use crate::scoring::ModelEvaluation;
pub use crate::settings::EvaluateSettings;

use crate::compare::ScoredModel;
use crate::inputs::{load_production, Inputs};
use crate::logged::log_evaluation;
use crate::registry::AuditRecord;
pub use crate::report::Report;
use crate::report::{print_report, write_reports};

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Run(args) => {
            let (report, promoted) = evaluate(&args.settings()?)?;
            print_report(&report, promoted.as_ref());
            Ok(())
        }
        Command::Rollback(args) => {
            let record = registry::rollback(&args.settings())?;
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
pub fn evaluate(args: &EvaluateSettings) -> anyhow::Result<(Report, Option<AuditRecord>)> {
    let inputs = Inputs::load(args)?;
    let tracker = args.registry.tracking.open()?;
    let scratch = tempfile::tempdir()?;
    let production = load_production(&args.registry, tracker.as_ref(), scratch.path())?;

    let intervals = args.policy.interval_settings();
    let test = &inputs.test;
    let threshold = args.threshold.map(settings::Threshold::into_inner);
    let candidate = ScoredModel::score(&inputs.candidate, None, test, threshold, &intervals);
    let production = production.as_ref().map(|(predictor, version)| {
        ScoredModel::score(predictor, version.clone(), test, threshold, &intervals)
    });
    let mut warnings = compare::production_warnings(production.as_ref(), &inputs.data_md5);
    let decision = compare::decide(args, &inputs, &candidate, production.as_ref());
    let robustness = compare::robustness(&inputs, &candidate, &intervals, &mut warnings);
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
