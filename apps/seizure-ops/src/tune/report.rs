//! What a tuning leaves: the report (`tune/tune.json`), the best configuration as
//! `params.yaml` keys (`tune/best-params.yaml`), and the lines printed as it goes.

use anyhow::Context;
use serde::Serialize;

use super::space::TrialConfig;
use super::trial::{TrialResult, TrialStatus};
use super::TARGET_SPECIFICITY;
use crate::Home;

#[derive(Debug, Clone, Serialize)]
pub struct TuneReport {
    pub parent_run_id: String,
    pub source_csv: String,
    pub seed: u64,
    pub parallel: usize,
    pub budget_minutes: f64,
    pub objective: String,
    pub trials: Vec<TrialResult>,
    /// 1-based trial number of the best eligible trial.
    pub best_trial: Option<usize>,
    pub seconds: f64,
}

/// What the search maximises, in words (the target specificity from its one definition).
pub(super) fn objective() -> String {
    format!(
        "validation ROC AUC at every quarter-chunk offset (ties: sensitivity at specificity \
         {}, then validation loss); the test split is never used",
        super::TARGET_SPECIFICITY
    )
}

pub(super) fn count(trials: &[TrialResult], status: TrialStatus) -> usize {
    trials.iter().filter(|t| t.status == status).count()
}

pub(super) fn write_outputs(
    home: &Home,
    report: &TuneReport,
    best: Option<&TrialResult>,
) -> anyhow::Result<()> {
    let dir = home.path("tune");
    fs_err::create_dir_all(&dir)?;
    let json = dir.join("tune.json");
    artifact_store::atomic::write_file(
        &json,
        (serde_json::to_string_pretty(report)? + "\n").as_bytes(),
    )
    .with_context(|| format!("cannot write {}", json.display()))?;
    if let Some(best) = best {
        let yaml = dir.join("best-params.yaml");
        let text = format!(
            "# seizure-ops tune: trial {} of {} (run {}), sampler seed {}.\n# Validation only \
             (never test): ROC AUC {:.4} and sensitivity {:.4} at specificity {} on the\n# \
             validation segments cut at every quarter chunk; best validation loss {:.4}.\n# \
             Copy these keys into params.yaml (the other keys keep their values).\n{}",
            best.trial,
            report.trials.len(),
            best.run_id.as_deref().unwrap_or("-"),
            report.seed,
            best.val_roc_auc.unwrap_or(f64::NAN),
            best.val_sensitivity_at_target_specificity
                .unwrap_or(f64::NAN),
            TARGET_SPECIFICITY,
            best.best_val_loss.unwrap_or(f64::NAN),
            best.config.params_yaml()
        );
        artifact_store::atomic::write_file(&yaml, text.as_bytes())
            .with_context(|| format!("cannot write {}", yaml.display()))?;
    }
    Ok(())
}

fn status_name(status: TrialStatus) -> &'static str {
    match status {
        TrialStatus::Completed => "completed",
        TrialStatus::Pruned => "pruned",
        TrialStatus::StoppedAtBudget => "stopped at budget",
        TrialStatus::NotStarted => "not started (budget)",
        TrialStatus::Failed => "failed",
    }
}

fn describe(config: &TrialConfig) -> String {
    format!(
        "{} {} lstm {} dense {} dropout {} lr {} batch {} windows {} gain {}",
        config.layout_name(),
        config.front_end,
        config.lstm_hidden,
        config.dense_hidden,
        config.dropout,
        config.learning_rate,
        config.batch_size,
        config.windows,
        config.augment_gain
    )
}

pub(super) fn print_trial(result: &TrialResult) {
    let score = match (
        result.val_roc_auc,
        result.val_sensitivity_at_target_specificity,
    ) {
        (Some(roc), Some(sens)) => format!("val roc_auc {roc:.4} sens@spec {sens:.4}"),
        _ => "no score".into(),
    };
    println!(
        "trial {:>3}: {:<20} {} epochs, {:.0} s, {score}  [{}]{}",
        result.trial,
        status_name(result.status),
        result.epochs,
        result.seconds,
        describe(&result.config),
        result
            .error
            .as_deref()
            .map(|e| format!(": {e}"))
            .unwrap_or_default()
    );
}

pub(super) fn print_summary(report: &TuneReport) {
    println!(
        "\ntuning finished in {:.0} s: {} completed, {} pruned, {} stopped at the budget, {} \
         not started, {} failed",
        report.seconds,
        count(&report.trials, TrialStatus::Completed),
        count(&report.trials, TrialStatus::Pruned),
        count(&report.trials, TrialStatus::StoppedAtBudget),
        count(&report.trials, TrialStatus::NotStarted),
        count(&report.trials, TrialStatus::Failed),
    );
    if let Some(best) = report
        .best_trial
        .and_then(|n| report.trials.iter().find(|t| t.trial == n))
    {
        println!(
            "best: trial {} (validation roc_auc {:.4}, sensitivity {:.4} at specificity {}): {}",
            best.trial,
            best.val_roc_auc.unwrap_or(f64::NAN),
            best.val_sensitivity_at_target_specificity
                .unwrap_or(f64::NAN),
            TARGET_SPECIFICITY,
            describe(&best.config)
        );
        println!(
            "wrote tune/tune.json and tune/best-params.yaml (parent run {})",
            report.parent_run_id
        );
    }
}
