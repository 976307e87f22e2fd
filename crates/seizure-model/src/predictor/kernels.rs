//! The numerical kernels of the forward pass: dense matrix products on `matrixmultiply`'s
//! SIMD kernels (picked at run time for the CPU at hand), and the activations and LSTM gate
//! update written so that their loops vectorise.

/// A dense matrix, row-major.
#[derive(Debug, Clone)]
pub(crate) struct Matrix {
    pub(crate) rows: usize,
    pub(crate) cols: usize,
    pub(crate) data: Vec<f32>,
}

/// `c = a · b + c` for row-major `a` `[m, k]`, `b` `[k, n]`, `c` `[m, n]`.
pub(super) fn gemm_accumulate(m: usize, a: &[f32], b: &Matrix, c: &mut [f32]) {
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
pub(super) fn affine(m: usize, a: &[f32], b: &Matrix, bias: &[f32]) -> Vec<f32> {
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
pub(super) fn tanh(x: f32) -> f32 {
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
pub(super) fn gates_and_state(z_step: &mut [f32], c: &mut [f32], h: &mut [f32], h_size: usize) {
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
