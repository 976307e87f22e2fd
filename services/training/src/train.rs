//! The training loop: Adam on mini-batches, seeded shuffling, validation after every epoch,
//! early stopping on validation loss with the best weights restored.

use std::ops::ControlFlow;
use std::time::Instant;

use eeg_data::processed::SplitArrays;
use eeg_data::random::Rng;
use seizure_model::{ModelCard, ModelConfig, Predictor, SeizureNet};

use crate::engine::{Engine, Learner};
use crate::shards::Sharding;
use crate::windows::TrainingWindows;

#[derive(Debug, Clone, PartialEq)]
pub struct TrainConfig {
    pub model: ModelConfig,
    pub epochs: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    /// Epochs without a better validation loss before stopping.
    pub patience: usize,
    pub seed: u64,
    /// Loss weight per label (from the manifest: all 1.0 unless the data set asked for weighting).
    pub class_weights: [f64; 2],
    /// How each mini-batch is split over threads (the result depends on the shard count, not
    /// on the threads).
    pub sharding: Sharding,
    /// Which code computes the gradients.
    pub engine: Engine,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EpochMetrics {
    /// 1-based.
    pub epoch: usize,
    pub train_loss: f64,
    pub train_accuracy: f64,
    pub val_loss: f64,
    pub val_accuracy: f64,
    pub seconds: f64,
    pub samples_per_second: f64,
}

pub struct TrainOutcome {
    /// The weights of the best epoch, without autodiff.
    pub network: SeizureNet,
    pub best_epoch: usize,
    pub history: Vec<EpochMetrics>,
    pub stopped_early: bool,
    /// Stopped by the `on_epoch` callback.
    pub pruned: bool,
}

/// The validation rows as flat model inputs plus labels.
struct Rows<'a> {
    x: &'a [f32],
    y: Vec<i64>,
}

impl<'a> Rows<'a> {
    fn of(split: &'a SplitArrays) -> Self {
        let x = split
            .x
            .as_slice()
            .expect("arrays read from .npy are contiguous");
        Self {
            x,
            y: split.y.iter().map(|&v| i64::from(v)).collect(),
        }
    }

    fn len(&self) -> usize {
        self.y.len()
    }
}

/// Weighted mean negative log-likelihood and accuracy of seizure probabilities, with the same
/// weighting as burn's cross-entropy (sum of w_y * nll over sum of w_y).
fn loss_and_accuracy(probabilities: &[f32], labels: &[i64], weights: [f64; 2]) -> (f64, f64) {
    let (mut loss, mut weight_sum, mut correct) = (0.0, 0.0, 0usize);
    for (&p, &y) in probabilities.iter().zip(labels) {
        let p = f64::from(p).clamp(1e-7, 1.0 - 1e-7);
        let (nll, w) = if y == 1 {
            (-p.ln(), weights[1])
        } else {
            (-(1.0 - p).ln(), weights[0])
        };
        loss += w * nll;
        weight_sum += w;
        correct += usize::from((p >= 0.5) == (y == 1));
    }
    (
        loss / weight_sum.max(f64::MIN_POSITIVE),
        correct as f64 / labels.len().max(1) as f64,
    )
}

/// Trains on windows of `train`, validating on `validation`. `card` supplies the layout and
/// normalisation for validation scoring; `on_batch` and `on_epoch` report progress, and
/// `on_epoch` may stop the run (`ControlFlow::Break`: a tuner pruning a hopeless trial).
pub fn train(
    train: &TrainingWindows,
    validation: &SplitArrays,
    config: &TrainConfig,
    card: &ModelCard,
    mut on_batch: impl FnMut(),
    mut on_epoch: impl FnMut(&EpochMetrics) -> ControlFlow<()>,
) -> TrainOutcome {
    let class_weights = config.class_weights.map(|w| w as f32);
    let mut learner = Learner::new(
        config.engine,
        &config.model,
        config.seed,
        class_weights,
        config.sharding,
    );

    let val_rows = Rows::of(validation);
    let mut rng = Rng::new(config.seed ^ 0x7EA1_5EED);
    // Offsets and augmentation draw from their own stream, so the batch order of a seed is
    // the same whichever windows are cut; with several shards, dropout from a third (not
    // burn's global generator, which threads would draw from in no fixed order).
    let mut window_rng = Rng::new(config.seed ^ 0x0FF5_E75E);
    let mut dropout_rng = Rng::new(config.seed ^ 0x0D20_70D7);
    let mut order: Vec<usize> = (0..train.len()).collect();
    let mut history = Vec::new();
    let (mut best, mut best_loss, mut best_epoch) = (learner.network(), f64::INFINITY, 0);
    let (mut stopped_early, mut pruned) = (false, false);

    for epoch in 1..=config.epochs {
        let started = Instant::now();
        rng.shuffle(&mut order);
        let (mut loss_sum, mut correct) = (0.0, 0usize);
        for batch in order.chunks(config.batch_size.max(1)) {
            let (x, y) = train.gather(batch, &mut window_rng);
            let step = learner.step(config.learning_rate, x, y, &mut dropout_rng);
            correct += step.correct;
            loss_sum += step.loss * batch.len() as f64;
            on_batch();
        }
        let seconds = started.elapsed().as_secs_f64();

        let snapshot = learner.network();
        let probabilities = Predictor::from_network(card.clone(), &snapshot)
            .predict_normalised(val_rows.x, val_rows.len());
        let (val_loss, val_accuracy) =
            loss_and_accuracy(&probabilities, &val_rows.y, config.class_weights);
        let metrics = EpochMetrics {
            epoch,
            train_loss: loss_sum / train.len().max(1) as f64,
            train_accuracy: correct as f64 / train.len().max(1) as f64,
            val_loss,
            val_accuracy,
            seconds,
            samples_per_second: train.len() as f64 / seconds.max(1e-9),
        };
        let control = on_epoch(&metrics);
        history.push(metrics);
        // The first epoch always counts, so a diverged run (NaN loss) still has a model; its
        // NaN metrics then keep it from being promoted. A finite loss always replaces a
        // non-finite best (NaN compares false with everything, so `<` alone would keep the
        // diverged first epoch for good).
        if best_epoch == 0 || improves(val_loss, best_loss) {
            (best, best_loss, best_epoch) = (snapshot, val_loss, epoch);
        } else if epoch - best_epoch >= config.patience {
            stopped_early = true;
            break;
        }
        if control.is_break() {
            pruned = true;
            break;
        }
    }
    TrainOutcome {
        network: best,
        best_epoch,
        history,
        stopped_early,
        pruned,
    }
}

/// Whether validation loss `candidate` is better than the best so far.
fn improves(candidate: f64, best: f64) -> bool {
    candidate.is_finite() && (!best.is_finite() || candidate < best)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_finite_epoch_replaces_a_diverged_one() {
        assert!(improves(0.7, f64::NAN));
        assert!(improves(0.7, f64::INFINITY));
        assert!(!improves(f64::NAN, 0.7));
        assert!(!improves(f64::NAN, f64::NAN));
        assert!(improves(0.6, 0.7) && !improves(0.7, 0.7));
    }

    #[test]
    fn loss_and_accuracy_match_hand_computed_values() {
        let (loss, accuracy) = loss_and_accuracy(&[0.9, 0.2, 0.6], &[1, 0, 0], [1.0, 1.0]);
        let expected = -(0.9f64.ln() + 0.8f64.ln() + 0.4f64.ln()) / 3.0;
        assert!((loss - expected).abs() < 1e-6, "{loss} vs {expected}");
        assert!((accuracy - 2.0 / 3.0).abs() < 1e-12);
        // Weighted: label 1 counts 3 times as much.
        let (weighted, _) = loss_and_accuracy(&[0.9, 0.2], &[1, 0], [1.0, 3.0]);
        let expected = (3.0 * -(0.9f64.ln()) + -(0.8f64.ln())) / 4.0;
        assert!((weighted - expected).abs() < 1e-6);
    }
}
