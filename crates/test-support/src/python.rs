//! The Python of the project's tool venvs (clients and libraries the project did not write),
//! and running a script that speaks JSON.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::tools::venv_tool;

/// The Python of the venv holding Triton's HTTP client (`tritonclient[http]`, an Open
/// Inference Protocol client), from the project's tools; skips loudly when it is missing
/// outside CI.
pub fn tritonclient_python() -> Option<PathBuf> {
    venv_tool(
        None,
        "venv-tritonclient/bin/python",
        "no tritonclient (venv-tritonclient)",
    )
}

/// Runs `python script` with `input` as JSON on its standard input and returns what it prints
/// on standard output, parsed as JSON (the project's Python clients speak this way). Panics,
/// naming the script, when it fails.
pub fn json_through_python(
    python: &Path,
    script: &Path,
    input: &serde_json::Value,
) -> serde_json::Value {
    use std::io::Write;
    let mut child = Command::new(python)
        .arg(script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", script.display()));
    child
        .stdin
        .take()
        .expect("a piped stdin")
        .write_all(input.to_string().as_bytes())
        .expect("the script reads its input");
    let output = child.wait_with_output().expect("the script ends");
    assert!(output.status.success(), "{} failed", script.display());
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{} printed no JSON: {e}", script.display()))
}

/// The Python of the scoring venv: `timescoring` (the SzCORE event scorer) and scipy.
pub fn scoring_python() -> Option<PathBuf> {
    venv_tool(
        None,
        "venv-scoring/bin/python",
        "no timescoring/scipy Python (venv-scoring)",
    )
}

/// The Python of the websockets venv: a WebSocket client the project did not write.
pub fn websockets_python() -> Option<PathBuf> {
    venv_tool(
        None,
        "venv-websockets/bin/python",
        "no websockets Python (venv-websockets)",
    )
}

/// The Python of the MLflow venv, which also holds `onnx` and `onnxruntime` (what MLflow's
/// `onnx` flavour loads with); skips loudly when it is missing outside CI.
pub fn mlflow_python() -> Option<PathBuf> {
    venv_tool(
        None,
        "venv-mlflow/bin/python",
        "no MLflow/onnxruntime Python (venv-mlflow)",
    )
}
