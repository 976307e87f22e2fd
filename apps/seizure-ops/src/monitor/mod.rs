//! `seizure-ops monitor`: score a long recording offline with the bedside alarm rule, and
//! write its events (JSON) and the strip chart a neurologist would check (SVG).

mod combine;
mod input;
mod text;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context};
use bedside::monitor::DEFAULT_HOP;
use bedside::plot::Chart;
use bedside::{AlarmRule, Event, Monitor, MonitorConfig, WindowScore};
use clap::Args;
use seizure_model::Predictor;
use serde::Serialize;

use crate::Home;
pub use combine::{combined, OodSummary};
pub use input::{read_input, Conditioning, Input, InputArgs};
pub use text::{read_samples, MAX_INPUT_BYTES};

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

/// Whether an annotation's text marks a seizure ("seizure", "Seizure onset", "SZ", "Sz1",
/// "electrographic seizure", "ictal activity"), not its absence, a suspicion ruled out, or
/// another phase ("no seizure", "no sz", "not a seizure", "seizure-free", "pre seizure",
/// "interictal", "postictal", "non-ictal", "non-epileptic", "seizure ruled out").
pub fn names_a_seizure(text: &str) -> bool {
    let text = text.to_ascii_lowercase();
    let negations = [
        "no seiz",
        "no sz",
        "not seiz",
        "not a seiz",
        "no electrographic",
        "no clinical",
        "non-seiz",
        "nonseiz",
        "non seiz",
        "without seiz",
        "seizure-free",
        "seizure free",
        "pre-seiz",
        "preseiz",
        "pre seiz",
        "post-seiz",
        "postseiz",
        "post seiz",
        "interictal",
        "inter-ictal",
        "inter ictal",
        "preictal",
        "pre-ictal",
        "pre ictal",
        "postictal",
        "post-ictal",
        "post ictal",
        "periictal",
        "peri-ictal",
        "peri ictal",
        "non-ictal",
        "nonictal",
        "non ictal",
        "non-epileptic",
        "nonepileptic",
        "non epileptic",
        "ruled out",
        "r/o",
    ];
    if negations.iter().any(|n| text.contains(n)) {
        return false;
    }
    text.contains("seiz")
        || text.contains("ictal")
        || text.split(|c: char| !c.is_ascii_alphanumeric()).any(|w| {
            w.strip_prefix("sz")
                .is_some_and(|n| n.chars().all(|c| c.is_ascii_digit()))
        })
}

/// The annotations of a recording that mark a seizure with a duration, clipped to the
/// recording (0 to `duration_s`).
pub fn annotated_seizures(
    annotations: &[eeg_edf::Annotation],
    duration_s: f64,
) -> Vec<bedside::Interval> {
    let mut marks: Vec<bedside::Interval> = annotations
        .iter()
        .filter(|a| a.duration_s > 0.0 && names_a_seizure(&a.text))
        .map(|a| bedside::Interval {
            start_s: a.onset_s.max(0.0),
            end_s: (a.onset_s + a.duration_s).min(duration_s),
        })
        .filter(|i| i.start_s.is_finite() && i.end_s.is_finite() && i.end_s > i.start_s)
        .collect();
    // In time order, overlapping marks as one (a "clinical seizure" inside an
    // "electrographic seizure" is one seizure, not a shorter one).
    marks.sort_by(|a, b| a.start_s.total_cmp(&b.start_s));
    let mut seizures: Vec<bedside::Interval> = Vec::with_capacity(marks.len());
    for mark in marks {
        match seizures.last_mut() {
            Some(last) if mark.start_s <= last.end_s => last.end_s = last.end_s.max(mark.end_s),
            _ => seizures.push(mark),
        }
    }
    seizures
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

/// Refuses output paths that would overwrite the input or each other, or whose directory
/// does not exist (nothing is created but the two files).
fn check_outputs(input: &Path, outputs: &[&Path]) -> anyhow::Result<()> {
    let absolute = |p: &Path| std::path::absolute(p).with_context(|| format!("{}", p.display()));
    let mut seen = vec![absolute(input)?];
    for output in outputs {
        let path = absolute(output)?;
        if seen.contains(&path) {
            bail!(
                "{}: the input and the two outputs must be three different files",
                output.display()
            );
        }
        let parent = path.parent().unwrap_or(Path::new("/"));
        if !parent.is_dir() {
            bail!(
                "{}: the directory {} does not exist",
                output.display(),
                parent.display()
            );
        }
        seen.push(path);
    }
    Ok(())
}

#[derive(Serialize)]
struct EventsFile<'a> {
    input: String,
    /// `text`, `csv`, `EDF`, `EDF+C`, `BDF` or `BDF+C`.
    input_format: &'a str,
    /// The recording's own rate; times below are seconds from its first sample.
    input_sampling_hz: f64,
    /// How it was brought to the model's band and rate (absent: taken as it came).
    #[serde(skip_serializing_if = "Option::is_none")]
    conditioning: Option<&'a Conditioning>,
    model: ModelInfo,
    /// The model's rate, at which `samples` are counted.
    sampling_hz: f64,
    samples: usize,
    duration_s: f64,
    config: MonitorConfig,
    /// The scored channel (several: the first, which the chart draws; each in `channels`).
    channel: &'a str,
    windows: usize,
    windows_at_or_above_threshold: usize,
    /// Windows unlike the training data (scale, spectrum): alarms on such a recording are
    /// unvalidated. With several channels, flagged when any channel is.
    out_of_distribution: OodSummary,
    /// With several channels, the combined alarms (any channel; overlapping ones merged).
    alarms: Vec<AlarmSpan>,
    /// The onset and offset events of a single channel (several: each channel's own).
    #[serde(skip_serializing_if = "Option::is_none")]
    events: Option<&'a [Event]>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    channels: Vec<ChannelReport<'a>>,
    /// The file's EDF+ annotations: the staff's marks, reference events for review.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    annotations: &'a [eeg_edf::Annotation],
    /// The alarms scored against the annotations that name a seizure and last (SzCORE
    /// conventions, as `evaluate-events`), when the file has any.
    #[serde(skip_serializing_if = "Option::is_none")]
    scored_against_annotations: Option<crate::event_summary::Summary>,
}

/// One channel of several.
#[derive(Serialize)]
struct ChannelReport<'a> {
    label: &'a str,
    input_sampling_hz: f64,
    windows: usize,
    windows_at_or_above_threshold: usize,
    out_of_distribution: OodSummary,
    alarms: Vec<AlarmSpan>,
    events: &'a [Event],
}

fn above(windows: &[WindowScore], threshold: f64) -> usize {
    windows
        .iter()
        .filter(|w| f64::from(w.probability) >= threshold)
        .count()
}

/// What identifies the model that scored a signal.
#[derive(Debug, Clone, Serialize)]
pub struct ModelInfo {
    pub dir: String,
    pub name: String,
    pub version: Option<String>,
    pub weights_md5: String,
    pub decision_threshold: f64,
}

impl ModelInfo {
    pub fn of(dir: &Path, predictor: &Predictor) -> Self {
        let release = seizure_model::release::installed_release(dir)
            .ok()
            .flatten();
        Self {
            dir: dir.display().to_string(),
            name: predictor.card().name.clone(),
            version: release.map(|r| r.version),
            weights_md5: predictor.card().weights_md5.clone(),
            decision_threshold: predictor.card().threshold().0,
        }
    }
}

pub fn load_model(home: &Home, model: Option<&Path>) -> anyhow::Result<(PathBuf, Arc<Predictor>)> {
    let dir = model.map_or_else(|| home.path("production"), Path::to_owned);
    let predictor =
        Predictor::load(&dir).with_context(|| format!("loading the model in {}", dir.display()))?;
    Ok((dir, Arc::new(predictor)))
}

fn with_suffix(input: &Path, suffix: &str) -> PathBuf {
    let mut name = input.file_stem().unwrap_or_default().to_owned();
    name.push(suffix);
    input.with_file_name(name)
}

pub fn run_monitor(args: &MonitorArgs) -> anyhow::Result<()> {
    let (model_dir, predictor) = load_model(&args.home, args.model.as_deref())?;
    let config = args.rule.config(&predictor)?;
    let input_path = &args.source.input;
    let events_path = args
        .events
        .clone()
        .unwrap_or_else(|| with_suffix(input_path, ".events.json"));
    let plot_path = args
        .plot
        .clone()
        .unwrap_or_else(|| with_suffix(input_path, ".svg"));
    let mut outputs = vec![events_path.as_path(), plot_path.as_path()];
    outputs.extend(args.annotations_out.as_deref());
    check_outputs(input_path, &outputs)?;
    let max_abs = predictor.card().input.max_abs_sample;
    let input = read_input(&args.source, max_abs)?;
    if args.annotations_out.is_some() && input.edf.is_none() {
        bail!(
            "{}: --annotations-out writes EDF+ annotations for an EDF recording (they take its \
             start time); this input is {}",
            input_path.display(),
            input.format
        );
    }
    let mut scored = Vec::with_capacity(input.channels.len());
    for channel in &input.channels {
        scored.push(monitor_signal(&predictor, config, channel.samples.clone())?);
    }
    let first = &scored[0];
    let duration_s = bedside::seconds(first.samples.len() as u64);
    let per_channel: Vec<Vec<AlarmSpan>> = scored
        .iter()
        .map(|m| spans(&m.events, duration_s))
        .collect();
    let alarms = combined(&per_channel);
    let several = scored.len() > 1;
    let channels = if several {
        input
            .channels
            .iter()
            .zip(&scored)
            .zip(&per_channel)
            .map(|((c, m), a)| ChannelReport {
                label: &c.label,
                input_sampling_hz: c.input_hz,
                windows: m.windows.len(),
                windows_at_or_above_threshold: above(&m.windows, config.rule.threshold),
                out_of_distribution: OodSummary::of(&m.windows),
                alarms: a.clone(),
                events: &m.events,
            })
            .collect()
    } else {
        Vec::new()
    };
    // Annotations that name a seizure and last a while: the reference, drawn on the chart and
    // scored against.
    let seizures = annotated_seizures(&input.annotations, duration_s);
    let scored_against_annotations = (!seizures.is_empty()).then(|| {
        let detections: Vec<bedside::Alarm> = alarms
            .iter()
            .map(|a| bedside::Alarm {
                start_s: a.onset_s,
                end_s: a.offset_s,
                detected_s: a.detected_s,
            })
            .collect();
        crate::event_summary::Summary::of(&bedside::score(
            &seizures,
            &detections,
            duration_s,
            &bedside::ScoringParams::default(),
        ))
    });
    let ood: Vec<OodSummary> = scored.iter().map(|m| OodSummary::of(&m.windows)).collect();
    let file = EventsFile {
        input: input_path.display().to_string(),
        input_format: &input.format,
        input_sampling_hz: input.input_hz,
        conditioning: input.conditioning.as_ref(),
        model: ModelInfo::of(&model_dir, &predictor),
        sampling_hz: eeg_data::SAMPLING_HZ,
        samples: first.samples.len(),
        duration_s,
        config,
        channel: &input.channels[0].label,
        windows: first.windows.len(),
        windows_at_or_above_threshold: above(&first.windows, config.rule.threshold),
        out_of_distribution: OodSummary::of_channels(&ood),
        alarms: alarms.clone(),
        events: (!several).then_some(&first.events[..]),
        channels,
        annotations: &input.annotations,
        scored_against_annotations,
    };
    let json = serde_json::to_string_pretty(&file)? + "\n";
    let title = format!(
        "{} {} | model {} {} | threshold {:.3}, alarm at {} of {} windows{}",
        input_path.display(),
        input.channels[0].label,
        file.model.name,
        file.model.version.as_deref().unwrap_or("(unversioned)"),
        config.rule.threshold,
        config.rule.k,
        config.rule.n,
        if file.out_of_distribution.flagged {
            " | UNLIKE THE TRAINING DATA: alarms unvalidated"
        } else {
            ""
        }
    );
    let svg = bedside::plot::svg(&Chart {
        title: &title,
        samples: &first.samples,
        windows: &first.windows,
        events: &first.events,
        threshold: config.rule.threshold,
        seizures: &seizures,
    });
    // Both or neither: the chart first, removed again if the events cannot be written.
    artifact_store::atomic::write_file(&plot_path, svg.as_bytes())
        .with_context(|| format!("writing {}", plot_path.display()))?;
    if let Err(e) = artifact_store::atomic::write_file(&events_path, json.as_bytes()) {
        let _ = std::fs::remove_file(&plot_path);
        return Err(e).with_context(|| format!("writing {}", events_path.display()));
    }
    if let (Some(out), Some(source)) = (&args.annotations_out, &input.edf) {
        let version = file.model.version.as_deref().unwrap_or("unversioned");
        let marks: Vec<eeg_edf::Annotation> = alarms
            .iter()
            .map(|a| eeg_edf::Annotation {
                onset_s: a.onset_s,
                duration_s: a.offset_s - a.onset_s,
                text: format!(
                    "seizure-ops alarm, raised at {:.1} s (model {} {version})",
                    a.detected_s, file.model.name
                ),
            })
            .collect();
        if let Err(e) = eeg_edf::write_annotations(out, source, input.first_sample_s, &marks) {
            let _ = std::fs::remove_file(&plot_path);
            let _ = std::fs::remove_file(&events_path);
            return Err(e.into());
        }
    }
    println!(
        "{}: {:.1} s, {} windows, {} alarm(s)",
        input_path.display(),
        duration_s,
        file.windows,
        alarms.len()
    );
    if file.out_of_distribution.flagged {
        println!(
            "  warning: {} of {} windows are unlike the training data (scale or spectrum); \
             alarms on this recording are unvalidated",
            file.out_of_distribution.windows_flagged, file.out_of_distribution.windows
        );
    }
    for alarm in &alarms {
        println!(
            "  seizure {:.1}-{:.1} s (alarm at {:.1} s)",
            alarm.onset_s, alarm.offset_s, alarm.detected_s
        );
    }
    println!(
        "wrote {} and {}{}",
        events_path.display(),
        plot_path.display(),
        args.annotations_out
            .as_ref()
            .map(|p| format!(" and {}", p.display()))
            .unwrap_or_default()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seizure_marks_are_told_from_their_absence_and_other_phases() {
        for text in [
            "seizure",
            "Seizure onset",
            "SZ",
            "sz start",
            "Sz1",
            "sz#2",
            "ictal activity",
            "SEIZ",
            "electrographic seizure",
            "Clinical seizure",
        ] {
            assert!(names_a_seizure(text), "{text}");
        }
        for text in [
            "No seizure",
            "no sz",
            "not a seizure",
            "no electrographic seizure",
            "seizure-free",
            "pre-seizure",
            "pre seizure",
            "post seizure",
            "interictal",
            "postictal",
            "post ictal",
            "non-ictal",
            "peri-ictal",
            "psychogenic non-epileptic seizure",
            "Seizure ruled out",
            "r/o seizure",
            "eyes open",
            "sleep",
            "size",
            "spike",
            "EEG onset",
        ] {
            assert!(!names_a_seizure(text), "{text}");
        }
    }

    #[test]
    fn annotated_seizures_are_clipped_to_the_recording_in_order_and_united() {
        let mark = |onset_s: f64, duration_s: f64| eeg_edf::Annotation {
            onset_s,
            duration_s,
            text: "seizure".into(),
        };
        let seizures = annotated_seizures(
            &[
                mark(50.0, 1e300),
                mark(-5.0, 10.0),
                mark(200.0, 5.0),
                mark(20.0, 0.0),
            ],
            100.0,
        );
        let spans: Vec<(f64, f64)> = seizures.iter().map(|i| (i.start_s, i.end_s)).collect();
        assert_eq!(spans, [(0.0, 5.0), (50.0, 100.0)]);
        // Nested and out of order: one seizure, as long as the outer mark.
        let nested = annotated_seizures(&[mark(20.0, 10.0), mark(10.0, 60.0)], 100.0);
        let spans: Vec<(f64, f64)> = nested.iter().map(|i| (i.start_s, i.end_s)).collect();
        assert_eq!(spans, [(10.0, 70.0)]);
    }
}
