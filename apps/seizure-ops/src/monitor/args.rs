//! What `seizure-ops monitor` is asked: the recording, the model, where the outputs go, and
//! the alarm rule.

use std::path::PathBuf;

use bedside::monitor::DEFAULT_HOP;
use bedside::{AlarmRule, MonitorConfig};
use clap::Args;
use seizure_model::Predictor;

use super::input::InputArgs;
use crate::Home;

/// The alarm rule and hop, defaulting to the model card's alarm decision (chosen out of fold;
/// in an earlier card, the documented rule at its threshold).
#[derive(Debug, Clone, Args)]
pub struct RuleArgs {
    /// Samples between consecutive windows (87 = 0.5 s at 173.61 Hz).
    #[arg(long, env = "MONITOR_HOP", default_value_t = DEFAULT_HOP)]
    pub hop: usize,
    /// Alarm when at least K of the last N windows are at or above the threshold (default:
    /// the card's).
    #[arg(long = "alarm-k", env = "MONITOR_ALARM_K")]
    pub k: Option<usize>,
    #[arg(long = "alarm-n", env = "MONITOR_ALARM_N")]
    pub n: Option<usize>,
    /// No new alarm within this many seconds of a seizure's declared end (default: the
    /// card's).
    #[arg(long, env = "MONITOR_REFRACTORY_S")]
    pub refractory_s: Option<f64>,
    /// Window threshold of the alarm rule (default: the card's).
    #[arg(long, env = "MONITOR_THRESHOLD")]
    pub threshold: Option<f64>,
}

impl RuleArgs {
    pub fn config(&self, predictor: &Predictor) -> anyhow::Result<MonitorConfig> {
        let card = AlarmRule::of_card(predictor.card());
        let config = MonitorConfig {
            hop: self.hop,
            rule: AlarmRule {
                threshold: self.threshold.unwrap_or(card.threshold),
                k: self.k.unwrap_or(card.k),
                n: self.n.unwrap_or(card.n),
                refractory_s: self.refractory_s.unwrap_or(card.refractory_s),
            },
        };
        config.check()?;
        Ok(config)
    }
}

#[derive(Debug, Args)]
pub struct MonitorArgs {
    #[command(flatten)]
    pub home: Home,
    #[command(flatten)]
    pub source: InputArgs,
    /// Model directory [default: HOME/production].
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Events file [default: the input's name with `.events.json`].
    #[arg(long)]
    pub events: Option<PathBuf>,
    /// Strip chart [default: the input's name with `.svg`].
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// For an EDF input: also write the alarms as an EDF+ annotations file (the recording's
    /// patient and start fields), which EDF viewers overlay on the recording.
    #[arg(long)]
    pub annotations_out: Option<PathBuf>,
    #[command(flatten)]
    pub rule: RuleArgs,
}
