//! What `monitor` writes: the events file (JSON), the strip chart (SVG) and, for an EDF input,
//! the alarms as EDF+ annotations (both or none of the first two, all or none with the
//! third), and the lines it prints.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use bedside::plot::Chart;
use bedside::{Event, MonitorConfig, WindowScore};
use serde::Serialize;

use super::args::MonitorArgs;
use super::combine::OodSummary;
use super::input::{Conditioning, Input};
use super::model::ModelInfo;
use super::recording::Recording;
use super::signal::AlarmSpan;

/// Where the outputs go.
pub(super) struct Outputs {
    /// The recording they are named after.
    input: PathBuf,
    events: PathBuf,
    plot: PathBuf,
    annotations: Option<PathBuf>,
}

impl Outputs {
    /// The paths asked for, else beside the input; refused when they would overwrite the
    /// input or each other, or their directory does not exist.
    pub fn of(args: &MonitorArgs) -> anyhow::Result<Self> {
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
        Ok(Self {
            input: input_path.clone(),
            events: events_path,
            plot: plot_path,
            annotations: args.annotations_out.clone(),
        })
    }

    /// Refuses `--annotations-out` for an input that is not EDF.
    pub fn check_input(&self, input: &Input) -> anyhow::Result<()> {
        if self.annotations.is_some() && input.edf.is_none() {
            bail!(
                "{}: --annotations-out writes EDF+ annotations for an EDF recording (they take its \
                 start time); this input is {}",
                self.input.display(),
                input.format
            );
        }
        Ok(())
    }

    /// The events file of `recording` (scored by `model` under `config`).
    pub fn events_file<'a>(
        &self,
        input: &'a Input,
        recording: &'a Recording,
        model: ModelInfo,
        config: MonitorConfig,
    ) -> EventsFile<'a> {
        let Recording {
            scored,
            duration_s,
            per_channel,
            alarms,
            seizures,
        } = recording;
        let duration_s = *duration_s;
        let first = recording.first();
        let several = scored.len() > 1;
        let channels = if several {
            input
                .channels
                .iter()
                .zip(scored)
                .zip(per_channel)
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
                seizures,
                &detections,
                duration_s,
                &bedside::ScoringParams::default(),
            ))
        });
        let ood: Vec<OodSummary> = scored.iter().map(|m| OodSummary::of(&m.windows)).collect();
        EventsFile {
            input: self.input.display().to_string(),
            input_format: &input.format,
            input_sampling_hz: input.input_hz,
            conditioning: input.conditioning.as_ref(),
            model,
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
        }
    }

    /// Writes the chart, the events file and any annotations file: all of them or none.
    pub fn write(
        &self,
        file: &EventsFile,
        input: &Input,
        recording: &Recording,
    ) -> anyhow::Result<()> {
        let (input_path, plot_path, events_path) = (&self.input, &self.plot, &self.events);
        let config = file.config;
        let first = recording.first();
        let json = serde_json::to_string_pretty(file)? + "\n";
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
            seizures: &recording.seizures,
        });
        // Both or neither: the chart first, removed again if the events cannot be written.
        artifact_store::atomic::write_file(plot_path, svg.as_bytes())
            .with_context(|| format!("writing {}", plot_path.display()))?;
        if let Err(e) = artifact_store::atomic::write_file(events_path, json.as_bytes()) {
            let _ = std::fs::remove_file(plot_path);
            return Err(e).with_context(|| format!("writing {}", events_path.display()));
        }
        if let (Some(out), Some(source)) = (&self.annotations, &input.edf) {
            let version = file.model.version.as_deref().unwrap_or("unversioned");
            let marks: Vec<eeg_edf::Annotation> = recording
                .alarms
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
                let _ = std::fs::remove_file(plot_path);
                let _ = std::fs::remove_file(events_path);
                return Err(e.into());
            }
        }
        Ok(())
    }

    /// What was found and written, printed.
    pub fn print_summary(&self, file: &EventsFile, recording: &Recording) {
        let alarms = &recording.alarms;
        println!(
            "{}: {:.1} s, {} windows, {} alarm(s)",
            self.input.display(),
            recording.duration_s,
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
        for alarm in alarms {
            println!(
                "  seizure {:.1}-{:.1} s (alarm at {:.1} s)",
                alarm.onset_s, alarm.offset_s, alarm.detected_s
            );
        }
        println!(
            "wrote {} and {}{}",
            self.events.display(),
            self.plot.display(),
            self.annotations
                .as_ref()
                .map(|p| format!(" and {}", p.display()))
                .unwrap_or_default()
        );
    }
}

fn with_suffix(input: &Path, suffix: &str) -> PathBuf {
    let mut name = input.file_stem().unwrap_or_default().to_owned();
    name.push(suffix);
    input.with_file_name(name)
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

/// The events file.
#[derive(Serialize)]
pub(super) struct EventsFile<'a> {
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
