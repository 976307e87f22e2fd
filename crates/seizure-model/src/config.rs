//! The architecture, as a serde config whose default is the reference network:
//! LSTM(56, sequences) -> dropout 0.3 -> LSTM(56, last state) -> dropout 0.3 -> dense 20 tanh
//! -> dense 2. The alternative puts a 1D convolution in front of the first LSTM
//! ([`FrontEnd::Conv`]).

use eeg_data::layout::InputLayout;
use serde::{Deserialize, Serialize};

/// What the first LSTM reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum FrontEnd {
    /// The layout's `[timesteps, features]` frames of raw samples (the reference network).
    #[default]
    Frames,
    /// A 1D convolution over the window's samples (one input channel): `channels` filters of
    /// `kernel` samples every `stride` samples, each followed by a ReLU. The LSTM then reads
    /// `(samples - kernel) / stride + 1` steps of `channels` features: learned, overlapping
    /// filters in place of fixed frames.
    Conv {
        channels: usize,
        kernel: usize,
        stride: usize,
    },
}

impl FrontEnd {
    /// The reviewer's expected alternative for raw single-channel EEG at 173.61 Hz: 32
    /// filters of 16 samples (92 ms), half-overlapping (stride 8): 21 steps for 176 samples.
    pub const CONV: FrontEnd = FrontEnd::Conv {
        channels: 32,
        kernel: 16,
        stride: 8,
    };

    /// `(steps, features per step)` the first LSTM reads for a layout.
    pub fn sequence_shape(&self, layout: InputLayout) -> Result<(usize, usize), String> {
        match *self {
            FrontEnd::Frames => Ok((layout.timesteps, layout.features)),
            FrontEnd::Conv {
                channels,
                kernel,
                stride,
            } => {
                let samples = layout.samples_used();
                if channels == 0 || kernel == 0 || stride == 0 || kernel > samples {
                    return Err(format!(
                        "a convolution of {channels} channels, kernel {kernel}, stride {stride} \
                         does not fit {samples} samples"
                    ));
                }
                Ok(((samples - kernel) / stride + 1, channels))
            }
        }
    }

    pub fn name(&self) -> String {
        match self {
            FrontEnd::Frames => "frames".into(),
            FrontEnd::Conv {
                channels,
                kernel,
                stride,
            } => format!("conv{channels}k{kernel}s{stride}"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    /// How each 178-sample recording is laid out as `[timesteps, features]`.
    pub layout: InputLayout,
    /// What the first LSTM reads (cards without the field: [`FrontEnd::Frames`]).
    #[serde(default)]
    pub front_end: FrontEnd,
    pub lstm1_hidden: usize,
    pub lstm2_hidden: usize,
    pub dropout: f64,
    pub dense_hidden: usize,
    pub classes: usize,
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            layout: InputLayout::default(),
            front_end: FrontEnd::Frames,
            lstm1_hidden: 56,
            lstm2_hidden: 56,
            dropout: 0.3,
            dense_hidden: 20,
            classes: 2,
        }
    }
}

impl ModelConfig {
    pub fn with_layout(layout: InputLayout) -> Self {
        Self {
            layout,
            ..Self::default()
        }
    }
}
