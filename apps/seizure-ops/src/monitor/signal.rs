//! One signal through the bedside monitor, pushed as a bedside device sends it, and the
//! alarms it raised.

use std::sync::Arc;

use bedside::{Event, Monitor, MonitorConfig, WindowScore};
use seizure_model::Predictor;
use serde::Serialize;

/// A detected seizure: from onset estimate to offset, and when the alarm was raised.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct AlarmSpan {
    pub onset_s: f64,
    pub offset_s: f64,
    pub detected_s: f64,
}

/// Onset/offset events paired into spans.
pub fn spans(events: &[Event], end_s: f64) -> Vec<AlarmSpan> {
    bedside::alarm::alarms(events, end_s)
        .into_iter()
        .map(|a| AlarmSpan {
            onset_s: a.start_s,
            offset_s: a.end_s,
            detected_s: a.detected_s,
        })
        .collect()
}

/// Everything one monitored signal produced.
pub struct Monitored {
    pub samples: Vec<f32>,
    pub windows: Vec<WindowScore>,
    pub events: Vec<Event>,
}

/// Runs `samples` through a monitor in one-second pushes, as a bedside device would send them.
pub fn monitor_signal(
    predictor: &Arc<Predictor>,
    config: MonitorConfig,
    samples: Vec<f32>,
) -> anyhow::Result<Monitored> {
    let mut monitor = Monitor::new(Arc::clone(predictor), config)?;
    let (mut windows, mut events) = (Vec::new(), Vec::new());
    for chunk in samples.chunks(eeg_data::SAMPLES_PER_RECORDING) {
        let update = monitor.push_checked(chunk);
        windows.extend(update.windows);
        events.extend(update.events);
    }
    events.extend(monitor.finish());
    Ok(Monitored {
        samples,
        windows,
        events,
    })
}
