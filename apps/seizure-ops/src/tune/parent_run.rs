//! The tuning's own run in the tracker, the parent of the trials' runs: its settings, and
//! which trial won.

use tracking::{Metric, Tracker};

use super::args::TuneArgs;
use super::trial::TrialResult;

/// The tuning run's params: its settings, how many ran at a time, and the raw data (a path,
/// or `md5:<hash>` for members gathered from elsewhere).
pub(super) fn params(args: &TuneArgs, parallel: usize, source: &str) -> Vec<(String, String)> {
    vec![
        ("trials".into(), args.trials.to_string()),
        ("tune_seed".into(), args.seed.to_string()),
        ("parallel".into(), parallel.to_string()),
        ("budget_minutes".into(), args.budget_minutes.to_string()),
        ("prune_warmup".into(), args.prune_warmup.to_string()),
        ("objective".into(), "val_window_roc_auc".into()),
        ("source_csv".into(), source.to_owned()),
    ]
}

/// The best trial's scores and run.
pub(super) fn log_best(
    tracker: &dyn Tracker,
    run_id: &str,
    best: &TrialResult,
) -> anyhow::Result<()> {
    tracker.log_metrics(
        run_id,
        &[
            Metric::now("best_val_roc_auc", best.val_roc_auc.unwrap_or(f64::NAN), 0),
            Metric::now(
                "best_val_sensitivity_at_target_specificity",
                best.val_sensitivity_at_target_specificity
                    .unwrap_or(f64::NAN),
                0,
            ),
        ],
    )?;
    tracker.set_tags(
        run_id,
        &[
            ("best_trial".into(), best.trial.to_string()),
            (
                "best_run_id".into(),
                best.run_id.clone().unwrap_or_default(),
            ),
        ],
    )?;
    Ok(())
}
