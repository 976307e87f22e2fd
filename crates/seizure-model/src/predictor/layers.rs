//! The network's layers as the predictor runs them: the weights copied out of burn into plain
//! matrices, and each layer's forward pass on the [`kernels`](crate::kernels).

use burn::module::Param;
use burn::prelude::*;

use crate::kernels::{affine, frames, gates_and_state, gemm_accumulate, Matrix};
use crate::network::{ConvFrontEnd, FusedLstm};

/// A burn weight matrix, copied out.
pub(super) fn matrix(param: &Param<Tensor<2>>) -> Matrix {
    let tensor = param.val();
    let [rows, cols] = tensor.dims();
    Matrix {
        rows,
        cols,
        data: tensor.try_to_vec_as::<f32>().expect("weights are readable"),
    }
}

/// A burn weight vector, copied out.
pub(super) fn vector(param: &Param<Tensor<1>>) -> Vec<f32> {
    param
        .val()
        .try_to_vec_as::<f32>()
        .expect("weights are readable")
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
    pub(super) fn from_burn(lstm: &FusedLstm) -> Self {
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

/// The convolutional front end: frames of `kernel` samples every `stride`, one matmul, ReLU.
#[derive(Debug, Clone)]
pub(crate) struct Conv {
    /// `[kernel, channels]`.
    pub(crate) weights: Matrix,
    pub(crate) bias: Vec<f32>,
    pub(crate) stride: usize,
}

impl Conv {
    pub(super) fn from_burn(conv: &ConvFrontEnd) -> Self {
        Self {
            weights: matrix(&conv.weights),
            bias: vector(&conv.bias),
            stride: conv.stride,
        }
    }

    /// `batch` windows of `samples` samples each to a time-major sequence
    /// `[steps, batch, channels]`; returns it with `steps`.
    pub(super) fn run(&self, inputs: &[f32], batch: usize, samples: usize) -> (Vec<f32>, usize) {
        let (frames, steps) = frames(inputs, batch, samples, self.weights.rows, self.stride);
        let mut out = affine(steps * batch, &frames, &self.weights, &self.bias);
        out.iter_mut().for_each(|v| *v = v.max(0.0));
        (out, steps)
    }
}
