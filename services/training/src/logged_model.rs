//! The trained model as an MLflow model directory: beside the burn weights and the model card,
//! the network exported to ONNX and the MLflow files that describe it (signature: FP32 raw
//! recordings `[-1, 178]` in, seizure probability `[-1]` out; an input example of reference
//! recordings). The same directory is the DVC-tracked artifact, the run's `model` artifacts,
//! and the MLflow logged model the registry versions.

use std::path::Path;

use anyhow::Context;
use eeg_data::SAMPLES_PER_RECORDING;
use seizure_model::predictor::REFERENCE_SEGMENTS;
use seizure_model::{onnx, ModelCard, Predictor, SeizureNet};
use tracking::mlmodel::{self, OnnxModel, TensorSpec};

/// The `onnx` package release that introduced opset 17, the one the export uses.
const ONNX_VERSION: &str = "1.12.0";

/// Writes `model.onnx` and the MLflow files for the saved network into `dir`.
pub fn write(dir: &Path, card: &ModelCard, network: &SeizureNet) -> anyhow::Result<()> {
    let predictor = Predictor::from_network(card.clone(), network);
    let onnx_path = dir.join(onnx::ONNX_FILE);
    fs_err::write(&onnx_path, onnx::export(&predictor))?;
    // The first recording of the seizure and the healthy reference segments the smoke test
    // scores.
    let example: Vec<Vec<f32>> = REFERENCE_SEGMENTS
        .into_iter()
        .filter_map(|(class, seed)| {
            eeg_data::synthetic::reference_segment(class, seed)
                .chunks_exact(SAMPLES_PER_RECORDING)
                .next()
                .map(<[f32]>::to_vec)
        })
        .collect();
    mlmodel::write_onnx_model(
        dir,
        &OnnxModel {
            onnx_file: onnx::ONNX_FILE,
            onnx_version: ONNX_VERSION,
            run_id: card.run_id.as_deref(),
            input: TensorSpec {
                dtype: "float32",
                shape: vec![-1, SAMPLES_PER_RECORDING as i64],
            },
            output: TensorSpec {
                dtype: "float32",
                shape: vec![-1],
            },
            input_example: &example,
        },
    )
    .with_context(|| format!("cannot describe {} for MLflow", onnx_path.display()))
}
