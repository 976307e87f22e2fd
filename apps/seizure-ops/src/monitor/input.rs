//! The recording `monitor` scores, at the model's rate: a text file as it comes (or
//! conditioned when `--input-hz` names another rate), or channels of an EDF/EDF+ file, each
//! filtered to the training data's band and resampled ([`bedside::conditioning`]).

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use bedside::conditioning::{self, Mains, BAND_HZ};
use clap::Args;
use serde::Serialize;

use super::text::read_samples;

/// Where the samples come from and at what rate.
#[derive(Debug, Args)]
pub struct InputArgs {
    /// The recording: an EDF/EDF+ file (`.edf`, `.bdf`, or an EDF header), one sample per
    /// line, or a CSV file with a header when --column is given.
    #[arg(long)]
    pub input: PathBuf,
    /// The CSV column holding the samples (header name).
    #[arg(long)]
    pub column: Option<String>,
    /// The EDF signal to score (its label); needed when the file has more than one.
    #[arg(long, conflicts_with = "channels")]
    pub channel: Option<String>,
    /// Several EDF signals, comma-separated: each is scored, and an alarm is raised when any
    /// channel alarms (overlapping alarms of several channels are one).
    #[arg(long, value_delimiter = ',')]
    pub channels: Vec<String>,
    /// The rate of a text or CSV recording, when not the model's 173.61 Hz: it is then
    /// band-passed and resampled as an EDF channel is (an EDF file's rate is its header's).
    #[arg(long)]
    pub input_hz: Option<f64>,
    /// The mains frequency notched out when a recording is conditioned: 50, 60 or none.
    #[arg(long, default_value = "50")]
    pub mains: Mains,
}

/// How a recording was brought to the model's input.
#[derive(Debug, Clone, Serialize)]
pub struct Conditioning {
    pub band_hz: [f64; 2],
    pub mains_notch_hz: Option<f64>,
    pub resampled_from_hz: f64,
    pub resampler: &'static str,
}

/// One channel at the model's rate.
#[derive(Debug, Clone)]
pub struct InputChannel {
    pub label: String,
    /// The channel's own rate.
    pub input_hz: f64,
    pub samples: Vec<f32>,
}

/// A recording ready to score.
#[derive(Debug)]
pub struct Input {
    /// `text`, `csv`, `EDF`, `EDF+C`, `BDF` or `BDF+C`.
    pub format: String,
    pub input_hz: f64,
    pub conditioning: Option<Conditioning>,
    pub channels: Vec<InputChannel>,
    /// The file's EDF+ annotations (the staff's marks: reference events).
    pub annotations: Vec<eeg_edf::Annotation>,
    /// The EDF file itself (its header is what annotations written back copy).
    pub edf: Option<PathBuf>,
    /// Seconds from the EDF header's start time to the first sample (0 for text).
    pub first_sample_s: f64,
}

fn is_edf(path: &Path) -> anyhow::Result<bool> {
    let by_name = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("edf") || e.eq_ignore_ascii_case("bdf"));
    if by_name {
        return Ok(true);
    }
    let mut head = [0u8; 8];
    let mut file = std::fs::File::open(path).with_context(|| format!("{}", path.display()))?;
    let read = file.read(&mut head).unwrap_or(0);
    Ok(eeg_edf::looks_like_edf(&head[..read]))
}

/// Reads and conditions the recording; `max_abs` is the model's input bound (µV).
pub fn read_input(args: &InputArgs, max_abs: f64) -> anyhow::Result<Input> {
    let path = &args.input;
    if fs_err::metadata(path).is_ok_and(|m| m.is_file()) && is_edf(path)? {
        if args.column.is_some() || args.input_hz.is_some() {
            bail!(
                "{}: an EDF file has channels (--channel, --channels) and its own rate; \
                 --column and --input-hz are for text files",
                path.display()
            );
        }
        return read_edf(args, max_abs);
    }
    if args.channel.is_some() || !args.channels.is_empty() {
        bail!(
            "{}: not an EDF file; --channel and --channels choose EDF signals (--column \
             chooses a CSV column)",
            path.display()
        );
    }
    let format = if args.column.is_some() { "csv" } else { "text" };
    let label = args.column.clone().unwrap_or_else(|| "samples".to_owned());
    let samples = read_samples(path, args.column.as_deref(), max_abs)?;
    // At the model's own rate a text file is taken as it comes, as a session's samples are.
    let input_hz = args.input_hz.filter(|&hz| hz != eeg_data::SAMPLING_HZ);
    let (samples, conditioning, input_hz) = match input_hz {
        None => (samples, None, eeg_data::SAMPLING_HZ),
        Some(hz) => {
            let raw: Vec<f64> = samples.iter().map(|&v| f64::from(v)).collect();
            let (samples, conditioning) = condition(path, &label, &raw, hz, args.mains, max_abs)?;
            (samples, Some(conditioning), hz)
        }
    };
    Ok(Input {
        format: format.to_owned(),
        input_hz,
        conditioning,
        channels: vec![InputChannel {
            label,
            input_hz,
            samples,
        }],
        annotations: Vec::new(),
        edf: None,
        first_sample_s: 0.0,
    })
}

fn read_edf(args: &InputArgs, max_abs: f64) -> anyhow::Result<Input> {
    let path = &args.input;
    let mut recording = eeg_edf::Recording::open(path)?;
    let labels: Vec<String> = match (&args.channel, &args.channels[..]) {
        (Some(one), _) => vec![one.clone()],
        (None, []) => match recording.signals() {
            [only] => vec![only.label.clone()],
            signals => bail!(
                "{}: {} signals; choose one with --channel (or several with --channels): {:?}",
                path.display(),
                signals.len(),
                signals.iter().map(|s| s.label.as_str()).collect::<Vec<_>>()
            ),
        },
        (None, several) => several.to_vec(),
    };
    let mut unique = labels.clone();
    unique.sort();
    unique.dedup();
    if unique.len() != labels.len() {
        bail!("{}: a channel is named twice in --channels", path.display());
    }
    // Rates checked before the samples are read (a 1 Hz channel is refused at once).
    for label in &labels {
        let signal = recording.signal(label)?;
        conditioning::check_rate(signal.rate_hz)
            .with_context(|| format!("{}: {:?}", path.display(), signal.label))?;
    }
    let refs: Vec<&str> = labels.iter().map(String::as_str).collect();
    let (read, annotations) = recording.read(&refs)?;
    let mut channels = Vec::with_capacity(read.len());
    let mut conditioning = None;
    let mut input_hz = 0.0;
    for channel in read {
        let (samples, how) = condition(
            path,
            &channel.label,
            &channel.samples_uv,
            channel.rate_hz,
            args.mains,
            max_abs,
        )?;
        if conditioning.is_none() {
            // The file's rate and conditioning as the first channel's (each channel's rate is
            // in its own entry).
            input_hz = channel.rate_hz;
            conditioning = Some(how);
        }
        channels.push(InputChannel {
            label: channel.label,
            input_hz: channel.rate_hz,
            samples,
        });
    }
    // Channels of different rates give lengths a sample apart: scored over their common part.
    let shortest = channels.iter().map(|c| c.samples.len()).min().unwrap_or(0);
    for channel in &mut channels {
        channel.samples.truncate(shortest);
    }
    if shortest < eeg_data::SAMPLES_PER_RECORDING {
        bail!(
            "{}: {:.2} s of signal, shorter than one window ({:.2} s)",
            path.display(),
            recording.duration_s(),
            eeg_data::SAMPLES_PER_RECORDING as f64 / eeg_data::SAMPLING_HZ
        );
    }
    Ok(Input {
        format: recording.format.to_owned(),
        input_hz,
        conditioning,
        channels,
        annotations,
        edf: Some(path.clone()),
        first_sample_s: recording.first_sample_s(),
    })
}

/// Band-pass, notch and resample one channel; refuses samples the model could not take.
fn condition(
    path: &Path,
    label: &str,
    raw: &[f64],
    input_hz: f64,
    mains: Mains,
    max_abs: f64,
) -> anyhow::Result<(Vec<f32>, Conditioning)> {
    conditioning::check_rate(input_hz).with_context(|| format!("{}: {label:?}", path.display()))?;
    if let Some((i, v)) = raw
        .iter()
        .enumerate()
        .find(|(_, v)| !v.is_finite() || v.abs() > max_abs)
    {
        bail!(
            "{}: {label:?} at {:.3} s (sample {}): {v} µV is outside the model's input range \
             -{max_abs}..{max_abs} (check the file's physical range and unit)",
            path.display(),
            i as f64 / input_hz,
            i + 1
        );
    }
    let mut conditioner = conditioning::Conditioner::new(input_hz, mains)
        .with_context(|| format!("{}: {label:?}", path.display()))?;
    let mut out =
        Vec::with_capacity((raw.len() as f64 * eeg_data::SAMPLING_HZ / input_hz) as usize + 64);
    conditioner.push(raw, &mut out);
    conditioner.finish(&mut out);
    // The filters may overshoot a sample near the bound by a little: held to the bound.
    let samples = out
        .iter()
        .map(|&v| v.clamp(-max_abs, max_abs) as f32)
        .collect();
    Ok((
        samples,
        Conditioning {
            band_hz: [BAND_HZ.0, BAND_HZ.1],
            mains_notch_hz: conditioner.mains_notch_hz(),
            resampled_from_hz: input_hz,
            resampler:
                "rubato windowed-sinc (64 taps x 64 steps, Blackman squared window), causal Butterworth band-pass",
        },
    ))
}
