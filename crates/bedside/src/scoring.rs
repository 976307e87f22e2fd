//! Event-level scoring with the SzCORE conventions.
//!
//! The rules are those of the `timescoring` package (PyPI; `EventScoring` in
//! esl-epfl/timescoring), reimplemented so the fleet needs no Python, and cross-checked
//! against it in `crates/bedside/tests/timescoring.rs` and `apps/seizure-ops/tests/bedside.rs`:
//! * annotations are rasterised at 10 Hz (`round(t * 10)`, ties to even, as Python rounds);
//! * events (reference and detected alike) separated by less than `min_gap_s` (90 s) are
//!   merged, then events longer than `max_event_s` (5 min) are split;
//! * a reference event is detected when a detection overlaps it extended by
//!   `tolerance_start_s` (30 s) before and `tolerance_end_s` (60 s) after;
//! * a detection is a false alarm when no part of it lies inside an extended reference event
//!   that was detected (the released `timescoring` 0.0.7; the repository's later head counts
//!   a detection that only partly overlaps as a false alarm too).
//!
//! Beyond `timescoring`: the detection latency of each detected reference event, from its
//! onset to the detection time (not the onset estimate) of the earliest alarm overlapping it
//! that rang within its extended span (so at most 30 s early: negative then). A seizure
//! covered only by an alarm that rang before that, by background, is detected but has no
//! latency of its own: it is counted as `already_alarming`.

use serde::{Deserialize, Serialize};

/// The rasterisation rate of `timescoring`'s event scoring.
const RASTER_HZ: f64 = 10.0;

/// A time span in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    pub start_s: f64,
    pub end_s: f64,
}

/// A detection: the span the detector called seizure, and when it raised the alarm.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Alarm {
    pub start_s: f64,
    pub end_s: f64,
    pub detected_s: f64,
}

/// `timescoring`'s `EventScoring.Parameters`, with its defaults.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ScoringParams {
    pub tolerance_start_s: f64,
    pub tolerance_end_s: f64,
    pub min_overlap: f64,
    pub max_event_s: f64,
    pub min_gap_s: f64,
}

impl Default for ScoringParams {
    fn default() -> Self {
        Self {
            tolerance_start_s: 30.0,
            tolerance_end_s: 60.0,
            min_overlap: 0.0,
            max_event_s: 300.0,
            min_gap_s: 90.0,
        }
    }
}

/// The scores of one or more recordings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EventScores {
    /// Reference events after merging and splitting.
    pub reference_events: usize,
    pub true_positives: usize,
    pub false_positives: usize,
    pub duration_s: f64,
    /// Detection latency of each detected reference event that raised its own alarm
    /// (seconds; negative when the alarm rang within the tolerance before the onset).
    pub latencies_s: Vec<f64>,
    /// Detected reference events without an alarm of their own: an alarm rung earlier (more
    /// than the tolerance before the onset, by background) was still on.
    pub already_alarming: usize,
}

impl EventScores {
    /// True positives over reference events (`None` without reference events).
    pub fn sensitivity(&self) -> Option<f64> {
        (self.reference_events > 0)
            .then(|| self.true_positives as f64 / self.reference_events as f64)
    }

    /// `timescoring`'s precision: true positives over true plus false positives.
    pub fn precision(&self) -> Option<f64> {
        let all = self.true_positives + self.false_positives;
        (all > 0).then(|| self.true_positives as f64 / all as f64)
    }

    /// `timescoring` 0.0.7's F1: `2 tp / (2 tp + fp + fn)` (`None` without any event).
    pub fn f1(&self) -> Option<f64> {
        let missed = self.reference_events - self.true_positives;
        let all = 2 * self.true_positives + self.false_positives + missed;
        (self.reference_events + self.false_positives > 0)
            .then(|| 2.0 * self.true_positives as f64 / all as f64)
    }

    pub fn false_alarms_per_hour(&self) -> f64 {
        self.false_positives as f64 / (self.duration_s / 3600.0)
    }

    pub fn false_alarms_per_day(&self) -> f64 {
        self.false_alarms_per_hour() * 24.0
    }

    pub fn latency_median_s(&self) -> Option<f64> {
        percentile(&self.latencies_s, 0.5)
    }

    pub fn latency_p90_s(&self) -> Option<f64> {
        percentile(&self.latencies_s, 0.9)
    }

    /// Pools another recording's scores into these.
    pub fn add(&mut self, other: &EventScores) {
        self.reference_events += other.reference_events;
        self.true_positives += other.true_positives;
        self.false_positives += other.false_positives;
        self.duration_s += other.duration_s;
        self.latencies_s.extend_from_slice(&other.latencies_s);
        self.already_alarming += other.already_alarming;
    }
}

/// Linear interpolation between closest ranks (numpy's default; [`drift::stats::quantile`]),
/// of unsorted `values`; None for none.
pub fn percentile(values: &[f64], q: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    Some(drift::stats::quantile(&sorted, q))
}

/// Sample index of time `t` at the raster rate, as `timescoring` computes it.
fn raster(t: f64, len: usize) -> usize {
    ((t * RASTER_HZ).round_ties_even().max(0.0) as usize).min(len)
}

fn mask(events: &[Interval], len: usize) -> Vec<bool> {
    let mut mask = vec![false; len];
    for e in events {
        let (from, to) = (raster(e.start_s, len), raster(e.end_s, len));
        if from < to {
            mask[from..to].fill(true);
        }
    }
    mask
}

fn merge(events: &[Interval], min_gap_s: f64) -> Vec<Interval> {
    let mut merged: Vec<Interval> = Vec::with_capacity(events.len());
    for &event in events {
        match merged.last_mut() {
            // As timescoring does (the later event's end), for its equivalence; callers with
            // nested events unite them first (`monitor::annotated_seizures`).
            Some(last) if event.start_s - last.end_s < min_gap_s => last.end_s = event.end_s,
            _ => merged.push(event),
        }
    }
    merged
}

fn split(events: &[Interval], max_event_s: f64) -> Vec<Interval> {
    let mut split = Vec::with_capacity(events.len());
    for &event in events {
        let mut rest = event;
        // A cut that does not move the start (an infinite or astronomically long event, a
        // non-positive maximum) ends the splitting: no endless loop on hostile input.
        while rest.end_s - rest.start_s > max_event_s {
            let cut = rest.start_s + max_event_s;
            if !(cut > rest.start_s && cut.is_finite()) {
                break;
            }
            split.push(Interval {
                start_s: rest.start_s,
                end_s: cut,
            });
            rest.start_s = cut;
        }
        split.push(rest);
    }
    split
}

/// Scores the alarms of one recording of `duration_s` against its reference seizures (both
/// in time order).
pub fn score(
    reference: &[Interval],
    alarms: &[Alarm],
    duration_s: f64,
    params: &ScoringParams,
) -> EventScores {
    let len = (duration_s * RASTER_HZ).round_ties_even().max(0.0) as usize;
    let file_s = len as f64 / RASTER_HZ;
    // Reference events are clipped to the file (one past its end or with a non-finite bound,
    // as a hostile annotation may be, cannot make the splitting below endless).
    let reference: Vec<Interval> = reference
        .iter()
        .filter(|e| e.start_s.is_finite() && e.end_s.is_finite())
        .map(|e| Interval {
            start_s: e.start_s.max(0.0),
            end_s: e.end_s.min(file_s),
        })
        .filter(|e| e.end_s > e.start_s)
        .collect::<Vec<_>>();
    let reference = split(&merge(&reference, params.min_gap_s), params.max_event_s);
    let detections: Vec<Interval> = alarms
        .iter()
        .map(|a| Interval {
            start_s: a.start_s,
            end_s: a.end_s,
        })
        .collect();
    let detections = split(&merge(&detections, params.min_gap_s), params.max_event_s);
    let detected = mask(&detections, len);

    let mut scores = EventScores {
        reference_events: reference.len(),
        duration_s: file_s,
        ..EventScores::default()
    };
    let mut covered = vec![false; len];
    for event in &reference {
        let extended = Interval {
            start_s: (event.start_s - params.tolerance_start_s).max(0.0),
            end_s: (event.end_s + params.tolerance_end_s).min(file_s),
        };
        let (from, to) = (raster(extended.start_s, len), raster(extended.end_s, len));
        let overlap = detected[from..to.max(from)].iter().filter(|&&d| d).count() as f64
            / RASTER_HZ
            / (extended.end_s - extended.start_s);
        if overlap > params.min_overlap + 1e-6 {
            scores.true_positives += 1;
            covered[from..to.max(from)].fill(true);
            // The alarm this seizure raised: the earliest one rung within its extended
            // span. A seizure that only continues an alarm rung before that (by background)
            // has no latency of its own.
            let first_alarm = alarms
                .iter()
                .filter(|a| a.end_s > extended.start_s && a.start_s < extended.end_s)
                .filter(|a| (extended.start_s..=extended.end_s).contains(&a.detected_s))
                .map(|a| a.detected_s)
                .min_by(f64::total_cmp);
            match first_alarm {
                Some(t) => scores.latencies_s.push(t - event.start_s),
                None => scores.already_alarming += 1,
            }
        }
    }
    scores.false_positives = detections
        .iter()
        .filter(|d| {
            let (from, to) = (raster(d.start_s, len), raster(d.end_s, len));
            covered[from..to.max(from)].iter().all(|&c| !c)
        })
        .count();
    scores
}

#[cfg(test)]
mod tests {

    #[test]
    fn hostile_reference_events_are_clipped_to_the_file_not_split_forever() {
        let params = ScoringParams::default();
        for end_s in [1e300, f64::INFINITY, f64::NAN] {
            let reference = [Interval {
                start_s: 10.0,
                end_s,
            }];
            let scores = score(&reference, &[], 100.0, &params);
            // Finite: one event, from 10 s to the end of the file; otherwise none.
            let expected = usize::from(end_s.is_finite());
            assert_eq!(scores.reference_events, expected, "{end_s}");
        }
        let before = [Interval {
            start_s: -1e300,
            end_s: -5.0,
        }];
        assert_eq!(score(&before, &[], 100.0, &params).reference_events, 0);
    }

    use super::*;

    fn interval(start_s: f64, end_s: f64) -> Interval {
        Interval { start_s, end_s }
    }

    fn alarm(start_s: f64, end_s: f64) -> Alarm {
        Alarm {
            start_s,
            end_s,
            detected_s: start_s + 2.0,
        }
    }

    #[test]
    fn hit_within_tolerance_miss_and_false_alarm() {
        let reference = [interval(100.0, 130.0), interval(1000.0, 1040.0)];
        // The first is hit 20 s early (within the 30 s tolerance); the second is missed;
        // one alarm far from any seizure.
        let alarms = [alarm(80.0, 90.0), alarm(2000.0, 2010.0)];
        let s = score(&reference, &alarms, 3600.0, &ScoringParams::default());
        assert_eq!(
            (s.reference_events, s.true_positives, s.false_positives),
            (2, 1, 1)
        );
        assert_eq!(s.sensitivity(), Some(0.5));
        assert_eq!(s.precision(), Some(0.5));
        assert_eq!(s.false_alarms_per_hour(), 1.0);
        assert_eq!(s.latencies_s, vec![-18.0]);
    }

    #[test]
    fn an_alarm_touching_a_detected_seizure_is_not_a_false_alarm() {
        // Detected, and the detection runs 100 s past the seizure's end (60 s tolerance):
        // it still overlaps the detected seizure, so it is no false alarm (timescoring 0.0.7).
        let s = score(
            &[interval(100.0, 130.0)],
            &[alarm(105.0, 230.0)],
            3600.0,
            &ScoringParams::default(),
        );
        assert_eq!((s.true_positives, s.false_positives), (1, 0));
    }

    #[test]
    fn close_events_merge_and_long_ones_split() {
        let reference = [
            interval(0.0, 10.0),
            interval(50.0, 60.0),
            interval(1000.0, 1700.0),
        ];
        let s = score(&reference, &[], 3600.0, &ScoringParams::default());
        // 0-60 merged; 1000-1700 split into 300 + 300 + 100.
        assert_eq!(s.reference_events, 4);
        assert_eq!(s.sensitivity(), Some(0.0));
        assert_eq!(s.precision(), None);
        assert_eq!(s.f1(), Some(0.0));
        assert_eq!(score(&[], &[], 60.0, &ScoringParams::default()).f1(), None);
    }

    #[test]
    fn latency_is_the_seizures_own_alarm() {
        let reference = [interval(1000.0, 1030.0)];
        let at = |start_s, end_s, detected_s| Alarm {
            start_s,
            end_s,
            detected_s,
        };
        let params = ScoringParams::default();
        // A background alarm rang 60 s before the onset and was still on: detected, but
        // with no latency of its own.
        let s = score(&reference, &[at(938.0, 1040.0, 940.0)], 3600.0, &params);
        assert_eq!((s.true_positives, s.already_alarming), (1, 1));
        assert!(s.latencies_s.is_empty());
        // An alarm that rang within the 30 s tolerance before the onset counts (SzCORE):
        // the latency is negative, whatever rang later.
        let alarms = [at(975.0, 985.0, 977.0), at(1001.0, 1030.0, 1011.0)];
        let s = score(&reference, &alarms, 3600.0, &params);
        assert_eq!((s.true_positives, s.already_alarming), (1, 0));
        assert_eq!(s.latencies_s, vec![-23.0]);
        // Without the early one, 11 s.
        let s = score(&reference, &alarms[1..], 3600.0, &params);
        assert_eq!(s.latencies_s, vec![11.0]);
    }

    #[test]
    fn percentiles_interpolate_like_numpy() {
        assert_eq!(percentile(&[], 0.5), None);
        assert_eq!(percentile(&[3.0, 1.0, 2.0, 4.0], 0.5), Some(2.5));
        assert!((percentile(&[1.0, 2.0, 3.0, 4.0, 5.0], 0.9).unwrap() - 4.6).abs() < 1e-12);
    }
}
