//! The native engine against burn's autodiff on real batches: the same network, batch, class
//! weights and dropout masks must give the same loss and the same gradient, to 1e-5, for both
//! front ends and with several shards; whole trainings by either engine end in the same place;
//! threads never change a bit.

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::prelude::*;
use eeg_data::prepare::{prepare, PrepareOptions};
use eeg_data::processed::{ProcessedDataset, Split};
use eeg_data::random::Rng;
use eeg_data::synthetic::{self, SynthConfig};
use seizure_model::network::DropoutMasks;
use seizure_model::{FrontEnd, ModelCard, ModelConfig, SeizureNet};
use training::engine::Engine;
use training::native::NativeLearner;
use training::shards::{batch_gradients, Shard, Sharding};
use training::train::{train, TrainConfig};
use training::windows::{Augmentation, TrainingWindows, Windows};

/// The real data set (synthetic where it is absent), preprocessed into `scratch`.
fn dataset(scratch: &std::path::Path) -> ProcessedDataset {
    let csv = test_support::real_data_csv().unwrap_or_else(|| {
        eprintln!("the real CSV is absent: checking on the synthetic data set");
        let path = scratch.join("synthetic.csv");
        std::fs::write(&path, synthetic::csv_bytes(&SynthConfig::default())).unwrap();
        path
    });
    let options = PrepareOptions::new(csv, scratch.join("data"));
    prepare(&options).unwrap();
    ProcessedDataset::open(&options.out).unwrap()
}

/// The first `rows` training windows of the real data set (synthetic where it is absent),
/// normalised as training feeds them, with their labels and the class weights.
fn real_batch(rows: usize) -> (ModelConfig, Vec<f32>, Vec<i64>, [f32; 2]) {
    let scratch = tempfile::tempdir().unwrap();
    let dataset = dataset(scratch.path());
    let split = dataset.split(Split::Train).unwrap();
    let manifest = &dataset.manifest;
    let windows = TrainingWindows::new(
        &split,
        None,
        manifest.segments.len(),
        manifest.normalisation,
        Windows::Aligned,
        Augmentation::NONE,
    )
    .unwrap();
    // Both classes in the batch: half of each.
    let labels: Vec<u8> = split.y.iter().copied().collect();
    let of_class = |label: u8, count: usize| -> Vec<usize> {
        (0..labels.len())
            .filter(|&i| labels[i] == label)
            .take(count)
            .collect()
    };
    let mut picks = of_class(0, rows / 2);
    picks.extend(of_class(1, rows - rows / 2));
    let (x, y) = windows.gather(&picks, &mut Rng::new(1));
    assert!(y.contains(&0) && y.contains(&1));
    let weights = manifest.class_weights.map(|w| w as f32);
    // Unequal weights, so the weighting is checked too.
    let weights = [weights[0], weights[1] * 1.7];
    (ModelConfig::with_layout(manifest.layout), x, y, weights)
}

/// Every gradient of `grads` for `model`'s parameters, flat in visiting order (the native
/// engine's order).
fn flatten(model: &SeizureNet, grads: &GradientsParams) -> Vec<f32> {
    struct Collect<'a>(&'a GradientsParams, Vec<f32>);
    impl ModuleVisitor for Collect<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let grad = self
                .0
                .get::<D>(param.id)
                .expect("every parameter has a gradient");
            self.1.extend(grad.try_to_vec_as::<f32>().unwrap());
        }
    }
    let mut collect = Collect(grads, Vec::new());
    model.visit(&mut collect);
    collect.1
}

fn check(config: ModelConfig, shards: usize) {
    let (_, x, y, class_weights) = real_batch(32);
    let base = Device::flex();
    base.seed(5);
    let device = base.autodiff();
    let model = SeizureNet::new(&config, &device);
    let sharding = Sharding { shards, threads: 2 };
    let [timesteps, features] = [config.layout.timesteps, config.layout.features];
    let row_len = timesteps * features;

    let mut burn_rng = Rng::new(9);
    let burn_shards: Vec<Shard> = sharding
        .ranges(y.len())
        .into_iter()
        .map(|rows| Shard {
            x: x[rows.start * row_len..rows.end * row_len].to_vec(),
            y: y[rows.clone()].to_vec(),
            masks: DropoutMasks::draw(&config, rows.len(), || burn_rng.unit() >= 0.3, &device),
        })
        .collect();
    let reference = batch_gradients(
        &model,
        burn_shards,
        [timesteps, features],
        class_weights,
        sharding,
        &device,
    );
    let expected = flatten(&model, &reference.grads);

    let learner = NativeLearner::new(model.valid(), config, class_weights, sharding, 1e-7);
    let mut native_rng = Rng::new(9);
    let (gradient, outcome) = learner.gradient(&x, &y, || native_rng.unit() >= 0.3);

    assert_eq!(gradient.len(), expected.len());
    let worst = gradient
        .iter()
        .zip(&expected)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    let largest = expected.iter().map(|v| v.abs()).fold(0f32, f32::max);
    eprintln!(
        "{} with {shards} shard(s): loss {} vs burn {}; largest gradient {largest:e}, \
         largest difference {worst:e}",
        config.front_end.name(),
        outcome.loss,
        reference.loss,
    );
    assert!(largest > 1e-3, "a gradient worth comparing");
    assert!(worst <= 1e-5, "gradients differ by {worst:e}");
    assert!((outcome.loss - reference.loss).abs() <= 1e-5);
    assert_eq!(outcome.correct, reference.correct);
}

#[test]
fn the_frames_network_has_burns_gradient_on_a_real_batch() {
    check(real_batch(2).0, 1);
}

#[test]
fn the_conv_network_has_burns_gradient_on_a_real_batch() {
    check(
        ModelConfig {
            front_end: FrontEnd::CONV,
            ..real_batch(2).0
        },
        1,
    );
}

#[test]
fn shards_sum_to_burns_gradient_of_the_whole_batch() {
    check(real_batch(2).0, 2);
    check(real_batch(2).0, 3);
}

#[test]
fn threads_only_decide_where_the_native_shards_run() {
    let (config, x, y, class_weights) = real_batch(32);
    let base = Device::flex();
    base.seed(3);
    let network = SeizureNet::new(&config, &base);
    let gradient = |threads: usize| {
        let sharding = Sharding { shards: 4, threads };
        let learner = NativeLearner::new(network.clone(), config, class_weights, sharding, 1e-7);
        let mut rng = Rng::new(4);
        let (gradient, outcome) = learner.gradient(&x, &y, || rng.unit() >= 0.3);
        (
            outcome.loss.to_bits(),
            gradient.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
        )
    };
    let one = gradient(1);
    for threads in [2, 3, 4] {
        assert!(gradient(threads) == one, "{threads} threads changed a bit");
    }
}

#[test]
fn both_engines_train_to_the_same_network() {
    let scratch = tempfile::tempdir().unwrap();
    let dataset = dataset(scratch.path());
    let (split, validation) = (
        dataset.split(Split::Train).unwrap(),
        dataset.split(Split::Validation).unwrap(),
    );
    let manifest = &dataset.manifest;
    let signals = dataset.signals(Split::Train).unwrap();
    let windows = TrainingWindows::new(
        &split,
        Some(&signals),
        manifest.segments.len(),
        manifest.normalisation,
        Windows::Random,
        Augmentation {
            gain: 0.2,
            noise: 0.0,
        },
    )
    .unwrap();
    let model = ModelConfig::with_layout(manifest.layout);
    let card = ModelCard::new(model, manifest.normalisation);
    let run = |engine: Engine| {
        let config = TrainConfig {
            model,
            epochs: 2,
            batch_size: 32,
            learning_rate: 1e-3,
            patience: 2,
            seed: 8,
            class_weights: manifest.class_weights,
            sharding: Sharding {
                shards: 2,
                threads: 2,
            },
            engine,
        };
        train(
            &windows,
            &validation,
            &config,
            &card,
            || {},
            |_| std::ops::ControlFlow::Continue(()),
        )
    };
    let (native, burn) = (run(Engine::Native), run(Engine::Burn));
    for (n, b) in native.history.iter().zip(&burn.history) {
        eprintln!(
            "epoch {}: train loss {:.6} / {:.6}, validation loss {:.6} / {:.6} (native / burn)",
            n.epoch, n.train_loss, b.train_loss, n.val_loss, b.val_loss
        );
        assert!((n.train_loss - b.train_loss).abs() < 1e-4 * b.train_loss);
        assert!((n.val_loss - b.val_loss).abs() < 1e-4 * b.val_loss);
    }
    assert_eq!(native.history.len(), 2);
}

#[test]
fn concurrent_trainings_start_from_their_own_seeds_weights() {
    // burn's generator is the process's and draws lazily: four trainings at once, beside a
    // thread building networks to load models into, must still each get the weights its
    // seed gives alone (out-of-fold folds, CV folds and tune trials run so).
    let scratch = tempfile::tempdir().unwrap();
    let dataset = dataset(scratch.path());
    let (split, validation) = (
        dataset.split(Split::Train).unwrap(),
        dataset.split(Split::Validation).unwrap(),
    );
    let manifest = &dataset.manifest;
    let windows = TrainingWindows::new(
        &split,
        None,
        manifest.segments.len(),
        manifest.normalisation,
        Windows::Aligned,
        Augmentation::NONE,
    )
    .unwrap();
    let model = ModelConfig::with_layout(manifest.layout);
    let card = ModelCard::new(model, manifest.normalisation);
    let shapes = training::native::params::Shapes::of(&model);
    let run = |seed: u64| {
        let config = TrainConfig {
            model,
            epochs: 1,
            batch_size: 32,
            learning_rate: 1e-3,
            patience: 1,
            seed,
            class_weights: manifest.class_weights,
            sharding: Sharding::SINGLE,
            engine: Engine::Native,
        };
        let outcome = train(
            &windows,
            &validation,
            &config,
            &card,
            || {},
            |_| std::ops::ControlFlow::Continue(()),
        );
        training::native::params::flatten(&outcome.network, &shapes)
            .iter()
            .map(|v| v.to_bits())
            .collect::<Vec<_>>()
    };
    let seeds = [1u64, 2, 3, 4];
    let alone: Vec<_> = seeds.iter().map(|&seed| run(seed)).collect();
    // Beside them, a thread builds networks to load models into (as CV and tune do between
    // trainings), which draws from the same generator.
    let done = std::sync::atomic::AtomicBool::new(false);
    let together: Vec<_> = std::thread::scope(|scope| {
        let loader = scope.spawn(|| {
            let mut built = 0usize;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                let _ = SeizureNet::for_loading(&model, &Device::flex());
                built += 1;
            }
            built
        });
        let handles: Vec<_> = seeds
            .iter()
            .map(|&seed| scope.spawn(move || run(seed)))
            .collect();
        let weights = handles.into_iter().map(|h| h.join().unwrap()).collect();
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        assert!(loader.join().unwrap() > 0);
        weights
    });
    for (seed, (a, t)) in seeds.iter().zip(alone.iter().zip(&together)) {
        assert!(
            a == t,
            "seed {seed}: weights differ when trained beside others"
        );
    }
    assert!(alone[0] != alone[1], "different seeds, different weights");
}
