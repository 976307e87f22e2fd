//! Bedside monitoring from the command line: `evaluate-events` on recordings spliced from the
//! held-out split (cross-checked against the `timescoring` package), and `monitor` on a long
//! recording, with the hostile inputs a careless export would produce.

mod common;

use std::path::Path;
use std::sync::OnceLock;

use common::{seizure_ops, QUICK};
use serde_json::{json, Value};
use test_support::{run_ok, workspace_root};

/// One quick pipeline (synthetic data, one epoch) shared by the tests: its home keeps
/// `data/` and `production/`.
fn home() -> &'static Path {
    static HOME: OnceLock<tempfile::TempDir> = OnceLock::new();
    HOME.get_or_init(|| {
        let home = tempfile::tempdir().unwrap();
        run_ok(seizure_ops(home.path()).arg("pipeline").args(QUICK));
        home
    })
    .path()
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// `timescoring`'s counts for each recording of a report.
fn timescoring(report: &Value) -> Option<Vec<Value>> {
    let python = test_support::scoring_python()?;
    let pairs = |list: &Value, from: &str, to: &str| -> Value {
        list.as_array()
            .unwrap()
            .iter()
            .map(|e| json!([e[from], e[to]]))
            .collect()
    };
    let cases: Vec<Value> = report["recordings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            json!({
                "duration_s": r["duration_s"],
                "reference": pairs(&r["seizures"], "start_s", "end_s"),
                "hypothesis": pairs(&r["alarms"], "start_s", "end_s"),
            })
        })
        .collect();
    let script = workspace_root().join("crates/bedside/tests/clients/timescoring_check.py");
    let scores = test_support::json_through_python(&python, &script, &Value::from(cases));
    Some(serde_json::from_value(scores).unwrap())
}

#[test]
fn evaluate_events_scores_spliced_held_out_recordings_like_timescoring() {
    let home = home();
    let out = home.join("reports/events-test.json");
    let run = || {
        run_ok(seizure_ops(home).args([
            "evaluate-events",
            "--recordings",
            "2",
            "--hours",
            "0.5",
            "--seizures",
            "5",
            "--plots",
            "--out",
            out.to_str().unwrap(),
        ]))
    };
    let printed = String::from_utf8(run().stdout).unwrap();
    assert!(
        printed.contains("total") && printed.contains("targets"),
        "{printed}"
    );
    let first = std::fs::read(&out).unwrap();
    // Deterministic from the seed: a second run writes the same bytes.
    run();
    assert_eq!(first, std::fs::read(&out).unwrap());

    let report = read_json(&out);
    assert_eq!(report["split"], "test");
    let recordings = report["recordings"].as_array().unwrap();
    assert_eq!(recordings.len(), 2);
    let mut refs = 0;
    for r in recordings {
        let hours = r["duration_s"].as_f64().unwrap() / 3600.0;
        assert!((0.4..0.6).contains(&hours), "{hours}");
        assert_eq!(r["seizures"].as_array().unwrap().len(), 5);
        refs += r["summary"]["reference_events"].as_u64().unwrap();
        let svg = home.join(format!("reports/events-{}.svg", r["seed"]));
        let svg = std::fs::read_to_string(svg).unwrap();
        assert_eq!(svg.matches(r#"class="seizure""#).count(), 5);
    }
    assert_eq!(report["total"]["reference_events"].as_u64(), Some(refs));
    // The verdict is the total against the stated targets, recomputed here.
    let (total, targets) = (&report["total"], &report["targets"]);
    let at_most = |value: &serde_json::Value, bound: &str| {
        value
            .as_f64()
            .is_some_and(|v| v <= targets[bound].as_f64().unwrap())
    };
    let meets = total["sensitivity"]
        .as_f64()
        .is_some_and(|s| s >= targets["min_sensitivity"].as_f64().unwrap())
        && at_most(&total["false_alarms_per_hour"], "max_false_alarms_per_hour")
        && at_most(&total["latency_median_s"], "max_latency_median_s");
    assert_eq!(report["meets_targets"], meets, "{total} against {targets}");

    let Some(theirs) = timescoring(&report) else {
        return;
    };
    for (r, t) in recordings.iter().zip(&theirs) {
        let s = &r["summary"];
        assert_eq!(s["reference_events"], t["ref_true"], "{r} vs {t}");
        assert_eq!(s["true_positives"], t["tp"], "{r} vs {t}");
        assert_eq!(s["false_positives"], t["fp"], "{r} vs {t}");
        assert_eq!(s["sensitivity"], t["sensitivity"], "{r} vs {t}");
        let per_day = s["false_alarms_per_day"].as_f64().unwrap();
        assert!((per_day - t["fp_per_day"].as_f64().unwrap()).abs() < 1e-9 * per_day.max(1.0));
    }
}

#[test]
fn monitor_writes_events_and_a_strip_chart() {
    let home = home();
    let dir = tempfile::tempdir().unwrap();
    // Two minutes: background, a seizure segment, background (the synthetic generator's
    // reference segments), one sample per line.
    let mut samples = Vec::new();
    for (class, seed) in [(5, 1), (5, 2), (1, 3), (1, 4), (5, 5)] {
        samples.extend(eeg_data::synthetic::reference_segment(class, seed));
    }
    let lines: String = samples.iter().map(|v| format!("{v}\n")).collect();
    let input = dir.path().join("bed 7.txt");
    std::fs::write(&input, &lines).unwrap();
    // With the tiny test model, the most sensitive rule (1 of 1) for a sure alarm.
    let printed = run_ok(
        seizure_ops(home)
            .args(["monitor", "--alarm-k", "1", "--alarm-n", "1", "--input"])
            .arg(&input),
    )
    .stdout;
    let printed = String::from_utf8(printed).unwrap();
    assert!(printed.contains("alarm(s)"), "{printed}");
    let events = read_json(&dir.path().join("bed 7.events.json"));
    assert_eq!(events["samples"].as_u64(), Some(samples.len() as u64));
    let windows = events["windows"].as_u64().unwrap();
    assert_eq!(windows, ((samples.len() - 178) / 87 + 1) as u64);
    assert_eq!(events["config"]["hop"], 87);
    assert_eq!(events["config"]["rule"]["k"], 1);
    // An alarm overlaps the seizure segments (47.2-94.3 s).
    let alarms = events["alarms"].as_array().unwrap();
    assert!(
        alarms.iter().any(
            |a| a["onset_s"].as_f64().unwrap() < 94.3 && a["offset_s"].as_f64().unwrap() > 47.2
        ),
        "{alarms:?}"
    );
    // Onsets and offsets alternate, in time order.
    let list = events["events"].as_array().unwrap();
    for (i, event) in list.iter().enumerate() {
        let expected = if i % 2 == 0 {
            "seizure_onset"
        } else {
            "seizure_offset"
        };
        assert_eq!(event["type"], expected, "{list:?}");
    }
    let svg = std::fs::read_to_string(dir.path().join("bed 7.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains(r#"class="probability""#));

    // The same samples as a CSV column give the same events.
    let csv: String = std::iter::once("time,Fp1\n".to_owned())
        .chain(
            samples
                .iter()
                .enumerate()
                .map(|(i, v)| format!("{i},{v}\n")),
        )
        .collect();
    let csv_path = dir.path().join("bed.csv");
    std::fs::write(&csv_path, csv).unwrap();
    run_ok(
        seizure_ops(home)
            .args(["monitor", "--alarm-k", "1", "--alarm-n", "1"])
            .args(["--column", "Fp1", "--input"])
            .arg(&csv_path),
    );
    assert_eq!(
        read_json(&dir.path().join("bed.events.json"))["events"],
        events["events"]
    );
}

#[test]
fn monitor_refuses_hostile_input_naming_file_line_and_field() {
    let home = home();
    let dir = tempfile::tempdir().unwrap();
    let good: String = (0..400)
        .map(|i| format!("{}\n", (i as f32 * 0.1).sin() * 50.0))
        .collect();
    let cases: [(&str, String, &[&str], &str); 15] = [
        (
            "text.txt",
            good.clone() + "12\nabc\n",
            &[],
            "text.txt:402: field sample: \"abc\" is not a number",
        ),
        (
            "huge.txt",
            good.clone() + "1e39\n",
            &[],
            "huge.txt:401: field sample: 1e39 is outside",
        ),
        (
            "nan.txt",
            good.clone() + "NaN\n",
            &[],
            "nan.txt:401: field sample: NaN is not a finite number",
        ),
        (
            "inf.txt",
            "inf\n".to_owned() + &good,
            &[],
            "inf.txt:1: field sample: inf is not a finite number",
        ),
        (
            "short.txt",
            "1\n2\n3\n".into(),
            &[],
            "3 samples, fewer than one window",
        ),
        ("empty.txt", String::new(), &[], "0 samples"),
        (
            "cols.csv",
            "a,b\n1,2\n".into(),
            &["--column", "Fp1"],
            "no column \"Fp1\"",
        ),
        (
            "ragged.csv",
            "a,b\n1,2\n3\n".into(),
            &["--column", "a"],
            "ragged.csv",
        ),
        (
            "rule.txt",
            good.clone(),
            &["--alarm-k", "9", "--alarm-n", "3"],
            "k = 9 of n = 3",
        ),
        (
            "long.txt",
            "1".repeat(5_000_000),
            &[],
            "long.txt:1: longer than 1024 bytes",
        ),
        (
            "dup.csv",
            "Fp1,Fp1\n1,2\n".into(),
            &["--column", "Fp1"],
            "2 columns are named \"Fp1\"",
        ),
        (
            "self.txt",
            good.clone(),
            &["--events", "SELF"],
            "three different files",
        ),
        (
            "same.txt",
            good.clone(),
            &["--events", "OUT", "--plot", "OUT"],
            "three different files",
        ),
        (
            "nodir.txt",
            good.clone(),
            &["--plot", "NODIR"],
            "does not exist",
        ),
        (
            "quote.txt",
            good.clone() + &"x".repeat(500) + "\n",
            &[],
            "xxx...\" is not a number",
        ),
    ];
    for (name, text, extra, expected) in cases {
        let input = dir.path().join(name);
        std::fs::write(&input, &text).unwrap();
        let extra: Vec<String> = extra
            .iter()
            .map(|a| match *a {
                "SELF" => input.display().to_string(),
                "OUT" => dir.path().join("out").display().to_string(),
                "NODIR" => dir.path().join("no/such/dir/x.svg").display().to_string(),
                other => other.to_owned(),
            })
            .collect();
        let output = seizure_ops(home)
            .args(["monitor", "--input"])
            .arg(&input)
            .args(&extra)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{name} was accepted");
        assert!(stderr.contains(expected), "{name}: {stderr}");
        // Nothing is written for a refused input.
        let stem = name.split('.').next().unwrap();
        assert!(
            !dir.path().join(format!("{stem}.events.json")).exists(),
            "{name}"
        );
        assert!(!dir.path().join(format!("{stem}.svg")).exists(), "{name}");
        // The input is never touched.
        assert_eq!(std::fs::read_to_string(&input).unwrap(), text, "{name}");
    }
    assert!(!dir.path().join("no").exists(), "no directory is created");
    let device = seizure_ops(home)
        .args(["monitor", "--input", "/dev/zero"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&device.stderr).contains("not a regular file"));
    for bad in [
        ["--hop", "0"],
        ["--threshold", "NaN"],
        ["--refractory-s", "-1"],
    ] {
        let input = dir.path().join("rule.txt");
        let output = seizure_ops(home)
            .args(["monitor", "--input"])
            .arg(&input)
            .args(bad)
            .output()
            .unwrap();
        assert!(!output.status.success(), "{bad:?} was accepted");
    }
    let missing = seizure_ops(home)
        .args(["monitor", "--input", "nowhere.txt"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&missing.stderr).contains("nowhere.txt"));
}

/// Writes an EDF+ file through pyedflib: `signals` as the roundtrip script takes them.
fn write_edf(python: &Path, path: &Path, signals: Value, annotations: Value) {
    let script = workspace_root().join("crates/eeg-edf/tests/clients/pyedflib_roundtrip.py");
    test_support::json_through_python(
        python,
        &script,
        &json!({"path": path, "edf_plus": true, "signals": signals, "annotations": annotations}),
    );
}

#[test]
fn monitor_reads_an_edf_recording_at_256_hz_as_the_same_alarms() {
    let Some(python) = test_support::scoring_python() else {
        return;
    };
    let home = home();
    let dir = tempfile::tempdir().unwrap();
    let mut samples = Vec::new();
    for (class, seed) in [(5, 1), (5, 2), (1, 3), (1, 4), (5, 5)] {
        samples.extend(eeg_data::synthetic::reference_segment(class, seed));
    }
    let seizure = (2.0 * 4097.0 / 173.61, 2.0 * 4097.0 / 173.61);
    let text = dir.path().join("bed.txt");
    std::fs::write(
        &text,
        samples.iter().map(|v| format!("{v}\n")).collect::<String>(),
    )
    .unwrap();
    let edf = dir.path().join("bed.edf");
    let peak = samples.iter().fold(0f32, |m, v| m.max(v.abs())) as f64 * 1.5;
    let eeg = |label: &str, scale: f64| {
        json!({"label": label, "dimension": "uV", "rate": 256, "resample_from": 173.61,
               "physical_min": -peak * scale, "physical_max": peak * scale,
               "samples": samples.iter().map(|&v| f64::from(v) * scale).collect::<Vec<_>>()})
    };
    write_edf(
        &python,
        &edf,
        json!([eeg("EEG Fp1-F7", 1.0), eeg("EEG F7-T3", 0.9),
               {"label": "ECG I", "dimension": "mV", "rate": 256, "resample_from": 173.61,
                "physical_min": -5.0, "physical_max": 5.0, "samples": vec![0.0; samples.len()]}]),
        json!([[seizure.0, seizure.1, "seizure"]]),
    );
    let rule = ["--alarm-k", "3", "--alarm-n", "3"];
    let marks = dir.path().join("bed.alarms.edf");
    run_ok(
        seizure_ops(home)
            .args(["monitor", "--channel", "EEG Fp1-F7", "--annotations-out"])
            .arg(&marks)
            .arg("--input")
            .arg(&edf)
            .args(rule),
    );
    let from_edf = read_json(&dir.path().join("bed.events.json"));
    run_ok(
        seizure_ops(home)
            .args(["monitor", "--events"])
            .arg(dir.path().join("text.json"))
            .arg("--plot")
            .arg(dir.path().join("text.svg"))
            .arg("--input")
            .arg(&text)
            .args(rule),
    );
    let from_text = read_json(&dir.path().join("text.json"));
    assert_eq!(from_edf["input_format"], "EDF+C");
    assert_eq!(from_edf["input_sampling_hz"], 256.0);
    assert_eq!(from_edf["sampling_hz"], 173.61);
    assert_eq!(from_edf["channel"], "EEG Fp1-F7");
    assert_eq!(from_edf["conditioning"]["band_hz"], json!([0.53, 40.0]));
    assert_eq!(from_edf["annotations"][0]["text"], "seizure");
    // The annotated seizure is the reference the alarms are scored against.
    let scored = &from_edf["scored_against_annotations"];
    assert_eq!(scored["reference_events"], 1, "{scored}");
    assert_eq!(scored["true_positives"], 1, "{scored}");
    assert!(from_text.get("scored_against_annotations").is_none());
    assert_eq!(from_text["input_format"], "text");
    assert!(from_text.get("conditioning").is_none());
    // The same seizure, the same alarms, each raised within one hop (87 samples) of the
    // other rate's.
    let detected = |report: &Value| -> Vec<f64> {
        report["alarms"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["detected_s"].as_f64().unwrap())
            .collect()
    };
    let (ours, theirs) = (detected(&from_edf), detected(&from_text));
    assert!(
        !theirs.is_empty(),
        "the seizure raises an alarm: {from_text}"
    );
    assert_eq!(ours.len(), theirs.len(), "{ours:?} vs {theirs:?}");
    for (a, b) in ours.iter().zip(&theirs) {
        assert!(
            (a - b).abs() <= 87.0 / 173.61 + 1e-9,
            "{ours:?} vs {theirs:?}"
        );
    }
    assert!(
        theirs
            .iter()
            .any(|&d| d > seizure.0 && d < seizure.0 + seizure.1),
        "an alarm inside the annotated seizure: {theirs:?}"
    );
    let svg = std::fs::read_to_string(dir.path().join("bed.svg")).unwrap();
    assert!(svg.contains("EEG Fp1-F7"), "the chart names its channel");
    // The alarms written back as EDF+ annotations, as the reference reader sees them: one per
    // alarm, from onset to offset, on the recording's clock.
    let script = workspace_root().join("crates/eeg-edf/tests/clients/pyedflib_annotations.py");
    let theirs = test_support::json_through_python(&python, &script, &json!({"path": marks}));
    let recording = test_support::json_through_python(&python, &script, &json!({"path": edf}));
    assert_eq!(theirs["start"], recording["start"]);
    let written = theirs["annotations"].as_array().unwrap();
    let alarms = from_edf["alarms"].as_array().unwrap();
    assert_eq!(written.len(), alarms.len(), "{written:?}");
    for (mark, alarm) in written.iter().zip(alarms) {
        let onset = alarm["onset_s"].as_f64().unwrap();
        let duration = alarm["offset_s"].as_f64().unwrap() - onset;
        assert!(
            (mark[0].as_f64().unwrap() - onset).abs() < 1e-3,
            "{mark} vs {alarm}"
        );
        assert!(
            (mark[1].as_f64().unwrap() - duration).abs() < 1e-3,
            "{mark} vs {alarm}"
        );
        assert!(
            mark[2].as_str().unwrap().starts_with("seizure-ops alarm"),
            "{mark}"
        );
    }

    // The file's annotations as the reference of `evaluate-events`.
    let report = dir.path().join("edf-events.json");
    run_ok(
        seizure_ops(home)
            .args(["evaluate-events", "--channel", "EEG Fp1-F7", "--edf"])
            .arg(&edf)
            .arg("--out")
            .arg(&report)
            .args(rule),
    );
    let report = read_json(&report);
    assert_eq!(report["total"]["reference_events"], 1, "{report}");
    assert_eq!(report["total"]["true_positives"], 1, "{report}");
    assert_eq!(report["recordings"][0]["input_sampling_hz"], 256.0);
    let refused = seizure_ops(home)
        .args(["evaluate-events", "--edf"])
        .arg(&text)
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("not an EDF file"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );

    // Two channels: each scored, the alarms combined.
    run_ok(
        seizure_ops(home)
            .args(["monitor", "--channels", "EEG Fp1-F7,EEG F7-T3", "--events"])
            .arg(dir.path().join("both.json"))
            .arg("--plot")
            .arg(dir.path().join("both.svg"))
            .arg("--input")
            .arg(&edf)
            .args(rule),
    );
    let both = read_json(&dir.path().join("both.json"));
    assert_eq!(both["channels"].as_array().unwrap().len(), 2);
    assert_eq!(both["channels"][1]["label"], "EEG F7-T3");
    assert!(
        both.get("events").is_none(),
        "each channel has its own events"
    );
    assert!(!both["alarms"].as_array().unwrap().is_empty());

    // Refused, naming the file and what is wrong; nothing written.
    let mut truncated = std::fs::read(&edf).unwrap();
    truncated.truncate(truncated.len() - 1000);
    std::fs::write(dir.path().join("cut.edf"), &truncated).unwrap();
    std::fs::write(dir.path().join("slow.txt"), "1\n".repeat(1000)).unwrap();
    let cases: [(&str, &[&str], &str); 7] = [
        (
            "slow.txt",
            &["--annotations-out", "x.edf"],
            "for an EDF recording",
        ),
        ("bed.edf", &["--channel", "ECG I"], "not EEG"),
        ("bed.edf", &[], "3 signals; choose one with --channel"),
        (
            "bed.edf",
            &["--column", "x"],
            "--column and --input-hz are for text files",
        ),
        (
            "bed.edf",
            &["--channels", "EEG Fp1-F7,EEG Fp1-F7"],
            "named twice",
        ),
        ("cut.edf", &["--channel", "EEG Fp1-F7"], "truncated"),
        ("slow.txt", &["--input-hz", "50"], "outside the range taken"),
    ];
    for (name, extra, expected) in cases {
        let output = seizure_ops(home)
            .args(["monitor", "--events"])
            .arg(dir.path().join("refused.json"))
            .arg("--input")
            .arg(dir.path().join(name))
            .args(extra)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{name} {extra:?} was accepted");
        assert!(
            stderr.contains(expected) && stderr.contains(name),
            "{name} {extra:?}: {stderr}"
        );
        assert!(!dir.path().join("refused.json").exists());
    }
}
