//! The drift and OOD profile of the training input, built with the trained model's calls
//! (see [`drift::profile`]): every training segment's continuous signal cut into the model's
//! windows without overlap (the 23 one-second chunks of the source data).

use eeg_data::processed::Signals;
use eeg_data::SAMPLES_PER_RECORDING;
use seizure_model::{ModelCard, Predictor};

/// The profile of `signals` under the model (`card` with its decision threshold, `network`),
/// or `None` with a warning when the model has no threshold (diverged) or the data are too
/// few for a profile.
pub fn build(
    predictor: &Predictor,
    signals: &Signals,
    config: &drift::BuildConfig,
) -> Option<drift::Profile> {
    let card: &ModelCard = predictor.card();
    // The window threshold the service calls windows at (the out-of-fold one when chosen).
    let Some(threshold) = card.decision_threshold.as_ref().map(|_| card.threshold().0) else {
        tracing::warn!("no drift profile: the model has no decision threshold (diverged)");
        return None;
    };
    let extractor = drift::FeatureExtractor::for_recordings();
    let mut pool = drift::Pool::default();
    let mut windows: Vec<f32> = Vec::new();
    for (row, signal) in signals.samples.outer_iter().enumerate() {
        let signal = signal.as_slice().expect("a standard-layout signal row");
        for window in signal.chunks_exact(SAMPLES_PER_RECORDING) {
            pool.features.push(extractor.features(window));
            pool.segment.push(signals.segment[row]);
            pool.seizure_segment.push(signals.y[row] == 1);
            windows.extend_from_slice(window);
        }
    }
    let probabilities = predictor.predict(&windows);
    if probabilities.iter().any(|p| !p.is_finite()) {
        tracing::warn!("no drift profile: the model scores a training window as non-finite");
        return None;
    }
    pool.called_seizure = probabilities
        .iter()
        .map(|&p| f64::from(p) >= threshold)
        .collect();
    match drift::Profile::build(&pool, config) {
        Ok(profile) => {
            if profile.drift.window < config.window {
                tracing::warn!(
                    asked = config.window,
                    window = profile.drift.window,
                    "the drift window is lowered to what the training data support"
                );
            }
            Some(profile)
        }
        Err(e) => {
            tracing::warn!("no drift profile: {e}");
            None
        }
    }
}
