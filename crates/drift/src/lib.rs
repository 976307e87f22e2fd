//! Drift and out-of-distribution input.
//!
//! * [`features`]: what a neurophysiologist reads off a window (log band powers, line
//!   length, variance, range, baseline).
//! * [`stats`]: two-sample KS and Wasserstein statistics, as scipy computes them.
//! * [`ood`]: one window's out-of-distribution score against the training windows.
//! * [`profile`]: the reference profile stored with a model, calibrated by permutation.
//! * [`window`]: fleet-wide drift over a sliding window of scored windows.

pub mod features;
pub mod ood;
pub mod profile;
pub mod stats;
pub mod window;

pub use features::{FeatureExtractor, Features, FEATURES, FEATURE_COUNT};
pub use ood::{OodReference, OodScore};
pub use profile::{BuildConfig, Pool, Profile, ProfileError, PROFILE_FILE};
pub use window::{DriftReport, DriftWindow, FeatureDrift, Snapshot};
