//! The alarm rule: window probabilities in, seizure onset and offset events out.
//!
//! A window is *positive* when its probability is at least the threshold (the model card's).
//! * **Onset**: outside a seizure and outside the refractory period, when at least `k` of the
//!   last `n` windows are positive. The onset estimate is the start of the earliest positive
//!   window among those `n`; the detection time is the end of the window that completed the
//!   rule (when its last sample arrived).
//! * **Offset**: inside a seizure, when all of the last `n` windows are negative. The offset
//!   estimate is the end of the last positive window.
//! * **Refractory period**: no new onset within `refractory_s` of an offset's detection, so
//!   one seizure that flickers does not ring twice.
//!
//! Larger `k` trades detection latency (about `k` hops) for fewer false alarms; `n - k` is how
//! many negative windows a detection tolerates.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

/// The rule's parameters. See the module documentation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AlarmRule {
    /// Probability at or above which a window is positive.
    pub threshold: f64,
    pub k: usize,
    pub n: usize,
    pub refractory_s: f64,
}

/// The largest `n` accepted: 64 windows is 32 s at the default hop.
pub const MAX_WINDOWS: usize = 64;

impl AlarmRule {
    /// The defaults at a given threshold: 6 of the last 6 windows (3 s of positive windows at
    /// the 0.5 s hop), 30 s refractory. Chosen on validation splices only: the fastest rule
    /// that raises no false alarm there even when it tolerates one more negative window (6 of
    /// 7 is clean too; 5 of 6 is, but 5 of 7 is not) (`docs/bedside.md`, "Choosing the alarm
    /// rule").
    pub fn with_threshold(threshold: f64) -> Self {
        Self {
            threshold,
            k: 6,
            n: 6,
            refractory_s: 30.0,
        }
    }

    /// The card's alarm decision (chosen out of fold) when it detects as the targets ask
    /// (event sensitivity >= 0.95, median latency <= 5 s, out of fold), else (an earlier card,
    /// or a decision that missed them) the defaults at its window threshold.
    pub fn of_card(card: &seizure_model::ModelCard) -> Self {
        use seizure_model::decisions::{MAX_MEDIAN_LATENCY_S, MIN_EVENT_SENSITIVITY};
        let detects = |a: &&seizure_model::decisions::AlarmDecision| {
            a.event_sensitivity >= MIN_EVENT_SENSITIVITY
                && a.latency_median_s
                    .is_some_and(|l| l <= MAX_MEDIAN_LATENCY_S)
        };
        match card
            .decisions
            .as_ref()
            .and_then(|d| d.alarm.as_ref())
            .filter(detects)
        {
            Some(a) => Self {
                threshold: a.threshold,
                k: a.k,
                n: a.n,
                refractory_s: a.refractory_s,
            },
            None => Self::with_threshold(card.threshold().0),
        }
    }

    /// Why the rule cannot be used, if it cannot.
    pub fn check(&self) -> Result<(), String> {
        if !(self.threshold.is_finite() && self.threshold > 0.0 && self.threshold < 1.0) {
            return Err(format!(
                "threshold {} is not a probability strictly between 0 and 1",
                self.threshold
            ));
        }
        if self.k == 0 || self.k > self.n || self.n > MAX_WINDOWS {
            return Err(format!(
                "k = {} of n = {} windows: need 1 <= k <= n <= {MAX_WINDOWS}",
                self.k, self.n
            ));
        }
        if !(self.refractory_s.is_finite() && (0.0..=3600.0).contains(&self.refractory_s)) {
            return Err(format!(
                "refractory period {} s is not within 0..=3600 s",
                self.refractory_s
            ));
        }
        Ok(())
    }
}

/// What the rule reports. Times are seconds from the start of the signal.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    SeizureOnset {
        /// Estimated start of the seizure.
        onset_s: f64,
        /// When the alarm was raised.
        detected_s: f64,
        /// Probability of the window that raised it.
        probability: f32,
    },
    SeizureOffset {
        /// Estimated end of the seizure.
        offset_s: f64,
        /// When the end was declared.
        detected_s: f64,
    },
}

#[derive(Debug, Clone, Copy)]
struct Seen {
    positive: bool,
    start_s: f64,
}

/// The rule's state over one signal.
#[derive(Debug, Clone)]
pub struct AlarmState {
    rule: AlarmRule,
    recent: VecDeque<Seen>,
    in_seizure: bool,
    last_positive_end_s: f64,
    refractory_until_s: f64,
}

impl AlarmState {
    /// `rule` must pass [`AlarmRule::check`].
    pub fn new(rule: AlarmRule) -> Self {
        Self {
            rule,
            recent: VecDeque::with_capacity(rule.n),
            in_seizure: false,
            last_positive_end_s: 0.0,
            refractory_until_s: f64::NEG_INFINITY,
        }
    }

    pub fn rule(&self) -> &AlarmRule {
        &self.rule
    }

    pub fn in_seizure(&self) -> bool {
        self.in_seizure
    }

    /// Takes the next window (in signal order) and returns the event it triggers, if any.
    pub fn observe(&mut self, start_s: f64, end_s: f64, probability: f32) -> Option<Event> {
        let positive = f64::from(probability) >= self.rule.threshold;
        if self.recent.len() == self.rule.n {
            self.recent.pop_front();
        }
        self.recent.push_back(Seen { positive, start_s });
        if positive {
            self.last_positive_end_s = end_s;
        }
        let positives = self.recent.iter().filter(|w| w.positive).count();
        if !self.in_seizure && positives >= self.rule.k && end_s >= self.refractory_until_s {
            self.in_seizure = true;
            let onset_s = self
                .recent
                .iter()
                .find(|w| w.positive)
                .map_or(start_s, |w| w.start_s);
            return Some(Event::SeizureOnset {
                onset_s,
                detected_s: end_s,
                probability,
            });
        }
        if self.in_seizure && positives == 0 && self.recent.len() == self.rule.n {
            return Some(self.offset(end_s));
        }
        None
    }

    /// Ends the signal: an open seizure ends at its last positive window.
    pub fn finish(&mut self, end_s: f64) -> Option<Event> {
        self.in_seizure.then(|| self.offset(end_s))
    }

    fn offset(&mut self, detected_s: f64) -> Event {
        self.in_seizure = false;
        self.refractory_until_s = detected_s + self.rule.refractory_s;
        Event::SeizureOffset {
            offset_s: self.last_positive_end_s,
            detected_s,
        }
    }
}

/// The detections in a list of events: each onset with the offset that followed it (an onset
/// without one runs to `end_s`), as scored by [`crate::scoring`].
pub fn alarms(events: &[Event], end_s: f64) -> Vec<crate::scoring::Alarm> {
    let mut alarms = Vec::new();
    let mut open = None;
    for event in events {
        match *event {
            Event::SeizureOnset {
                onset_s,
                detected_s,
                ..
            } => open = Some((onset_s, detected_s)),
            Event::SeizureOffset { offset_s, .. } => {
                if let Some((start_s, detected_s)) = open.take() {
                    alarms.push(crate::scoring::Alarm {
                        start_s,
                        end_s: offset_s.max(start_s),
                        detected_s,
                    });
                }
            }
        }
    }
    if let Some((start_s, detected_s)) = open {
        alarms.push(crate::scoring::Alarm {
            start_s,
            end_s,
            detected_s,
        });
    }
    alarms
}

#[cfg(test)]
mod tests {
    use super::*;

    fn card_with_alarm(sensitivity: f64, latency: Option<f64>) -> seizure_model::ModelCard {
        use seizure_model::decisions::*;
        let mut card = seizure_model::ModelCard::new(
            seizure_model::ModelConfig::default(),
            eeg_data::layout::Normalisation {
                centring: eeg_data::layout::Centring::Global,
                mean: 0.0,
                std: 1.0,
            },
        );
        let rate = Rate::new(1, 1);
        card.decisions = Some(Decisions {
            evidence: Evidence {
                source: "test".into(),
                folds: 2,
                segments: 2,
                seizure_segments: 1,
            },
            window: WindowDecision {
                threshold: 0.7,
                target_specificity: 0.98,
                specificity: rate,
                sensitivity: rate,
            },
            patient: PatientDecision {
                rule: PatientRule::MeanProbability,
                threshold: 0.6,
                target_specificity: 0.99,
                specificity: rate,
                sensitivity: rate,
                accuracy: rate,
                margin: [0.5, 0.7],
            },
            alarm: Some(AlarmDecision {
                threshold: 0.9,
                k: 3,
                n: 4,
                refractory_s: 60.0,
                hop: 87,
                budget_per_hour: 1.0,
                background_hours: 1.0,
                false_alarms: 0,
                false_alarms_per_hour: 0.0,
                false_alarms_per_hour_interval: [0.0, 3.7],
                seizures: 20,
                detected: (sensitivity * 20.0) as usize,
                event_sensitivity: sensitivity,
                latency_median_s: latency,
                latency_p90_s: latency,
                meets_targets: false,
                rules_compared: 1,
            }),
        });
        card
    }

    #[test]
    fn the_cards_alarm_decision_is_served_only_when_it_detects_as_asked() {
        let served = AlarmRule::of_card(&card_with_alarm(0.95, Some(2.0)));
        assert_eq!(
            (served.threshold, served.k, served.n, served.refractory_s),
            (0.9, 3, 4, 60.0)
        );
        // Too few seizures detected, or too late: the earlier default at the window threshold.
        for card in [
            card_with_alarm(0.9, Some(2.0)),
            card_with_alarm(1.0, Some(6.0)),
            card_with_alarm(1.0, None),
        ] {
            assert_eq!(AlarmRule::of_card(&card), AlarmRule::with_threshold(0.7));
        }
    }

    fn run(rule: AlarmRule, probabilities: &[f32]) -> Vec<Event> {
        let mut state = AlarmState::new(rule);
        let mut events: Vec<Event> = probabilities
            .iter()
            .enumerate()
            .filter_map(|(i, &p)| state.observe(i as f64, i as f64 + 2.0, p))
            .collect();
        events.extend(state.finish(probabilities.len() as f64 + 1.0));
        events
    }

    fn rule(k: usize, n: usize, refractory_s: f64) -> AlarmRule {
        AlarmRule {
            threshold: 0.5,
            k,
            n,
            refractory_s,
        }
    }

    #[test]
    fn isolated_positives_do_not_ring() {
        let p = [0.9, 0.1, 0.1, 0.9, 0.1, 0.1, 0.9, 0.1, 0.1, 0.1];
        assert!(run(rule(2, 3, 0.0), &p).is_empty());
    }

    #[test]
    fn onset_estimate_detection_time_and_offset() {
        let p = [0.1, 0.1, 0.7, 0.2, 0.8, 0.9, 0.9, 0.1, 0.1, 0.1, 0.1];
        let events = run(rule(3, 4, 0.0), &p);
        assert_eq!(
            events,
            vec![
                Event::SeizureOnset {
                    onset_s: 2.0,
                    detected_s: 7.0,
                    probability: 0.9
                },
                Event::SeizureOffset {
                    offset_s: 8.0,
                    detected_s: 12.0
                },
            ]
        );
    }

    #[test]
    fn the_threshold_itself_is_positive() {
        assert_eq!(run(rule(1, 1, 0.0), &[0.5]).len(), 2);
        assert!(run(rule(1, 1, 0.0), &[0.499_999]).is_empty());
    }

    #[test]
    fn refractory_period_suppresses_a_second_onset() {
        let p = [0.9, 0.1, 0.9, 0.1, 0.1, 0.1];
        assert_eq!(run(rule(1, 1, 0.0), &p).len(), 4);
        // The offset is detected at 3 s; a refractory period of 5 s covers the next onset.
        assert_eq!(run(rule(1, 1, 5.0), &p).len(), 2);
    }

    #[test]
    fn an_open_seizure_ends_with_the_signal() {
        let events = run(rule(1, 2, 0.0), &[0.1, 0.9, 0.9]);
        assert!(matches!(
            events[..],
            [
                Event::SeizureOnset { .. },
                Event::SeizureOffset {
                    offset_s: 4.0,
                    detected_s: 4.0
                }
            ]
        ));
    }

    #[test]
    fn bad_rules_are_refused() {
        for bad in [
            rule(0, 3, 0.0),
            rule(4, 3, 0.0),
            rule(1, MAX_WINDOWS + 1, 0.0),
            rule(1, 1, -1.0),
            rule(1, 1, f64::NAN),
            AlarmRule {
                threshold: f64::NAN,
                ..rule(1, 1, 0.0)
            },
            AlarmRule {
                threshold: 1.0,
                ..rule(1, 1, 0.0)
            },
        ] {
            assert!(bad.check().is_err(), "{bad:?}");
        }
        assert!(AlarmRule::with_threshold(0.4).check().is_ok());
    }
}
