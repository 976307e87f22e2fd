//! One monitored signal: validated samples in, window probabilities and alarm events out.

use std::sync::Arc;

use eeg_data::SAMPLES_PER_RECORDING;
use seizure_model::Predictor;
use serde::{Deserialize, Serialize};

use crate::alarm::{AlarmRule, AlarmState, Event};
use crate::replay::ReplayTracker;
use crate::seconds;
use crate::stream::WindowCutter;

/// The default hop: 87 samples, 0.501 s at 173.61 Hz.
pub const DEFAULT_HOP: usize = 87;
/// The largest hop accepted: 10 s.
pub const MAX_HOP: usize = 1736;
/// The smallest hop accepted (46 ms): a smaller one multiplies the work per sample without
/// telling a neurologist anything more.
pub const MIN_HOP: usize = 8;
/// Windows scored per forward pass, so memory stays bounded whatever a push brings.
const WINDOWS_PER_PASS: usize = 128;

/// How a signal is monitored. The window is always the model's input length (178 samples,
/// 1.025 s), normalised by the model's own input pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MonitorConfig {
    /// Samples between the starts of consecutive windows.
    pub hop: usize,
    pub rule: AlarmRule,
}

impl MonitorConfig {
    /// The defaults for a model: 0.5 s hop, the card's alarm rule ([`AlarmRule::of_card`]).
    pub fn for_model(predictor: &Predictor) -> Self {
        Self {
            hop: DEFAULT_HOP,
            rule: AlarmRule::of_card(predictor.card()),
        }
    }

    pub fn check(&self) -> Result<(), MonitorError> {
        if !(MIN_HOP..=MAX_HOP).contains(&self.hop) {
            return Err(MonitorError::Config(format!(
                "hop {} is not within {MIN_HOP}..={MAX_HOP} samples",
                self.hop
            )));
        }
        self.rule.check().map_err(MonitorError::Config)
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MonitorError {
    #[error("{0}")]
    Config(String),
    #[error("sample {index} is not a finite number")]
    NonFinite { index: usize },
    #[error("sample {index} is {value:e}, outside the model's input range -{limit}..{limit}")]
    OutOfRange {
        index: usize,
        value: f64,
        limit: f64,
    },
    #[error("the model returned a non-finite probability for window {window} of the push")]
    NonFiniteOutput { window: usize },
}

/// One scored window. Times are seconds from the start of the signal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowScore {
    pub start_s: f64,
    pub end_s: f64,
    pub probability: f32,
    /// The window's out-of-distribution score, when the model carries a drift profile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ood: Option<WindowOod>,
}

/// How unlike the training windows one window is (see [`drift::ood`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowOod {
    /// Robust standard deviations of the most unusual feature from the training median.
    pub score: f64,
    /// Above the profile's threshold: input unlike the training windows.
    pub flagged: bool,
    /// The feature that set the score.
    pub feature: String,
}

impl WindowOod {
    pub fn of(score: drift::OodScore) -> Self {
        Self {
            score: score.score,
            flagged: score.flagged,
            feature: score.feature_name().to_owned(),
        }
    }
}

/// What one push produced.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Update {
    pub windows: Vec<WindowScore>,
    pub events: Vec<Event>,
    /// Each window's features, when the model carries a drift profile (for fleet-wide
    /// drift; not sent to clients).
    #[serde(skip)]
    pub features: Vec<drift::Features>,
    /// Whether each window is a replay of known recordings (see [`crate::replay`]; all
    /// `false` unless the push was given a way to recognise them).
    #[serde(skip)]
    pub replayed: Vec<bool>,
}

/// A monitored signal, pinned to the model it started with.
#[derive(Debug, Clone)]
pub struct Monitor {
    predictor: Arc<Predictor>,
    config: MonitorConfig,
    cutter: WindowCutter,
    alarm: AlarmState,
    scratch: Vec<f32>,
    /// Features of the windows scored by the last push (models with a drift profile).
    features: Vec<drift::Features>,
    /// Which stretches of the signal are known recordings.
    replay: ReplayTracker,
    extractor: Option<drift::FeatureExtractor>,
    /// The largest absolute sample accepted (the card's `max_abs_sample` unless overridden).
    input_bound: f64,
}

impl Monitor {
    pub fn new(predictor: Arc<Predictor>, config: MonitorConfig) -> Result<Self, MonitorError> {
        config.check()?;
        let extractor = predictor
            .profile()
            .map(|_| drift::FeatureExtractor::for_recordings());
        Ok(Self {
            input_bound: predictor.card().input.max_abs_sample,
            predictor,
            cutter: WindowCutter::new(SAMPLES_PER_RECORDING, config.hop),
            alarm: AlarmState::new(config.rule),
            config,
            scratch: Vec::new(),
            features: Vec::new(),
            replay: ReplayTracker::default(),
            extractor,
        })
    }

    /// Replaces the card's bound on absolute sample values (a service-wide override).
    pub fn with_input_bound(mut self, bound: f64) -> Self {
        self.input_bound = bound;
        self
    }

    pub fn config(&self) -> &MonitorConfig {
        &self.config
    }

    /// The bound on absolute sample values (the card's `max_abs_sample`, or the override).
    pub fn input_bound(&self) -> f64 {
        self.input_bound
    }

    pub fn predictor(&self) -> &Arc<Predictor> {
        &self.predictor
    }

    pub fn samples_seen(&self) -> u64 {
        self.cutter.samples_seen()
    }

    pub fn in_seizure(&self) -> bool {
        self.alarm.in_seizure()
    }

    /// Checks every sample first (finite as f32, within the card's `max_abs_sample` or the
    /// override): on an error nothing is appended, so the signal stays as it was.
    pub fn check(&self, samples: &[f64]) -> Result<(), MonitorError> {
        let limit = self.input_bound;
        for (index, &value) in samples.iter().enumerate() {
            if !(value as f32).is_finite() {
                return Err(MonitorError::NonFinite { index });
            }
            if value.abs() > limit {
                return Err(MonitorError::OutOfRange {
                    index,
                    value,
                    limit,
                });
            }
        }
        Ok(())
    }

    /// Appends samples (after [`Monitor::check`]) and scores every window they complete. A
    /// non-finite probability refuses the push as a whole: the signal and the alarm state stay
    /// as they were.
    pub fn push(&mut self, samples: &[f64]) -> Result<Update, MonitorError> {
        self.push_recognising(samples, &|_| false)
    }

    /// [`Monitor::push`], marking the windows that replay recordings `known` recognises by
    /// their fingerprint ([`Update::replayed`]).
    pub fn push_recognising(
        &mut self,
        samples: &[f64],
        known: &dyn Fn(u64) -> bool,
    ) -> Result<Update, MonitorError> {
        self.check(samples)?;
        let samples: Vec<f32> = samples.iter().map(|&v| v as f32).collect();
        let before = (self.cutter.clone(), self.replay.clone());
        let (starts, probabilities, replayed) = self.score(&samples, known);
        if let Some(window) = probabilities.iter().position(|p| !p.is_finite()) {
            (self.cutter, self.replay) = before;
            self.features.clear();
            return Err(MonitorError::NonFiniteOutput { window });
        }
        let mut update = self.observe(&starts, probabilities);
        update.replayed = replayed;
        Ok(update)
    }

    /// Appends samples already known to be valid (the offline path, which checks as it reads).
    pub fn push_checked(&mut self, samples: &[f32]) -> Update {
        let (starts, probabilities, _) = self.score(samples, &|_| false);
        self.observe(&starts, probabilities)
    }

    /// Cuts the windows `samples` complete and scores them, a bounded batch at a time; with
    /// each window, whether it replays known recordings.
    fn score(
        &mut self,
        samples: &[f32],
        known: &dyn Fn(u64) -> bool,
    ) -> (Vec<u64>, Vec<f32>, Vec<bool>) {
        let window = SAMPLES_PER_RECORDING;
        let mut starts = Vec::new();
        let mut probabilities = Vec::new();
        let mut replayed = Vec::new();
        // Feed the cutter in slices that complete at most a pass of windows each.
        for part in samples.chunks(WINDOWS_PER_PASS * self.config.hop) {
            self.scratch.clear();
            self.replay.push(part, known);
            let new = self.cutter.push(part, &mut self.scratch);
            replayed.extend(new.iter().map(|&start| self.replay.covers(start, window)));
            for batch in self.scratch.chunks(WINDOWS_PER_PASS * window) {
                probabilities.extend(self.predictor.predict(batch));
            }
            if let Some(extractor) = &self.extractor {
                self.features.extend(
                    self.scratch
                        .chunks_exact(window)
                        .map(|w| extractor.features(w)),
                );
            }
            starts.extend(new);
        }
        self.scratch.clear();
        self.scratch.shrink_to(WINDOWS_PER_PASS * window);
        // Windows to come end after the samples taken so far: they start after this.
        self.replay
            .forget_before(self.samples_seen().saturating_sub(window as u64));
        (starts, probabilities, replayed)
    }

    fn observe(&mut self, starts: &[u64], probabilities: Vec<f32>) -> Update {
        let mut update = Update {
            features: std::mem::take(&mut self.features),
            ..Update::default()
        };
        let profile = self.predictor.profile();
        for (i, (&start, probability)) in starts.iter().zip(probabilities).enumerate() {
            let ood = profile
                .zip(update.features.get(i))
                .map(|(profile, features)| WindowOod::of(profile.ood.score(features)));
            let window = WindowScore {
                start_s: seconds(start),
                end_s: seconds(start + SAMPLES_PER_RECORDING as u64),
                probability,
                ood,
            };
            update.events.extend(self.alarm.observe(
                window.start_s,
                window.end_s,
                window.probability,
            ));
            update.windows.push(window);
        }
        update
    }

    /// Ends the signal: closes an open seizure.
    pub fn finish(&mut self) -> Option<Event> {
        self.alarm.finish(seconds(self.samples_seen()))
    }
}
