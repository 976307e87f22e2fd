//! What the predictor accepts: raw recordings checked before scoring.

use eeg_data::SAMPLES_PER_RECORDING;

/// Why a batch could not be scored.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PredictError {
    #[error("recording {index} has {found} samples, expected {expected}")]
    WrongLength {
        index: usize,
        found: usize,
        expected: usize,
    },
    #[error("recording {index} has a non-finite value at sample {sample}")]
    NonFinite { index: usize, sample: usize },
    #[error(
        "recording {index} sample {sample} is {value:e}, outside the model's input range \
         -{limit}..{limit}"
    )]
    OutOfRange {
        index: usize,
        sample: usize,
        value: f64,
        limit: f64,
    },
    #[error("no recordings to score")]
    Empty,
}

/// Checks raw recordings before scoring: each has 178 samples, each finite once converted
/// to the model's dtype (f32) and within `max_abs_sample` (the card's
/// [`InputSchema::max_abs_sample`](crate::artifact::InputSchema)).
pub fn check_recordings<R: AsRef<[f64]>>(
    recordings: &[R],
    max_abs_sample: f64,
) -> Result<(), PredictError> {
    if recordings.is_empty() {
        return Err(PredictError::Empty);
    }
    for (index, recording) in recordings.iter().enumerate() {
        let recording = recording.as_ref();
        if recording.len() != SAMPLES_PER_RECORDING {
            return Err(PredictError::WrongLength {
                index,
                found: recording.len(),
                expected: SAMPLES_PER_RECORDING,
            });
        }
        for (sample, &value) in recording.iter().enumerate() {
            if !(value as f32).is_finite() {
                return Err(PredictError::NonFinite { index, sample });
            }
            if value.abs() > max_abs_sample {
                return Err(PredictError::OutOfRange {
                    index,
                    sample,
                    value,
                    limit: max_abs_sample,
                });
            }
        }
    }
    Ok(())
}
