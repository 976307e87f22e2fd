//! An MLflow model directory around an ONNX network: the `MLmodel` file (the `onnx` flavour
//! and the `python_function` one that loads through it, the signature, the input example),
//! `input_example.json`, `serving_input_example.json` and `requirements.txt`, laid out as
//! `mlflow.onnx.save_model` (MLflow 3.17) writes them. With it, `mlflow.pyfunc.load_model`
//! and `mlflow models serve --env-manager local` load the model, and the MLflow UI shows its
//! input and output schema. Other files in the directory (our burn weights and model card)
//! travel with it as extra artifacts.

use std::path::Path;

use fs_err as fs;

use crate::{Result, TrackingError};

pub const MLMODEL_FILE: &str = "MLmodel";
pub const INPUT_EXAMPLE_FILE: &str = "input_example.json";
pub const SERVING_INPUT_EXAMPLE_FILE: &str = "serving_input_example.json";
pub const REQUIREMENTS_FILE: &str = "requirements.txt";

/// What the Python side needs to load an ONNX model (MLflow's `onnx` flavour imports both).
const REQUIREMENTS: &str = "mlflow>=3\nonnx>=1.12\nonnxruntime>=1.14\nnumpy\n";

/// A tensor in the signature: MLflow's `tensor-spec` (numpy dtype name; -1 for any size).
#[derive(Debug, Clone, PartialEq)]
pub struct TensorSpec {
    pub dtype: &'static str,
    pub shape: Vec<i64>,
}

impl TensorSpec {
    fn json(&self) -> String {
        serde_json::json!([{
            "type": "tensor",
            "tensor-spec": { "dtype": self.dtype, "shape": self.shape },
        }])
        .to_string()
    }
}

/// An ONNX network already written at `onnx_file` in the model directory.
#[derive(Debug, Clone)]
pub struct OnnxModel<'a> {
    /// The file, relative to the model directory.
    pub onnx_file: &'a str,
    /// The `onnx` package version that reads it (the flavour records it).
    pub onnx_version: &'a str,
    /// The run that produced the model, if tracked.
    pub run_id: Option<&'a str>,
    pub input: TensorSpec,
    pub output: TensorSpec,
    /// A few rows of real input, for the example files.
    pub input_example: &'a [Vec<f32>],
}

/// Writes the MLflow files for `model` into `dir`, which already holds the ONNX file. The
/// writes are plain: `dir` is meant to be a staging directory published atomically as a whole
/// (`artifact_store::atomic::replace_dir`).
pub fn write_onnx_model(dir: &Path, model: &OnnxModel) -> Result<()> {
    let onnx_path = dir.join(model.onnx_file);
    if !onnx_path.is_file() {
        return Err(TrackingError::Invalid(format!(
            "{} is not an ONNX file to describe",
            onnx_path.display()
        )));
    }
    if model.input_example.is_empty() {
        return Err(TrackingError::Invalid(
            "an MLflow model needs at least one input example row".into(),
        ));
    }
    let example = serde_json::to_string(model.input_example).expect("floats serialise");
    fs::write(dir.join(INPUT_EXAMPLE_FILE), &example)?;
    let serving =
        serde_json::to_string_pretty(&serde_json::json!({ "inputs": model.input_example }))
            .expect("floats serialise");
    fs::write(dir.join(SERVING_INPUT_EXAMPLE_FILE), serving)?;
    fs::write(dir.join(REQUIREMENTS_FILE), REQUIREMENTS)?;
    // MLflow counts every file of the model directory but MLmodel itself.
    let size: u64 = crate::files_under(dir)?
        .iter()
        .filter(|(relpath, _)| relpath != MLMODEL_FILE)
        .map(|(_, path)| fs::metadata(path).map(|m| m.len()))
        .sum::<std::io::Result<u64>>()?;
    // A stable id per network: the ONNX file's md5 (32 hex digits, as MLflow's uuid4 hex).
    let uuid = artifact_store::dvc::file_md5(&onnx_path)
        .map_err(|e| TrackingError::Invalid(format!("cannot hash {}: {e}", onnx_path.display())))?;
    let created = time::OffsetDateTime::now_utc();
    let created = format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:06}",
        created.year(),
        u8::from(created.month()),
        created.day(),
        created.hour(),
        created.minute(),
        created.second(),
        created.microsecond()
    );
    let run_id = match model.run_id {
        Some(id) => format!("run_id: {}\n", yaml_string(id)),
        None => String::new(),
    };
    let onnx_file = yaml_string(model.onnx_file);
    let mlmodel = format!(
        "flavors:
  onnx:
    code: null
    data: {onnx_file}
    onnx_session_options: null
    onnx_version: {onnx_version}
    providers:
    - CPUExecutionProvider
  python_function:
    data: {onnx_file}
    loader_module: mlflow.onnx
is_signature_from_type_hint: false
model_size_bytes: {size}
model_uuid: {uuid}
{run_id}saved_input_example_info:
  artifact_path: {INPUT_EXAMPLE_FILE}
  serving_input_path: {SERVING_INPUT_EXAMPLE_FILE}
  type: ndarray
signature:
  inputs: {inputs}
  outputs: {outputs}
  params: null
type_hint_from_example: false
utc_time_created: '{created}'
",
        onnx_version = yaml_string(model.onnx_version),
        inputs = yaml_string(&model.input.json()),
        outputs = yaml_string(&model.output.json()),
    );
    fs::write(dir.join(MLMODEL_FILE), mlmodel)?;
    Ok(())
}

/// A YAML scalar for any string: a JSON string, which YAML reads as a double-quoted scalar
/// with the same escapes (a single-quoted one would fold newlines and refuse control
/// characters).
fn yaml_string(value: &str) -> String {
    serde_json::to_string(value).expect("a string serialises")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_the_files_mlflow_reads() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("model.onnx"), b"not really onnx").unwrap();
        let rows = vec![vec![1.5f32, -2.0], vec![0.0, 3.25]];
        let model = OnnxModel {
            onnx_file: "model.onnx",
            onnx_version: "1.12.0",
            run_id: Some("abc'd"),
            input: TensorSpec {
                dtype: "float32",
                shape: vec![-1, 2],
            },
            output: TensorSpec {
                dtype: "float32",
                shape: vec![-1],
            },
            input_example: &rows,
        };
        write_onnx_model(dir.path(), &model).unwrap();
        let mlmodel = fs::read_to_string(dir.path().join(MLMODEL_FILE)).unwrap();
        assert!(mlmodel.contains("run_id: \"abc'd\"\n"), "{mlmodel}");
        let inputs = mlmodel
            .lines()
            .find_map(|line| line.strip_prefix("  inputs: "))
            .expect("a signature input line");
        // The YAML scalar is a JSON string holding the JSON signature.
        let inputs: String = serde_json::from_str(inputs).unwrap();
        let inputs: serde_json::Value = serde_json::from_str(&inputs).unwrap();
        assert_eq!(inputs[0]["type"], "tensor");
        assert_eq!(
            inputs[0]["tensor-spec"],
            serde_json::json!({ "dtype": "float32", "shape": [-1, 2] })
        );
        let example: Vec<Vec<f32>> =
            serde_json::from_str(&fs::read_to_string(dir.path().join(INPUT_EXAMPLE_FILE)).unwrap())
                .unwrap();
        assert_eq!(example, rows);
        let serving: serde_json::Value = serde_json::from_str(
            &fs::read_to_string(dir.path().join(SERVING_INPUT_EXAMPLE_FILE)).unwrap(),
        )
        .unwrap();
        assert_eq!(serving["inputs"][1][1], 3.25);
    }

    #[test]
    fn refuses_a_missing_onnx_file_or_no_example() {
        let dir = tempfile::tempdir().unwrap();
        let spec = TensorSpec {
            dtype: "float32",
            shape: vec![-1],
        };
        let mut model = OnnxModel {
            onnx_file: "model.onnx",
            onnx_version: "1.12.0",
            run_id: None,
            input: spec.clone(),
            output: spec,
            input_example: &[],
        };
        assert!(write_onnx_model(dir.path(), &model).is_err());
        fs::write(dir.path().join("model.onnx"), b"x").unwrap();
        assert!(write_onnx_model(dir.path(), &model).is_err());
        let rows = [vec![0.0f32]];
        model.input_example = &rows;
        write_onnx_model(dir.path(), &model).unwrap();
        assert!(!fs::read_to_string(dir.path().join(MLMODEL_FILE))
            .unwrap()
            .contains("run_id"));
    }
}
