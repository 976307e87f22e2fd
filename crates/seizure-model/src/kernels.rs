//! The numerical kernels of the network: dense matrix products on `matrixmultiply`'s SIMD
//! kernels (picked at run time for the CPU at hand), and the activations and LSTM gate updates
//! (forward and backward) written so that their loops vectorise. The serving
//! [`Predictor`](crate::Predictor) runs its forward pass on them, and training's native engine
//! its forward and backward passes.

/// A dense matrix, row-major.
#[derive(Debug, Clone)]
pub struct Matrix {
    pub rows: usize,
    pub cols: usize,
    pub data: Vec<f32>,
}

/// How a [`gemm`] operand is stored: as the `[rows, cols]` the product reads (`Plain`), or as
/// its transpose (`Transposed`: stored `[cols, rows]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    Plain,
    Transposed,
}

/// `c = op(a) · op(b) + beta · c` for `op(a)` `[m, k]`, `op(b)` `[k, n]` and row-major `c`
/// `[m, n]`, each operand row-major as stored, read transposed through its strides when its
/// [`Layout`] says so. With `beta == 0` the old contents of `c` are not read (NaN included).
#[allow(clippy::too_many_arguments)]
pub fn gemm(
    m: usize,
    k: usize,
    n: usize,
    a: &[f32],
    a_layout: Layout,
    b: &[f32],
    b_layout: Layout,
    beta: f32,
    c: &mut [f32],
) {
    assert_eq!(
        a.len(),
        m * k,
        "gemm: a holds {} values, not {m} x {k}",
        a.len()
    );
    assert_eq!(
        b.len(),
        k * n,
        "gemm: b holds {} values, not {k} x {n}",
        b.len()
    );
    assert_eq!(
        c.len(),
        m * n,
        "gemm: c holds {} values, not {m} x {n}",
        c.len()
    );
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        // An empty sum: c = beta · c, without reading c when beta is 0.
        if beta == 0.0 {
            c.fill(0.0);
        } else {
            c.iter_mut().for_each(|v| *v *= beta);
        }
        return;
    }
    let (rsa, csa) = match a_layout {
        Layout::Plain => (k, 1),
        Layout::Transposed => (1, m),
    };
    let (rsb, csb) = match b_layout {
        Layout::Plain => (n, 1),
        Layout::Transposed => (1, k),
    };
    // SAFETY: `a` holds m*k values, `b` k*n and `c` m*n (asserted above); for either layout
    // the strides address exactly those values (the largest offset of a plain [m, k] is
    // (m-1)k + k-1, of a transposed one (k-1)m + m-1, both m*k - 1); `c` is borrowed mutably,
    // so it aliases neither input.
    #[allow(unsafe_code)]
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            1.0,
            a.as_ptr(),
            rsa as isize,
            csa as isize,
            b.as_ptr(),
            rsb as isize,
            csb as isize,
            beta,
            c.as_mut_ptr(),
            n as isize,
            1,
        );
    }
}

/// `c = a · b + c` for row-major `a` `[m, k]`, `b` `[k, n]`, `c` `[m, n]`.
pub fn gemm_accumulate(m: usize, a: &[f32], b: &Matrix, c: &mut [f32]) {
    gemm(
        m,
        b.rows,
        b.cols,
        a,
        Layout::Plain,
        &b.data,
        Layout::Plain,
        1.0,
        c,
    );
}

/// `[rows, steps, width]` batch-major to `[steps, rows, width]` time-major, so each step's rows
/// are contiguous for the recurrent products.
pub fn time_major(values: &[f32], rows: usize, steps: usize, width: usize) -> Vec<f32> {
    assert_eq!(values.len(), rows * steps * width);
    let mut out = vec![0f32; values.len()];
    for b in 0..rows {
        for t in 0..steps {
            let from = (b * steps + t) * width;
            let to = (t * rows + b) * width;
            out[to..to + width].copy_from_slice(&values[from..from + width]);
        }
    }
    out
}

/// The convolutional front end's input: `rows` windows of `samples` samples each cut into
/// frames of `kernel` samples every `stride`, time-major `[steps, rows, kernel]`; returns them
/// with `steps`.
pub fn frames(
    inputs: &[f32],
    rows: usize,
    samples: usize,
    kernel: usize,
    stride: usize,
) -> (Vec<f32>, usize) {
    assert_eq!(inputs.len(), rows * samples);
    let steps = (samples - kernel) / stride + 1;
    let mut frames = Vec::with_capacity(steps * rows * kernel);
    for step in 0..steps {
        for b in 0..rows {
            let start = b * samples + step * stride;
            frames.extend_from_slice(&inputs[start..start + kernel]);
        }
    }
    (frames, steps)
}

/// `out[m, n] = a · b + bias` (bias broadcast over rows).
pub fn affine(m: usize, a: &[f32], b: &Matrix, bias: &[f32]) -> Vec<f32> {
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
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + fast_exp(-x))
}

#[inline(always)]
pub fn tanh(x: f32) -> f32 {
    2.0 * sigmoid(2.0 * x) - 1.0
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
pub fn gates_and_state(z_step: &mut [f32], c: &mut [f32], h: &mut [f32], h_size: usize) {
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

/// One step of an LSTM layer's backward pass for every row of the batch, the inverse of
/// [`gates_and_state`]: `gates` `[batch, 4H]` are the step's activations (i, f, o, c as
/// `gates_and_state` left them), `cell` and `cell_before` `[batch, H]` its cell state and the
/// previous step's (zeros before the first), `d_hidden` the loss's gradient reaching the
/// step's hidden state. `d_cell` comes in as the gradient reaching this step's cell from the
/// next step and leaves as the one reaching the previous cell; `d_gates` `[batch, 4H]` receives
/// the gradient of the gate pre-activations.
#[multiversion::multiversion(targets(
    "x86_64+avx512f+avx512bw+avx512dq+avx512vl+avx2+fma",
    "x86_64+avx2+fma",
    "aarch64+neon"
))]
pub fn gates_and_state_backward(
    gates: &[f32],
    cell: &[f32],
    cell_before: &[f32],
    d_hidden: &[f32],
    d_cell: &mut [f32],
    d_gates: &mut [f32],
    h_size: usize,
) {
    let gate_width = 4 * h_size;
    assert_eq!(gates.len(), d_gates.len());
    assert_eq!(gates.len() / gate_width * h_size, cell.len());
    assert!(cell.len() == cell_before.len() && cell.len() == d_hidden.len());
    assert_eq!(cell.len(), d_cell.len());
    for (((((zb, dzb), cb), pb), dhb), dcb) in gates
        .chunks_exact(gate_width)
        .zip(d_gates.chunks_exact_mut(gate_width))
        .zip(cell.chunks_exact(h_size))
        .zip(cell_before.chunks_exact(h_size))
        .zip(d_hidden.chunks_exact(h_size))
        .zip(d_cell.chunks_exact_mut(h_size))
    {
        let (input_gate, rest) = zb.split_at(h_size);
        let (forget_gate, rest) = rest.split_at(h_size);
        let (output_gate, candidate) = rest.split_at(h_size);
        let (d_input, rest) = dzb.split_at_mut(h_size);
        let (d_forget, rest) = rest.split_at_mut(h_size);
        let (d_output, d_candidate) = rest.split_at_mut(h_size);
        for j in 0..h_size {
            let (i, f, o, g) = (input_gate[j], forget_gate[j], output_gate[j], candidate[j]);
            let tanh_cell = tanh(cb[j]);
            let dc = dcb[j] + dhb[j] * o * (1.0 - tanh_cell * tanh_cell);
            d_input[j] = dc * g * i * (1.0 - i);
            d_forget[j] = dc * pb[j] * f * (1.0 - f);
            d_output[j] = dhb[j] * tanh_cell * o * (1.0 - o);
            d_candidate[j] = dc * i * (1.0 - g * g);
            dcb[j] = dc * f;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gemm_reads_either_operand_transposed() {
        // a = [[1, 2, 3], [4, 5, 6]] (2 x 3), b = [[1, 0], [0, 1], [1, 1]] (3 x 2).
        let a = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let a_t = [1.0, 4.0, 2.0, 5.0, 3.0, 6.0];
        let b = [1.0, 0.0, 0.0, 1.0, 1.0, 1.0];
        let b_t = [1.0, 0.0, 1.0, 0.0, 1.0, 1.0];
        let expected = [4.0, 5.0, 10.0, 11.0];
        for (a, a_layout) in [(&a, Layout::Plain), (&a_t, Layout::Transposed)] {
            for (b, b_layout) in [(&b, Layout::Plain), (&b_t, Layout::Transposed)] {
                let mut c = [f32::NAN; 4];
                gemm(2, 3, 2, a, a_layout, b, b_layout, 0.0, &mut c);
                assert_eq!(c, expected, "{a_layout:?} x {b_layout:?}");
                gemm(2, 3, 2, a, a_layout, b, b_layout, 1.0, &mut c);
                assert_eq!(c, expected.map(|v| 2.0 * v));
            }
        }
    }

    #[test]
    fn the_gate_backward_step_matches_finite_differences() {
        // One row, H = 3: loss = sum(w_h * h) + sum(w_c * c) after one step from a given
        // previous cell, as a function of the pre-activations z.
        let h_size = 3;
        let z0: Vec<f32> = (0..12).map(|i| ((i * 7 % 11) as f32 - 5.0) / 4.0).collect();
        let previous = [0.3f32, -0.7, 1.1];
        let (w_h, w_c) = ([0.5f32, -1.2, 0.8], [0.2f32, 0.4, -0.6]);
        let loss = |z: &[f32]| -> f64 {
            let mut gates = z.to_vec();
            let (mut c, mut h) = (previous.to_vec(), vec![0.0; 3]);
            gates_and_state(&mut gates, &mut c, &mut h, h_size);
            (0..3)
                .map(|j| f64::from(w_h[j] * h[j] + w_c[j] * c[j]))
                .sum()
        };
        let mut gates = z0.clone();
        let (mut cell, mut hidden) = (previous.to_vec(), vec![0.0; 3]);
        gates_and_state(&mut gates, &mut cell, &mut hidden, h_size);
        let mut d_cell = w_c.to_vec();
        let mut d_gates = vec![0.0; 12];
        gates_and_state_backward(
            &gates,
            &cell,
            &previous,
            &w_h,
            &mut d_cell,
            &mut d_gates,
            h_size,
        );
        for k in 0..12 {
            let step = 1e-2f32;
            let (mut up, mut down) = (z0.clone(), z0.clone());
            up[k] += step;
            down[k] -= step;
            let numeric = (loss(&up) - loss(&down)) / f64::from(2.0 * step);
            assert!(
                (numeric - f64::from(d_gates[k])).abs() < 1e-3,
                "gate {k}: {numeric} vs {}",
                d_gates[k]
            );
        }
        // The cell gradient handed back is the forget gate times the cell's gradient.
        for j in 0..3 {
            let (mut up, mut down) = (previous, previous);
            up[j] += 1e-2;
            down[j] -= 1e-2;
            let at = |p: [f32; 3]| {
                let mut gates = z0.clone();
                let (mut c, mut h) = (p.to_vec(), vec![0.0; 3]);
                gates_and_state(&mut gates, &mut c, &mut h, h_size);
                (0..3)
                    .map(|j| f64::from(w_h[j] * h[j] + w_c[j] * c[j]))
                    .sum::<f64>()
            };
            let numeric = (at(up) - at(down)) / 2e-2;
            assert!((numeric - f64::from(d_cell[j])).abs() < 1e-3);
        }
    }

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
