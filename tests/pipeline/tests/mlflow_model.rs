//! The trained network outside Rust: its ONNX export scored by onnxruntime, and the MLflow
//! logged model loaded by MLflow's own Python client from a real tracking server, both
//! against our predictor on the same real recordings (the UCI data set when present), and the
//! registered version's schema as MLflow's UI shows it in headless Chromium.

use std::path::Path;
use std::process::Command;

use burn::prelude::Device;
use eeg_data::layout::InputLayout;
use eeg_data::layout::{Centring, Normalisation};
use pipeline_tests::Workspace;
use seizure_model::temperature::TemperatureScaling;
use seizure_model::{artifact, onnx, ModelCard, ModelConfig, Predictor, SeizureNet};
use serde_json::{json, Value};

/// Largest difference allowed between our probabilities and another runtime's.
const TOLERANCE: f64 = 1e-5;

/// Recordings to score: 400 rows of the real data set spread over all five classes, or the
/// synthetic set's when the real one is absent (said on stderr).
fn recordings(ws: &Workspace) -> Vec<Vec<f32>> {
    let path = test_support::real_data_csv().unwrap_or_else(|| {
        eprintln!("no real data set: scoring synthetic recordings instead");
        ws.path("raw/eeg.csv")
    });
    let data = eeg_data::uci::read_file(&path, Default::default()).unwrap();
    let step = (data.rows.len() / 400).max(1);
    (0..data.rows.len())
        .step_by(step)
        .take(400)
        .map(|i| data.row_samples(i).to_vec())
        .collect()
}

fn card_normalisation(predictor: &Predictor) -> Normalisation {
    predictor.card().normalisation
}

fn ours(predictor: &Predictor, recordings: &[Vec<f32>]) -> Vec<f32> {
    predictor.predict(&recordings.concat())
}

/// Runs a client script from tests/pipeline/clients; returns its JSON answer.
fn client(python: &Path, script: &str, args: &[&str], env: &[(&str, &str)]) -> Value {
    let script = test_support::workspace_root()
        .join("tests/pipeline/clients")
        .join(script);
    let mut command = Command::new(python);
    command.arg(script).args(args);
    for (key, value) in env {
        command.env(key, value);
    }
    let output = test_support::run_ok(&mut command);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

/// `ours` and `theirs` agree to [`TOLERANCE`]; a trained model's answers also vary.
fn assert_same_probabilities(what: &str, ours: &[f32], theirs: &Value, trained: bool) {
    let theirs: Vec<f64> = theirs
        .as_array()
        .unwrap_or_else(|| panic!("{what}: no probabilities"))
        .iter()
        .map(|p| p.as_f64().unwrap())
        .collect();
    assert_eq!(ours.len(), theirs.len(), "{what}");
    let worst = ours
        .iter()
        .zip(&theirs)
        .map(|(a, b)| (f64::from(*a) - b).abs())
        .fold(0f64, f64::max);
    eprintln!(
        "{what}: largest difference {worst:e} over {} recordings",
        ours.len()
    );
    assert!(worst <= TOLERANCE, "{what}: largest difference {worst:e}");
    if !trained {
        return;
    }
    // Not a degenerate model: the recordings get different answers.
    let spread = ours.iter().cloned().fold(f32::MIN, f32::max)
        - ours.iter().cloned().fold(f32::MAX, f32::min);
    assert!(spread > 1e-3, "{what}: every probability is the same");
}

fn write_fixture(dir: &Path, recordings: &[Vec<f32>]) -> std::path::PathBuf {
    let path = dir.join("recordings.json");
    std::fs::write(&path, json!({ "recordings": recordings }).to_string()).unwrap();
    path
}

#[test]
fn the_onnx_export_scores_like_our_predictor_in_onnxruntime() {
    let Some(python) = test_support::mlflow_python() else {
        return;
    };
    let ws = Workspace::new(None);
    let recordings = recordings(&ws);
    let fixture = write_fixture(ws.dir.path(), &recordings);
    let out = ws.dir.path().join("exports");
    std::fs::create_dir(&out).unwrap();

    // The trained frames network, as trained (per-window centring) and with the other
    // normalisation and temperature scaling; then the convolutional front end.
    ws.train(2, 3e-3);
    let (card, network) = artifact::load(&ws.path("models"), &Device::flex()).unwrap();
    let mut global = card.clone();
    global.normalisation = Normalisation {
        centring: Centring::Global,
        mean: -4.25,
        std: 165.0,
    };
    global.temperature_scaling = Some(TemperatureScaling {
        temperature: 1.7,
        validation_nll_before: 0.3,
        validation_nll_after: 0.2,
    });
    let mut variants = vec![
        ("frames", Predictor::from_network(card, &network)),
        (
            "frames-global-tempered",
            Predictor::from_network(global, &network),
        ),
    ];
    // The whole-recording layout (178 x 1: no Slice in the graph), untrained weights.
    let device = Device::flex();
    device.seed(3);
    let long = ModelConfig::with_layout(InputLayout::new(178, 1).unwrap());
    let mut long_card = ModelCard::new(long, card_normalisation(&variants[0].1));
    long_card.weights_md5 = "untrained".into();
    variants.push((
        "frames-178x1-untrained",
        Predictor::from_network(long_card, &SeizureNet::new(&long, &device)),
    ));
    // What training itself wrote (exported from the trained conv network).
    ws.train_with(2, 3e-3, |args| {
        args.front_end = training::FrontEndArg::Conv;
    });
    variants.push(("conv", Predictor::load(&ws.path("models")).unwrap()));

    for (name, predictor) in &variants {
        let path = if *name == "conv" {
            ws.path("models").join(onnx::ONNX_FILE)
        } else {
            let path = out.join(format!("{name}.onnx"));
            std::fs::write(&path, onnx::export(predictor)).unwrap();
            path
        };
        let answer = client(
            &python,
            "onnx_check.py",
            &[path.to_str().unwrap(), fixture.to_str().unwrap()],
            &[],
        );
        assert_eq!(answer["opset"], onnx::OPSET);
        assert_eq!(answer["inputs"], json!([[onnx::INPUT, ["batch", 178]]]));
        assert_eq!(answer["outputs"], json!([[onnx::OUTPUT, ["batch"]]]));
        let card: Value =
            serde_json::from_str(answer["metadata"]["model_card"].as_str().unwrap()).unwrap();
        assert_eq!(card["weights_md5"], predictor.card().weights_md5.as_str());
        assert_same_probabilities(
            &format!("onnxruntime, {name}"),
            &ours(predictor, &recordings),
            &answer["probabilities"],
            !name.ends_with("untrained"),
        );
    }
    // The trained artifact carries its export (scored above) and its MLflow files.
    for file in [
        onnx::ONNX_FILE,
        "MLmodel",
        "input_example.json",
        "requirements.txt",
    ] {
        assert!(ws.path("models").join(file).is_file(), "{file}");
    }
}

#[test]
fn mlflow_pyfunc_loads_the_production_model_from_the_registry() {
    let Some(uri) = test_support::mlflow_uri() else {
        test_support::skip("no MLflow server (MLFLOW_TEST_URI)");
        return;
    };
    let Some(python) = test_support::mlflow_python() else {
        return;
    };
    let ws = Workspace::new(Some(uri.clone()));
    let trained = ws.train(2, 3e-3);
    let (report, promoted) = ws.evaluate();
    assert!(promoted.is_some(), "{}", report.decision.reason);
    let recordings = recordings(&ws);
    let fixture = write_fixture(ws.dir.path(), &recordings);
    let name = ws.registry().model_name;
    let answer = client(
        &python,
        "mlflow_model_check.py",
        &[&name, fixture.to_str().unwrap()],
        &[("MLFLOW_TRACKING_URI", &uri)],
    );
    let predictor = Predictor::load(&ws.path("production")).unwrap();
    assert_same_probabilities(
        "mlflow.pyfunc",
        &ours(&predictor, &recordings),
        &answer["probabilities"],
        true,
    );
    assert_eq!(
        answer["signature"]["inputs"],
        json!([{ "type": "tensor", "tensor-spec": { "dtype": "float32", "shape": [-1, 178] } }])
    );
    assert_eq!(
        answer["signature"]["outputs"],
        json!([{ "type": "tensor", "tensor-spec": { "dtype": "float32", "shape": [-1] } }])
    );
    assert_eq!(answer["flavors"], json!(["onnx", "python_function"]));
    assert_eq!(answer["input_example_shape"], json!([2, 178]));
    // Registered from an MLflow 3 logged model of the training run, ready.
    assert!(
        answer["model_id"].as_str().is_some_and(|id| !id.is_empty()),
        "{answer}"
    );
    assert_eq!(answer["logged_model_status"], "READY", "{answer}");
    assert_eq!(answer["logged_model_run"], trained.run_id.as_str());
    assert_eq!(answer["version_run"], trained.run_id.as_str());

    // What a person sees: the MLflow UI's page of the version, rendered by headless Chromium,
    // shows the schema (it showed "Inputs (0)" / "Outputs (0)" before the logged model) and
    // the logged model it came from.
    let Some(chromium) = test_support::chromium() else {
        return;
    };
    let version = answer["version"].as_str().unwrap();
    let page = format!("{uri}/#/models/{name}/versions/{version}");
    let (dom, log) = test_support::render_page(&chromium, &page);
    let text = visible_text(&dom);
    for shown in [
        "Inputs (1)",
        "Outputs (1)",
        "Source Model",
        "Aliases",
        "production",
    ] {
        assert!(
            text.contains(shown),
            "{page} does not show {shown:?}: {text}\n{log}"
        );
    }
}

/// The text of a rendered page: tags dropped, whitespace collapsed.
fn visible_text(dom: &str) -> String {
    let mut text = String::with_capacity(dom.len());
    let mut in_tag = false;
    for c in dom.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                text.push(' ');
            }
            _ if !in_tag => text.push(c),
            _ => {}
        }
    }
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
