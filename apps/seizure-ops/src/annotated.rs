//! `seizure-ops evaluate-events --edf FILE...`: the alarm rule scored on clinical recordings
//! against their own EDF+ seizure annotations (the staff's marks), with the SzCORE scorer the
//! spliced evaluation uses.

use std::path::PathBuf;

use anyhow::{bail, Context};
use bedside::{score, Alarm, EventScores, Interval, MonitorConfig, ScoringParams};
use serde::Serialize;

use crate::event_summary::{Summary, Targets, TARGETS};
use crate::events::EventsArgs;
use crate::monitor::{
    annotated_seizures, load_model, monitor_signal, read_input, InputArgs, ModelInfo,
};

#[derive(Debug, Clone, Serialize)]
pub struct AnnotatedRecording {
    pub input: String,
    pub channel: String,
    pub input_sampling_hz: f64,
    pub duration_s: f64,
    pub seizures: Vec<Interval>,
    pub alarms: Vec<Alarm>,
    pub summary: Summary,
}

#[derive(Debug, Clone, Serialize)]
pub struct AnnotatedReport {
    pub model: ModelInfo,
    pub config: MonitorConfig,
    pub scoring: ScoringParams,
    pub recordings: Vec<AnnotatedRecording>,
    pub total: Summary,
    pub targets: Targets,
    pub meets_targets: bool,
}

pub fn run_annotated(args: &EventsArgs) -> anyhow::Result<AnnotatedReport> {
    let (model_dir, predictor) = load_model(&args.home, args.model.as_deref())?;
    let config = args.rule.config(&predictor)?;
    let max_abs = predictor.card().input.max_abs_sample;
    let params = ScoringParams::default();
    let mut total = EventScores::default();
    let mut recordings = Vec::with_capacity(args.edf.len());
    for path in &args.edf {
        let input = read_input(
            &InputArgs {
                input: path.clone(),
                column: None,
                channel: args.channel.clone(),
                channels: Vec::new(),
                input_hz: None,
                mains: args.mains,
            },
            max_abs,
        )?;
        if input.edf.is_none() {
            bail!(
                "{}: not an EDF file (--edf takes EDF/EDF+ recordings)",
                path.display()
            );
        }
        let channel = &input.channels[0];
        let duration_s = bedside::seconds(channel.samples.len() as u64);
        // A recording without seizure marks is background: its alarms are false alarms.
        let seizures = annotated_seizures(&input.annotations, duration_s);
        if seizures.is_empty() {
            eprintln!(
                "note: {}: no annotation marks a seizure with a duration ({} annotations): \
                 scored as seizure-free background",
                path.display(),
                input.annotations.len()
            );
        }
        let monitored = monitor_signal(&predictor, config, channel.samples.clone())
            .with_context(|| format!("{}", path.display()))?;
        let alarms = bedside::alarm::alarms(&monitored.events, duration_s);
        let scores = score(&seizures, &alarms, duration_s, &params);
        total.add(&scores);
        recordings.push(AnnotatedRecording {
            input: path.display().to_string(),
            channel: channel.label.clone(),
            input_sampling_hz: input.input_hz,
            duration_s,
            seizures,
            alarms,
            summary: Summary::of(&scores),
        });
    }
    let summary = Summary::of(&total);
    let report = AnnotatedReport {
        model: ModelInfo::of(&model_dir, &predictor),
        config,
        scoring: params,
        recordings,
        meets_targets: summary.meets(&TARGETS),
        total: summary,
        targets: TARGETS,
    };
    let out: PathBuf = args
        .out
        .clone()
        .unwrap_or_else(|| args.home.path("reports/events-edf.json"));
    if let Some(parent) = out.parent() {
        fs_err::create_dir_all(parent)?;
    }
    let json = serde_json::to_string_pretty(&report)? + "\n";
    artifact_store::atomic::write_file(&out, json.as_bytes())
        .with_context(|| format!("writing {}", out.display()))?;
    let t = &report.total;
    println!(
        "{} recording(s), {:.2} h: {} of {} annotated seizures detected, {} false alarm(s), \
         median latency {}",
        report.recordings.len(),
        t.hours,
        t.true_positives,
        t.reference_events,
        t.false_positives,
        t.latency_median_s
            .map_or_else(|| "-".to_owned(), |l| format!("{l:.1} s"))
    );
    println!("wrote {}", out.display());
    Ok(report)
}
