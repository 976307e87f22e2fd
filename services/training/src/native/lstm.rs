//! One fused-gate LSTM layer, forward with what the backward pass needs kept, and
//! backpropagation through time. Sequences are time-major (`[steps, batch, features]`), so a
//! step's rows are contiguous; the products run on the serving kernels.

use seizure_model::kernels::{gates_and_state, gates_and_state_backward, gemm, Layout};

/// A layer's weights, borrowed from the flat parameters.
pub struct Weights<'a> {
    /// `[input, 4H]`.
    pub input: &'a [f32],
    /// `[H, 4H]`.
    pub recurrent: &'a [f32],
    /// `[4H]`.
    pub bias: &'a [f32],
    pub input_size: usize,
    pub hidden: usize,
}

/// A layer's gradients, slices of the flat gradient.
pub struct Gradients<'a> {
    pub input: &'a mut [f32],
    pub recurrent: &'a mut [f32],
    pub bias: &'a mut [f32],
}

/// What the forward pass kept.
pub struct Trace {
    /// Gate activations of every step, `[steps, batch, 4H]` (i, f, o, c).
    gates: Vec<f32>,
    /// Cell states, `[steps, batch, H]`.
    cells: Vec<f32>,
    /// Hidden states, `[steps, batch, H]`.
    pub hidden: Vec<f32>,
    steps: usize,
    batch: usize,
}

impl Trace {
    /// The last step's hidden states, `[batch, H]`.
    pub fn last(&self) -> &[f32] {
        let width = self.hidden.len() / self.steps.max(1);
        &self.hidden[self.hidden.len() - width..]
    }
}

/// Runs `input` (`[steps, batch, input_size]`).
pub fn forward(weights: &Weights, input: &[f32], steps: usize, batch: usize) -> Trace {
    let (h, width) = (weights.hidden, 4 * weights.hidden);
    assert_eq!(input.len(), steps * batch * weights.input_size);
    let mut gates = Vec::with_capacity(steps * batch * width);
    for _ in 0..steps * batch {
        gates.extend_from_slice(weights.bias);
    }
    gemm(
        steps * batch,
        weights.input_size,
        width,
        input,
        Layout::Plain,
        weights.input,
        Layout::Plain,
        1.0,
        &mut gates,
    );
    let mut cells = Vec::with_capacity(steps * batch * h);
    let mut hidden = Vec::with_capacity(steps * batch * h);
    let (mut c, mut state) = (vec![0f32; batch * h], vec![0f32; batch * h]);
    for (step, z) in gates.chunks_exact_mut(batch * width).enumerate() {
        if step > 0 {
            gemm(
                batch,
                h,
                width,
                &state,
                Layout::Plain,
                weights.recurrent,
                Layout::Plain,
                1.0,
                z,
            );
        }
        gates_and_state(z, &mut c, &mut state, h);
        cells.extend_from_slice(&c);
        hidden.extend_from_slice(&state);
    }
    Trace {
        gates,
        cells,
        hidden,
        steps,
        batch,
    }
}

/// The gradient reaching the layer's hidden states.
pub enum Incoming<'a> {
    /// Every step's, `[steps, batch, H]`.
    Every(&'a [f32]),
    /// The last step's only, `[batch, H]` (a layer whose last state alone is read).
    Last(&'a [f32]),
}

/// Backpropagation through time: writes the weights' gradients into `gradients` (overwriting
/// them) and returns the gradient of the input sequence when `want_input` (`[steps, batch,
/// input_size]`).
pub fn backward(
    weights: &Weights,
    input: &[f32],
    trace: &Trace,
    incoming: Incoming,
    gradients: Gradients,
    want_input: bool,
) -> Option<Vec<f32>> {
    let (steps, batch) = (trace.steps, trace.batch);
    let (h, width) = (weights.hidden, 4 * weights.hidden);
    let step_width = batch * h;
    let mut d_gates = vec![0f32; steps * batch * width];
    let mut d_hidden = vec![0f32; step_width];
    let mut d_from_next = vec![0f32; step_width];
    let mut d_cell = vec![0f32; step_width];
    let zeros = vec![0f32; step_width];
    for step in (0..steps).rev() {
        let cells = |s: usize| &trace.cells[s * step_width..(s + 1) * step_width];
        d_hidden.copy_from_slice(&d_from_next);
        match incoming {
            Incoming::Every(all) => {
                let here = &all[step * step_width..(step + 1) * step_width];
                d_hidden.iter_mut().zip(here).for_each(|(d, g)| *d += g);
            }
            Incoming::Last(last) if step + 1 == steps => {
                d_hidden.iter_mut().zip(last).for_each(|(d, g)| *d += g);
            }
            Incoming::Last(_) => {}
        }
        let span = step * batch * width..(step + 1) * batch * width;
        let cell_before = if step > 0 { cells(step - 1) } else { &zeros };
        gates_and_state_backward(
            &trace.gates[span.clone()],
            cells(step),
            cell_before,
            &d_hidden,
            &mut d_cell,
            &mut d_gates[span.clone()],
            h,
        );
        if step > 0 {
            // d h_{t-1} = dz_t · Uᵀ (U stored [H, 4H]).
            gemm(
                batch,
                width,
                h,
                &d_gates[span],
                Layout::Plain,
                weights.recurrent,
                Layout::Transposed,
                0.0,
                &mut d_from_next,
            );
        }
    }
    // dW = inputᵀ · dz over every step at once.
    let rows = steps * batch;
    gemm(
        weights.input_size,
        rows,
        width,
        input,
        Layout::Transposed,
        &d_gates,
        Layout::Plain,
        0.0,
        gradients.input,
    );
    // dU = Σ_t h_{t-1}ᵀ · dz_t: the hidden states of steps 0..T-1 against dz of steps 1..T.
    gemm(
        h,
        (steps - 1) * batch,
        width,
        &trace.hidden[..(steps - 1) * step_width],
        Layout::Transposed,
        &d_gates[batch * width..],
        Layout::Plain,
        0.0,
        gradients.recurrent,
    );
    gradients.bias.fill(0.0);
    for row in d_gates.chunks_exact(width) {
        gradients
            .bias
            .iter_mut()
            .zip(row)
            .for_each(|(d, g)| *d += g);
    }
    want_input.then(|| {
        let mut d_input = vec![0f32; rows * weights.input_size];
        gemm(
            rows,
            width,
            weights.input_size,
            &d_gates,
            Layout::Plain,
            weights.input,
            Layout::Transposed,
            0.0,
            &mut d_input,
        );
        d_input
    })
}
