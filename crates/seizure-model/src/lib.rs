//! The seizure classifier, shared by training, evaluation and inference.
//!
//! * [`config`]: the architecture as a serde config (default: the reference network).
//! * [`network`]: the burn module used for training.
//! * [`artifact`]: a model on disk (weights + `model.json` card), schema-checked on load.
//! * [`kernels`]: the matrix products and LSTM gate steps (forward and backward) on SIMD kernels.
//! * [`onnx`]: the served network exported as an ONNX model (for onnxruntime, MLflow, Triton).
//! * [`predictor`]: a fast, thread-safe, burn-free forward pass for serving and evaluation.
//! * [`release`]: the installed production release (`release.json` beside the artifact).
//! * [`threshold`]: the one decision threshold, chosen on validation, kept in older cards.
//! * [`decisions`]: the window, patient and alarm decisions, chosen out of fold.
//! * [`temperature`]: optional temperature scaling of the probabilities, fitted on validation.

pub mod artifact;
pub mod config;
pub mod decisions;
pub mod kernels;
pub mod network;
pub mod onnx;
pub mod predictor;
pub mod release;
pub mod temperature;
pub mod threshold;

pub use artifact::{ArtifactError, MaxAbsSample, ModelCard};
pub use config::{FrontEnd, ModelConfig};
pub use decisions::{Decisions, PatientCall, PatientRule};
pub use network::SeizureNet;
pub use predictor::{patient_probability, PredictError, Predictor};
pub use release::{installed_release, Release, ReleaseError, RELEASE_FILE};
pub use threshold::{DecisionThreshold, Threshold, ThresholdSource};
