//! One shard's forward and backward pass through the whole network: front end, two LSTM
//! layers with the caller's dropout masks, dense tanh layer, output logits, and the weighted
//! cross-entropy, as [`SeizureNet::forward_masked`](seizure_model::SeizureNet::forward_masked)
//! computes it in burn.

use seizure_model::kernels::{frames, gemm, tanh, time_major, Layout};

use super::lstm::{self, Incoming};
use super::params::{Part, Shapes};

/// A shard: `rows` windows (`[rows, timesteps, features]`, batch-major as gathered), their
/// labels, per-row loss weights (each row's class weight over the whole batch's), and the
/// dropout masks as [`DropoutMasks::draw_values`](seizure_model::network::DropoutMasks)
/// draws them (`[rows, steps, H1]` and `[rows, H2]`).
pub struct ShardInput<'a> {
    pub x: &'a [f32],
    pub y: &'a [i64],
    pub row_weights: &'a [f32],
    pub sequence_mask: &'a [f32],
    pub last_mask: &'a [f32],
}

/// What one shard contributes: its share of the batch loss and the rows it called right.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ShardOutcome {
    pub loss: f64,
    pub correct: usize,
}

/// Column sums of a row-major `[rows, width]` matrix into `out` (overwritten).
fn column_sums(matrix: &[f32], width: usize, out: &mut [f32]) {
    out.fill(0.0);
    for row in matrix.chunks_exact(width) {
        out.iter_mut().zip(row).for_each(|(o, v)| *o += v);
    }
}

/// `out = a · w + bias` for `a` `[rows, k]`, `w` `[k, n]`.
fn affine(rows: usize, k: usize, n: usize, a: &[f32], w: &[f32], bias: &[f32]) -> Vec<f32> {
    let mut out = Vec::with_capacity(rows * n);
    for _ in 0..rows {
        out.extend_from_slice(bias);
    }
    gemm(
        rows,
        k,
        n,
        a,
        Layout::Plain,
        w,
        Layout::Plain,
        1.0,
        &mut out,
    );
    out
}

/// Runs the shard forward and backward with `params`, writing the gradient of the shard's
/// loss (`Σ row_weight · nll`) into `grads` (the flat layout, overwritten).
pub fn forward_backward(
    shapes: &Shapes,
    params: &[f32],
    shard: &ShardInput,
    grads: &mut [f32],
) -> ShardOutcome {
    assert_eq!(params.len(), shapes.len());
    assert_eq!(grads.len(), shapes.len());
    let rows = shard.y.len();
    let [timesteps, features] = shapes.window;
    assert_eq!(shard.x.len(), rows * timesteps * features);
    let (steps, h1, h2, dense, classes) = (
        shapes.steps,
        shapes.hidden1,
        shapes.hidden2,
        shapes.dense,
        shapes.classes,
    );
    let p = |part: Part| &params[shapes.range(part)];

    // Forward.
    let conv_frames = shapes
        .conv
        .map(|(kernel, _, stride)| frames(shard.x, rows, timesteps * features, kernel, stride).0);
    let sequence = match (&conv_frames, shapes.conv) {
        (Some(frames), Some((kernel, channels, _))) => {
            let mut out = affine(
                steps * rows,
                kernel,
                channels,
                frames,
                p(Part::ConvWeights),
                p(Part::ConvBias),
            );
            out.iter_mut().for_each(|v| *v = v.max(0.0));
            out
        }
        _ => time_major(shard.x, rows, steps, features),
    };
    let weights1 = lstm::Weights {
        input: p(Part::Lstm1Input),
        recurrent: p(Part::Lstm1Recurrent),
        bias: p(Part::Lstm1Bias),
        input_size: shapes.lstm_input,
        hidden: h1,
    };
    let trace1 = lstm::forward(&weights1, &sequence, steps, rows);
    let mask1 = time_major(shard.sequence_mask, rows, steps, h1);
    let dropped1: Vec<f32> = trace1
        .hidden
        .iter()
        .zip(&mask1)
        .map(|(h, m)| h * m)
        .collect();
    let weights2 = lstm::Weights {
        input: p(Part::Lstm2Input),
        recurrent: p(Part::Lstm2Recurrent),
        bias: p(Part::Lstm2Bias),
        input_size: h1,
        hidden: h2,
    };
    let trace2 = lstm::forward(&weights2, &dropped1, steps, rows);
    let last: Vec<f32> = trace2
        .last()
        .iter()
        .zip(shard.last_mask)
        .map(|(h, m)| h * m)
        .collect();
    let mut hidden = affine(
        rows,
        h2,
        dense,
        &last,
        p(Part::DenseWeights),
        p(Part::DenseBias),
    );
    hidden.iter_mut().for_each(|v| *v = tanh(*v));
    let logits = affine(
        rows,
        dense,
        classes,
        &hidden,
        p(Part::OutputWeights),
        p(Part::OutputBias),
    );

    // Loss and its gradient on the logits: w · (softmax - one-hot).
    let (mut loss, mut correct) = (0.0f64, 0usize);
    let mut d_logits = vec![0f32; rows * classes];
    for (((row, d_row), &label), &weight) in logits
        .chunks_exact(classes)
        .zip(d_logits.chunks_exact_mut(classes))
        .zip(shard.y)
        .zip(shard.row_weights)
    {
        let label = usize::try_from(label).expect("labels are 0 or 1");
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let sum: f32 = row.iter().map(|v| (v - max).exp()).sum();
        let log_sum = max + sum.ln();
        loss += f64::from(weight * (log_sum - row[label]));
        for (k, d) in d_row.iter_mut().enumerate() {
            let softmax = (row[k] - log_sum).exp();
            *d = weight * (softmax - f32::from(u8::from(k == label)));
        }
        let predicted = usize::from(row[1] > row[0]);
        correct += usize::from(predicted == label);
    }

    // Backward, from the output down.
    let (front, rest) = grads.split_at_mut(shapes.range(Part::Lstm1Input).start);
    let (lstm1_grads, rest) = rest.split_at_mut(shapes.range(Part::Lstm2Input).start - front.len());
    let (lstm2_grads, head) = rest.split_at_mut(
        shapes.range(Part::DenseWeights).start - shapes.range(Part::Lstm2Input).start,
    );
    let (dense_w, head) = head.split_at_mut(h2 * dense);
    let (dense_b, head) = head.split_at_mut(dense);
    let (output_w, output_b) = head.split_at_mut(dense * classes);

    gemm(
        dense,
        rows,
        classes,
        &hidden,
        Layout::Transposed,
        &d_logits,
        Layout::Plain,
        0.0,
        output_w,
    );
    column_sums(&d_logits, classes, output_b);
    let mut d_hidden = vec![0f32; rows * dense];
    gemm(
        rows,
        classes,
        dense,
        &d_logits,
        Layout::Plain,
        p(Part::OutputWeights),
        Layout::Transposed,
        0.0,
        &mut d_hidden,
    );
    d_hidden
        .iter_mut()
        .zip(&hidden)
        .for_each(|(d, a)| *d *= 1.0 - a * a);
    gemm(
        h2,
        rows,
        dense,
        &last,
        Layout::Transposed,
        &d_hidden,
        Layout::Plain,
        0.0,
        dense_w,
    );
    column_sums(&d_hidden, dense, dense_b);
    let mut d_last = vec![0f32; rows * h2];
    gemm(
        rows,
        dense,
        h2,
        &d_hidden,
        Layout::Plain,
        p(Part::DenseWeights),
        Layout::Transposed,
        0.0,
        &mut d_last,
    );
    d_last
        .iter_mut()
        .zip(shard.last_mask)
        .for_each(|(d, m)| *d *= m);

    let (l2_input, rest) = lstm2_grads.split_at_mut(h1 * 4 * h2);
    let (l2_recurrent, l2_bias) = rest.split_at_mut(h2 * 4 * h2);
    let mut d_dropped1 = lstm::backward(
        &weights2,
        &dropped1,
        &trace2,
        Incoming::Last(&d_last),
        lstm::Gradients {
            input: l2_input,
            recurrent: l2_recurrent,
            bias: l2_bias,
        },
        true,
    )
    .expect("asked for the input's gradient");
    d_dropped1.iter_mut().zip(&mask1).for_each(|(d, m)| *d *= m);

    let (l1_input, rest) = lstm1_grads.split_at_mut(shapes.lstm_input * 4 * h1);
    let (l1_recurrent, l1_bias) = rest.split_at_mut(h1 * 4 * h1);
    let d_sequence = lstm::backward(
        &weights1,
        &sequence,
        &trace1,
        Incoming::Every(&d_dropped1),
        lstm::Gradients {
            input: l1_input,
            recurrent: l1_recurrent,
            bias: l1_bias,
        },
        shapes.conv.is_some(),
    );

    if let (Some(frames), Some((kernel, channels, _)), Some(mut d_conv)) =
        (conv_frames, shapes.conv, d_sequence)
    {
        // ReLU: the gradient passes where the output was positive.
        d_conv
            .iter_mut()
            .zip(&sequence)
            .for_each(|(d, out)| *d = if *out > 0.0 { *d } else { 0.0 });
        let (conv_w, conv_b) = front.split_at_mut(kernel * channels);
        gemm(
            kernel,
            steps * rows,
            channels,
            &frames,
            Layout::Transposed,
            &d_conv,
            Layout::Plain,
            0.0,
            conv_w,
        );
        column_sums(&d_conv, channels, conv_b);
    }
    ShardOutcome { loss, correct }
}
