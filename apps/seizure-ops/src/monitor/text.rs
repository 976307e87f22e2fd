//! The recording `monitor` scores: a text file (one sample per line, or a CSV column) or an
//! EDF/EDF+ file (one or more channels), brought to the model's rate and band when recorded
//! at another rate (see [`bedside::conditioning`]).

use std::io::{BufRead, Read};
use std::path::Path;

use anyhow::{bail, Context};

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
