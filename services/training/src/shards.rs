//! Data-parallel gradients: a mini-batch is cut into a fixed number of shards, each shard's
//! forward and backward pass runs on its own copy of the parameters (its own autodiff graph,
//! so burn's per-graph lock never serialises them) on one of up to `threads` threads, and the
//! shard gradients are summed in shard order.
//!
//! The loss of a shard is its rows' share of the batch loss (weighted NLL summed over the
//! shard, divided by the whole batch's weight), so the summed gradient is the whole batch's.
//! What a run computes depends on the seed and the shard count only: the shards, their dropout
//! masks (drawn by the caller) and the order of the sum are fixed, and the threads merely decide
//! where each shard runs. The same seed and shard count give the same weights on one thread or
//! on several (tested).

use burn::optim::{GradientsAccumulator, GradientsParams};
use burn::prelude::*;
use burn::tensor::activation::log_softmax;
use seizure_model::network::DropoutMasks;
use seizure_model::SeizureNet;

/// How a batch is split and run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sharding {
    /// Shards per mini-batch (a batch smaller than this has one shard per row).
    pub shards: usize,
    /// Threads the shards run on (at most `shards` are used).
    pub threads: usize,
}

impl Sharding {
    pub const SINGLE: Sharding = Sharding {
        shards: 1,
        threads: 1,
    };

    /// The row ranges of a batch of `rows`: `shards` contiguous parts, sizes differing by at
    /// most one, none empty.
    pub fn ranges(&self, rows: usize) -> Vec<std::ops::Range<usize>> {
        let parts = self.shards.clamp(1, rows.max(1));
        let (base, extra) = (rows / parts, rows % parts);
        let mut start = 0;
        (0..parts)
            .map(|part| {
                let len = base + usize::from(part < extra);
                let range = start..start + len;
                start += len;
                range
            })
            .filter(|range| !range.is_empty())
            .collect()
    }
}

/// One shard of a batch: its normalised inputs (`[rows, timesteps, features]` flattened), its
/// labels and its dropout masks.
pub struct Shard {
    pub x: Vec<f32>,
    pub y: Vec<i64>,
    pub masks: DropoutMasks,
}

/// What a batch's shards computed together.
pub struct BatchGradients {
    /// The whole batch's gradient (the sum of the shards').
    pub grads: GradientsParams,
    /// The batch's weighted mean loss.
    pub loss: f64,
    /// Rows whose larger logit is their label.
    pub correct: usize,
}

/// The gradient of the batch's weighted mean cross-entropy with respect to `model`'s
/// parameters; `class_weights` weighs each row by its label. `input_shape` is the layout's `[timesteps, features]`.
pub fn batch_gradients(
    model: &SeizureNet,
    shards: Vec<Shard>,
    input_shape: [usize; 2],
    class_weights: [f32; 2],
    sharding: Sharding,
    device: &Device,
) -> BatchGradients {
    let total_weight: f32 = shards
        .iter()
        .flat_map(|s| &s.y)
        .map(|&y| class_weights[usize::from(y == 1)])
        .sum();
    let threads = sharding.threads;
    let results = run_in_lanes(shards, threads, |shard| {
        run_shard(
            model,
            shard,
            class_weights,
            total_weight,
            input_shape,
            device,
        )
    });
    let mut accumulator = GradientsAccumulator::<SeizureNet>::new();
    let (mut loss, mut correct) = (0.0, 0);
    for result in results {
        accumulator.accumulate(model, result.grads);
        loss += result.loss;
        correct += result.correct;
    }
    BatchGradients {
        grads: accumulator.grads(),
        loss,
        correct,
    }
}

/// `work` applied to every job on up to `threads` threads, the results in the jobs' order:
/// thread t runs jobs t, t + threads, ... (one thread: in place, no thread spawned). What is
/// computed never depends on `threads`, only where it runs.
pub fn run_in_lanes<J: Send, R: Send>(
    jobs: Vec<J>,
    threads: usize,
    work: impl Fn(J) -> R + Sync,
) -> Vec<R> {
    let count = jobs.len();
    let threads = threads.clamp(1, count.max(1));
    if threads == 1 {
        return jobs.into_iter().map(work).collect();
    }
    let mut lanes: Vec<Vec<(usize, J)>> = (0..threads).map(|_| Vec::new()).collect();
    for (index, job) in jobs.into_iter().enumerate() {
        lanes[index % threads].push((index, job));
    }
    let mut results: Vec<Option<R>> = (0..count).map(|_| None).collect();
    let work = &work;
    // Each lane's logs stay inside the caller's span (the stage, the training).
    let span = tracing::Span::current();
    std::thread::scope(|scope| {
        let handles: Vec<_> = lanes
            .into_iter()
            .map(|lane| {
                let span = span.clone();
                scope.spawn(move || {
                    let _entered = span.enter();
                    lane.into_iter()
                        .map(|(index, job)| (index, work(job)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for handle in handles {
            let lane = match handle.join() {
                Ok(lane) => lane,
                Err(panic) => std::panic::resume_unwind(panic),
            };
            for (index, result) in lane {
                results[index] = Some(result);
            }
        }
    });
    results
        .into_iter()
        .map(|r| r.expect("every job ran"))
        .collect()
}

struct ShardResult {
    grads: GradientsParams,
    loss: f64,
    correct: usize,
}

fn run_shard(
    model: &SeizureNet,
    shard: Shard,
    class_weights: [f32; 2],
    total_weight: f32,
    input_shape: [usize; 2],
    device: &Device,
) -> ShardResult {
    // Fresh leaves with the same parameter ids: this shard's graph shares no node with
    // another shard's, and its gradients are keyed like the model's.
    let model = model.clone().fork(device);
    let rows = shard.y.len();
    let [timesteps, features] = input_shape;
    let inputs = Tensor::<3>::from_data(
        TensorData::new(shard.x, [rows, timesteps, features]),
        device,
    );
    let logits = model.forward_masked(inputs, &shard.masks);
    let row_weights: Vec<f32> = shard
        .y
        .iter()
        .map(|&y| class_weights[usize::from(y == 1)] / total_weight.max(f32::MIN_POSITIVE))
        .collect();
    let targets = Tensor::<2, Int>::from_data(TensorData::new(shard.y.clone(), [rows, 1]), device);
    let row_weights = Tensor::<2>::from_data(TensorData::new(row_weights, [rows, 1]), device);
    let picked = log_softmax(logits.clone(), 1).gather(1, targets);
    let loss = (picked * row_weights).sum().neg();
    let values = logits.try_to_vec_as::<f32>().expect("logits are readable");
    let correct = values
        .chunks_exact(2)
        .zip(&shard.y)
        .filter(|(l, &label)| i64::from(l[1] > l[0]) == label)
        .count();
    let loss_value = f64::from(loss.clone().into_scalar::<f32>());
    let grads = GradientsParams::from_grads(loss.backward(), &model);
    ShardResult {
        grads,
        loss: loss_value,
        correct,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::module::{Module, ModuleVisitor, Param};
    use burn::nn::loss::CrossEntropyLossConfig;
    use eeg_data::layout::InputLayout;
    use eeg_data::random::Rng;
    use seizure_model::ModelConfig;

    /// Every gradient tensor of `grads` for `model`'s parameters, in visiting order.
    fn flatten(model: &SeizureNet, grads: &GradientsParams) -> Vec<Vec<f32>> {
        struct Collect<'a>(&'a GradientsParams, Vec<Vec<f32>>);
        impl ModuleVisitor for Collect<'_> {
            fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
                let grad = self
                    .0
                    .get::<D>(param.id)
                    .expect("every parameter has a gradient");
                self.1.push(grad.try_to_vec_as::<f32>().unwrap());
            }
        }
        let mut collect = Collect(grads, Vec::new());
        model.visit(&mut collect);
        collect.1
    }

    struct Case {
        model: SeizureNet,
        config: ModelConfig,
        x: Vec<f32>,
        y: Vec<i64>,
        device: Device,
    }

    fn case(rows: usize) -> Case {
        let base = Device::flex();
        base.seed(7);
        let device = base.autodiff();
        let config = ModelConfig {
            lstm1_hidden: 6,
            lstm2_hidden: 5,
            dense_hidden: 4,
            // burn's own dropout is active on an autodiff device: off, so the whole-batch
            // reference is deterministic (the shard masks are drawn with p = 0 too).
            dropout: 0.0,
            ..ModelConfig::with_layout(InputLayout::new(5, 3).unwrap())
        };
        let model = SeizureNet::new(&config, &device);
        let mut rng = Rng::new(3);
        let x = (0..rows * 15).map(|_| rng.normal() as f32).collect();
        let y = (0..rows).map(|i| i64::from(i % 3 == 0)).collect();
        Case {
            model,
            config,
            x,
            y,
            device,
        }
    }

    fn shards(case: &Case, sharding: Sharding, dropout: f64) -> Vec<Shard> {
        let mut rng = Rng::new(11);
        sharding
            .ranges(case.y.len())
            .into_iter()
            .map(|rows| Shard {
                x: case.x[rows.start * 15..rows.end * 15].to_vec(),
                y: case.y[rows.clone()].to_vec(),
                masks: DropoutMasks::draw(
                    &case.config,
                    rows.len(),
                    || rng.unit() >= dropout,
                    &case.device,
                ),
            })
            .collect()
    }

    #[test]
    fn the_shards_sum_to_the_whole_batch_gradient_of_burns_weighted_cross_entropy() {
        let case = case(9);
        let weights = [1.0f32, 2.5];
        let whole = batch_gradients(
            &case.model,
            shards(&case, Sharding::SINGLE, 0.0),
            [5, 3],
            weights,
            Sharding::SINGLE,
            &case.device,
        );
        // burn's own weighted cross-entropy over the whole batch (what training used before).
        let model = case.model.clone().fork(&case.device);
        let inputs =
            Tensor::<3>::from_data(TensorData::new(case.x.clone(), [9, 5, 3]), &case.device);
        let targets =
            Tensor::<1, Int>::from_data(TensorData::new(case.y.clone(), [9]), &case.device);
        let loss = CrossEntropyLossConfig::new()
            .with_weights(Some(weights.to_vec()))
            .init(&case.device)
            .forward(model.forward(inputs), targets);
        let reference_loss = f64::from(loss.clone().into_scalar::<f32>());
        let reference = GradientsParams::from_grads(loss.backward(), &model);
        assert!(
            (whole.loss - reference_loss).abs() < 1e-6,
            "{} vs {reference_loss}",
            whole.loss
        );
        let close = |a: &[Vec<f32>], b: &[Vec<f32>]| {
            a.iter()
                .flatten()
                .zip(b.iter().flatten())
                .all(|(x, y)| (x - y).abs() <= 1e-6 + 1e-4 * y.abs())
        };
        let reference = flatten(&case.model, &reference);
        assert!(close(&flatten(&case.model, &whole.grads), &reference));

        for shards_count in [2, 3, 9] {
            let sharding = Sharding {
                shards: shards_count,
                threads: 2,
            };
            let split = batch_gradients(
                &case.model,
                shards(&case, sharding, 0.0),
                [5, 3],
                weights,
                sharding,
                &case.device,
            );
            assert!((split.loss - reference_loss).abs() < 1e-6);
            assert_eq!(split.correct, whole.correct);
            assert!(
                close(&flatten(&case.model, &split.grads), &reference),
                "{shards_count} shards do not sum to the batch gradient"
            );
        }
    }

    #[test]
    fn threads_only_decide_where_shards_run() {
        let case = case(8);
        let run = |threads: usize| {
            let sharding = Sharding { shards: 4, threads };
            let result = batch_gradients(
                &case.model,
                shards(&case, sharding, 0.3),
                [5, 3],
                [1.0, 1.0],
                sharding,
                &case.device,
            );
            (result.loss.to_bits(), flatten(&case.model, &result.grads))
        };
        let one = run(1);
        for threads in [2, 3, 4] {
            let other = run(threads);
            assert_eq!(one.0, other.0);
            assert!(
                one.1
                    .iter()
                    .flatten()
                    .zip(other.1.iter().flatten())
                    .all(|(a, b)| a.to_bits() == b.to_bits()),
                "{threads} threads changed a gradient bit"
            );
        }
    }

    #[test]
    fn ranges_cover_the_batch_in_near_equal_parts() {
        let two = Sharding {
            shards: 2,
            threads: 2,
        };
        assert_eq!(two.ranges(32), vec![0..16, 16..32]);
        assert_eq!(two.ranges(5), vec![0..3, 3..5]);
        assert_eq!(two.ranges(1), vec![0..1]);
        let three = Sharding {
            shards: 3,
            threads: 1,
        };
        assert_eq!(three.ranges(7), vec![0..3, 3..5, 5..7]);
        assert_eq!(three.ranges(2), vec![0..1, 1..2]);
        assert_eq!(Sharding::SINGLE.ranges(9), vec![0..9]);
    }
}
