//! The native training engine: the network's forward and backward pass (backpropagation
//! through time) written out by hand on the serving kernels ([`seizure_model::kernels`]),
//! data-parallel over gradient shards like the burn engine, and Adam over one flat parameter
//! vector. burn still builds the initial network (the same initialisation as the burn engine)
//! and holds the result; the gradients match burn's autodiff (tested to 1e-5 on real batches; 7e-7 measured).
//!
//! * `params`: the parameters as one flat vector, in and out of burn's network;
//! * `lstm`: one LSTM layer forward, with its trace, and backward through time;
//! * `pass`: a shard's forward and backward pass through the whole network;
//! * `adam`: the optimiser.

mod adam;
pub mod lstm;
pub mod params;
pub mod pass;

use seizure_model::network::DropoutMasks;
use seizure_model::{ModelConfig, SeizureNet};

use crate::shards::{run_in_lanes, Sharding};
use adam::Adam;
use params::Shapes;
use pass::{forward_backward, ShardInput, ShardOutcome};

/// A network being trained by the native engine.
pub struct NativeLearner {
    config: ModelConfig,
    shapes: Shapes,
    /// The initial network on a plain device: the architecture the parameters go back into.
    template: SeizureNet,
    params: Vec<f32>,
    adam: Adam,
    class_weights: [f32; 2],
    sharding: Sharding,
}

/// What one optimiser step saw.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepOutcome {
    /// The batch's weighted mean loss (before the step).
    pub loss: f64,
    pub correct: usize,
}

impl NativeLearner {
    /// `network` (freshly initialised, on a plain device) to be trained with Adam (`epsilon`).
    pub fn new(
        network: SeizureNet,
        config: ModelConfig,
        class_weights: [f32; 2],
        sharding: Sharding,
        epsilon: f32,
    ) -> Self {
        let shapes = Shapes::of(&config);
        let params = params::flatten(&network, &shapes);
        Self {
            adam: Adam::new(params.len(), epsilon),
            config,
            shapes,
            template: network,
            params,
            class_weights,
            sharding,
        }
    }

    /// The gradient of the batch's weighted mean cross-entropy (`x` `[rows, timesteps,
    /// features]`, labels `y`), its shards' dropout masks drawn from `keep`, summed over the
    /// shards in shard order.
    pub fn gradient(
        &self,
        x: &[f32],
        y: &[i64],
        mut keep: impl FnMut() -> bool,
    ) -> (Vec<f32>, StepOutcome) {
        let row_len = self.shapes.window[0] * self.shapes.window[1];
        let total_weight: f32 = y
            .iter()
            .map(|&label| self.class_weights[usize::from(label == 1)])
            .sum();
        let row_weights: Vec<f32> = y
            .iter()
            .map(|&label| {
                self.class_weights[usize::from(label == 1)] / total_weight.max(f32::MIN_POSITIVE)
            })
            .collect();
        let jobs: Vec<_> = self
            .sharding
            .ranges(y.len())
            .into_iter()
            .map(|rows| {
                let masks = DropoutMasks::draw_values(&self.config, rows.len(), &mut keep);
                (rows, masks)
            })
            .collect();
        let (shapes, params) = (&self.shapes, &self.params);
        let results = run_in_lanes(jobs, self.sharding.threads, |(rows, masks)| {
            let shard = ShardInput {
                x: &x[rows.start * row_len..rows.end * row_len],
                y: &y[rows.clone()],
                row_weights: &row_weights[rows],
                sequence_mask: &masks.0,
                last_mask: &masks.1,
            };
            let mut grads = vec![0f32; shapes.len()];
            let outcome = forward_backward(shapes, params, &shard, &mut grads);
            (grads, outcome)
        });
        let mut total = vec![0f32; self.shapes.len()];
        let mut outcome = StepOutcome {
            loss: 0.0,
            correct: 0,
        };
        for (grads, ShardOutcome { loss, correct }) in results {
            total.iter_mut().zip(&grads).for_each(|(t, g)| *t += g);
            outcome.loss += loss;
            outcome.correct += correct;
        }
        (total, outcome)
    }

    /// One Adam step on a batch (see [`gradient`](Self::gradient)).
    pub fn step(
        &mut self,
        learning_rate: f64,
        x: &[f32],
        y: &[i64],
        keep: impl FnMut() -> bool,
    ) -> StepOutcome {
        let (grads, outcome) = self.gradient(x, y, keep);
        self.adam.step(learning_rate, &mut self.params, &grads);
        outcome
    }

    /// The current weights as burn's network (on a plain device).
    pub fn network(&self) -> SeizureNet {
        params::unflatten(&self.template, &self.shapes, &self.params)
    }

    /// The dropout probability of the network's masks.
    pub fn dropout(&self) -> f64 {
        self.config.dropout
    }

    pub fn shapes(&self) -> &Shapes {
        &self.shapes
    }
}
