//! The serving forward pass: the trained weights copied out of burn into plain matrices, and the
//! same computation as [`SeizureNet::forward`](crate::network::SeizureNet::forward) in eval mode,
//! on `matrixmultiply`'s SIMD kernels (picked at run time for the CPU at hand).
//!
//! A [`Predictor`] owns only `Vec<f32>`s: it is `Send + Sync`, needs no lock, and allocates its
//! scratch space per call, so any number of threads can score at once. A test proves it matches
//! burn's forward pass to 1e-5 on the same weights.
//!
//! Here is the API ([`Predictor`], the patient rule, the reference segments); `validation`
//! checks untrusted recordings ([`check_recordings`]), `layers` holds the weights copied out
//! of burn and each layer's forward pass, and [`kernels`](crate::kernels) the matrix products
//! and activations they run on.

mod layers;
mod validation;

use std::path::Path;
use std::sync::Arc;

use burn::prelude::*;
use eeg_data::layout::{InputLayout, Normalisation};
use eeg_data::SAMPLES_PER_RECORDING;

pub(crate) use crate::kernels::Matrix;
pub(crate) use layers::{Cell, Conv};
pub use validation::{check_recordings, PredictError};

use crate::artifact::{self, ArtifactError, ModelCard};
use crate::kernels::{affine, tanh, time_major};
use crate::network::SeizureNet;
use layers::{matrix, vector};

/// A patient's seizure probability from its recordings' probabilities: their mean. The same
/// rule scores patients in evaluation (per-patient metrics) and in serving, so the reported
/// per-patient accuracy is the accuracy of what inference answers. The mean is robust to one
/// noisy recording and keeps the patient score calibrated like the recording scores; the
/// individual recordings above the threshold are reported beside it.
pub fn patient_probability(probabilities: &[f64]) -> f64 {
    if probabilities.is_empty() {
        return f64::NAN;
    }
    probabilities.iter().sum::<f64>() / probabilities.len() as f64
}

/// The deterministic reference segments every model is checked on (class, seed): one seizure
/// segment and one healthy one (`eeg_data::synthetic::reference_segment`).
pub const REFERENCE_SEGMENTS: [(u8, u64); 2] = [(1, 7), (5, 11)];

/// Scores raw recordings with a loaded model. Cheap to share: wrap it in an `Arc`.
#[derive(Debug, Clone)]
pub struct Predictor {
    card: ModelCard,
    /// The training input's reference profile (drift and OOD), when the artifact has one.
    profile: Option<Arc<drift::Profile>>,
    pub(crate) layout: InputLayout,
    pub(crate) normalisation: Normalisation,
    pub(crate) front_end: Option<Conv>,
    pub(crate) lstm1: Cell,
    pub(crate) lstm2: Cell,
    pub(crate) dense: Matrix,
    pub(crate) dense_bias: Vec<f32>,
    pub(crate) output: Matrix,
    pub(crate) output_bias: Vec<f32>,
}

impl Predictor {
    /// Loads the artifact in `dir` (schema and integrity checked).
    pub fn load(dir: &Path) -> Result<Self, ArtifactError> {
        let (card, network) = artifact::load(dir, &Device::flex())?;
        let profile = artifact::load_profile(dir, &card)?;
        Ok(Self::from_network(card, &network).with_profile(profile))
    }

    /// Attaches the training input's reference profile.
    pub fn with_profile(mut self, profile: Option<drift::Profile>) -> Self {
        self.profile = profile.map(Arc::new);
        self
    }

    pub fn profile(&self) -> Option<&Arc<drift::Profile>> {
        self.profile.as_ref()
    }

    /// Copies the weights out of a burn network described by `card`.
    pub fn from_network(card: ModelCard, network: &SeizureNet) -> Self {
        let bias = |linear: &burn::nn::Linear| {
            linear
                .bias
                .as_ref()
                .map(vector)
                .unwrap_or_else(|| vec![0.0; linear.weight.dims()[1]])
        };
        Self {
            layout: card.input.layout,
            normalisation: card.normalisation,
            front_end: network.front_end.as_ref().map(Conv::from_burn),
            lstm1: Cell::from_burn(&network.lstm1),
            lstm2: Cell::from_burn(&network.lstm2),
            dense: matrix(&network.dense.weight),
            dense_bias: bias(&network.dense),
            output: matrix(&network.output.weight),
            output_bias: bias(&network.output),
            card,
            profile: None,
        }
    }

    pub fn card(&self) -> &ModelCard {
        &self.card
    }

    /// The check every model passes before it may serve (at install and at every reload):
    /// deterministic reference recordings (one seizure segment, one healthy) must score
    /// finite probabilities in [0, 1]. A diverged model (NaN weights) fails it.
    pub fn smoke_test(&self) -> Result<(), String> {
        let samples: Vec<f32> = REFERENCE_SEGMENTS
            .iter()
            .flat_map(|&(class, seed)| eeg_data::synthetic::reference_segment(class, seed))
            .collect();
        let probabilities = self.predict(&samples);
        match probabilities
            .iter()
            .position(|p| !p.is_finite() || !(0.0..=1.0).contains(p))
        {
            Some(bad) => Err(format!(
                "the smoke prediction gave {} for reference recording {bad}",
                probabilities[bad]
            )),
            None => Ok(()),
        }
    }

    /// Floating-point operations of the forward pass per recording: two per multiply-add of
    /// every matrix product (front end, both LSTMs' input and recurrent products, the dense
    /// layers), ignoring the element-wise activations and normalisation. With a measured time
    /// this gives the achieved GFLOP/s (`benches/predict.rs`).
    pub fn flops_per_recording(&self) -> u64 {
        let (mut steps, features) = (self.layout.timesteps, self.layout.features);
        let mut flops = 0;
        if let Some(conv) = &self.front_end {
            let kernel = conv.weights.rows;
            steps = (steps * features - kernel) / conv.stride + 1;
            flops += steps * kernel * conv.weights.cols;
        }
        for cell in [&self.lstm1, &self.lstm2] {
            flops += steps * (cell.input.rows + cell.recurrent.rows) * cell.input.cols;
        }
        flops += self.dense.rows * self.dense.cols + self.output.rows * self.output.cols;
        2 * flops as u64
    }

    /// Seizure probability of each raw recording in `samples` (row-major, 178 per recording;
    /// validate untrusted input with [`check_recordings`] first).
    pub fn predict(&self, samples: &[f32]) -> Vec<f32> {
        assert_eq!(samples.len() % SAMPLES_PER_RECORDING, 0);
        let batch = samples.len() / SAMPLES_PER_RECORDING;
        let mut inputs = Vec::with_capacity(batch * self.layout.samples_used());
        for recording in samples.chunks_exact(SAMPLES_PER_RECORDING) {
            self.normalisation
                .append_input(recording, self.layout, &mut inputs);
        }
        self.predict_normalised(&inputs, batch)
    }

    /// The seizure logit minus the other logit of each already normalised input (before any
    /// temperature scaling): what temperature scaling is fitted on.
    pub fn logit_differences_normalised(&self, inputs: &[f32], batch: usize) -> Vec<f32> {
        let (steps, features) = (self.layout.timesteps, self.layout.features);
        assert_eq!(inputs.len(), batch * steps * features);
        if batch == 0 {
            return Vec::new();
        }
        // Time-major, so each step's rows are contiguous.
        let (time_major, steps) = match &self.front_end {
            Some(conv) => conv.run(inputs, batch, steps * features),
            None => (time_major(inputs, batch, steps, features), steps),
        };
        let sequence = self.lstm1.run(&time_major, steps, batch, true);
        let last = self.lstm2.run(&sequence, steps, batch, false);
        let mut hidden = affine(batch, &last, &self.dense, &self.dense_bias);
        hidden.iter_mut().for_each(|v| *v = tanh(*v));
        let logits = affine(batch, &hidden, &self.output, &self.output_bias);
        logits.chunks_exact(2).map(|l| l[1] - l[0]).collect()
    }

    /// Seizure probability of each already normalised input, `[batch, timesteps, features]`
    /// row-major (the layout of the processed dataset's `S_x.npy`), after the card's
    /// temperature scaling if any.
    pub fn predict_normalised(&self, inputs: &[f32], batch: usize) -> Vec<f32> {
        let inverse_temperature = self
            .card
            .temperature_scaling
            .as_ref()
            .map_or(1.0, |t| (1.0 / t.temperature) as f32);
        self.logit_differences_normalised(inputs, batch)
            .into_iter()
            .map(|z| 1.0 / (1.0 + (-z * inverse_temperature).exp()))
            .collect()
    }
}
