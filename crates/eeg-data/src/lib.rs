//! The data side of seizure-ops.
//!
//! * [`uci`]: reads and validates the UCI "Epileptic Seizure Recognition" CSV.
//! * [`synthetic`]: a deterministic generator of EEG in exactly that format.
//! * [`layout`]: how 178 raw samples become one `timesteps x features` model input, and the
//!   normalisation fitted on the training split.
//! * [`processed`]: the on-disk format that preprocessing writes and training, evaluation and
//!   patient-pull read (`.npy` tensors plus `manifest.json`).
//! * [`offsets`]: windows of the continuous signals at other offsets than the chunks'.
//! * [`fingerprint`]: a stable hash of a recording's samples, to recognise the data set's
//!   published recordings when they come back as input.
//! * [`split`] and [`prepare`]: leakage-free splitting, balancing and normalisation, and the
//!   whole preprocessing run that writes that format.

pub mod fingerprint;
pub mod layout;
pub mod offsets;
pub mod prepare;
pub mod processed;
pub mod random;
pub mod split;
pub mod synthetic;
pub mod uci;

/// The data set's sampling rate (Hz): every recording, window and time in seconds uses it.
pub const SAMPLING_HZ: f64 = 173.61;
/// Samples in one recording: one second of EEG at 173.61 Hz.
pub const SAMPLES_PER_RECORDING: usize = 178;
/// One-second chunks per recording segment in the UCI file.
pub const CHUNKS_PER_SEGMENT: usize = 23;
/// The UCI class that means "recording of seizure activity".
pub const SEIZURE_CLASS: u8 = 1;
/// Human-readable names of the binary labels, indexed by label.
pub const LABEL_NAMES: [&str; 2] = ["non-seizure", "seizure"];

/// The binary training label of a UCI class: 1 for seizure, 0 otherwise.
pub fn binary_label(class: u8) -> u8 {
    u8::from(class == SEIZURE_CLASS)
}
