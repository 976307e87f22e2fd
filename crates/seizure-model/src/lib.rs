//! The seizure classifier, shared by training, evaluation and inference.
//!
//! * [`config`]: the architecture as a serde config (default: the reference network).
//! * [`network`]: the burn module used for training.
//! * [`artifact`]: a model on disk (weights + `model.json` card), schema-checked on load.
//! * [`predictor`]: a fast, thread-safe, burn-free forward pass for serving and evaluation.

pub mod artifact;
pub mod config;
pub mod network;
pub mod predictor;

pub use artifact::{ArtifactError, ModelCard};
pub use config::ModelConfig;
pub use network::SeizureNet;
pub use predictor::{PredictError, Predictor};
