//! The serving forward pass: the trained weights copied out of burn into plain matrices, and the
//! same computation as [`SeizureNet::forward`](crate::network::SeizureNet::forward) in eval mode,
//! on `matrixmultiply`'s SIMD kernels (picked at run time for the CPU at hand).
//!
//! A [`Predictor`] owns only `Vec<f32>`s: it is `Send + Sync`, needs no lock, and allocates its
//! scratch space per call, so any number of threads can score at once. A test proves it matches
//! burn's forward pass to 1e-5 on the same weights.

use std::path::Path;
use std::sync::Arc;

use burn::module::Param;
use burn::prelude::*;
use eeg_data::layout::{InputLayout, Normalisation};
use eeg_data::SAMPLES_PER_RECORDING;

use crate::artifact::{self, ArtifactError, ModelCard};
use crate::network::{ConvFrontEnd, FusedLstm, SeizureNet};

/// A dense matrix, row-major.
#[derive(Debug, Clone)]
pub(crate) struct Matrix {
    pub(crate) rows: usize,
    pub(crate) cols: usize,
    pub(crate) data: Vec<f32>,
}

fn matrix(param: &Param<Tensor<2>>) -> Matrix {
    let tensor = param.val();
    let [rows, cols] = tensor.dims();
    Matrix {
        rows,
        cols,
        data: tensor.try_to_vec_as::<f32>().expect("weights are readable"),
    }
}

fn vector(param: &Param<Tensor<1>>) -> Vec<f32> {
    param
        .val()
        .try_to_vec_as::<f32>()
        .expect("weights are readable")
}

/// `c = a · b + c` for row-major `a` `[m, k]`, `b` `[k, n]`, `c` `[m, n]`.
fn gemm_accumulate(m: usize, a: &[f32], b: &Matrix, c: &mut [f32]) {
    let (k, n) = (b.rows, b.cols);
    assert_eq!(a.len(), m * k);
    assert_eq!(b.data.len(), k * n);
    assert_eq!(c.len(), m * n);
    // SAFETY: the three slices hold exactly m*k, k*n and m*n elements (asserted above), which
    // is what sgemm reads and writes with these dense row-major strides; `c` is borrowed
    // mutably, so it aliases neither input.
    #[allow(unsafe_code)]
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            1.0,
            a.as_ptr(),
            k as isize,
            1,
            b.data.as_ptr(),
            n as isize,
            1,
            1.0,
            c.as_mut_ptr(),
            n as isize,
            1,
        );
    }
}

/// `out[m, n] = a · b + bias` (bias broadcast over rows).
fn affine(m: usize, a: &[f32], b: &Matrix, bias: &[f32]) -> Vec<f32> {
    let mut out = Vec::with_capacity(m * b.cols);
    for _ in 0..m {
        out.extend_from_slice(bias);
    }
    gemm_accumulate(m, a, b, &mut out);
    out
}

/// `e^x` without branches or calls, so loops over it vectorise: Cephes' range reduction
/// (x = n ln 2 + r) and degree-6 polynomial, about 1 ulp of the true value on [-87, 88].
#[inline(always)]
fn fast_exp(x: f32) -> f32 {
    const LOG2_E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // 1.5 * 2^23: adding and subtracting it rounds to the nearest integer (ties to even) in
    // plain f32 arithmetic, for |v| < 2^22. `f32::round` would be a call to libm's `roundf`
    // on the baseline x86-64 target (no SSE4.1), which keeps the loops over this function
    // from vectorising: it was a sixth of the forward pass's time under perf.
    const ROUNDER: f32 = 12_582_912.0;
    let x = x.clamp(-87.0, 88.0);
    let n = (x * LOG2_E + ROUNDER) - ROUNDER;
    let r = x - n * LN2_HI - n * LN2_LO;
    let mut p = 1.987_569_2e-4_f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 0.5;
    let e_r = p * r * r + r + 1.0;
    e_r * f32::from_bits(((n as i32 + 127) as u32) << 23)
}

#[inline(always)]
fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + fast_exp(-x))
}

#[inline(always)]
fn tanh(x: f32) -> f32 {
    2.0 * sigmoid(2.0 * x) - 1.0
}

/// One fused-gate LSTM layer: `[in, 4H]` and `[H, 4H]` matrices, gates i, f, o, c.
#[derive(Debug, Clone)]
pub(crate) struct Cell {
    pub(crate) input: Matrix,
    pub(crate) recurrent: Matrix,
    pub(crate) bias: Vec<f32>,
    pub(crate) hidden: usize,
}

impl Cell {
    fn from_burn(lstm: &FusedLstm) -> Self {
        Self {
            input: matrix(&lstm.input_weights),
            recurrent: matrix(&lstm.recurrent_weights),
            bias: vector(&lstm.bias),
            hidden: lstm.hidden(),
        }
    }

    /// Runs a time-major sequence `[steps, batch, input]`. Returns every hidden state
    /// `[steps, batch, H]` when `keep_sequence`, else only the last `[batch, H]`.
    pub(crate) fn run(
        &self,
        sequence: &[f32],
        steps: usize,
        batch: usize,
        keep_sequence: bool,
    ) -> Vec<f32> {
        let h_size = self.hidden;
        let gates = 4 * h_size;
        // Input projections of every step at once: [steps * batch, 4H].
        let mut z = affine(steps * batch, sequence, &self.input, &self.bias);
        let mut h = vec![0f32; batch * h_size];
        let mut c = vec![0f32; batch * h_size];
        let mut outputs = Vec::with_capacity(if keep_sequence {
            steps * batch * h_size
        } else {
            0
        });
        for step in 0..steps {
            let z_step = &mut z[step * batch * gates..(step + 1) * batch * gates];
            gemm_accumulate(batch, &h, &self.recurrent, z_step);
            gates_and_state(z_step, &mut c, &mut h, h_size);
            if keep_sequence {
                outputs.extend_from_slice(&h);
            }
        }
        if keep_sequence {
            outputs
        } else {
            h
        }
    }
}

/// One step's gates and cell update for every row of the batch: `z_step` `[batch, 4H]` (gate
/// pre-activations, i, f, o, c) into the cell state `c` and hidden state `h` (`[batch, H]`).
/// Activations first, over contiguous slices, then the update. Compiled once per instruction
/// set and picked at run time (`multiversion`): the portable x86-64 baseline has only SSE2,
/// while the CPUs this serves on have AVX2/FMA or AVX-512, as `matrixmultiply` also detects.
#[multiversion::multiversion(targets(
    "x86_64+avx512f+avx512bw+avx512dq+avx512vl+avx2+fma",
    "x86_64+avx2+fma",
    "aarch64+neon"
))]
fn gates_and_state(z_step: &mut [f32], c: &mut [f32], h: &mut [f32], h_size: usize) {
    let gates = 4 * h_size;
    for zb in z_step.chunks_exact_mut(gates) {
        let (sigmoid_gates, candidate) = zb.split_at_mut(3 * h_size);
        sigmoid_gates.iter_mut().for_each(|v| *v = sigmoid(*v));
        candidate.iter_mut().for_each(|v| *v = tanh(*v));
    }
    for ((zb, cb), hb) in z_step
        .chunks_exact(gates)
        .zip(c.chunks_exact_mut(h_size))
        .zip(h.chunks_exact_mut(h_size))
    {
        let (input_gate, rest) = zb.split_at(h_size);
        let (forget_gate, rest) = rest.split_at(h_size);
        let (output_gate, candidate) = rest.split_at(h_size);
        for j in 0..h_size {
            cb[j] = forget_gate[j] * cb[j] + input_gate[j] * candidate[j];
            hb[j] = output_gate[j] * tanh(cb[j]);
        }
    }
}

/// The convolutional front end: frames of `kernel` samples every `stride`, one matmul, ReLU.
#[derive(Debug, Clone)]
pub(crate) struct Conv {
    /// `[kernel, channels]`.
    pub(crate) weights: Matrix,
    pub(crate) bias: Vec<f32>,
    pub(crate) stride: usize,
}

impl Conv {
    fn from_burn(conv: &ConvFrontEnd) -> Self {
        Self {
            weights: matrix(&conv.weights),
            bias: vector(&conv.bias),
            stride: conv.stride,
        }
    }

    /// `batch` windows of `samples` samples each to a time-major sequence
    /// `[steps, batch, channels]`; returns it with `steps`.
    fn run(&self, inputs: &[f32], batch: usize, samples: usize) -> (Vec<f32>, usize) {
        let kernel = self.weights.rows;
        let steps = (samples - kernel) / self.stride + 1;
        let mut frames = Vec::with_capacity(steps * batch * kernel);
        for step in 0..steps {
            for b in 0..batch {
                let start = b * samples + step * self.stride;
                frames.extend_from_slice(&inputs[start..start + kernel]);
            }
        }
        let mut out = affine(steps * batch, &frames, &self.weights, &self.bias);
        out.iter_mut().for_each(|v| *v = v.max(0.0));
        (out, steps)
    }
}

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

/// Why a batch could not be scored.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PredictError {
    #[error("recording {index} has {found} samples, expected {expected}")]
    WrongLength {
        index: usize,
        found: usize,
        expected: usize,
    },
    #[error("recording {index} has a non-finite value at sample {sample}")]
    NonFinite { index: usize, sample: usize },
    #[error(
        "recording {index} sample {sample} is {value:e}, outside the model's input range \
         -{limit}..{limit}"
    )]
    OutOfRange {
        index: usize,
        sample: usize,
        value: f64,
        limit: f64,
    },
    #[error("no recordings to score")]
    Empty,
}

/// Checks raw recordings before scoring: each has 178 samples, each finite once converted
/// to the model's dtype (f32) and within `max_abs_sample` (the card's
/// [`InputSchema::max_abs_sample`](crate::artifact::InputSchema)).
pub fn check_recordings<R: AsRef<[f64]>>(
    recordings: &[R],
    max_abs_sample: f64,
) -> Result<(), PredictError> {
    if recordings.is_empty() {
        return Err(PredictError::Empty);
    }
    for (index, recording) in recordings.iter().enumerate() {
        let recording = recording.as_ref();
        if recording.len() != SAMPLES_PER_RECORDING {
            return Err(PredictError::WrongLength {
                index,
                found: recording.len(),
                expected: SAMPLES_PER_RECORDING,
            });
        }
        for (sample, &value) in recording.iter().enumerate() {
            if !(value as f32).is_finite() {
                return Err(PredictError::NonFinite { index, sample });
            }
            if value.abs() > max_abs_sample {
                return Err(PredictError::OutOfRange {
                    index,
                    sample,
                    value,
                    limit: max_abs_sample,
                });
            }
        }
    }
    Ok(())
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
            None => {
                let mut time_major = vec![0f32; inputs.len()];
                for b in 0..batch {
                    for t in 0..steps {
                        let from = (b * steps + t) * features;
                        let to = (t * batch + b) * features;
                        time_major[to..to + features]
                            .copy_from_slice(&inputs[from..from + features]);
                    }
                }
                (time_major, steps)
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_activations_match_the_standard_library() {
        let mut worst = (0f32, 0f32, 0f32);
        for i in -20_000..=20_000 {
            let x = i as f32 / 1000.0;
            let exp_error = ((fast_exp(x) - x.exp()) / x.exp()).abs();
            let sigmoid_error = (sigmoid(x) - 1.0 / (1.0 + (-x).exp())).abs();
            let tanh_error = (tanh(x) - x.tanh()).abs();
            worst = (
                worst.0.max(exp_error),
                worst.1.max(sigmoid_error),
                worst.2.max(tanh_error),
            );
        }
        assert!(worst.0 < 1e-6, "exp relative error {}", worst.0);
        assert!(worst.1 < 1e-6, "sigmoid error {}", worst.1);
        assert!(worst.2 < 1e-6, "tanh error {}", worst.2);
        assert!(sigmoid(-200.0) < 1e-30);
        assert_eq!(sigmoid(200.0), 1.0);
    }
}
