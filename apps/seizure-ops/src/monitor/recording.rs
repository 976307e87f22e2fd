//! A whole recording monitored: every channel through the monitor, their alarms combined, and
//! the seizures its annotations mark.

use std::sync::Arc;

use bedside::MonitorConfig;
use seizure_model::Predictor;

use super::annotations::annotated_seizures;
use super::combine::combined;
use super::input::Input;
use super::signal::{monitor_signal, spans, AlarmSpan, Monitored};

/// What monitoring a recording produced.
pub(super) struct Recording {
    /// Each channel's run, in the input's order (at least one).
    pub scored: Vec<Monitored>,
    /// The first channel's duration.
    pub duration_s: f64,
    /// Each channel's alarms.
    pub per_channel: Vec<Vec<AlarmSpan>>,
    /// The channels' alarms as one list ([`combined`]).
    pub alarms: Vec<AlarmSpan>,
    /// Annotations that name a seizure and last a while: the reference, drawn on the chart
    /// and scored against.
    pub seizures: Vec<bedside::Interval>,
}

impl Recording {
    /// Runs every channel of `input` through a monitor of `predictor` under `config`.
    pub fn monitor(
        predictor: &Arc<Predictor>,
        config: MonitorConfig,
        input: &Input,
    ) -> anyhow::Result<Self> {
        let mut scored = Vec::with_capacity(input.channels.len());
        for channel in &input.channels {
            scored.push(monitor_signal(predictor, config, channel.samples.clone())?);
        }
        let first = &scored[0];
        let duration_s = bedside::seconds(first.samples.len() as u64);
        let per_channel: Vec<Vec<AlarmSpan>> = scored
            .iter()
            .map(|m| spans(&m.events, duration_s))
            .collect();
        let alarms = combined(&per_channel);
        let seizures = annotated_seizures(&input.annotations, duration_s);
        Ok(Self {
            scored,
            duration_s,
            per_channel,
            alarms,
            seizures,
        })
    }

    /// The first channel: the one the chart draws.
    pub fn first(&self) -> &Monitored {
        &self.scored[0]
    }
}
