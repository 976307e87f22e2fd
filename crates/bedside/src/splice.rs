//! Long test recordings spliced from held-out segments.
//!
//! A recording is non-seizure background (segments of classes 2-5) with seizure events
//! (1 to 3 seizure segments in a row) inserted, deterministic from a seed:
//! * segments are drawn from shuffled decks, reshuffled when used up, so every segment is
//!   used before any is repeated (2 h needs about 300 background segments; a test split has
//!   about 80, so background repeats, each pass in a new order and at new neighbours);
//! * events are spread evenly with jitter: about `duration / events` apart, and never with
//!   less than `min_gap_s` (90 s) of background between them, so the scorer scores each
//!   event spliced (a request that cannot keep that gap is refused);
//! * consecutive segments are joined by a linear cross-fade over `crossfade` samples (0.25 s
//!   by default): no artificial step at a seam, and no bump where both sides share an offset.
//!   A seizure event spans from the middle of the cross-fade into its first seizure segment
//!   to the middle of the cross-fade out of its last.

use eeg_data::random::Rng;
use serde::{Deserialize, Serialize};

use crate::scoring::Interval;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SpliceConfig {
    pub seed: u64,
    pub duration_s: f64,
    pub events: usize,
    /// Seizure segments per event: uniform in `1..=max_segments_per_event`.
    pub max_segments_per_event: usize,
    pub crossfade: usize,
    /// Least background between two events (seconds): the scorer merges events closer than
    /// its `min_gap_s` (90 s), so they must be further apart to be scored as spliced.
    pub min_gap_s: f64,
}

impl Default for SpliceConfig {
    fn default() -> Self {
        Self {
            seed: 42,
            duration_s: 7200.0,
            events: 20,
            max_segments_per_event: 3,
            crossfade: 44,
            min_gap_s: 90.0,
        }
    }
}

/// A spliced recording and its seizure annotations.
#[derive(Debug, Clone, PartialEq)]
pub struct Splice {
    pub samples: Vec<f32>,
    pub seizures: Vec<Interval>,
    /// The seizure segments' rows in the order they were used (for the record).
    pub seizure_rows: Vec<usize>,
}

impl Splice {
    pub fn duration_s(&self) -> f64 {
        crate::seconds(self.samples.len() as u64)
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SpliceError {
    #[error("no {0} segments to splice from")]
    NoSegments(&'static str),
    #[error("{0}")]
    Config(String),
}

/// Draws rows from a deck shuffled afresh each time it runs out.
struct Deck {
    rows: Vec<usize>,
    next: usize,
}

impl Deck {
    fn new(rows: usize) -> Self {
        Self {
            rows: (0..rows).collect(),
            next: rows,
        }
    }

    fn draw(&mut self, rng: &mut Rng) -> usize {
        if self.next == self.rows.len() {
            rng.shuffle(&mut self.rows);
            self.next = 0;
        }
        self.next += 1;
        self.rows[self.next - 1]
    }
}

/// Appends `segment` to `out`, cross-fading its first `crossfade` samples with the end of
/// `out`. Returns the time of the seam's middle.
fn append(out: &mut Vec<f32>, segment: &[f32], crossfade: usize) -> f64 {
    let fade = crossfade.min(out.len()).min(segment.len());
    let base = out.len() - fade;
    for (i, (&new, old)) in segment[..fade].iter().zip(&mut out[base..]).enumerate() {
        let w = (i + 1) as f32 / (fade + 1) as f32;
        *old = *old * (1.0 - w) + new * w;
    }
    out.extend_from_slice(&segment[fade..]);
    crate::seconds(base as u64) + crate::seconds(fade as u64) / 2.0
}

/// Splices one recording from `background` and `seizure` segments (each a whole continuous
/// segment signal).
pub fn splice(
    background: &[&[f32]],
    seizure: &[&[f32]],
    config: &SpliceConfig,
) -> Result<Splice, SpliceError> {
    if background.is_empty() {
        return Err(SpliceError::NoSegments("background"));
    }
    if seizure.is_empty() && config.events > 0 {
        return Err(SpliceError::NoSegments("seizure"));
    }
    if !(config.duration_s.is_finite() && config.duration_s > 0.0 && config.duration_s <= 1e6) {
        return Err(SpliceError::Config(format!(
            "duration {} s is not within (0, 1e6]",
            config.duration_s
        )));
    }
    if config.max_segments_per_event == 0 {
        return Err(SpliceError::Config(
            "an event needs at least one seizure segment".into(),
        ));
    }
    let segment_s = crate::seconds(background[0].len().saturating_sub(config.crossfade) as u64);
    let mean_event_s = segment_s * (1 + config.max_segments_per_event) as f64 / 2.0;
    let background_s = config.duration_s - config.events as f64 * mean_event_s;
    // Each event brings the background segment after it; the rest are `slots`.
    let slots = ((background_s / segment_s).ceil().max(1.0) as usize).saturating_sub(config.events);
    // Background segments needed between two events, plus one for rounding.
    let gap_slots = (config.min_gap_s.max(0.0) / segment_s).ceil() as usize + 1;
    let spacing = slots as f64 / (config.events + 1) as f64;
    if config.events > 0 && spacing < gap_slots as f64 + 1.0 {
        return Err(SpliceError::Config(format!(
            "{} events do not fit in {} s with {} s of background between them",
            config.events, config.duration_s, config.min_gap_s
        )));
    }

    let mut rng = Rng::new(config.seed);
    // Event j goes after background slot `at[j]`: evenly spaced, jittered by up to a quarter
    // spacing either way, but never closer than `gap_slots`.
    let jitter = (0.25 * spacing).min((spacing - gap_slots as f64) / 2.0);
    let at: Vec<usize> = (1..=config.events)
        .map(|j| {
            let at = (j as f64 * spacing + rng.range(-jitter, jitter)).round() as usize;
            at.clamp(1, slots)
        })
        .collect();

    let (mut backgrounds, mut seizures) = (Deck::new(background.len()), Deck::new(seizure.len()));
    let mut out = Vec::new();
    let mut splice = Splice {
        samples: Vec::new(),
        seizures: Vec::new(),
        seizure_rows: Vec::new(),
    };
    let mut events = at.iter().peekable();
    for slot in 0..slots {
        append(
            &mut out,
            background[backgrounds.draw(&mut rng)],
            config.crossfade,
        );
        while events.next_if(|&&after| after == slot + 1).is_some() {
            let count = 1 + rng.below(config.max_segments_per_event);
            let mut start = None;
            for _ in 0..count {
                let row = seizures.draw(&mut rng);
                splice.seizure_rows.push(row);
                let seam = append(&mut out, seizure[row], config.crossfade);
                start.get_or_insert(seam);
            }
            let next = background[backgrounds.draw(&mut rng)];
            let end = append(&mut out, next, config.crossfade);
            splice.seizures.push(Interval {
                start_s: start.unwrap_or(end),
                end_s: end,
            });
        }
    }
    splice.samples = out;
    Ok(splice)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refs(v: &[Vec<f32>]) -> Vec<&[f32]> {
        v.iter().map(Vec::as_slice).collect()
    }

    fn segments(count: usize, value: impl Fn(usize, usize) -> f32) -> Vec<Vec<f32>> {
        (0..count)
            .map(|s| (0..4094).map(|i| value(s, i)).collect())
            .collect()
    }

    #[test]
    fn deterministic_annotated_and_without_steps() {
        let background = segments(8, |s, i| ((i as f32) * 0.3 + s as f32).sin() * 50.0);
        let seizure = segments(3, |s, i| ((i as f32) * 0.1 + s as f32).sin() * 400.0);
        let config = SpliceConfig {
            duration_s: 1800.0,
            events: 5,
            ..SpliceConfig::default()
        };
        let a = splice(&refs(&background), &refs(&seizure), &config).unwrap();
        let b = splice(&refs(&background), &refs(&seizure), &config).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.seizures.len(), 5);
        assert!(
            (a.duration_s() - 1800.0).abs() < 120.0,
            "{}",
            a.duration_s()
        );
        // Events are in order, apart by more than the 90 s merge rule.
        for pair in a.seizures.windows(2) {
            assert!(pair[1].start_s - pair[0].end_s > 90.0, "{pair:?}");
        }
        // Inside an annotated event the signal is the seizure segments' amplitude; outside,
        // the background's.
        let at = |t: f64| a.samples[(t * eeg_data::SAMPLING_HZ) as usize].abs();
        for event in &a.seizures {
            let peak = (0..100)
                .map(|k| at(event.start_s + 1.0 + k as f64 * 0.1))
                .fold(0f32, f32::max);
            assert!(peak > 300.0, "{event:?}");
            let before = (0..100)
                .map(|k| at(event.start_s - 11.0 + k as f64 * 0.1))
                .fold(0f32, f32::max);
            assert!(before <= 50.0, "{event:?}");
        }
        // No step at a seam: consecutive samples never differ by much more than inside a
        // segment (40 within the seizure segments; a plain join could step by 450).
        let worst = a
            .samples
            .windows(2)
            .map(|w| (w[1] - w[0]).abs())
            .fold(0f32, f32::max);
        assert!(worst < 60.0, "largest step {worst}");
        let other = splice(
            &refs(&background),
            &refs(&seizure),
            &SpliceConfig { seed: 7, ..config },
        )
        .unwrap();
        assert_ne!(a.seizures, other.seizures);
    }

    #[test]
    fn events_keep_the_merge_gap_or_are_refused() {
        let background = segments(8, |s, i| ((i as f32) * 0.3 + s as f32).sin() * 50.0);
        let seizure = segments(3, |s, i| ((i as f32) * 0.1 + s as f32).sin() * 400.0);
        let mut fitted = 0;
        for events in 1..=20 {
            let config = SpliceConfig {
                duration_s: 1800.0,
                events,
                ..SpliceConfig::default()
            };
            for seed in 0..5 {
                match splice(
                    &refs(&background),
                    &refs(&seizure),
                    &SpliceConfig { seed, ..config },
                ) {
                    Ok(s) => {
                        fitted += 1;
                        assert_eq!(s.seizures.len(), events);
                        for pair in s.seizures.windows(2) {
                            assert!(pair[1].start_s - pair[0].end_s >= 90.0, "{pair:?}");
                        }
                    }
                    Err(e) => assert!(e.to_string().contains("do not fit"), "{e}"),
                }
            }
        }
        assert!(fitted >= 20, "{fitted}");
    }

    #[test]
    fn impossible_requests_are_refused() {
        let background = segments(1, |_, _| 0.0);
        let refs: Vec<&[f32]> = background.iter().map(Vec::as_slice).collect();
        let config = SpliceConfig {
            duration_s: 60.0,
            ..SpliceConfig::default()
        };
        assert!(splice(&refs, &refs, &config).is_err());
        assert!(splice(&[], &refs, &SpliceConfig::default()).is_err());
        assert!(splice(&refs, &[], &SpliceConfig::default()).is_err());
        for duration_s in [f64::NAN, -1.0, f64::INFINITY] {
            let config = SpliceConfig {
                duration_s,
                ..SpliceConfig::default()
            };
            assert!(splice(&refs, &refs, &config).is_err());
        }
    }
}
