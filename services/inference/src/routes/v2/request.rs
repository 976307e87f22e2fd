//! The `infer` request and response of the protocol's JSON form, and reading a request into
//! the recordings it carries (one input, `recordings`, FP32/FP64, `[n, 178]`, flat or nested).

use axum::http::StatusCode;
use eeg_data::SAMPLES_PER_RECORDING;
use http_kit::ApiError;
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{bad_request, tensor, V2Error, INPUT, OUTPUTS};
use crate::signals::MAX_RECORDINGS;

/// An inference request (the protocol's JSON form).
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InferRequest {
    /// Echoed in the response.
    #[serde(default)]
    pub id: Option<String>,
    /// Accepted and not used.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub parameters: Option<IgnoredAny>,
    /// Exactly one: `recordings`.
    #[serde(deserialize_with = "tensor::one_input")]
    pub inputs: Vec<InputTensor>,
    /// Which outputs to return (default: all).
    #[serde(default)]
    pub outputs: Option<Vec<RequestedOutput>>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InputTensor {
    pub name: String,
    pub shape: Vec<u64>,
    pub datatype: String,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub parameters: Option<IgnoredAny>,
    /// Row-major numbers, flat or nested; read as they come, at most 178,000.
    #[serde(deserialize_with = "tensor::bounded_data")]
    pub data: Vec<f64>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestedOutput {
    pub name: String,
    /// Accepted and not used (outputs are always JSON).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub parameters: Option<IgnoredAny>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct OutputTensor {
    pub name: String,
    pub datatype: String,
    pub shape: Vec<u64>,
    #[schema(value_type = Vec<Object>)]
    pub data: Value,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct InferResponse {
    pub model_name: String,
    pub model_version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// `threshold`, `threshold_source`, `seizure_probability` (the mean over recordings),
    /// `prediction` (its label) and `processed_by`, as `/predict` answers them.
    #[schema(value_type = Object)]
    pub parameters: Value,
    pub outputs: Vec<OutputTensor>,
}

/// The request, or a 400 naming where it is malformed (e.g. `inputs[0].shape[0]`).
pub(super) fn parse_request(body: &[u8]) -> Result<InferRequest, V2Error> {
    let mut json = serde_json::Deserializer::from_slice(body);
    let request: InferRequest = serde_path_to_error::deserialize(&mut json).map_err(|e| {
        bad_request(format!(
            "invalid inference request at {}: {}",
            e.path(),
            e.inner()
        ))
    })?;
    json.end()
        .map_err(|e| bad_request(format!("invalid inference request: {e}")))?;
    Ok(request)
}

/// Checks the request's form and returns its recordings' samples, row-major, and the
/// outputs asked for (`None`: all).
pub(super) fn recordings_of(
    request: InferRequest,
) -> Result<(Vec<f64>, Option<Vec<String>>), V2Error> {
    let outputs = match request.outputs {
        None => None,
        Some(requested) => {
            let names: Vec<String> = requested.into_iter().map(|o| o.name).collect();
            if let Some(unknown) = names.iter().find(|n| !OUTPUTS.contains(&n.as_str())) {
                return Err(bad_request(format!(
                    "unknown output {unknown:?}; the model's outputs are {OUTPUTS:?}"
                )));
            }
            Some(names)
        }
    };
    let Some(input) = request.inputs.into_iter().next() else {
        return Err(bad_request(format!(
            "expected exactly one input, {INPUT:?}; got none"
        )));
    };
    if input.name != INPUT {
        return Err(bad_request(format!(
            "unknown input {:?}; the model's one input is {INPUT:?}",
            input.name
        )));
    }
    if !matches!(input.datatype.as_str(), "FP32" | "FP64") {
        return Err(bad_request(format!(
            "input {INPUT:?} has datatype {:?}; send FP32 (or FP64)",
            input.datatype
        )));
    }
    let n = match input.shape.as_slice() {
        [n, width] if *width == SAMPLES_PER_RECORDING as u64 => *n,
        other => {
            return Err(bad_request(format!(
                "input {INPUT:?} has shape {other:?}; expected [n, {SAMPLES_PER_RECORDING}]"
            )))
        }
    };
    if n == 0 {
        return Err(bad_request("send at least one recording of 178 samples"));
    }
    if n > MAX_RECORDINGS as u64 {
        return Err(V2Error(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_many_recordings",
            format!("{n} recordings; at most {MAX_RECORDINGS} per request"),
        )));
    }
    let expected = n as usize * SAMPLES_PER_RECORDING;
    if input.data.len() != expected {
        return Err(bad_request(format!(
            "input {INPUT:?} holds {} values; its shape {:?} says {expected}",
            input.data.len(),
            input.shape
        )));
    }
    Ok((input.data, outputs))
}
