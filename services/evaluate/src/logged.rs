//! What an evaluation records in the tracker: its metrics, parameters and tags.

use std::path::Path;

use tracking::{Metric, RunStatus, Tracker};

use crate::report::Report;
use crate::scoring::ModelEvaluation;

fn evaluation_metrics(prefix: &str, e: &ModelEvaluation) -> Vec<Metric> {
    let (r, p, i) = (&e.recordings, &e.patients, &e.intervals);
    [
        ("accuracy", r.accuracy),
        ("sensitivity", r.sensitivity),
        ("specificity", r.specificity),
        ("precision", r.precision),
        ("f1", r.f1),
        ("roc_auc", r.roc_auc),
        ("pr_auc", r.pr_auc),
        (
            "sensitivity_at_target_specificity",
            e.sensitivity_at_target_specificity,
        ),
        ("patient_accuracy", p.accuracy),
        ("patient_sensitivity", p.sensitivity),
        ("patient_specificity", p.specificity),
        ("patient_roc_auc", p.roc_auc),
        ("brier", e.calibration.brier),
        (
            "expected_calibration_error",
            e.calibration.expected_calibration_error,
        ),
        ("roc_auc_ci_low", i.roc_auc.low),
        ("roc_auc_ci_high", i.roc_auc.high),
        ("pr_auc_ci_low", i.pr_auc.low),
        ("pr_auc_ci_high", i.pr_auc.high),
        (
            "sensitivity_at_target_specificity_ci_low",
            i.sensitivity_at_target_specificity.low,
        ),
        (
            "sensitivity_at_target_specificity_ci_high",
            i.sensitivity_at_target_specificity.high,
        ),
        ("accuracy_ci_low", i.accuracy.low),
        ("accuracy_ci_high", i.accuracy.high),
        ("patient_accuracy_ci_low", i.patient_accuracy.low),
        ("patient_accuracy_ci_high", i.patient_accuracy.high),
        ("patient_sensitivity_ci_low", i.patient_sensitivity.low),
        ("patient_sensitivity_ci_high", i.patient_sensitivity.high),
        ("patient_specificity_ci_low", i.patient_specificity.low),
        ("patient_specificity_ci_high", i.patient_specificity.high),
    ]
    .into_iter()
    .map(|(key, value)| Metric::now(&format!("{prefix}{key}"), value, 0))
    .collect()
}

pub(crate) fn log_evaluation(
    tracker: &dyn Tracker,
    experiment: &str,
    report: &Report,
    reports_dir: &Path,
) -> anyhow::Result<()> {
    let run = tracker.create_run(experiment, "evaluation")?;
    let result = (|| -> anyhow::Result<()> {
        let mut params = vec![
            ("data_md5".to_owned(), report.data_md5.clone()),
            ("threshold".to_owned(), report.threshold.to_string()),
            (
                "threshold_source".to_owned(),
                report.threshold_source.to_owned(),
            ),
            (
                "primary_metric".to_owned(),
                report.decision.primary_metric.to_owned(),
            ),
            (
                "min_improvement".to_owned(),
                report.decision.min_improvement.to_string(),
            ),
            (
                "confidence".to_owned(),
                report.candidate.intervals.confidence.to_string(),
            ),
            (
                "target_specificity".to_owned(),
                report.candidate.target_specificity.to_string(),
            ),
        ];
        for floor in &report.decision.floors {
            params.push((
                format!("floor {}", floor.metric).replace(['>', '='], ""),
                floor.floor.to_string(),
            ));
        }
        if let Some(run_id) = &report.candidate.run_id {
            params.push(("candidate_run_id".into(), run_id.clone()));
        }
        if let Some(version) = report.production.as_ref().and_then(|p| p.version.clone()) {
            params.push(("production_version".into(), version));
        }
        tracker.log_params(&run.run_id, &params)?;
        let mut metrics = evaluation_metrics("test_", &report.candidate);
        if let Some(production) = &report.production {
            metrics.extend(evaluation_metrics("production_test_", production));
        }
        let robustness = &report.robustness;
        for quality in robustness.offsets.iter().chain(&robustness.perturbations) {
            metrics.extend([
                Metric::now(
                    &format!("test_{}_roc_auc", quality.name),
                    quality.roc_auc,
                    0,
                ),
                Metric::now(
                    &format!("test_{}_sensitivity_at_target_specificity", quality.name),
                    quality.sensitivity_at_target_specificity,
                    0,
                ),
                Metric::now(
                    &format!("test_{}_patient_accuracy", quality.name),
                    quality.patient_accuracy,
                    0,
                ),
            ]);
        }
        if let Some(c) = &report.decision.comparison {
            metrics.extend([
                Metric::now("difference", c.difference, 0),
                Metric::now("difference_ci_low", c.interval.low, 0),
                Metric::now("difference_ci_high", c.interval.high, 0),
                Metric::now("difference_lower_bound", c.lower_bound, 0),
            ]);
        }
        tracker.log_metrics(&run.run_id, &metrics)?;
        tracker.log_artifacts(&run.run_id, reports_dir, "evaluation")?;
        tracker.set_tags(
            &run.run_id,
            &[
                ("promoted".into(), report.decision.promote.to_string()),
                ("decision".into(), report.decision.reason.clone()),
                (
                    "forced".into(),
                    report.decision.forced.is_some().to_string(),
                ),
            ],
        )?;
        Ok(())
    })();
    tracker.finish_run(&run.run_id, RunStatus::of(&result))?;
    result
}
