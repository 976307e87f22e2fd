//! An event-level evaluation in brief (SzCORE counts, rates and latency), and the clinical
//! targets it is held to: what `evaluate-events` reports per recording and in total, and
//! what `monitor` reports against a file's own seizure annotations.

use bedside::EventScores;
use serde::Serialize;

/// The targets of the issue, from the clinical references in `docs/bedside.md`.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Targets {
    pub min_sensitivity: f64,
    pub max_false_alarms_per_hour: f64,
    pub max_latency_median_s: f64,
}

pub const TARGETS: Targets = Targets {
    min_sensitivity: 0.95,
    max_false_alarms_per_hour: 1.0,
    max_latency_median_s: 5.0,
};

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub reference_events: usize,
    pub true_positives: usize,
    pub false_positives: usize,
    pub hours: f64,
    pub sensitivity: Option<f64>,
    pub precision: Option<f64>,
    pub f1: Option<f64>,
    pub false_alarms_per_hour: f64,
    pub false_alarms_per_day: f64,
    pub latency_median_s: Option<f64>,
    pub latency_p90_s: Option<f64>,
    /// Detected seizures without an alarm of their own (an earlier alarm, rung by
    /// background more than 30 s before the onset, was still on): no latency.
    pub already_alarming: usize,
}

impl Summary {
    pub fn of(scores: &EventScores) -> Self {
        Self {
            reference_events: scores.reference_events,
            true_positives: scores.true_positives,
            false_positives: scores.false_positives,
            hours: scores.duration_s / 3600.0,
            sensitivity: scores.sensitivity(),
            precision: scores.precision(),
            f1: scores.f1(),
            false_alarms_per_hour: scores.false_alarms_per_hour(),
            false_alarms_per_day: scores.false_alarms_per_day(),
            latency_median_s: scores.latency_median_s(),
            latency_p90_s: scores.latency_p90_s(),
            already_alarming: scores.already_alarming,
        }
    }

    pub fn meets(&self, targets: &Targets) -> bool {
        self.sensitivity
            .is_some_and(|s| s >= targets.min_sensitivity)
            && self.false_alarms_per_hour <= targets.max_false_alarms_per_hour
            && self
                .latency_median_s
                .is_some_and(|l| l <= targets.max_latency_median_s)
    }
}
