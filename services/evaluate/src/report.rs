//! What an evaluation shows: `metrics.json`, the SVG plots and the summary printed at the end.

use std::path::Path;

use anyhow::Context;
use artifact_store::atomic;
use serde::Serialize;

use crate::registry::AuditRecord;
use crate::scoring::ModelEvaluation;

use crate::promotion::Decision;
use crate::{intervals, metrics, plots, robustness};

/// What `evaluate run` found: the candidate (and production) on the test split, the decision,
/// and the candidate's robustness.
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

/// metrics.json and the candidate's ROC, PR and confusion-matrix plots.
pub(crate) fn write_reports(
    dir: &Path,
    report: &Report,
    scores: &[f64],
    labels: &[bool],
) -> anyhow::Result<()> {
    let m = &report.candidate.recordings;
    atomic::replace_dir(dir, |staging| -> anyhow::Result<()> {
        let json = serde_json::to_string_pretty(report)? + "\n";
        fs_err::write(staging.join("metrics.json"), json)?;
        fs_err::write(
            staging.join("roc.svg"),
            plots::curve(
                "ROC curve (test recordings)",
                "false positive rate",
                "true positive rate",
                &metrics::roc_curve(scores, labels),
                true,
                &format!("AUC {:.4}", m.roc_auc),
            ),
        )?;
        fs_err::write(
            staging.join("pr.svg"),
            plots::curve(
                "Precision-recall curve (test recordings)",
                "recall",
                "precision",
                &metrics::pr_curve(scores, labels),
                false,
                &format!("AP {:.4}", m.pr_auc),
            ),
        )?;
        let calibration = &report.candidate.calibration;
        fs_err::write(
            staging.join("reliability.svg"),
            plots::curve(
                "Reliability diagram (test recordings)",
                "mean predicted probability",
                "observed seizure rate",
                &calibration.points(),
                true,
                &format!(
                    "Brier {:.4}, ECE {:.4}",
                    calibration.brier, calibration.expected_calibration_error
                ),
            ),
        )?;
        fs_err::write(
            staging.join("confusion.svg"),
            plots::confusion_matrix(
                &format!("Confusion matrix (threshold {})", report.threshold),
                &m.confusion,
            ),
        )?;
        Ok(())
    })
    .with_context(|| format!("cannot write {}", dir.display()))
}

pub(crate) fn print_report(report: &Report, promoted: Option<&AuditRecord>) {
    let line = |name: &str, e: &ModelEvaluation| {
        let (r, p, i) = (&e.recordings, &e.patients, &e.intervals);
        let ci =
            |interval: &intervals::Interval| format!("[{:.4}, {:.4}]", interval.low, interval.high);
        println!(
            "{name}: roc_auc {:.4} {}  pr_auc {:.4} {}  sensitivity@specificity>={} {:.4} {}  \
             patient accuracy {:.4} {} ({} of {})",
            r.roc_auc,
            ci(&i.roc_auc),
            r.pr_auc,
            ci(&i.pr_auc),
            e.target_specificity,
            e.sensitivity_at_target_specificity,
            ci(&i.sensitivity_at_target_specificity),
            p.accuracy,
            ci(&i.patient_accuracy),
            p.confusion.true_positive + p.confusion.true_negative,
            p.count
        );
        println!(
            "{:width$}  at threshold {:.6} ({}): accuracy {:.4} {}  sensitivity {:.4}  specificity {:.4}",
            "",
            r.threshold,
            e.threshold_source,
            r.accuracy,
            ci(&i.accuracy),
            r.sensitivity,
            r.specificity,
            width = name.len()
        );
        println!(
            "{:width$}  calibration: Brier {:.4}, expected calibration error {:.4}",
            "",
            e.calibration.brier,
            e.calibration.expected_calibration_error,
            width = name.len()
        );
    };
    println!(
        "test split of data {}: {} recordings, {} patients; intervals at {:.0}%",
        report.data_md5,
        report.test_recordings,
        report.test_patients,
        report.candidate.intervals.confidence * 100.0
    );
    line("candidate", &report.candidate);
    if let Some(production) = &report.production {
        line(
            &format!(
                "production{}",
                production
                    .version
                    .as_deref()
                    .map(|v| format!(" v{v}"))
                    .unwrap_or_default()
            ),
            production,
        );
    }
    let robustness = &report.robustness;
    println!(
        "robustness (candidate, test split, threshold {:.6}): roc_auc  sens@spec>={}  accuracy  \
         patients",
        robustness.threshold, robustness.target_specificity
    );
    for q in std::iter::once(&robustness.aligned)
        .chain(&robustness.offsets)
        .chain(&robustness.perturbations)
    {
        println!(
            "  {:<24} {:.4}  {:.4}  {:.4}  {:.4}  ({} windows)",
            q.name,
            q.roc_auc,
            q.sensitivity_at_target_specificity,
            q.accuracy,
            q.patient_accuracy,
            q.recordings
        );
    }
    for floor in &report.decision.floors {
        println!(
            "floor: {} {:.4} >= {}: {}",
            floor.metric,
            floor.value,
            floor.floor,
            if floor.passed { "passed" } else { "FAILED" }
        );
    }
    for warning in &report.warnings {
        println!("warning: {warning}");
    }
    match promoted {
        Some(record) => println!(
            "promoted {} version {} to production: {}",
            record.model_name, record.to_version, report.decision.reason
        ),
        None => println!("not promoted: {}; nothing changed", report.decision.reason),
    }
}
