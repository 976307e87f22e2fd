//! The model crate: serving parity with burn, artifact round trip, schema refusal.

use std::path::Path;

use burn::prelude::*;
use burn::tensor::activation::softmax;
use eeg_data::layout::{Centring, InputLayout, Normalisation};
use eeg_data::random::Rng;
use eeg_data::SAMPLES_PER_RECORDING;
use seizure_model::artifact::{self, ArtifactError, MODEL_CARD_FILE, WEIGHTS_FILE};
use seizure_model::predictor::{check_recordings, PredictError};
use seizure_model::{FrontEnd, ModelCard, ModelConfig, Predictor, SeizureNet};

fn network(config: &ModelConfig, seed: u64) -> (Device, SeizureNet) {
    let device = Device::flex();
    device.seed(seed);
    let net = SeizureNet::new(config, &device);
    (device, net)
}

fn random_inputs(n: usize, len: usize, seed: u64, scale: f64) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    (0..n * len)
        .map(|_| (rng.normal() * scale) as f32)
        .collect()
}

/// burn's eval-mode forward pass: seizure probability per input.
fn burn_probabilities(
    net: &SeizureNet,
    device: &Device,
    inputs: &[f32],
    layout: InputLayout,
) -> Vec<f32> {
    let batch = inputs.len() / layout.samples_used();
    let x = Tensor::<3>::from_data(
        TensorData::new(inputs.to_vec(), [batch, layout.timesteps, layout.features]),
        device,
    );
    let probabilities = softmax(net.forward(x), 1).slice(s![.., 1..2]);
    probabilities.try_to_vec_as::<f32>().unwrap()
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn card(config: ModelConfig) -> ModelCard {
    ModelCard::new(
        config,
        Normalisation {
            centring: Centring::Global,
            mean: -4.5,
            std: 244.7,
        },
    )
}

#[test]
fn serving_forward_pass_matches_burn_to_1e_5() {
    let conv = |layout| ModelConfig {
        front_end: FrontEnd::CONV,
        ..ModelConfig::with_layout(layout)
    };
    let odd_conv = |layout| ModelConfig {
        // A stride that leaves samples over at the end.
        front_end: FrontEnd::Conv {
            channels: 5,
            kernel: 7,
            stride: 5,
        },
        ..ModelConfig::with_layout(layout)
    };
    for config in [
        ModelConfig::with_layout(InputLayout::default()),
        ModelConfig::with_layout(InputLayout::new(89, 2).unwrap()),
        conv(InputLayout::default()),
        odd_conv(InputLayout::new(89, 2).unwrap()),
    ] {
        let layout = config.layout;
        let (device, net) = network(&config, 3);
        let net = net.valid();
        let inputs = random_inputs(23, layout.samples_used(), 9, 1.5);
        let expected = burn_probabilities(&net, &device, &inputs, layout);
        let predictor = Predictor::from_network(card(config), &net);
        let got = predictor.predict_normalised(&inputs, 23);
        let diff = max_abs_diff(&expected, &got);
        assert!(diff < 1e-5, "{config:?}: max diff {diff}");
        // The probabilities are not all the same (the comparison is not vacuous).
        let spread = got.iter().cloned().fold(f32::MIN, f32::max)
            - got.iter().cloned().fold(f32::MAX, f32::min);
        assert!(spread > 1e-4, "spread {spread}");
    }
}

#[test]
fn artifact_round_trip_keeps_card_and_predictions() {
    for front_end in [FrontEnd::Frames, FrontEnd::CONV] {
        round_trip(front_end);
    }
}

fn round_trip(front_end: FrontEnd) {
    let dir = tempfile::tempdir().unwrap();
    let config = ModelConfig {
        front_end,
        ..ModelConfig::default()
    };
    let (device, net) = network(&config, 5);
    let mut card = card(config);
    card.normalisation = Normalisation {
        centring: Centring::PerWindow,
        mean: 0.0,
        std: 160.0,
    };
    card.training_data_md5 = Some("39b7d4c818813db4bae27de0e504d7f1.dir".into());
    card.metrics.insert("roc_auc".into(), 0.99);
    let saved = artifact::save(dir.path(), &net, &card).unwrap();
    assert_eq!(saved.weights_md5.len(), 32);
    assert!(dir.path().join(WEIGHTS_FILE).is_file());

    let predictor = Predictor::load(dir.path()).unwrap();
    assert_eq!(predictor.card(), &saved);
    let raw = random_inputs(23, SAMPLES_PER_RECORDING, 4, 300.0);
    let from_disk = predictor.predict(&raw);
    // Same as burn on the in-memory network, after the same normalisation.
    let mut normalised = Vec::new();
    for recording in raw.chunks_exact(SAMPLES_PER_RECORDING) {
        card.normalisation
            .append_input(recording, config.layout, &mut normalised);
    }
    let expected = burn_probabilities(&net.valid(), &device, &normalised, config.layout);
    assert!(max_abs_diff(&expected, &from_disk) < 1e-5);
}

fn edit_card(dir: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let path = dir.join(MODEL_CARD_FILE);
    let mut value: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    edit(&mut value);
    std::fs::write(&path, serde_json::to_string(&value).unwrap()).unwrap();
}

#[test]
fn mismatching_artifacts_are_refused_with_a_clear_error() {
    let config = ModelConfig::default();
    let (_, net) = network(&config, 1);
    let saved = |edit: fn(&mut serde_json::Value)| {
        let dir = tempfile::tempdir().unwrap();
        artifact::save(dir.path(), &net, &card(config)).unwrap();
        edit_card(dir.path(), edit);
        dir
    };

    let dir = saved(|v| v["input"]["samples_per_recording"] = 200.into());
    let err = Predictor::load(dir.path()).unwrap_err();
    assert!(matches!(err, ArtifactError::Schema { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("recordings of 200 samples, not 178"),
        "{err}"
    );

    let dir = saved(|v| v["format_version"] = 7.into());
    assert!(Predictor::load(dir.path())
        .unwrap_err()
        .to_string()
        .contains("format version 7"));

    let dir = saved(|v| v["normalisation"]["std"] = 0.0.into());
    assert!(Predictor::load(dir.path())
        .unwrap_err()
        .to_string()
        .contains("invalid normalisation"));

    // An architecture that does not match the stored weights.
    let dir = saved(|v| v["architecture"]["lstm1_hidden"] = 32.into());
    let err = Predictor::load(dir.path()).unwrap_err();
    assert!(matches!(err, ArtifactError::Weights { .. }), "{err}");

    // A convolution that does not fit the window is a schema error, named.
    let dir = saved(|v| {
        v["architecture"]["front_end"] =
            serde_json::json!({"kind": "conv", "channels": 4, "kernel": 500, "stride": 1})
    });
    let err = Predictor::load(dir.path()).unwrap_err();
    assert!(matches!(err, ArtifactError::Schema { .. }), "{err}");
    assert!(
        err.to_string().contains("does not fit 176 samples"),
        "{err}"
    );

    // A card naming a front end the weights do not have never serves random filters.
    let dir = saved(|v| {
        v["architecture"]["front_end"] =
            serde_json::json!({"kind": "conv", "channels": 32, "kernel": 16, "stride": 8})
    });
    let err = Predictor::load(dir.path()).unwrap_err();
    assert!(matches!(err, ArtifactError::Weights { .. }), "{err}");

    let dir = saved(|v| v["name"] = "x".into());
    std::fs::write(dir.path().join(MODEL_CARD_FILE), "{not json").unwrap();
    assert!(matches!(
        Predictor::load(dir.path()).unwrap_err(),
        ArtifactError::Card { .. }
    ));
}

#[test]
fn tampered_weights_fail_the_integrity_check() {
    let dir = tempfile::tempdir().unwrap();
    let (_, net) = network(&ModelConfig::default(), 2);
    artifact::save(dir.path(), &net, &card(ModelConfig::default())).unwrap();
    let path = dir.path().join(WEIGHTS_FILE);
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xFF;
    std::fs::write(&path, bytes).unwrap();
    let err = Predictor::load(dir.path()).unwrap_err();
    assert!(matches!(err, ArtifactError::Integrity { .. }), "{err}");
}

#[test]
fn bad_recordings_are_named() {
    let limit = seizure_model::artifact::DEFAULT_MAX_ABS_SAMPLE;
    let good = vec![0.0f64; 178];
    assert_eq!(check_recordings(std::slice::from_ref(&good), limit), Ok(()));
    assert_eq!(
        check_recordings::<Vec<f64>>(&[], limit),
        Err(PredictError::Empty)
    );
    let short = vec![0.0; 177];
    assert_eq!(
        check_recordings(&[good.clone(), short], limit)
            .unwrap_err()
            .to_string(),
        "recording 1 has 177 samples, expected 178"
    );
    let mut nan = good.clone();
    nan[5] = f64::NAN;
    assert_eq!(
        check_recordings(&[nan], limit).unwrap_err(),
        PredictError::NonFinite {
            index: 0,
            sample: 5
        }
    );
}

#[test]
fn values_that_overflow_f32_or_leave_the_physical_range_are_refused() {
    let limit = seizure_model::artifact::DEFAULT_MAX_ABS_SAMPLE;
    let good = vec![100.0f64; 178];
    // Finite as f64, infinite as the model's f32.
    let mut overflow = good.clone();
    overflow[7] = 1e39;
    assert_eq!(
        check_recordings(&[good.clone(), overflow], limit).unwrap_err(),
        PredictError::NonFinite {
            index: 1,
            sample: 7
        }
    );
    // Finite as f32, but no EEG amplifier records it.
    let mut huge = good.clone();
    huge[177] = -1e30;
    let error = check_recordings(&[huge], limit).unwrap_err();
    assert_eq!(
        error,
        PredictError::OutOfRange {
            index: 0,
            sample: 177,
            value: -1e30,
            limit
        }
    );
    assert!(
        error.to_string().contains("recording 0 sample 177"),
        "{error}"
    );
    // The data set's own extremes pass, and so does the bound itself.
    let mut edge = good.clone();
    edge[0] = -1885.0;
    edge[1] = 2047.0;
    edge[2] = limit;
    assert_eq!(check_recordings(&[edge], limit), Ok(()));
}

#[test]
fn cards_carry_the_input_bound_and_older_cards_get_the_default() {
    let dir = tempfile::tempdir().unwrap();
    let (_, net) = network(&ModelConfig::default(), 2);
    let mut with_bound = card(ModelConfig::default());
    with_bound.input.max_abs_sample = 3000.0;
    artifact::save(dir.path(), &net, &with_bound).unwrap();
    let predictor = Predictor::load(dir.path()).unwrap();
    assert_eq!(predictor.card().input.max_abs_sample, 3000.0);

    let path = dir.path().join("model.json");
    let mut json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    json["input"]
        .as_object_mut()
        .unwrap()
        .remove("max_abs_sample");
    std::fs::write(&path, json.to_string()).unwrap();
    let old = Predictor::load(dir.path()).unwrap();
    assert_eq!(
        old.card().input.max_abs_sample,
        seizure_model::artifact::DEFAULT_MAX_ABS_SAMPLE
    );

    json["input"]["max_abs_sample"] = serde_json::json!(-1.0);
    std::fs::write(&path, json.to_string()).unwrap();
    let error = Predictor::load(dir.path()).unwrap_err();
    assert!(error.to_string().contains("max_abs_sample"), "{error}");
}

#[test]
fn predictor_is_shareable_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Predictor>();
}

#[test]
fn a_diverged_runs_nan_metrics_read_back_as_nan() {
    let dir = tempfile::tempdir().unwrap();
    let (_, net) = network(&ModelConfig::default(), 3);
    let mut diverged = card(ModelConfig::default());
    diverged.metrics.insert("val_loss".into(), f64::NAN);
    diverged.metrics.insert("val_accuracy".into(), 0.5);
    artifact::save(dir.path(), &net, &diverged).unwrap();
    let text = std::fs::read_to_string(dir.path().join(MODEL_CARD_FILE)).unwrap();
    assert!(text.contains("\"val_loss\": null"), "{text}");
    let card = Predictor::load(dir.path()).unwrap().card().clone();
    assert!(card.metrics["val_loss"].is_nan());
    assert_eq!(card.metrics["val_accuracy"], 0.5);
}
