//! Full preprocessing of the UCI file: read, validate, split, balance, normalise, write the
//! `.npy` files atomically and record them for DVC (hashing and cache included).
//!
//! `cargo bench -p preprocessing --bench preprocess`. Uses ../shared/data's real CSV when
//! present, else a synthetic file of the same size (100 segments per class).

use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, Criterion};
use eeg_data::synthetic::{self, SynthConfig};
use preprocessing::{preprocess, PreprocessArgs};

fn input(scratch: &std::path::Path) -> PathBuf {
    if let Some(real) = test_support::real_data_csv() {
        return real;
    }
    eprintln!("bench: the real CSV is absent; using a synthetic file of the same size");
    let path = scratch.join("synthetic.csv");
    std::fs::write(&path, synthetic::csv_bytes(&SynthConfig::default())).unwrap();
    path
}

fn full_preprocessing(c: &mut Criterion) {
    let scratch = tempfile::tempdir().unwrap();
    let settings = PreprocessArgs::new(input(scratch.path()), scratch.path().join("data"))
        .settings()
        .unwrap();
    let mut group = c.benchmark_group("preprocessing");
    group.sample_size(20);
    group.bench_function("full_uci_csv_to_npy_with_dvc", |b| {
        b.iter(|| preprocess(&settings).unwrap())
    });
    group.finish();
}

criterion_group!(benches, full_preprocessing);
criterion_main!(benches);
