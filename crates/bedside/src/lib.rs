//! Bedside monitoring: a continuous EEG in, seizure alarms out.
//!
//! * [`stream`]: cuts a signal pushed at any chunking into the model's windows every hop.
//! * [`alarm`]: the alarm rule (k of the last n windows above the card's threshold, with a
//!   refractory period) that turns window probabilities into onset and offset events.
//! * [`monitor`]: one monitored signal: validation, windows, the model and the alarm rule.
//! * [`scoring`]: event-level scoring with the SzCORE conventions (the `timescoring` package's
//!   rules), plus detection latency.
//! * [`splice`]: long test recordings spliced from held-out segments, deterministic from a seed.
//! * [`tuning`]: the alarm rule chosen on streams scored once (out of fold).
//! * [`plot`]: the strip chart a neurologist would check (trace, probability, alarms) as SVG.

pub mod alarm;
pub mod conditioning;
pub mod monitor;
pub mod plot;
pub mod replay;
pub mod scoring;
pub mod splice;
pub mod stream;
pub mod tuning;

pub use alarm::{AlarmRule, AlarmState, Event};
pub use monitor::{Monitor, MonitorConfig, MonitorError, Update, WindowOod, WindowScore};
pub use scoring::{score, Alarm, EventScores, Interval, ScoringParams};
pub use splice::{splice, Splice, SpliceConfig};
pub use stream::WindowCutter;

/// Seconds from the start of the signal to the sample at `index`.
pub fn seconds(index: u64) -> f64 {
    index as f64 / eeg_data::SAMPLING_HZ
}
