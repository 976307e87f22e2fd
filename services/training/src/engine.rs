//! Which code computes a batch's gradient and steps the weights: burn's autodiff (the design's
//! training engine and the reference) or the native engine (the same network's backward pass
//! written out on the serving kernels, faster; its gradients match burn's within 1e-5, 7e-7 measured). Both take
//! the same initial network, batches and dropout stream, and Adam with the same constants.

use std::fmt;
use std::str::FromStr;

use burn::nn::loss::{CrossEntropyLoss, CrossEntropyLossConfig};
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use eeg_data::random::Rng;
use seizure_model::network::DropoutMasks;
use seizure_model::{ModelConfig, SeizureNet};

use crate::native::NativeLearner;
use crate::shards::{batch_gradients, Shard, Sharding};

/// The training engine (`--engine`, `train.engine` in `params.yaml`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Engine {
    /// The hand-written forward and backward pass on the serving kernels (the default: faster).
    #[default]
    Native,
    /// burn's autodiff.
    Burn,
}

impl Engine {
    pub const ALL: [Engine; 2] = [Engine::Native, Engine::Burn];

    pub fn name(self) -> &'static str {
        match self {
            Engine::Native => "native",
            Engine::Burn => "burn",
        }
    }
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Engine {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Engine::ALL
            .into_iter()
            .find(|engine| engine.name() == name)
            .ok_or_else(|| format!("unknown training engine {name:?} (native or burn)"))
    }
}

/// Adam's epsilon for both engines (Keras' default).
const ADAM_EPSILON: f32 = 1e-7;

/// A network being trained, by either engine.
pub(crate) enum Learner {
    Burn(Box<BurnLearner>),
    Native(Box<NativeLearner>),
}

pub(crate) struct BurnLearner {
    model: SeizureNet,
    optimizer: ModuleOptimizer,
    loss_fn: CrossEntropyLoss,
    device: Device,
    config: ModelConfig,
    class_weights: [f32; 2],
    sharding: Sharding,
}

/// What one step saw of its batch.
pub(crate) struct Step {
    /// The batch's weighted mean loss before the step.
    pub loss: f64,
    pub correct: usize,
}

impl Learner {
    /// A fresh network for `config`, initialised from `seed` (the same weights for both
    /// engines).
    pub(crate) fn new(
        engine: Engine,
        config: &ModelConfig,
        seed: u64,
        class_weights: [f32; 2],
        sharding: Sharding,
    ) -> Self {
        let device = Device::flex().autodiff();
        let model = SeizureNet::seeded(config, seed, &device);
        match engine {
            Engine::Native => Learner::Native(Box::new(NativeLearner::new(
                model.valid(),
                *config,
                class_weights,
                sharding,
                ADAM_EPSILON,
            ))),
            Engine::Burn => {
                let loss_fn = CrossEntropyLossConfig::new()
                    .with_weights(Some(class_weights.to_vec()))
                    .init(&device);
                Learner::Burn(Box::new(BurnLearner {
                    model,
                    optimizer: AdamConfig::new().with_epsilon(ADAM_EPSILON).init(),
                    loss_fn,
                    device,
                    config: *config,
                    class_weights,
                    sharding,
                }))
            }
        }
    }

    /// One optimiser step on the batch `x` (`[rows, timesteps, features]`), `y`; dropout
    /// masks come from `dropout_rng` (burn's own dropout with one shard on the burn engine).
    pub(crate) fn step(
        &mut self,
        learning_rate: f64,
        x: Vec<f32>,
        y: Vec<i64>,
        dropout_rng: &mut Rng,
    ) -> Step {
        match self {
            Learner::Native(native) => {
                let dropout = native.dropout();
                let outcome = native.step(learning_rate, &x, &y, || dropout_rng.unit() >= dropout);
                Step {
                    loss: outcome.loss,
                    correct: outcome.correct,
                }
            }
            Learner::Burn(burn) => burn.step(learning_rate, x, y, dropout_rng),
        }
    }

    /// The current weights, without autodiff.
    pub(crate) fn network(&self) -> SeizureNet {
        match self {
            Learner::Native(native) => native.network(),
            Learner::Burn(burn) => burn.model.valid(),
        }
    }
}

impl BurnLearner {
    fn step(
        &mut self,
        learning_rate: f64,
        x: Vec<f32>,
        y: Vec<i64>,
        dropout_rng: &mut Rng,
    ) -> Step {
        let layout = self.config.layout;
        let rows = y.len();
        let model = self.model.clone();
        let (grads, loss, correct) = if self.sharding.shards == 1 {
            // One shard: burn's weighted cross-entropy and its own dropout on the whole
            // batch, as training ran before shards existed.
            let inputs = Tensor::<3>::from_data(
                TensorData::new(x, [rows, layout.timesteps, layout.features]),
                &self.device,
            );
            let targets =
                Tensor::<1, Int>::from_data(TensorData::new(y.clone(), [rows]), &self.device);
            let logits = model.forward(inputs);
            let loss = self.loss_fn.forward(logits.clone(), targets);
            let batch_logits = logits.try_to_vec_as::<f32>().expect("logits are readable");
            let correct = batch_logits
                .chunks_exact(2)
                .zip(&y)
                .filter(|(l, &label)| i64::from(l[1] > l[0]) == label)
                .count();
            let loss_value = f64::from(loss.clone().into_scalar::<f32>());
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            (grads, loss_value, correct)
        } else {
            let row_len = layout.timesteps * layout.features;
            let dropout = self.config.dropout;
            let shards = self
                .sharding
                .ranges(rows)
                .into_iter()
                .map(|range| Shard {
                    x: x[range.start * row_len..range.end * row_len].to_vec(),
                    y: y[range.clone()].to_vec(),
                    masks: DropoutMasks::draw(
                        &self.config,
                        range.len(),
                        || dropout_rng.unit() >= dropout,
                        &self.device,
                    ),
                })
                .collect();
            let step = batch_gradients(
                &model,
                shards,
                [layout.timesteps, layout.features],
                self.class_weights,
                self.sharding,
                &self.device,
            );
            (step.grads, step.loss, step.correct)
        };
        self.model = self.optimizer.step(learning_rate, model, grads);
        Step { loss, correct }
    }
}
