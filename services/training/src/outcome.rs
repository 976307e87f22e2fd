//! What a training run produced ([`crate::train_model`]).

use std::sync::Arc;

use artifact_store::dvc::DvcPointer;
use seizure_model::ModelCard;

use crate::train::EpochMetrics;

/// What a training run produced.
pub struct TrainingOutcome {
    pub card: ModelCard,
    pub run_id: String,
    pub tracker_kind: &'static str,
    pub tracker_location: String,
    pub history: Vec<EpochMetrics>,
    pub best_epoch: usize,
    pub stopped_early: bool,
    /// Stopped by `train_model_with`'s callback.
    pub pruned: bool,
    pub pointer: Option<DvcPointer>,
    /// The out-of-fold models the decisions were chosen with, in fold order (in memory only,
    /// never published; empty without out-of-fold decisions). `seizure-ops cv` scores their
    /// ensemble as a candidate.
    pub fold_models: Vec<Arc<seizure_model::Predictor>>,
}
