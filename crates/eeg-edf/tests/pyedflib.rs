//! EDF/EDF+ files written by `pyedflib` (the EDFlib-based reference) read here as pyedflib
//! reads them; and the same files damaged the ways a careless export or a cut download
//! damages them, each refused with a message naming what is wrong, none a crash.

use std::path::{Path, PathBuf};

use eeg_edf::Recording;
use serde_json::{json, Value};
use test_support::workspace_root;

fn script() -> PathBuf {
    workspace_root().join("crates/eeg-edf/tests/clients/pyedflib_roundtrip.py")
}

/// A 30 s test signal: a 5 Hz rhythm with spikes, at `rate`.
fn rhythm(rate: f64, amplitude: f64) -> Vec<f64> {
    (0..(30.0 * rate) as usize)
        .map(|i| {
            let t = i as f64 / rate;
            amplitude * (2.0 * std::f64::consts::PI * 5.0 * t).sin()
                + if i % 97 == 0 { amplitude * 0.8 } else { 0.0 }
        })
        .collect()
}

/// Writes `signals` through pyedflib into `path`; pyedflib's own reading back.
fn write(python: &Path, path: &Path, edf_plus: bool, signals: Value, annotations: Value) -> Value {
    test_support::json_through_python(
        python,
        &script(),
        &json!({
            "path": path, "edf_plus": edf_plus, "signals": signals, "annotations": annotations,
        }),
    )
}

fn standard_file(python: &Path, dir: &Path) -> (PathBuf, Value) {
    let path = dir.join("ward.edf");
    let theirs = write(
        python,
        &path,
        true,
        json!([
            {"label": "EEG Fp1-F7", "dimension": "uV", "rate": 256, "physical_min": -800.0,
             "physical_max": 800.0, "samples": rhythm(256.0, 300.0)},
            {"label": "EEG T3-T5", "dimension": "mV", "rate": 512, "physical_min": -0.8,
             "physical_max": 0.8, "samples": rhythm(512.0, 0.3)},
            {"label": "ECG I", "dimension": "mV", "rate": 256, "physical_min": -5.0,
             "physical_max": 5.0, "samples": rhythm(256.0, 1.0)},
        ]),
        json!([[10.0, 5.0, "seizure"], [20.5, -1, "eyes open"]]),
    );
    (path, theirs)
}

#[test]
fn pyedflib_files_read_as_pyedflib_reads_them() {
    let Some(python) = test_support::scoring_python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (path, theirs) = standard_file(&python, dir.path());
    let mut recording = Recording::open(&path).unwrap();
    assert_eq!(recording.format, "EDF+C");
    assert_eq!(recording.records, 30);
    let labels: Vec<&str> = recording
        .signals()
        .iter()
        .map(|s| s.label.as_str())
        .collect();
    assert_eq!(labels, ["EEG Fp1-F7", "EEG T3-T5", "ECG I"]);
    assert_eq!(recording.signals()[1].rate_hz, 512.0);
    let (channels, annotations) = recording.read(&["EEG Fp1-F7", "eeg t3-t5"]).unwrap();
    // To 1e-6 of each physical range; the mV channel in µV (x 1000).
    for (channel, (index, range, per_unit)) in
        channels.iter().zip([(0, 1600.0, 1.0), (1, 1.6, 1e3)])
    {
        let reference = theirs["signals"][index].as_array().unwrap();
        assert_eq!(
            channel.samples_uv.len(),
            reference.len(),
            "{}",
            channel.label
        );
        let worst = channel
            .samples_uv
            .iter()
            .zip(reference)
            .map(|(ours, theirs)| (ours / per_unit - theirs.as_f64().unwrap()).abs())
            .fold(0.0, f64::max);
        assert!(worst <= 1e-6 * range, "{}: {worst}", channel.label);
    }
    assert_eq!(annotations.len(), 2, "{annotations:?}");
    for (ours, theirs) in annotations
        .iter()
        .zip(theirs["annotations"].as_array().unwrap())
    {
        assert!((ours.onset_s - theirs[0].as_f64().unwrap()).abs() < 1e-6);
        assert!((ours.duration_s - theirs[1].as_f64().unwrap().max(0.0)).abs() < 1e-6);
        assert_eq!(ours.text, theirs[2].as_str().unwrap());
    }
    // The ECG channel is not EEG.
    let mut recording = Recording::open(&path).unwrap();
    let refused = recording.read(&["ECG I"]).unwrap_err().to_string();
    assert!(
        refused.contains("ECG") && refused.contains("not EEG"),
        "{refused}"
    );
    let refused = recording.read(&["Cz"]).unwrap_err().to_string();
    assert!(
        refused.contains("no signal \"Cz\"") && refused.contains("EEG Fp1-F7"),
        "{refused}"
    );

    // Plain EDF (no annotations signal), a free-text patient field as old systems write.
    let plain = dir.path().join("plain.edf");
    let theirs = write(
        &python,
        &plain,
        false,
        json!([{"label": "Fp1", "dimension": "uV", "rate": 200, "physical_min": -500.0,
                "physical_max": 500.0, "samples": rhythm(200.0, 100.0)}]),
        json!([]),
    );
    let mut bytes = std::fs::read(&plain).unwrap();
    bytes[8..88].copy_from_slice(format!("{:<80}", "Jane Roe, ward 3").as_bytes());
    std::fs::write(&plain, &bytes).unwrap();
    let mut recording = Recording::open(&plain).unwrap();
    assert_eq!(recording.format, "EDF");
    let (channels, annotations) = recording.read(&["Fp1"]).unwrap();
    assert!(annotations.is_empty());
    let reference = theirs["signals"][0].as_array().unwrap();
    for (ours, theirs) in channels[0].samples_uv.iter().zip(reference) {
        assert!((ours - theirs.as_f64().unwrap()).abs() <= 1e-6 * 1000.0);
    }
}

/// Byte offset of signal `signal`'s field `field` (0 label ... 8 samples per record) in a
/// header of `signals` signals.
fn field(signals: usize, field: usize, signal: usize) -> (usize, usize) {
    const WIDTHS: [usize; 9] = [16, 80, 8, 8, 8, 8, 8, 80, 8];
    let start: usize = 256 + WIDTHS[..field].iter().map(|w| w * signals).sum::<usize>();
    (start + WIDTHS[field] * signal, WIDTHS[field])
}

fn put(bytes: &mut [u8], (offset, width): (usize, usize), text: &str) {
    bytes[offset..offset + width].copy_from_slice(format!("{text:<width$}").as_bytes());
}

#[test]
fn damaged_files_are_refused_naming_what_is_wrong() {
    let Some(python) = test_support::scoring_python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = standard_file(&python, dir.path());
    let good = std::fs::read(&path).unwrap();
    let signals = 4; // three data signals and the annotations
    let header = 256 * (signals + 1);
    let mutate = |change: &dyn Fn(&mut Vec<u8>)| {
        let mut bytes = good.clone();
        change(&mut bytes);
        bytes
    };
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "cut download",
            good[..good.len() - 700].to_vec(),
            "truncated",
        ),
        ("header only", good[..header].to_vec(), "truncated"),
        (
            "half a header",
            good[..100].to_vec(),
            "ends inside its header",
        ),
        ("empty", Vec::new(), "ends inside its header"),
        (
            "bytes past the records",
            mutate(&|b| b.extend([0; 10])),
            "do not match",
        ),
        (
            "one record short of its count",
            mutate(&|b| put(b, (236, 8), "31")),
            "truncated",
        ),
        (
            "huge record count",
            mutate(&|b| put(b, (236, 8), "99999999")),
            "truncated",
        ),
        (
            "huge signal count",
            mutate(&|b| put(b, (252, 4), "9999")),
            "ends inside its header",
        ),
        (
            "huge samples per record",
            mutate(&|b| put(b, field(signals, 8, 0), "99999999")),
            "truncated",
        ),
        (
            "zero record duration",
            mutate(&|b| put(b, (244, 8), "0")),
            "duration",
        ),
        ("garbage", vec![0x55; 4096], "not"),
        (
            "discontinuous",
            mutate(&|b| put(b, (192, 44), "EDF+D")),
            "EDF+D",
        ),
        (
            "NaN physical minimum",
            mutate(&|b| put(b, field(signals, 3, 0), "nan")),
            "finite",
        ),
        (
            "equal physical limits",
            mutate(&|b| put(b, field(signals, 4, 0), "-800")),
            "two different",
        ),
        (
            "inverted digital range",
            mutate(&|b| {
                put(b, field(signals, 5, 0), "100");
                put(b, field(signals, 6, 0), "-100");
            }),
            "digital",
        ),
        (
            "values outside the digital range",
            mutate(&|b| put(b, field(signals, 6, 0), "100")),
            "outside the header's digital range",
        ),
        (
            "not a voltage",
            mutate(&|b| put(b, field(signals, 2, 0), "degC")),
            "not a voltage",
        ),
    ];
    for (name, bytes, expected) in cases {
        let file = dir.path().join(format!("{}.edf", name.replace(' ', "_")));
        std::fs::write(&file, &bytes).unwrap();
        let error = match Recording::open(&file) {
            Err(e) => e.to_string(),
            Ok(mut recording) => match recording.read(&["EEG Fp1-F7"]) {
                Err(e) => e.to_string(),
                Ok(_) => panic!("{name}: read without complaint"),
            },
        };
        assert!(error.contains(expected), "{name}: {error}");
        assert!(
            error.contains(&file.display().to_string()),
            "{name}: the file is named: {error}"
        );
    }
}

#[test]
fn any_damaged_header_byte_is_an_error_or_a_reading_never_a_crash() {
    let Some(python) = test_support::scoring_python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = standard_file(&python, dir.path());
    let good = std::fs::read(&path).unwrap();
    let file = dir.path().join("flipped.edf");
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..400 {
        let mut bytes = good.clone();
        for _ in 0..1 + next() % 3 {
            let at = (next() % 1280) as usize;
            bytes[at] = b"0123456789 -.+eEnaNiIfx\x00\xff"[(next() % 25) as usize];
        }
        std::fs::write(&file, &bytes).unwrap();
        if let Ok(mut recording) = Recording::open(&file) {
            let labels: Vec<String> = recording
                .signals()
                .iter()
                .map(|s| s.label.clone())
                .collect();
            for label in labels {
                // Ok or a refusal; a panic fails the test.
                let _ = recording.read(&[label.as_str()]);
            }
        }
    }
}

/// Replaces `from` by `to` in the file's bytes (the annotation signal's NUL padding takes a
/// longer text).
fn patch(path: &Path, from: &[u8], to: &[u8]) {
    let mut bytes = std::fs::read(path).unwrap();
    let at = bytes
        .windows(from.len())
        .position(|w| w == from)
        .unwrap_or_else(|| panic!("{:?} not in the file", String::from_utf8_lossy(from)));
    let padding = to.len().saturating_sub(from.len());
    assert!(
        bytes[at + from.len()..at + from.len() + padding]
            .iter()
            .all(|&b| b == 0),
        "no room for the longer text"
    );
    bytes.splice(at..at + from.len() + padding, to.iter().copied());
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn annotation_onsets_count_from_the_first_sample_as_edflib_reads_them() {
    let Some(python) = test_support::scoring_python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("late.edf");
    write(
        &python,
        &path,
        true,
        json!([{"label": "Fp1", "dimension": "uV", "rate": 256, "physical_min": -500.0,
                "physical_max": 500.0, "samples": rhythm(256.0, 100.0)}]),
        json!([[4.0, 2.0, "seizure"]]),
    );
    // The first sample taken half a second after the header's start time (every record's
    // time-keeping annotation half a second later), the seizure marked at 4.5 s from that
    // start: 4.0 s into the signal.
    patch(
        &path,
        b"+0\x14\x14\x00+4\x152\x14seizure\x14\x00",
        b"+0.5\x14\x14\x00+4.5\x152\x14seizure\x14\x00",
    );
    for record in 1..30 {
        patch(
            &path,
            format!("+{record}\x14\x14\x00").as_bytes(),
            format!("+{record}.5\x14\x14\x00").as_bytes(),
        );
    }
    let script = workspace_root().join("crates/eeg-edf/tests/clients/pyedflib_annotations.py");
    let theirs = test_support::json_through_python(&python, &script, &json!({"path": path}));
    let mut recording = Recording::open(&path).unwrap();
    let annotations = recording.annotations().unwrap();
    assert_eq!(annotations.len(), 1, "{annotations:?}");
    assert!(
        (annotations[0].onset_s - 4.0).abs() < 1e-9,
        "{annotations:?}"
    );
    assert!(
        (annotations[0].onset_s - theirs["annotations"][0][0].as_f64().unwrap()).abs() < 1e-6,
        "{annotations:?} vs {theirs}"
    );

    // Times that are not finite are refused, naming the annotation.
    for (from, to) in [
        (&b"+4.5\x152"[..], &b"+inf\x152"[..]),
        (
            &b"+4.5\x152\x14seizure\x14\x00"[..],
            &b"+4.5\x15inf\x14seizure\x14\x00"[..],
        ),
    ] {
        let hostile = dir.path().join("hostile.edf");
        std::fs::copy(&path, &hostile).unwrap();
        patch(&hostile, from, to);
        let error = Recording::open(&hostile)
            .and_then(|mut r| r.annotations())
            .unwrap_err()
            .to_string();
        assert!(error.contains("not finite"), "{error}");
    }
}
