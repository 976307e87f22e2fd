//! The features and statistics against scipy (`scipy.signal.periodogram`,
//! `scipy.stats.ks_2samp`, `scipy.stats.wasserstein_distance`) on the same fixtures:
//! synthetic EEG of both classes, pure tones in every band and at mains frequency, noise,
//! a flat line, extreme amplitudes, and samples with ties.

use drift::features::{BANDS, LOG_FLOOR};
use drift::{stats, FeatureExtractor, FEATURES};
use eeg_data::random::Rng;
use serde_json::{json, Value};

fn fixtures() -> Vec<Vec<f32>> {
    let mut windows = Vec::new();
    for (class, seed) in [(1, 7), (5, 11), (3, 2), (2, 9)] {
        let segment = eeg_data::synthetic::reference_segment(class, seed);
        windows.extend(segment.chunks_exact(178).take(4).map(<[f32]>::to_vec));
    }
    let mut rng = Rng::new(5);
    for hz in [1.0, 3.9, 6.0, 12.0, 25.0, 35.0, 50.0, 60.0, 86.0] {
        let phase = rng.range(0.0, 6.0);
        windows.push(
            (0..178)
                .map(|i| {
                    (80.0
                        * (2.0 * std::f64::consts::PI * hz * i as f64 / eeg_data::SAMPLING_HZ
                            + phase)
                            .sin()) as f32
                })
                .collect(),
        );
    }
    for amplitude in [0.5, 40.0, 9_000.0] {
        windows.push(
            (0..178)
                .map(|_| (amplitude * rng.normal()) as f32)
                .collect(),
        );
    }
    windows.push(vec![-37.0; 178]);
    windows
}

#[test]
fn features_and_statistics_match_scipy() {
    let Some(python) = test_support::scoring_python() else {
        return;
    };
    let windows = fixtures();
    let extractor = FeatureExtractor::for_recordings();
    let ours: Vec<_> = windows.iter().map(|w| extractor.features(w)).collect();

    let mut rng = Rng::new(11);
    let mut pairs = Vec::new();
    for (na, nb, shift, scale) in [
        (500, 300, 0.0, 1.0),
        (2000, 1000, 0.3, 1.0),
        (800, 1000, 0.0, 2.0),
        (50, 70, 5.0, 1.0),
    ] {
        let a: Vec<f64> = (0..na).map(|_| rng.normal()).collect();
        let b: Vec<f64> = (0..nb).map(|_| shift + scale * rng.normal()).collect();
        pairs.push((a, b));
    }
    // Heavy ties: integers.
    let a: Vec<f64> = (0..400).map(|_| (rng.normal() * 2.0).round()).collect();
    let b: Vec<f64> = (0..250)
        .map(|_| (rng.normal() * 2.0 + 0.5).round())
        .collect();
    pairs.push((a, b));
    // Real feature columns: the fixtures' line lengths against their variances.
    pairs.push((
        ours.iter().map(|f| f[6]).collect(),
        ours.iter().map(|f| f[7]).collect(),
    ));

    let input = json!({
        "fs": eeg_data::SAMPLING_HZ,
        "floor": LOG_FLOOR,
        "bands": BANDS.iter().map(|&(l, h)| json!([l, if h.is_finite() { json!(h) } else { Value::Null }])).collect::<Vec<_>>(),
        "windows": windows,
        "pairs": pairs.iter().map(|(a, b)| json!({"a": a, "b": b})).collect::<Vec<_>>(),
    });
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/clients/scipy_reference.py"
    );
    let reference = test_support::json_through_python(&python, script.as_ref(), &input);

    for (i, (mine, theirs)) in ours
        .iter()
        .zip(reference["features"].as_array().unwrap())
        .enumerate()
    {
        for (j, name) in FEATURES.iter().enumerate() {
            let expected = theirs[j].as_f64().unwrap();
            // Float32 input: relative agreement, and absolute near the log floor.
            let tolerance =
                1e-6 * expected.abs().max(1.0) + if expected < -20.0 { 0.5 } else { 0.0 };
            assert!(
                (mine[j] - expected).abs() <= tolerance,
                "window {i} {name}: ours {} scipy {expected}",
                mine[j]
            );
        }
    }
    for (k, (a, b)) in pairs.iter().enumerate() {
        let (sa, sb) = (stats::sorted(a), stats::sorted(b));
        let ks = stats::ks_statistic(&sa, &sb);
        let w = stats::wasserstein(&sa, &sb);
        let nw = w / stats::std_dev(&sa);
        let close = |ours: f64, field: &str| {
            let theirs = reference[field][k].as_f64().unwrap();
            assert!(
                (ours - theirs).abs() <= 1e-9 * theirs.abs().max(1.0),
                "pair {k} {field}: ours {ours} scipy {theirs}"
            );
        };
        close(ks, "ks");
        close(w, "wasserstein");
        close(nw, "normalised_wasserstein");
    }
    // The fixtures hold the differences the tests mean: an unchanged pair is not significant,
    // a shifted one is (scipy's p-values, as a sanity check of the fixtures themselves).
    assert!(reference["ks_pvalue"][0].as_f64().unwrap() > 0.01);
    assert!(reference["ks_pvalue"][1].as_f64().unwrap() < 1e-6);
}
