//! The classifier in burn, used for training.
//!
//! Both LSTM layers are fused-gate cells: one `[in, 4H]` input matrix, one `[H, 4H]` recurrent
//! matrix and one bias, gates ordered input, forget, output, candidate. With Keras-style
//! initialisation (Glorot-uniform input weights, orthogonal recurrent weights, forget-gate
//! bias of one) it trains faster and more reliably than burn's `nn::Lstm`, as measured in
//! `../shared/notes/burn_spike.md`. The input projection of all timesteps is one matmul.

use burn::module::{Initializer, Module, ModuleVisitor, Param};
use burn::nn::{Dropout, DropoutConfig, Linear};
use burn::prelude::*;
use burn::tensor::activation::{sigmoid, tanh};

use crate::config::{FrontEnd, ModelConfig};

/// A single-layer LSTM with all four gates in one matrix.
#[derive(Module, Debug)]
pub struct FusedLstm {
    /// `[input, 4H]`, gates i, f, o, g.
    pub input_weights: Param<Tensor<2>>,
    /// `[H, 4H]`.
    pub recurrent_weights: Param<Tensor<2>>,
    /// `[4H]`.
    pub bias: Param<Tensor<1>>,
}

impl FusedLstm {
    pub fn new(input: usize, hidden: usize, device: &Device) -> Self {
        let gates = 4 * hidden;
        let input_weights = Initializer::XavierUniform { gain: 1.0 }.init_with(
            [input, gates],
            Some(input),
            Some(gates),
            device,
        );
        // Orthogonal per gate block, as Keras does for the recurrent kernel.
        let blocks: Vec<Tensor<2>> = (0..4)
            .map(|_| {
                Initializer::Orthogonal { gain: 1.0 }
                    .init::<2, _>([hidden, hidden], device)
                    .val()
            })
            .collect();
        // Through host data, so the parameter is a leaf even on an autodiff device.
        let recurrent = Tensor::cat(blocks, 1).to_data();
        let recurrent_weights = Param::from_tensor(Tensor::from_data(recurrent, device));
        let forget_bias: Vec<f32> = (0..gates)
            .map(|i| {
                if (hidden..2 * hidden).contains(&i) {
                    1.0
                } else {
                    0.0
                }
            })
            .collect();
        let bias = Param::from_tensor(Tensor::from_data(
            TensorData::new(forget_bias, [gates]),
            device,
        ));
        Self {
            input_weights,
            recurrent_weights,
            bias,
        }
    }

    pub fn hidden(&self) -> usize {
        self.recurrent_weights.dims()[0]
    }

    /// Runs the sequence `[B, T, in]`; returns the hidden state of every step, `[B, T, H]`.
    pub fn forward_sequence(&self, input: Tensor<3>) -> Tensor<3> {
        Tensor::stack(self.run(input), 1)
    }

    /// Runs the sequence `[B, T, in]`; returns the last hidden state, `[B, H]`.
    pub fn forward_last(&self, input: Tensor<3>) -> Tensor<2> {
        self.run(input).pop().expect("sequences are not empty")
    }

    fn run(&self, input: Tensor<3>) -> Vec<Tensor<2>> {
        let [batch, steps, features] = input.dims();
        let hidden = self.hidden();
        let gates = 4 * hidden;
        let projected = input
            .reshape([batch * steps, features])
            .matmul(self.input_weights.val())
            .add(self.bias.val().unsqueeze::<2>())
            .reshape([batch, steps, gates]);
        let device = projected.device();
        let mut h = Tensor::<2>::zeros([batch, hidden], &device);
        let mut c = Tensor::<2>::zeros([batch, hidden], &device);
        let mut outputs = Vec::with_capacity(steps);
        for step in 0..steps {
            let x_gates = projected
                .clone()
                .slice(s![.., step..step + 1, ..])
                .reshape([batch, gates]);
            let z = x_gates + h.matmul(self.recurrent_weights.val());
            let sig = sigmoid(z.clone().slice(s![.., 0..3 * hidden]));
            let candidate = tanh(z.slice(s![.., 3 * hidden..gates]));
            let input_gate = sig.clone().slice(s![.., 0..hidden]);
            let forget_gate = sig.clone().slice(s![.., hidden..2 * hidden]);
            let output_gate = sig.slice(s![.., 2 * hidden..3 * hidden]);
            c = forget_gate * c + input_gate * candidate;
            h = output_gate * tanh(c.clone());
            outputs.push(h.clone());
        }
        outputs
    }
}

/// A 1D convolution over the window's samples (one input channel) with a ReLU, computed as
/// one matmul over its frames: `kernel` consecutive samples every `stride` samples.
#[derive(Module, Debug)]
pub struct ConvFrontEnd {
    /// `[kernel, channels]`.
    pub weights: Param<Tensor<2>>,
    /// `[channels]`.
    pub bias: Param<Tensor<1>>,
    pub stride: usize,
}

impl ConvFrontEnd {
    pub fn new(channels: usize, kernel: usize, stride: usize, device: &Device) -> Self {
        // He-uniform for a ReLU layer, as Keras users would pick; zero bias.
        let bound = (6.0 / kernel as f64).sqrt();
        Self {
            weights: Initializer::Uniform {
                min: -bound,
                max: bound,
            }
            .init([kernel, channels], device),
            bias: Initializer::Zeros.init([channels], device),
            stride,
        }
    }

    pub fn kernel(&self) -> usize {
        self.weights.dims()[0]
    }

    /// `[B, T, F]` (read as `B` windows of `T * F` samples) to `[B, steps, channels]`.
    pub fn forward(&self, input: Tensor<3>) -> Tensor<3> {
        let [batch, steps, features] = input.dims();
        let samples = steps * features;
        let (kernel, stride) = (self.kernel(), self.stride);
        let flat = input.reshape([batch, samples]);
        let frames: Vec<Tensor<2>> = (0..=(samples - kernel) / stride)
            .map(|step| {
                flat.clone()
                    .slice(s![.., step * stride..step * stride + kernel])
            })
            .collect();
        let out_steps = frames.len();
        let channels = self.weights.dims()[1];
        let frames = Tensor::stack::<3>(frames, 1).reshape([batch * out_steps, kernel]);
        let features = frames
            .matmul(self.weights.val())
            .add(self.bias.val().unsqueeze::<2>());
        burn::tensor::activation::relu(features).reshape([batch, out_steps, channels])
    }
}

/// The seizure classifier.
#[derive(Module, Debug)]
pub struct SeizureNet {
    pub front_end: Option<ConvFrontEnd>,
    pub lstm1: FusedLstm,
    pub lstm2: FusedLstm,
    pub dropout: Dropout,
    pub dense: Linear,
    pub output: Linear,
}

/// A dense layer initialised as Keras does: Glorot-uniform weights, zero bias.
fn dense(input: usize, output: usize, device: &Device) -> Linear {
    Linear {
        weight: Initializer::XavierUniform { gain: 1.0 }.init_with(
            [input, output],
            Some(input),
            Some(output),
            device,
        ),
        bias: Some(Initializer::Zeros.init([output], device)),
    }
}

impl SeizureNet {
    /// The network `config` describes. `config` must have passed
    /// [`FrontEnd::sequence_shape`] for its layout (artifact loading checks it).
    pub fn new(config: &ModelConfig, device: &Device) -> Self {
        let (front_end, lstm_input) = match config.front_end {
            FrontEnd::Frames => (None, config.layout.features),
            FrontEnd::Conv {
                channels,
                kernel,
                stride,
            } => (
                Some(ConvFrontEnd::new(channels, kernel, stride, device)),
                channels,
            ),
        };
        Self {
            front_end,
            lstm1: FusedLstm::new(lstm_input, config.lstm1_hidden, device),
            lstm2: FusedLstm::new(config.lstm1_hidden, config.lstm2_hidden, device),
            dropout: DropoutConfig::new(config.dropout).init(),
            dense: dense(config.lstm2_hidden, config.dense_hidden, device),
            output: dense(config.dense_hidden, config.classes, device),
        }
    }

    /// A network for `config` initialised from `seed`: burn's generator (the process's, not
    /// the device's) seeded and every parameter drawn under one lock, all at once (burn draws
    /// a parameter lazily, on its first read), so trainings that start concurrently (out-of-
    /// fold folds, CV folds, tune trials) each get their seed's weights.
    pub fn seeded(config: &ModelConfig, seed: u64, device: &Device) -> Self {
        let _generator = generator_lock();
        Device::flex().seed(seed);
        let network = Self::new(config, device);
        network.visit(&mut Materialise);
        network
    }

    /// A network for `config` to load weights into. Building one draws from burn's
    /// generator (the orthogonal recurrent blocks), so it is built under the same lock as
    /// [`seeded`](Self::seeded): loading a model never moves another training's draws.
    pub fn for_loading(config: &ModelConfig, device: &Device) -> Self {
        let _generator = generator_lock();
        Self::new(config, device)
    }

    /// `[B, timesteps, features]` normalised inputs to `[B, classes]` logits, with burn's
    /// dropout (active only in training mode on an autodiff device).
    pub fn forward(&self, input: Tensor<3>) -> Tensor<2> {
        let sequence = self
            .dropout
            .forward(self.lstm1.forward_sequence(self.front(input)));
        let last = self.dropout.forward(self.lstm2.forward_last(sequence));
        self.output.forward(tanh(self.dense.forward(last)))
    }

    /// [`forward`](Self::forward) with the caller's dropout masks instead of burn's dropout:
    /// training draws them from its own seeded generator, so a batch whose shards run on
    /// several threads takes nothing from burn's global generator and stays reproducible.
    pub fn forward_masked(&self, input: Tensor<3>, masks: &DropoutMasks) -> Tensor<2> {
        let sequence = self.lstm1.forward_sequence(self.front(input)) * masks.sequence.clone();
        let last = self.lstm2.forward_last(sequence) * masks.last.clone();
        self.output.forward(tanh(self.dense.forward(last)))
    }

    fn front(&self, input: Tensor<3>) -> Tensor<3> {
        match &self.front_end {
            Some(conv) => conv.forward(input),
            None => input,
        }
    }
}

/// Held while burn's process-wide generator is seeded or drawn from.
static GENERATOR: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn generator_lock() -> std::sync::MutexGuard<'static, ()> {
    GENERATOR
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Reads every parameter once, so burn draws its initial values.
struct Materialise;

impl ModuleVisitor for Materialise {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let _ = param.val();
    }
}

/// Inverted-dropout masks for one batch: every entry 0 (dropped, probability `p`) or
/// `1 / (1 - p)` (kept), as burn's `Dropout` computes them.
#[derive(Debug, Clone)]
pub struct DropoutMasks {
    /// After the first LSTM: `[B, steps, lstm1_hidden]`.
    pub sequence: Tensor<3>,
    /// After the second LSTM: `[B, lstm2_hidden]`.
    pub last: Tensor<2>,
}

impl DropoutMasks {
    /// The masks' shapes for a batch of `batch` windows of `config`, whose front end must
    /// accept its layout (artifact loading and training check it).
    pub fn shapes(config: &ModelConfig, batch: usize) -> ([usize; 3], [usize; 2]) {
        let (steps, _) = config
            .front_end
            .sequence_shape(config.layout)
            .expect("the front end accepts the layout (checked before training)");
        (
            [batch, steps, config.lstm1_hidden],
            [batch, config.lstm2_hidden],
        )
    }

    /// Masks for `batch` windows, each entry kept when `keep()` says so.
    pub fn draw(
        config: &ModelConfig,
        batch: usize,
        keep: impl FnMut() -> bool,
        device: &Device,
    ) -> Self {
        let (sequence, last) = Self::shapes(config, batch);
        let (sequence_values, last_values) = Self::draw_values(config, batch, keep);
        Self {
            sequence: Tensor::from_data(TensorData::new(sequence_values, sequence), device),
            last: Tensor::from_data(TensorData::new(last_values, last), device),
        }
    }

    /// The masks' values for `batch` windows, row-major in the [`shapes`](Self::shapes),
    /// sequence first: what [`draw`](Self::draw) puts in tensors, for a caller that runs the
    /// network without burn (the same `keep()` calls in the same order).
    pub fn draw_values(
        config: &ModelConfig,
        batch: usize,
        mut keep: impl FnMut() -> bool,
    ) -> (Vec<f32>, Vec<f32>) {
        let (sequence, last) = Self::shapes(config, batch);
        let scale = if config.dropout > 0.0 {
            (1.0 / (1.0 - config.dropout)) as f32
        } else {
            1.0
        };
        let mut values =
            |n: usize| -> Vec<f32> { (0..n).map(|_| if keep() { scale } else { 0.0 }).collect() };
        let sequence_values = values(sequence.iter().product());
        (sequence_values, values(last.iter().product()))
    }
}
