//! The preprocessing binary end to end: outputs, error reporting, atomicity.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use artifact_store::dvc::{hash_dir, DvcPointer};
use eeg_data::processed::{ProcessedDataset, Split};

const BIN: &str = env!("CARGO_BIN_EXE_preprocessing");

fn preprocessing(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .current_dir(dir)
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("the binary runs")
}

fn synth(dir: &Path, segments_per_class: usize) -> PathBuf {
    let csv = dir.join("raw/synthetic.csv");
    let out = preprocessing(
        dir,
        &[
            "synth",
            "--out",
            "raw/synthetic.csv",
            "--segments-per-class",
            &segments_per_class.to_string(),
            "--seed",
            "11",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    csv
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn synthetic_run_writes_a_complete_leakage_free_dataset() {
    let dir = tempfile::tempdir().unwrap();
    synth(dir.path(), 10);
    let out = preprocessing(dir.path(), &["run", "--input", "raw/synthetic.csv"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("1150 rows"), "{stdout}");
    assert!(stdout.contains("patient_pool"), "{stdout}");

    let dataset = ProcessedDataset::open(&dir.path().join("data")).unwrap();
    let manifest = &dataset.manifest;
    assert_eq!(manifest.segments.len(), 50);
    assert_eq!(manifest.layout.samples_used(), 176);
    let mut seen = HashSet::new();
    for split in Split::ALL {
        let arrays = dataset.split(split).unwrap();
        assert_eq!(arrays.x.shape()[1..], [22, 8]);
        let segments: HashSet<u32> = arrays.segment.iter().copied().collect();
        assert!(seen.is_disjoint(&segments), "{split:?} shares a segment");
        seen.extend(segments);
    }
    // Balanced by class weights (the default): every training row kept, each class weighing
    // the same in the loss.
    let train = &manifest.splits[&Split::Train];
    let [others, seizures] = train.label_counts;
    assert_eq!(others, 4 * seizures, "every row kept");
    let weighed = |label: usize| manifest.class_weights[label] * train.label_counts[label] as f64;
    assert!(
        (weighed(0) - weighed(1)).abs() < 1e-9,
        "both classes weigh the same"
    );
    assert_eq!(dataset.raw(Split::PatientPool).unwrap().shape(), [115, 178]);
    assert_eq!(dataset.raw(Split::Test).unwrap().shape(), [230, 178]);

    // The pointer describes the directory exactly, and the cache holds it.
    let pointer = DvcPointer::read(&dir.path().join("data.dvc")).unwrap();
    let hash = hash_dir(&dir.path().join("data")).unwrap();
    assert_eq!(pointer.md5, hash.md5);
    // 23 window files plus three continuous-signal files for each of
    // train, validation and test.
    assert_eq!(pointer.nfiles, Some(32));
    assert!(dir.path().join(".dvc/config").is_file());
}

#[test]
fn rerunning_with_the_same_input_reproduces_the_same_version() {
    let dir = tempfile::tempdir().unwrap();
    synth(dir.path(), 4);
    let run = || {
        let out = preprocessing(dir.path(), &["run", "--input", "raw/synthetic.csv"]);
        assert!(out.status.success(), "{}", stderr(&out));
        DvcPointer::read(&dir.path().join("data.dvc")).unwrap()
    };
    let first = run();
    assert_eq!(run(), first);
    let out = preprocessing(
        dir.path(),
        &["run", "--input", "raw/synthetic.csv", "--seed", "7"],
    );
    assert!(out.status.success());
    assert_ne!(
        DvcPointer::read(&dir.path().join("data.dvc")).unwrap(),
        first
    );
}

#[test]
fn bad_row_stops_the_run_naming_file_line_column_and_value() {
    let dir = tempfile::tempdir().unwrap();
    let csv = synth(dir.path(), 2);
    let text = fs::read_to_string(&csv).unwrap();
    let mut lines: Vec<String> = text.split("\r\n").map(String::from).collect();
    let mut fields: Vec<String> = lines[5].split(',').map(String::from).collect();
    fields[3] = "3.5e2".into();
    lines[5] = fields.join(",");
    fs::write(&csv, lines.join("\r\n")).unwrap();

    let out = preprocessing(dir.path(), &["run", "--input", "raw/synthetic.csv"]);
    assert!(!out.status.success());
    let message = stderr(&out);
    assert_eq!(
        message.trim(),
        "error: raw/synthetic.csv:6: column X3: expected an integer sample (found \"3.5e2\")"
    );
    assert!(!dir.path().join("data").exists(), "nothing written");
    assert!(!dir.path().join("data.dvc").exists());

    // With --skip-bad-rows the row is left out and reported.
    let out = preprocessing(
        dir.path(),
        &["run", "--input", "raw/synthetic.csv", "--skip-bad-rows"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("skipped 1 bad rows, on lines 6"),
        "{}",
        stderr(&out)
    );
    let manifest = ProcessedDataset::open(&dir.path().join("data"))
        .unwrap()
        .manifest;
    assert_eq!(manifest.source.skipped_lines, [6]);
    assert_eq!(manifest.source.rows, 229);
}

#[test]
fn unusable_inputs_fail_with_one_line_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("empty.csv"), "").unwrap();
    fs::write(
        dir.path().join("iris.csv"),
        "sepal,petal,species\n1,2,setosa\n",
    )
    .unwrap();
    let cases = [
        ("empty.csv", "error: empty.csv: the file is empty"),
        (
            "iris.csv",
            "error: iris.csv: not a UCI Epileptic Seizure Recognition CSV: the header has 3 columns, expected 180 (Unnamed, X1..X178, y)",
        ),
        ("missing.csv", "error: cannot read missing.csv: No such file or directory (os error 2)"),
    ];
    for (input, expected) in cases {
        let out = preprocessing(dir.path(), &["run", "--input", input]);
        assert_eq!(out.status.code(), Some(1), "{input}");
        assert_eq!(stderr(&out).trim(), expected);
        assert_eq!(stderr(&out).trim().lines().count(), 1);
    }
    let entries: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(entries.len(), 2, "only the two inputs remain");
}

#[test]
fn invalid_options_are_refused_before_reading() {
    let dir = tempfile::tempdir().unwrap();
    synth(dir.path(), 2);
    let out = preprocessing(
        dir.path(),
        &["run", "--input", "raw/synthetic.csv", "--train", "0.9"],
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("not 1"), "{}", stderr(&out));
    let out = preprocessing(
        dir.path(),
        &["run", "--input", "raw/synthetic.csv", "--timesteps", "30"],
    );
    assert!(
        stderr(&out).contains("layout 30 x 8 needs 240 samples"),
        "{}",
        stderr(&out)
    );
    assert!(!dir.path().join("data").exists());
}

#[test]
fn a_failed_run_leaves_the_previous_version_in_place() {
    let dir = tempfile::tempdir().unwrap();
    synth(dir.path(), 2);
    let out = preprocessing(dir.path(), &["run", "--input", "raw/synthetic.csv"]);
    assert!(out.status.success());
    let before = hash_dir(&dir.path().join("data")).unwrap();
    let pointer_before = fs::read(dir.path().join("data.dvc")).unwrap();
    fs::write(dir.path().join("raw/broken.csv"), "Unnamed,X1\n").unwrap();
    let out = preprocessing(dir.path(), &["run", "--input", "raw/broken.csv"]);
    assert!(!out.status.success());
    assert_eq!(hash_dir(&dir.path().join("data")).unwrap(), before);
    assert_eq!(
        fs::read(dir.path().join("data.dvc")).unwrap(),
        pointer_before
    );
}

#[test]
fn layout_and_balance_are_configurable() {
    let dir = tempfile::tempdir().unwrap();
    synth(dir.path(), 5);
    let out = preprocessing(
        dir.path(),
        &[
            "run",
            "--input",
            "raw/synthetic.csv",
            "--timesteps",
            "178",
            "--features",
            "1",
            "--balance",
            "weight",
            "--no-dvc",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let dataset = ProcessedDataset::open(&dir.path().join("data")).unwrap();
    let train = dataset.split(Split::Train).unwrap();
    assert_eq!(train.x.shape()[1..], [178, 1]);
    let counts = dataset.manifest.splits[&Split::Train].label_counts;
    assert_eq!(counts[0], 4 * counts[1], "weighting keeps every row");
    let weights = dataset.manifest.class_weights;
    assert!((weights[0] * counts[0] as f64 - weights[1] * counts[1] as f64).abs() < 1e-9);
    assert!(!dir.path().join("data.dvc").exists());
}
