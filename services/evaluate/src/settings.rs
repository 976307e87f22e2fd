//! What `evaluate run` is asked to do, parsed once from the command line
//! ([`crate::EvaluateArgs::settings`]): the library ([`crate::evaluate`]) takes these and
//! checks nothing again.

use std::path::PathBuf;

use nutype::nutype;

use crate::promotion::{Force, PrimaryMetric, PromotionPolicy};
use crate::registry::RegistrySettings;

/// A decision threshold on the served probability: in [0, 1].
#[nutype(
    validate(finite, greater_or_equal = 0.0, less_or_equal = 1.0),
    derive(Debug, Clone, Copy, PartialEq, PartialOrd, Display)
)]
pub struct Threshold(f64);

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
