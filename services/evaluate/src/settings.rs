//! What `evaluate run` is asked to do, parsed once from the command line
//! ([`crate::EvaluateArgs::settings`]): the library ([`crate::evaluate`]) takes these and
//! does not check them again.

use std::path::PathBuf;

use crate::promotion::{Force, PrimaryMetric, PromotionPolicy};
use crate::registry::RegistrySettings;

/// The threshold override: the model crate's type, shared with inference's.
pub use seizure_model::Threshold;

#[derive(Debug, Clone)]
pub struct EvaluateSettings {
    /// The candidate model artifact.
    pub candidate: PathBuf,
    /// The processed dataset whose test split is scored.
    pub data: PathBuf,
    /// Where metrics.json and the plots go.
    pub reports: PathBuf,
    pub primary_metric: PrimaryMetric,
    /// Checked ([`PromotionPolicy::check`]).
    pub policy: PromotionPolicy,
    /// Overrides the model cards' window thresholds.
    pub threshold: Option<Threshold>,
    /// A promotion forced by `--force`, by whom and why.
    pub force: Option<Force>,
    pub registry: RegistrySettings,
}
