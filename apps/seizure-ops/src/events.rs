//! `seizure-ops evaluate-events`: event-level evaluation of the alarm rule on held-out
//! segments (never training segments): first each segment once (distinct background, the
//! honest false-alarm rate, beside the card's out-of-fold figures and both pooled), then long
//! recordings spliced from them with the SzCORE conventions (which reuse each background
//! segment many times over: labelled as repeated).

use std::path::PathBuf;

use anyhow::Context;
use bedside::plot::Chart;
use bedside::tuning::Measured;
use bedside::{score, Alarm, EventScores, Interval, ScoringParams, SpliceConfig};
use clap::{Args, ValueEnum};
use eeg_data::processed::{ProcessedDataset, Split};
use serde::Serialize;

pub use crate::event_summary::{Summary, Targets, TARGETS};
use crate::monitor::{load_model, monitor_signal, ModelInfo, RuleArgs};
use crate::Home;

/// The held-out split the recordings are spliced from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HeldOut {
    /// To choose the alarm rule.
    Validation,
    /// To report it.
    Test,
}

impl HeldOut {
    fn split(self) -> Split {
        match self {
            HeldOut::Validation => Split::Validation,
            HeldOut::Test => Split::Test,
        }
    }
}

#[derive(Debug, Args)]
pub struct EventsArgs {
    #[command(flatten)]
    pub home: Home,
    /// Processed dataset [default: HOME/data].
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Model directory [default: HOME/production].
    #[arg(long)]
    pub model: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = HeldOut::Test)]
    pub split: HeldOut,
    /// Spliced recordings (seeds SEED, SEED+1, ...).
    #[arg(long, default_value_t = 3)]
    pub recordings: usize,
    #[arg(long, default_value_t = 2.0)]
    pub hours: f64,
    /// Seizure events per recording.
    #[arg(long, default_value_t = 20)]
    pub seizures: usize,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Report [default: HOME/reports/events.json]; with `--plots`, one SVG per recording beside it.
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[arg(long)]
    pub plots: bool,
    /// Score these EDF/EDF+ recordings against their own seizure annotations instead of
    /// spliced held-out segments (repeatable).
    #[arg(long = "edf")]
    pub edf: Vec<PathBuf>,
    /// The EDF signal to score (needed when a file has more than one).
    #[arg(long, requires = "edf")]
    pub channel: Option<String>,
    /// The mains frequency notched out of EDF recordings: 50, 60 or none.
    #[arg(long, default_value = "50")]
    pub mains: bedside::conditioning::Mains,
    #[command(flatten)]
    pub rule: RuleArgs,
}

#[derive(Debug, Clone, Serialize)]
pub struct RecordingReport {
    pub seed: u64,
    pub duration_s: f64,
    pub seizures: Vec<Interval>,
    pub alarms: Vec<Alarm>,
    pub summary: Summary,
}

#[derive(Debug, Clone, Serialize)]
pub struct EventsReport {
    pub split: HeldOut,
    pub model: ModelInfo,
    pub config: bedside::MonitorConfig,
    pub splice: SpliceConfig,
    pub scoring: ScoringParams,
    /// Each held-out segment once: every background segment on its own, every seizure after
    /// a background segment.
    pub distinct: Measured,
    /// The card's out-of-fold figures, when the rule is the card's alarm decision.
    pub out_of_fold: Option<Measured>,
    /// Out of fold and `distinct` together, for the test split (validation is part of the
    /// out-of-fold pool); detection latency from `distinct` only.
    pub pooled: Option<Measured>,
    /// Spliced recordings: the background segments repeat many times over.
    pub recordings: Vec<RecordingReport>,
    pub total: Summary,
    pub targets: Targets,
    pub meets_targets: bool,
}

pub fn run_events(args: &EventsArgs) -> anyhow::Result<EventsReport> {
    let (model_dir, predictor) = load_model(&args.home, args.model.as_deref())?;
    let config = args.rule.config(&predictor)?;
    let data_dir = args.data.clone().unwrap_or_else(|| args.home.path("data"));
    let dataset = ProcessedDataset::open(&data_dir)?;
    let signals = dataset.signals(args.split.split())?;
    let rows = |label: u8| -> Vec<&[f32]> {
        signals
            .samples
            .outer_iter()
            .zip(&signals.y)
            .filter(|(_, &y)| y == label)
            .map(|(row, _)| row.to_slice().expect("rows of a standard-layout array"))
            .collect()
    };
    let (background, seizure) = (rows(0), rows(1));
    let (quiet, onsets) =
        bedside::tuning::held_out_streams(&predictor, &background, &seizure, config.hop)?;
    let distinct = bedside::tuning::measure(config.rule, &quiet, &onsets);
    let card_alarm = predictor
        .card()
        .decisions
        .as_ref()
        .and_then(|d| d.alarm.as_ref())
        .filter(|a| {
            bedside::AlarmRule::of_card(predictor.card()) == config.rule && a.hop == config.hop
        });
    let out_of_fold = card_alarm.map(Measured::of_decision);
    // Only the test split is apart from the out-of-fold pool (training + validation).
    let pooled = out_of_fold
        .as_ref()
        .filter(|_| args.split == HeldOut::Test)
        .map(|oof| oof.pooled_with(&distinct));
    let splice_config = SpliceConfig {
        seed: args.seed,
        duration_s: args.hours * 3600.0,
        events: args.seizures,
        ..SpliceConfig::default()
    };
    let params = ScoringParams::default();
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| args.home.path("reports/events.json"));
    let mut total = EventScores::default();
    let mut recordings = Vec::with_capacity(args.recordings);
    for r in 0..args.recordings {
        let seed = args.seed + r as u64;
        let splice = bedside::splice(
            &background,
            &seizure,
            &SpliceConfig {
                seed,
                ..splice_config
            },
        )
        .with_context(|| format!("splicing the {} split", args.split.split().name()))?;
        let duration_s = splice.duration_s();
        let seizures = splice.seizures.clone();
        let monitored = monitor_signal(&predictor, config, splice.samples)?;
        let alarms = bedside::alarm::alarms(&monitored.events, duration_s);
        let scores = score(&seizures, &alarms, duration_s, &params);
        total.add(&scores);
        if args.plots {
            let path = out.with_file_name(format!("events-{seed}.svg"));
            let svg = bedside::plot::svg(&Chart {
                title: &format!(
                    "spliced {} recording, seed {seed}: green = annotated seizures, red = alarms",
                    args.split.split().name()
                ),
                samples: &monitored.samples,
                windows: &monitored.windows,
                events: &monitored.events,
                threshold: config.rule.threshold,
                seizures: &seizures,
            });
            if let Some(parent) = path.parent() {
                fs_err::create_dir_all(parent)?;
            }
            artifact_store::atomic::write_file(&path, svg.as_bytes())
                .with_context(|| format!("writing {}", path.display()))?;
        }
        recordings.push(RecordingReport {
            seed,
            duration_s,
            seizures,
            alarms,
            summary: Summary::of(&scores),
        });
    }
    let summary = Summary::of(&total);
    let report = EventsReport {
        split: args.split,
        model: ModelInfo::of(&model_dir, &predictor),
        config,
        splice: splice_config,
        scoring: params,
        distinct,
        out_of_fold,
        pooled,
        recordings,
        meets_targets: summary.meets(&TARGETS),
        total: summary,
        targets: TARGETS,
    };
    if let Some(parent) = out.parent() {
        fs_err::create_dir_all(parent)?;
    }
    let json = serde_json::to_string_pretty(&report)? + "\n";
    artifact_store::atomic::write_file(&out, json.as_bytes())
        .with_context(|| format!("writing {}", out.display()))?;
    print_table(&report);
    println!("wrote {}", out.display());
    Ok(report)
}

fn print_table(report: &EventsReport) {
    let f = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.3}"));
    let rule = &report.config.rule;
    println!(
        "alarm rule: threshold {:.4}, {} of {}, refractory {} s, hop {}",
        rule.threshold, rule.k, rule.n, rule.refractory_s, report.config.hop
    );
    println!(
        "{:<34} {:>6} {:>4} {:>17} {:>9} {:>7} {:>7}",
        "distinct background (each once)",
        "hours",
        "FA",
        "FA/h [95%]",
        "detected",
        "lat med",
        "lat p90"
    );
    let measured = |name: &str, m: &Measured| {
        println!(
            "{name:<34} {:>6.2} {:>4} {:>5.2} [{:.2}, {:.2}] {:>4}/{:<4} {:>7} {:>7}",
            m.background_hours,
            m.false_alarms,
            m.false_alarms_per_hour,
            m.false_alarms_per_hour_interval[0],
            m.false_alarms_per_hour_interval[1],
            m.detected,
            m.seizures,
            f(m.latency_median_s),
            f(m.latency_p90_s),
        )
    };
    measured(
        &format!("{} split", report.split.split().name()),
        &report.distinct,
    );
    if let Some(m) = &report.out_of_fold {
        measured("out of fold (model card)", m);
    }
    if let Some(m) = &report.pooled {
        measured("pooled", m);
    }
    println!("spliced recordings (background segments repeated many times over):");
    println!(
        "{:>8} {:>6} {:>5} {:>5} {:>6} {:>7} {:>7} {:>9} {:>9}",
        "seed", "hours", "refs", "tp", "fp", "sens", "FA/h", "lat med", "lat p90"
    );
    let row = |name: String, s: &Summary| {
        println!(
            "{name:>8} {:>6.2} {:>5} {:>5} {:>6} {:>7} {:>7.3} {:>9} {:>9}",
            s.hours,
            s.reference_events,
            s.true_positives,
            s.false_positives,
            f(s.sensitivity),
            s.false_alarms_per_hour,
            f(s.latency_median_s),
            f(s.latency_p90_s)
        )
    };
    for r in &report.recordings {
        row(r.seed.to_string(), &r.summary);
    }
    row("total".into(), &report.total);
    println!(
        "targets (sensitivity >= {}, FA/h <= {}, median latency <= {} s): {}",
        report.targets.min_sensitivity,
        report.targets.max_false_alarms_per_hour,
        report.targets.max_latency_median_s,
        if report.meets_targets {
            "met"
        } else {
            "NOT met"
        }
    );
}
