//! In-process scoring of one patient: 23 raw recordings -> normalise, lay out, forward pass,
//! seizure probabilities, with the serving `Predictor` (22 x 8 and 178 x 1 layouts, and the
//! conv front end); and 2 to
//! 32 patients' recordings in one pass, what a dynamic batcher would run, to see what batching
//! gains per recording. Throughputs are in FLOP (criterion's "elem/s"): the forward
//! pass's matrix arithmetic ([`Predictor::flops_per_recording`]) beside this core's measured
//! peak, `matrixmultiply`'s sgemm (the kernel the predictor calls) on 512 x 512 matrices.
//!
//! `cargo bench -p seizure-model --bench predict`.

use burn::prelude::Device;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use eeg_data::layout::{Centring, InputLayout, Normalisation};
use eeg_data::random::Rng;
use eeg_data::SAMPLES_PER_RECORDING;
use seizure_model::{FrontEnd, ModelCard, ModelConfig, Predictor, SeizureNet};

fn predictor(layout: InputLayout) -> Predictor {
    predictor_of(ModelConfig::with_layout(layout))
}

fn predictor_of(config: ModelConfig) -> Predictor {
    let device = Device::flex();
    device.seed(1);
    let network = SeizureNet::new(&config, &device);
    let card = ModelCard::new(
        config,
        Normalisation {
            centring: Centring::PerWindow,
            mean: 0.0,
            std: 244.7,
        },
    );
    Predictor::from_network(card, &network)
}

fn one_patient(c: &mut Criterion) {
    let mut rng = Rng::new(3);
    let patient: Vec<f32> = (0..23 * SAMPLES_PER_RECORDING)
        .map(|_| (rng.normal() * 200.0) as f32)
        .collect();
    let mut group = c.benchmark_group("predict");
    for (name, layout) in [
        ("one_patient_23_recordings_22x8", InputLayout::default()),
        (
            "one_patient_23_recordings_178x1",
            InputLayout::new(178, 1).unwrap(),
        ),
    ] {
        let predictor = predictor(layout);
        group.throughput(Throughput::Elements(23 * predictor.flops_per_recording()));
        group.bench_function(name, |b| b.iter(|| predictor.predict(&patient)));
    }
    // The default front end since 2026-12-07: a 1D convolution in front of the LSTM.
    let conv = predictor_of(ModelConfig {
        front_end: FrontEnd::CONV,
        ..ModelConfig::default()
    });
    group.throughput(Throughput::Elements(23 * conv.flops_per_recording()));
    group.bench_function("one_patient_23_recordings_22x8_conv", |b| {
        b.iter(|| conv.predict(&patient))
    });
    // What a dynamic batcher would run: n patients' recordings in one forward pass.
    let predictor = predictor(InputLayout::default());
    for patients in [2usize, 4, 8, 16, 32] {
        let batch: Vec<f32> = patient
            .iter()
            .copied()
            .cycle()
            .take(patients * patient.len())
            .collect();
        let recordings = (patients * 23) as u64;
        group.throughput(Throughput::Elements(
            recordings * predictor.flops_per_recording(),
        ));
        group.bench_function(
            format!("{patients}_patients_{recordings}_recordings_one_pass_22x8"),
            |b| b.iter(|| predictor.predict(&batch)),
        );
    }
    group.finish();
}

/// One core's attainable peak: a large single-precision matrix product with the same kernel.
fn peak(c: &mut Criterion) {
    const N: usize = 512;
    let a = vec![0.5f32; N * N];
    let b = vec![0.25f32; N * N];
    let mut out = vec![0f32; N * N];
    let mut group = c.benchmark_group("peak");
    group.throughput(Throughput::Elements(2 * (N * N * N) as u64));
    group.bench_function("sgemm_512", |bench| {
        bench.iter(|| {
            // SAFETY: a, b and out hold N*N elements each, dense row-major with stride N.
            #[allow(unsafe_code)]
            unsafe {
                matrixmultiply::sgemm(
                    N,
                    N,
                    N,
                    1.0,
                    a.as_ptr(),
                    N as isize,
                    1,
                    b.as_ptr(),
                    N as isize,
                    1,
                    0.0,
                    out.as_mut_ptr(),
                    N as isize,
                    1,
                )
            }
        })
    });
    group.finish();
}

criterion_group!(benches, one_patient, peak);
criterion_main!(benches);
