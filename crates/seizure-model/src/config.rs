//! The architecture, as a serde config whose default is the reference network:
//! LSTM(56, sequences) -> dropout 0.3 -> LSTM(56, last state) -> dropout 0.3 -> dense 20 tanh
//! -> dense 2.

use eeg_data::layout::InputLayout;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    /// How each 178-sample recording is laid out as `[timesteps, features]`.
    pub layout: InputLayout,
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
