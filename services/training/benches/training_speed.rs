//! Training speed on the full training split: one epoch (forward, backward, Adam step for every
//! mini-batch of 32, then validation), reported by criterion as samples per second.
//!
//! `cargo bench -p training --bench training_speed`. Uses the real data set from ../shared/data
//! when present, else a synthetic one of the same size.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use eeg_data::prepare::{prepare, PrepareOptions};
use eeg_data::processed::{ProcessedDataset, Split};
use eeg_data::synthetic::{self, SynthConfig};
use seizure_model::{ModelCard, ModelConfig};
use training::train::{train, TrainConfig};
use training::windows::{Augmentation, TrainingWindows, Windows};

fn training_epoch(c: &mut Criterion) {
    let scratch = tempfile::tempdir().unwrap();
    let csv = test_support::real_data_csv().unwrap_or_else(|| {
        eprintln!("bench: the real CSV is absent; using a synthetic file of the same size");
        let path = scratch.path().join("synthetic.csv");
        std::fs::write(&path, synthetic::csv_bytes(&SynthConfig::default())).unwrap();
        path
    });
    let mut options = PrepareOptions::new(csv, scratch.path().join("data"));
    // The 2,760 undersampled rows the Keras comparison reads (the default now keeps all 6,900).
    options.split.balance = eeg_data::processed::Balance::Undersample;
    prepare(&options).unwrap();
    let dataset = ProcessedDataset::open(&options.out).unwrap();
    let train_split = dataset.split(Split::Train).unwrap();
    let validation = dataset.split(Split::Validation).unwrap();
    let manifest = &dataset.manifest;
    let config = TrainConfig {
        model: ModelConfig::with_layout(manifest.layout),
        epochs: 1,
        batch_size: 32,
        learning_rate: 1e-3,
        patience: 1,
        seed: 1,
        class_weights: manifest.class_weights,
        sharding: training::shards::Sharding {
            shards: 2,
            threads: std::thread::available_parallelism()
                .map_or(1, usize::from)
                .min(2),
        },
        engine: std::env::var("TRAIN_ENGINE")
            .ok()
            .map_or(training::engine::Engine::default(), |name| {
                name.parse().unwrap()
            }),
    };
    let card = ModelCard::new(config.model, manifest.normalisation);
    let signals = dataset.signals(Split::Train).unwrap();
    let windows = TrainingWindows::new(
        &train_split,
        Some(&signals),
        manifest.segments.len(),
        manifest.normalisation,
        Windows::Random,
        Augmentation::NONE,
    )
    .unwrap();

    let mut group = c.benchmark_group("training");
    group.sample_size(10);
    group.throughput(Throughput::Elements(train_split.rows() as u64));
    group.bench_function("epoch_22x8_batch32", |b| {
        b.iter(|| {
            train(
                &windows,
                &validation,
                &config,
                &card,
                || {},
                |_| std::ops::ControlFlow::Continue(()),
            )
        })
    });
    group.finish();
}

criterion_group!(benches, training_epoch);
criterion_main!(benches);
