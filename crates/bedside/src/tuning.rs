//! Choosing the alarm rule: threshold, k of n and refractory period together, on streams
//! whose windows were scored once (by a model that never trained on them).
//!
//! * Background streams (no seizure; each segment once, never repeated): every onset is a
//!   false alarm. Their total duration is the denominator of the false-alarm rate.
//! * Seizure streams (a background segment, then a seizure from `onset_s` to `end_s`): the
//!   seizure is detected when an onset is raised between its start and its end; the latency
//!   is the onset's detection time minus the seizure's start.
//!
//! Among the rules whose event sensitivity reaches the target and whose median latency stays
//! within it, the one with the fewest false alarms wins; ties go to the rule that would still
//! raise the fewest with its threshold one step lower (a rule at the edge of a false alarm is
//! what rings on new background), then to the shortest median latency, then to the smallest
//! `n`. When no rule meets the sensitivity and latency targets, the most sensitive is kept and
//! marked as missing them.

use std::sync::Arc;

use seizure_model::decisions::{poisson_interval, AlarmDecision};
use seizure_model::Predictor;
use serde::Serialize;

use crate::alarm::{AlarmRule, AlarmState, Event};
use crate::monitor::{Monitor, MonitorConfig, MonitorError};
use crate::scoring::percentile;

/// One stream's windows, scored once: `(start_s, end_s, probability)` in signal order.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoredStream {
    pub windows: Vec<(f64, f64, f32)>,
    pub duration_s: f64,
    /// The seizure's start and end, for a seizure stream.
    pub seizure: Option<(f64, f64)>,
}

impl ScoredStream {
    /// A stream from [`crate::WindowScore`]s.
    pub fn of(
        windows: &[crate::WindowScore],
        duration_s: f64,
        seizure: Option<(f64, f64)>,
    ) -> Self {
        Self {
            windows: windows
                .iter()
                .map(|w| (w.start_s, w.end_s, w.probability))
                .collect(),
            duration_s,
            seizure,
        }
    }
}

/// One signal through a monitor at `hop`: its windows, scored once.
pub fn scored_stream(
    predictor: &Arc<Predictor>,
    samples: &[f32],
    seizure: Option<(f64, f64)>,
    hop: usize,
) -> Result<ScoredStream, MonitorError> {
    let config = MonitorConfig {
        hop,
        rule: AlarmRule::with_threshold(0.5),
    };
    let mut monitor = Monitor::new(predictor.clone(), config)?;
    let update = monitor.push_checked(samples);
    Ok(ScoredStream::of(
        &update.windows,
        crate::seconds(samples.len() as u64),
        seizure,
    ))
}

/// Held-out segments as streams, each scored once: every background segment on its own, and
/// every seizure segment after a background segment (the i-th seizure after the i-th
/// background, cycling), its seizure from the join to the end. Both from `predictor`, which
/// must never have trained on them.
pub fn held_out_streams(
    predictor: &Arc<Predictor>,
    background: &[&[f32]],
    seizures: &[&[f32]],
    hop: usize,
) -> Result<(Vec<ScoredStream>, Vec<ScoredStream>), MonitorError> {
    let quiet = background
        .iter()
        .map(|samples| scored_stream(predictor, samples, None, hop))
        .collect::<Result<Vec<_>, _>>()?;
    let mut onsets = Vec::with_capacity(seizures.len());
    if !background.is_empty() {
        for (i, seizure) in seizures.iter().enumerate() {
            let before = background[i % background.len()];
            let joined: Vec<f32> = before.iter().chain(seizure.iter()).copied().collect();
            let onset = crate::seconds(before.len() as u64);
            let end = crate::seconds(joined.len() as u64);
            onsets.push(scored_stream(predictor, &joined, Some((onset, end)), hop)?);
        }
    }
    Ok((quiet, onsets))
}

/// What a rule does on streams scored once.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Measured {
    pub background_hours: f64,
    pub false_alarms: usize,
    pub false_alarms_per_hour: f64,
    /// Exact (Garwood) 95% Poisson interval of the rate.
    pub false_alarms_per_hour_interval: [f64; 2],
    pub seizures: usize,
    pub detected: usize,
    pub event_sensitivity: Option<f64>,
    pub latency_median_s: Option<f64>,
    pub latency_p90_s: Option<f64>,
}

impl Measured {
    /// From counts: `false_alarms` in `background_hours`, and the detection latencies of the
    /// `detected` of `seizures`.
    pub fn of(
        background_hours: f64,
        false_alarms: usize,
        seizures: usize,
        latencies: &[f64],
    ) -> Self {
        Self::counted(
            background_hours,
            false_alarms,
            seizures,
            latencies.len(),
            [percentile(latencies, 0.5), percentile(latencies, 0.9)],
        )
    }

    /// The rates and intervals of counts, with latencies `[median, p90]` as given.
    fn counted(
        background_hours: f64,
        false_alarms: usize,
        seizures: usize,
        detected: usize,
        [latency_median_s, latency_p90_s]: [Option<f64>; 2],
    ) -> Self {
        Self {
            background_hours,
            false_alarms,
            false_alarms_per_hour: false_alarms as f64 / background_hours,
            false_alarms_per_hour_interval: poisson_interval(false_alarms)
                .map(|mu| mu / background_hours),
            seizures,
            detected,
            event_sensitivity: (seizures > 0).then(|| detected as f64 / seizures as f64),
            latency_median_s,
            latency_p90_s,
        }
    }

    /// A card's out-of-fold figures.
    pub fn of_decision(a: &AlarmDecision) -> Self {
        Self::counted(
            a.background_hours,
            a.false_alarms,
            a.seizures,
            a.detected,
            [a.latency_median_s, a.latency_p90_s],
        )
    }

    /// These and `held_out`'s counts together, with `held_out`'s latencies (the only ones
    /// known one by one).
    pub fn pooled_with(&self, held_out: &Measured) -> Self {
        Self::counted(
            self.background_hours + held_out.background_hours,
            self.false_alarms + held_out.false_alarms,
            self.seizures + held_out.seizures,
            self.detected + held_out.detected,
            [held_out.latency_median_s, held_out.latency_p90_s],
        )
    }
}

/// What `rule` does on `background` and `seizure` streams.
pub fn measure(
    rule: AlarmRule,
    background: &[ScoredStream],
    seizures: &[ScoredStream],
) -> Measured {
    let outcome = run(rule, background, seizures);
    let hours = background.iter().map(|s| s.duration_s).sum::<f64>() / 3600.0;
    let count = seizures.iter().filter(|s| s.seizure.is_some()).count();
    Measured::of(hours, outcome.false_alarms, count, &outcome.latencies)
}

/// What the chosen rule must reach.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Targets {
    pub budget_per_hour: f64,
    pub min_sensitivity: f64,
    pub max_median_latency_s: f64,
}

impl Default for Targets {
    fn default() -> Self {
        use seizure_model::decisions::*;
        Self {
            budget_per_hour: DEFAULT_ALARM_BUDGET_PER_HOUR,
            min_sensitivity: MIN_EVENT_SENSITIVITY,
            max_median_latency_s: MAX_MEDIAN_LATENCY_S,
        }
    }
}

/// The candidates compared.
#[derive(Debug, Clone, PartialEq)]
pub struct Grid {
    /// Ascending.
    pub thresholds: Vec<f64>,
    pub max_n: usize,
    pub refractory_s: Vec<f64>,
}

impl Grid {
    /// 32 thresholds evenly spaced in logit from 0.05 to 0.99 (plus `anchor`, the window
    /// threshold), n up to 10, refractory 30 s or 60 s.
    pub fn around(anchor: f64) -> Self {
        let logit = |p: f64| (p / (1.0 - p)).ln();
        let (low, high) = (logit(0.05), logit(0.99));
        let mut thresholds: Vec<f64> = (0..32)
            .map(|i| {
                let x = low + (high - low) * i as f64 / 31.0;
                1.0 / (1.0 + (-x).exp())
            })
            .collect();
        if anchor > 0.0 && anchor < 1.0 {
            thresholds.push(anchor);
        }
        thresholds.sort_by(f64::total_cmp);
        thresholds.dedup();
        Self {
            thresholds,
            max_n: 10,
            refractory_s: vec![30.0, 60.0],
        }
    }
}

/// What one rule does on the streams.
#[derive(Debug, Clone, PartialEq)]
struct Outcome {
    false_alarms: usize,
    detected: usize,
    latencies: Vec<f64>,
}

fn run(rule: AlarmRule, background: &[ScoredStream], seizures: &[ScoredStream]) -> Outcome {
    let mut false_alarms = 0;
    for stream in background {
        let mut state = AlarmState::new(rule);
        for &(start, end, p) in &stream.windows {
            if let Some(Event::SeizureOnset { .. }) = state.observe(start, end, p) {
                false_alarms += 1;
            }
        }
    }
    let (mut detected, mut latencies) = (0, Vec::new());
    for stream in seizures {
        let Some((onset, end)) = stream.seizure else {
            continue;
        };
        let mut state = AlarmState::new(rule);
        for &(start, window_end, p) in &stream.windows {
            if let Some(Event::SeizureOnset { detected_s, .. }) =
                state.observe(start, window_end, p)
            {
                if (onset..=end).contains(&detected_s) {
                    detected += 1;
                    latencies.push(detected_s - onset);
                    break;
                }
            }
        }
    }
    Outcome {
        false_alarms,
        detected,
        latencies,
    }
}

/// Chooses the rule (see the module documentation); None without background or seizures.
pub fn choose_rule(
    background: &[ScoredStream],
    seizures: &[ScoredStream],
    hop: usize,
    grid: &Grid,
    targets: Targets,
) -> Option<AlarmDecision> {
    let seizure_count = seizures.iter().filter(|s| s.seizure.is_some()).count();
    let background_s: f64 = background.iter().map(|s| s.duration_s).sum();
    if seizure_count == 0 || background_s <= 0.0 {
        return None;
    }
    // (meets, false alarms, false alarms a step lower, median latency, n, rule, outcome)
    type Scored = (bool, usize, usize, f64, usize, AlarmRule, Outcome);
    let mut best: Option<Scored> = None;
    let mut compared = 0;
    for (index, &threshold) in grid.thresholds.iter().enumerate() {
        for n in 1..=grid.max_n {
            for k in 1..=n {
                for &refractory_s in &grid.refractory_s {
                    let rule = AlarmRule {
                        threshold,
                        k,
                        n,
                        refractory_s,
                    };
                    compared += 1;
                    let outcome = run(rule, background, seizures);
                    let sensitivity = outcome.detected as f64 / seizure_count as f64;
                    let median = percentile(&outcome.latencies, 0.5).unwrap_or(f64::INFINITY);
                    let meets = sensitivity >= targets.min_sensitivity
                        && median <= targets.max_median_latency_s;
                    if !meets && best.as_ref().is_some_and(|b| b.0) {
                        continue;
                    }
                    let lower = index
                        .checked_sub(1)
                        .map(|i| {
                            let lower = AlarmRule {
                                threshold: grid.thresholds[i],
                                ..rule
                            };
                            run(lower, background, &[]).false_alarms
                        })
                        .unwrap_or(outcome.false_alarms);
                    let candidate = (meets, outcome.false_alarms, lower, median, n, rule, outcome);
                    if better(&candidate, best.as_ref()) {
                        best = Some(candidate);
                    }
                }
            }
        }
    }
    let (meets, false_alarms, _, _, _, rule, outcome) = best?;
    let measured = Measured::of(
        background_s / 3600.0,
        false_alarms,
        seizure_count,
        &outcome.latencies,
    );
    Some(AlarmDecision {
        threshold: rule.threshold,
        k: rule.k,
        n: rule.n,
        refractory_s: rule.refractory_s,
        hop,
        budget_per_hour: targets.budget_per_hour,
        background_hours: measured.background_hours,
        false_alarms,
        false_alarms_per_hour: measured.false_alarms_per_hour,
        false_alarms_per_hour_interval: measured.false_alarms_per_hour_interval,
        seizures: seizure_count,
        detected: outcome.detected,
        event_sensitivity: outcome.detected as f64 / seizure_count as f64,
        latency_median_s: measured.latency_median_s,
        latency_p90_s: measured.latency_p90_s,
        meets_targets: meets && measured.false_alarms_per_hour <= targets.budget_per_hour,
        rules_compared: compared,
    })
}

fn better(
    candidate: &(bool, usize, usize, f64, usize, AlarmRule, Outcome),
    best: Option<&(bool, usize, usize, f64, usize, AlarmRule, Outcome)>,
) -> bool {
    let Some(best) = best else {
        return true;
    };
    match (candidate.0, best.0) {
        (true, false) => return true,
        (false, true) => return false,
        // Neither meets the targets: the most sensitive, then the fewest false alarms.
        (false, false) => {
            return (candidate.6.detected, std::cmp::Reverse(candidate.1))
                > (best.6.detected, std::cmp::Reverse(best.1))
        }
        (true, true) => {}
    }
    let key = |c: &(bool, usize, usize, f64, usize, AlarmRule, Outcome)| (c.1, c.2);
    match key(candidate).cmp(&key(best)) {
        std::cmp::Ordering::Less => true,
        std::cmp::Ordering::Greater => false,
        std::cmp::Ordering::Equal => (candidate.3, candidate.4) < (best.3, best.4),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stream of `probabilities` at 0.5 s hops (1 s windows).
    fn stream(probabilities: &[f32], seizure: Option<(f64, f64)>) -> ScoredStream {
        ScoredStream {
            windows: probabilities
                .iter()
                .enumerate()
                .map(|(i, &p)| (i as f64 * 0.5, i as f64 * 0.5 + 1.0, p))
                .collect(),
            duration_s: probabilities.len() as f64 * 0.5 + 0.5,
            seizure,
        }
    }

    fn small_grid() -> Grid {
        Grid {
            thresholds: vec![0.3, 0.5, 0.7],
            max_n: 4,
            refractory_s: vec![30.0],
        }
    }

    #[test]
    fn the_rule_avoids_a_background_blip_and_still_detects_in_time() {
        // Background: a run of 2 windows at 0.6 (a blip). Seizure: from 10 s, windows at 0.9.
        let mut background = vec![0.1_f32; 40];
        background[10] = 0.6;
        background[11] = 0.6;
        let mut seizure = vec![0.1_f32; 20];
        seizure.extend([0.9_f32; 20]);
        let chosen = choose_rule(
            &[stream(&background, None)],
            &[stream(&seizure, Some((10.0, 20.0)))],
            87,
            &small_grid(),
            Targets::default(),
        )
        .unwrap();
        assert_eq!(chosen.false_alarms, 0, "{chosen:?}");
        assert_eq!(chosen.detected, 1);
        assert!(chosen.meets_targets);
        // Either above the blip's probability, or more windows than the blip is long.
        assert!(chosen.threshold > 0.6 || chosen.k >= 3, "{chosen:?}");
        // Latency: the first seizure windows end at 10.5 s (start 9.5 s, half in) or later.
        assert!(chosen.latency_median_s.unwrap() <= 5.0);
    }

    #[test]
    fn an_undetectable_seizure_is_reported_as_missing_the_targets() {
        let chosen = choose_rule(
            &[stream(&[0.1; 40], None)],
            &[stream(&[0.1; 40], Some((5.0, 20.0)))],
            87,
            &small_grid(),
            Targets::default(),
        )
        .unwrap();
        assert!(!chosen.meets_targets);
        assert_eq!(chosen.detected, 0);
        assert_eq!(chosen.false_alarms, 0);
    }

    #[test]
    fn the_false_alarm_rate_has_a_poisson_interval_in_the_stream_hours() {
        let chosen = choose_rule(
            &[stream(&vec![0.1; 7199], None)],
            &[stream(&[0.9; 40], Some((0.0, 20.0)))],
            87,
            &small_grid(),
            Targets::default(),
        )
        .unwrap();
        assert!((chosen.background_hours - 1.0).abs() < 1e-9);
        assert_eq!(chosen.false_alarms, 0);
        assert!((chosen.false_alarms_per_hour_interval[1] - 3.689).abs() < 1e-2);
    }

    #[test]
    fn pooled_figures_add_the_counts_and_recompute_the_interval() {
        let oof = Measured::of(1.83, 2, 70, &vec![2.0; 67]);
        let test = Measured::of(0.52, 1, 20, &[1.5, 2.0, 3.0]);
        let pooled = oof.pooled_with(&test);
        assert_eq!(
            (pooled.false_alarms, pooled.seizures, pooled.detected),
            (3, 90, 70)
        );
        assert!((pooled.background_hours - 2.35).abs() < 1e-12);
        assert!((pooled.false_alarms_per_hour - 3.0 / 2.35).abs() < 1e-12);
        let [low, high] = poisson_interval(3);
        assert_eq!(
            pooled.false_alarms_per_hour_interval,
            [low / 2.35, high / 2.35]
        );
        assert_eq!(pooled.latency_median_s, test.latency_median_s);
        // No seizures: no sensitivity, not a division by zero.
        assert_eq!(Measured::of(1.0, 0, 0, &[]).event_sensitivity, None);
    }

    #[test]
    fn nothing_is_chosen_without_seizures_or_background() {
        assert!(choose_rule(
            &[],
            &[stream(&[0.9], Some((0.0, 1.0)))],
            87,
            &small_grid(),
            Targets::default()
        )
        .is_none());
        assert!(choose_rule(
            &[stream(&[0.1], None)],
            &[],
            87,
            &small_grid(),
            Targets::default()
        )
        .is_none());
    }
}
