//! patient-pull from a processed dataset to a store that inference can read.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::Command;

use artifact_store::dvc::{DvcPointer, DvcRepo};
use eeg_data::layout::{Centring, InputLayout, Normalisation};
use eeg_data::processed::{
    self, Balance, Fractions, Manifest, SourceInfo, Split, SplitArrays, SplitSummary,
};
use eeg_data::SAMPLES_PER_RECORDING;
use ndarray::{Array1, Array2, Array3};
use patient_store::labels::read_labels;
use patient_store::PatientStore;

const BIN: &str = env!("CARGO_BIN_EXE_patient-pull");

/// A processed dataset whose pool holds segments `V1.2` (class 1, chunks 3, 1, 2 shuffled) and
/// `V1.4` (class 4, chunks 2, 1); sample values encode (segment, chunk, position).
fn write_dataset(dir: &Path) {
    let segments = ["V1.1", "V1.2", "V1.3", "V1.4"].map(String::from).to_vec();
    let pool_rows: [(u32, u8, u8); 5] = [(1, 3, 1), (3, 2, 4), (1, 1, 1), (3, 1, 4), (1, 2, 1)];
    let layout = InputLayout::default();
    let raw = Array2::from_shape_fn((5, SAMPLES_PER_RECORDING), |(r, i)| {
        let (segment, chunk, _) = pool_rows[r];
        (segment * 10_000 + u32::from(chunk) * 1_000) as f32 + i as f32
    });
    let arrays = |rows: &[(u32, u8, u8)]| SplitArrays {
        x: Array3::zeros((rows.len(), layout.timesteps, layout.features)),
        y: rows
            .iter()
            .map(|r| eeg_data::binary_label(r.2))
            .collect::<Array1<u8>>(),
        class: rows.iter().map(|r| r.2).collect(),
        segment: rows.iter().map(|r| r.0).collect(),
        chunk: rows.iter().map(|r| r.1).collect(),
    };
    let other = [(0u32, 1u8, 2u8), (2, 1, 1)];
    let mut summaries = BTreeMap::new();
    for split in Split::ALL {
        let rows: &[(u32, u8, u8)] = if split == Split::PatientPool {
            &pool_rows
        } else {
            &other
        };
        let split_arrays = arrays(rows);
        processed::write_split(dir, split, &split_arrays).unwrap();
        summaries.insert(
            split,
            SplitSummary {
                rows: rows.len(),
                segments: 2,
                x_shape: [rows.len(), layout.timesteps, layout.features],
                label_counts: [0, 0],
                class_counts: BTreeMap::new(),
                signals: 0,
            },
        );
    }
    processed::write_raw(dir, Split::PatientPool, &raw).unwrap();
    let test_raw = Array2::zeros((other.len(), SAMPLES_PER_RECORDING));
    processed::write_raw(dir, Split::Test, &test_raw).unwrap();
    let manifest = Manifest {
        format_version: processed::FORMAT_VERSION,
        source: SourceInfo {
            file_name: "fixture.csv".into(),
            md5: "0".repeat(32),
            rows: 11,
            skipped_lines: vec![],
        },
        seed: 1,
        fractions: Fractions::default(),
        layout,
        samples_per_recording: SAMPLES_PER_RECORDING,
        balance: Balance::Undersample,
        class_weights: [1.0, 1.0],
        normalisation: Normalisation {
            centring: Centring::Global,
            mean: 0.0,
            std: 1.0,
        },
        label_names: eeg_data::LABEL_NAMES.map(String::from),
        segments,
        splits: summaries,
        fold: None,
    };
    processed::write_manifest(dir, &manifest).unwrap();
}

fn dataset_in(root: &Path) {
    fs::create_dir(root.join("data")).unwrap();
    write_dataset(&root.join("data"));
    DvcRepo::open_or_init(root)
        .unwrap()
        .add_dir(&root.join("data"))
        .unwrap();
}

#[test]
fn builds_a_store_with_stable_ids_chunk_order_and_no_labels() {
    let root = tempfile::tempdir().unwrap();
    dataset_in(root.path());
    let out = Command::new(BIN).current_dir(root.path()).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("wrote 2 patients (5 recordings)"),
        "{stdout}"
    );
    assert!(stdout.contains("patient ids: 2, 4"), "{stdout}");

    let store = PatientStore::open(&root.path().join("patients/store")).unwrap();
    assert_eq!(store.patient_ids(), [2, 4]);
    let data_pointer = DvcPointer::read(&root.path().join("data.dvc")).unwrap();
    assert_eq!(store.source_data_md5(), Some(data_pointer.md5.as_str()));

    let seizure = store.get(2).unwrap().unwrap();
    assert_eq!(seizure.segment, "V1.2");
    assert_eq!(seizure.chunks, [1, 2, 3]);
    for (k, chunk) in seizure.chunks.iter().enumerate() {
        let first = seizure.samples[k * SAMPLES_PER_RECORDING];
        assert_eq!(first, (10_000 + u32::from(*chunk) * 1_000) as f32);
        let last = seizure.samples[(k + 1) * SAMPLES_PER_RECORDING - 1];
        assert_eq!(last, first + 177.0);
    }
    assert_eq!(store.get(4).unwrap().unwrap().chunks, [1, 2]);
    assert_eq!(
        store.get(1).unwrap(),
        None,
        "training segments are not patients"
    );

    // Labels live beside the store, never in it.
    let store_files: Vec<String> = fs::read_dir(root.path().join("patients/store"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(store_files.iter().all(|f| !f.contains("label")));
    let index = fs::read_to_string(root.path().join("patients/store/index.json")).unwrap();
    assert!(!index.contains("class") && !index.contains("seizure"));
    let labels = read_labels(&root.path().join("patients/labels.csv")).unwrap();
    let summary: Vec<(u64, bool)> = labels.iter().map(|l| (l.patient_id, l.seizure)).collect();
    assert_eq!(summary, [(2, true), (4, false)]);

    let pointer = DvcPointer::read(&root.path().join("patients.dvc")).unwrap();
    assert_eq!(pointer.nfiles, Some(3), "index, recordings, labels");
}

#[test]
fn missing_dataset_is_a_clear_error_and_writes_nothing() {
    let root = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .current_dir(root.path())
        .args(["--data", "nowhere"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr
            .starts_with("error: cannot open the processed dataset nowhere: nowhere/manifest.json"),
        "{stderr}"
    );
    assert_eq!(fs::read_dir(root.path()).unwrap().count(), 0);
}

#[test]
fn real_dvc_sees_the_store_as_up_to_date() {
    let root = tempfile::tempdir().unwrap();
    dataset_in(root.path());
    test_support::run_ok(Command::new(BIN).current_dir(root.path()));
    test_support::assert_dvc_status_clean(root.path());
}
