//! `seizure-ops monitor`: score a long recording offline with the bedside alarm rule, and
//! write its events (JSON) and the strip chart a neurologist would check (SVG).

use std::io::{BufRead, Read};
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
    /// The recording: one sample per line, or a CSV file with a header when --column is given.
    #[arg(long)]
    pub input: PathBuf,
    /// The CSV column holding the samples (header name).
    #[arg(long)]
    pub column: Option<String>,
    /// Model directory [default: HOME/production].
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Events file [default: the input's name with `.events.json`].
    #[arg(long)]
    pub events: Option<PathBuf>,
    /// Strip chart [default: the input's name with `.svg`].
    #[arg(long)]
    pub plot: Option<PathBuf>,
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

/// The largest recording file read (a day at 173.61 Hz is about 120 MB of text).
pub const MAX_INPUT_BYTES: u64 = 512 * 1024 * 1024;
/// The longest line of a one-sample-per-line file.
const MAX_LINE_BYTES: usize = 1024;

/// At most 40 characters of `text`, for an error message.
fn quoted(text: &str) -> String {
    let mut short: String = text.chars().take(40).collect();
    if short.len() < text.len() {
        short.push_str("...");
    }
    format!("{short:?}")
}

/// Reads a recording, naming the file, line and field of the first bad value.
pub fn read_samples(path: &Path, column: Option<&str>, max_abs: f64) -> anyhow::Result<Vec<f32>> {
    let file = std::fs::File::open(path).with_context(|| format!("{}", path.display()))?;
    let metadata = file
        .metadata()
        .with_context(|| format!("{}", path.display()))?;
    if !metadata.is_file() {
        bail!("{}: not a regular file", path.display());
    }
    if metadata.len() > MAX_INPUT_BYTES {
        bail!(
            "{}: {} bytes, more than the {MAX_INPUT_BYTES} read at once (split the recording)",
            path.display(),
            metadata.len()
        );
    }
    let check = |text: &str, line: u64, field: &str| -> anyhow::Result<f32> {
        let text = text.trim().trim_start_matches('\u{feff}');
        let value: f64 = text.parse().map_err(|_| {
            anyhow::anyhow!(
                "{}:{line}: field {field}: {} is not a number",
                path.display(),
                quoted(text)
            )
        })?;
        if !value.is_finite() {
            bail!(
                "{}:{line}: field {field}: {text} is not a finite number",
                path.display()
            );
        }
        if value.abs() > max_abs {
            bail!(
                "{}:{line}: field {field}: {text} is outside the model's input range \
                 -{max_abs}..{max_abs}",
                path.display()
            );
        }
        Ok(value as f32)
    };
    let mut samples = Vec::new();
    match column {
        None => {
            let mut reader = std::io::BufReader::new(file);
            let mut line = Vec::with_capacity(64);
            for number in 1u64.. {
                line.clear();
                let read = (&mut reader)
                    .take(MAX_LINE_BYTES as u64 + 1)
                    .read_until(b'\n', &mut line)
                    .with_context(|| format!("{}:{number}", path.display()))?;
                if read == 0 {
                    break;
                }
                if line.len() > MAX_LINE_BYTES {
                    bail!(
                        "{}:{number}: longer than {MAX_LINE_BYTES} bytes (one sample per line, \
                         or --column for a CSV file)",
                        path.display()
                    );
                }
                let text = std::str::from_utf8(&line)
                    .map_err(|_| anyhow::anyhow!("{}:{number}: not UTF-8 text", path.display()))?;
                if text.trim().trim_start_matches('\u{feff}').is_empty() {
                    continue;
                }
                samples.push(check(text, number, "sample")?);
            }
        }
        Some(name) => {
            let mut reader = csv::ReaderBuilder::new().flexible(false).from_reader(file);
            let headers = reader
                .headers()
                .with_context(|| format!("{}:1: the header", path.display()))?
                .clone();
            let clean = |h: &str| h.trim().trim_start_matches('\u{feff}').to_owned();
            let matching: Vec<usize> = headers
                .iter()
                .enumerate()
                .filter(|(_, h)| clean(h) == name)
                .map(|(i, _)| i)
                .collect();
            let index = match matching[..] {
                [index] => index,
                [] => bail!(
                    "{}:1: no column {name:?} (the header has {} columns)",
                    path.display(),
                    headers.len()
                ),
                _ => bail!(
                    "{}:1: {} columns are named {name:?}; which one is meant is ambiguous",
                    path.display(),
                    matching.len()
                ),
            };
            for record in reader.records() {
                let record = record.with_context(|| format!("{}", path.display()))?;
                let line = record.position().map_or(0, |p| p.line());
                let text = record.get(index).unwrap_or("");
                samples.push(check(text, line, name)?);
            }
        }
    }
    if samples.len() < eeg_data::SAMPLES_PER_RECORDING {
        bail!(
            "{}: {} samples, fewer than one window ({})",
            path.display(),
            samples.len(),
            eeg_data::SAMPLES_PER_RECORDING
        );
    }
    Ok(samples)
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
    model: ModelInfo,
    sampling_hz: f64,
    samples: usize,
    duration_s: f64,
    config: MonitorConfig,
    windows: usize,
    windows_at_or_above_threshold: usize,
    alarms: Vec<AlarmSpan>,
    events: &'a [Event],
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
    let events_path = args
        .events
        .clone()
        .unwrap_or_else(|| with_suffix(&args.input, ".events.json"));
    let plot_path = args
        .plot
        .clone()
        .unwrap_or_else(|| with_suffix(&args.input, ".svg"));
    check_outputs(&args.input, &[&events_path, &plot_path])?;
    let max_abs = predictor.card().input.max_abs_sample;
    let samples = read_samples(&args.input, args.column.as_deref(), max_abs)?;
    let monitored = monitor_signal(&predictor, config, samples)?;
    let duration_s = bedside::seconds(monitored.samples.len() as u64);
    let alarms = spans(&monitored.events, duration_s);
    let file = EventsFile {
        input: args.input.display().to_string(),
        model: ModelInfo::of(&model_dir, &predictor),
        sampling_hz: eeg_data::SAMPLING_HZ,
        samples: monitored.samples.len(),
        duration_s,
        config,
        windows: monitored.windows.len(),
        windows_at_or_above_threshold: monitored
            .windows
            .iter()
            .filter(|w| f64::from(w.probability) >= config.rule.threshold)
            .count(),
        alarms: alarms.clone(),
        events: &monitored.events,
    };
    let json = serde_json::to_string_pretty(&file)? + "\n";
    let title = format!(
        "{} | model {} {} | threshold {:.3}, alarm at {} of {} windows",
        args.input.display(),
        file.model.name,
        file.model.version.as_deref().unwrap_or("(unversioned)"),
        config.rule.threshold,
        config.rule.k,
        config.rule.n
    );
    let svg = bedside::plot::svg(&Chart {
        title: &title,
        samples: &monitored.samples,
        windows: &monitored.windows,
        events: &monitored.events,
        threshold: config.rule.threshold,
        seizures: &[],
    });
    // Both or neither: the chart first, removed again if the events cannot be written.
    artifact_store::atomic::write_file(&plot_path, svg.as_bytes())
        .with_context(|| format!("writing {}", plot_path.display()))?;
    if let Err(e) = artifact_store::atomic::write_file(&events_path, json.as_bytes()) {
        let _ = std::fs::remove_file(&plot_path);
        return Err(e).with_context(|| format!("writing {}", events_path.display()));
    }
    println!(
        "{}: {:.1} s, {} windows, {} alarm(s)",
        args.input.display(),
        duration_s,
        file.windows,
        alarms.len()
    );
    for alarm in &alarms {
        println!(
            "  seizure {:.1}-{:.1} s (alarm at {:.1} s)",
            alarm.onset_s, alarm.offset_s, alarm.detected_s
        );
    }
    println!(
        "wrote {} and {}",
        events_path.display(),
        plot_path.display()
    );
    Ok(())
}
