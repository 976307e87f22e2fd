//! Clinical EEG recordings in: EDF and EDF+ files (the format of hospital EEG systems).
//!
//! The file is parsed by `edf-rs` (chosen because it reads `pyedflib`'s files to the bit, see
//! `tests/pyedflib.rs` in the app); this crate checks what that parser leaves to its caller,
//! so that a damaged or unsuitable file is refused with a message naming the field, never
//! read into nonsense or a crash:
//!
//! * the file's length against the header (a truncated download, a record cut short, a
//!   record count that does not match);
//! * each chosen signal's ranges (finite and distinct physical limits, an ordered digital
//!   range), its unit (a voltage, converted to µV) and its type (an
//!   EDF+ `ECG`, `EMG`, `Resp`... channel is not EEG);
//! * every sample inside its digital range;
//! * discontinuous EDF+ (`EDF+D`), whose gaps would be read as continuous signal.
//!
//! It returns the chosen channels in µV at their own rate, and the file's EDF+ annotations.

mod annotations;
mod checks;
mod units;

use std::path::{Path, PathBuf};

use edf_rs::file::EDFFile;
use edf_rs::record::Samples;
use edf_rs::EDFSpecifications;
use serde::Serialize;

pub use annotations::write_annotations;
pub use checks::{DataLayout, Scale, MAX_FILE_BYTES, MAX_SAMPLES};
pub use units::{microvolts_per_unit, non_eeg_type};

/// One data signal of the file (annotation signals are not listed).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Signal {
    /// Position among all the file's signals (annotations included), from 0.
    pub index: usize,
    pub label: String,
    pub unit: String,
    pub rate_hz: f64,
    pub samples_per_record: usize,
    pub physical_min: f64,
    pub physical_max: f64,
    pub digital_min: i32,
    pub digital_max: i32,
}

/// An EDF+ annotation: a time-stamped text (an event marked by the recording's staff).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Annotation {
    pub onset_s: f64,
    /// 0 when the annotation has no duration.
    pub duration_s: f64,
    pub text: String,
}

/// One channel read: samples in µV at the channel's rate.
#[derive(Debug, Clone, PartialEq)]
pub struct Channel {
    pub label: String,
    pub rate_hz: f64,
    pub samples_uv: Vec<f64>,
}

/// What was wrong with a file, named by its field.
#[derive(Debug, thiserror::Error)]
#[error("{}: {problem}", path.display())]
pub struct EdfError {
    pub path: PathBuf,
    pub problem: String,
}

impl EdfError {
    fn new(path: &Path, problem: impl Into<String>) -> Self {
        Self {
            path: path.to_owned(),
            problem: problem.into(),
        }
    }
}

/// An opened, checked EDF/EDF+ file.
pub struct Recording {
    path: PathBuf,
    file: EDFFile,
    /// `EDF`, `EDF+C`, `BDF` or `BDF+C`.
    pub format: &'static str,
    pub records: usize,
    pub record_duration_s: f64,
    signals: Vec<Signal>,
    /// Positions of the annotation signals among all the file's signals.
    annotation_signals: Vec<usize>,
    /// Seconds from the header's start time to the first sample (the first record's
    /// time-keeping annotation), once the records have been read.
    first_sample_s: f64,
}

impl std::fmt::Debug for Recording {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recording")
            .field("path", &self.path)
            .field("format", &self.format)
            .field("records", &self.records)
            .field("signals", &self.signals.len())
            .finish_non_exhaustive()
    }
}

/// True when the file starts as an EDF or BDF header does (the version field).
pub fn looks_like_edf(head: &[u8]) -> bool {
    head.starts_with(b"0       ") || head.starts_with(b"\xffBIOSEMI")
}

impl Recording {
    /// Opens `path` and checks its header against its length.
    pub fn open(path: &Path) -> Result<Self, EdfError> {
        let length = std::fs::metadata(path)
            .map_err(|e| EdfError::new(path, e.to_string()))?
            .len();
        if length > MAX_FILE_BYTES {
            return Err(EdfError::new(
                path,
                format!(
                    "{length} bytes, more than the {MAX_FILE_BYTES} read at once (split the \
                     recording)"
                ),
            ));
        }
        let file = EDFFile::open(path).map_err(|e| EdfError::new(path, checks::describe(&e)))?;
        let header = &file.header;
        let (format, plus) = match header.get_specification() {
            EDFSpecifications::EDF => ("EDF", false),
            EDFSpecifications::EDFPlus => ("EDF+C", true),
            EDFSpecifications::BDF => ("BDF", false),
            EDFSpecifications::BDFPlus => ("BDF+C", true),
        };
        if plus && !header.is_continuous() {
            return Err(EdfError::new(
                path,
                "EDF+D (discontinuous): its records have gaps between them, which would be \
                 read as continuous signal; export the recording as EDF+C",
            ));
        }
        let record_duration_s = header.get_record_duration();
        let layout = DataLayout {
            header_bytes: header.get_header_bytes() as u64,
            record_bytes: header.data_record_bytes() as u64,
            declared_records: header.get_record_count(),
            file_bytes: length,
        };
        let records = layout.records().map_err(|p| EdfError::new(path, p))?;
        let mut signals = Vec::new();
        let mut annotation_signals = Vec::new();
        for (index, s) in header.get_signals().iter().enumerate() {
            let label = s.label.trim().to_owned();
            if label == "EDF Annotations" || label == "BDF Annotations" {
                annotation_signals.push(index);
                continue;
            }
            let rate_hz = s.samples_count as f64 / record_duration_s;
            signals.push(Signal {
                index,
                label,
                unit: s.physical_dimension.trim().to_owned(),
                rate_hz,
                samples_per_record: s.samples_count,
                physical_min: s.physical_minimum,
                physical_max: s.physical_maximum,
                digital_min: s.digital_minimum,
                digital_max: s.digital_maximum,
            });
        }
        if signals.iter().any(|s| s.samples_per_record > 0)
            && !(record_duration_s.is_finite() && record_duration_s > 0.0)
        {
            return Err(EdfError::new(
                path,
                format!(
                    "header field 'duration of a data record' is {record_duration_s} s; a \
                     recording with signals needs a positive duration"
                ),
            ));
        }
        Ok(Self {
            path: path.to_owned(),
            file,
            format,
            records,
            record_duration_s,
            signals,
            annotation_signals,
            first_sample_s: 0.0,
        })
    }

    /// The file's data signals, in the file's order.
    pub fn signals(&self) -> &[Signal] {
        &self.signals
    }

    pub fn duration_s(&self) -> f64 {
        self.records as f64 * self.record_duration_s
    }

    /// The data signal named `label` (exactly, else the one whose name matches ignoring case
    /// and surrounding spaces).
    pub fn signal(&self, label: &str) -> Result<&Signal, EdfError> {
        let wanted = label.trim();
        if let Some(signal) = self.signals.iter().find(|s| s.label == wanted) {
            return Ok(signal);
        }
        let folded: Vec<&Signal> = self
            .signals
            .iter()
            .filter(|s| s.label.eq_ignore_ascii_case(wanted))
            .collect();
        match folded[..] {
            [signal] => Ok(signal),
            [] => {
                let names: Vec<&str> = self
                    .signals
                    .iter()
                    .take(32)
                    .map(|s| s.label.as_str())
                    .collect();
                Err(EdfError::new(
                    &self.path,
                    format!("no signal {wanted:?}; the file has {names:?}"),
                ))
            }
            _ => Err(EdfError::new(
                &self.path,
                format!(
                    "{} signals are named {wanted:?} (ignoring case)",
                    folded.len()
                ),
            )),
        }
    }

    /// Reads the channels named `labels` (each checked as EEG) in µV, and every annotation.
    pub fn read(&mut self, labels: &[&str]) -> Result<(Vec<Channel>, Vec<Annotation>), EdfError> {
        let path = self.path.clone();
        let chosen: Vec<Signal> = labels
            .iter()
            .map(|l| self.signal(l).cloned())
            .collect::<Result<_, _>>()?;
        let mut scales = Vec::new();
        for signal in &chosen {
            scales.push(checks::check_signal(signal).map_err(|p| EdfError::new(&path, p))?);
        }
        let total = chosen
            .iter()
            .map(|s| s.samples_per_record.saturating_mul(self.records))
            .fold(0usize, usize::saturating_add);
        if total > MAX_SAMPLES {
            return Err(EdfError::new(
                &path,
                format!(
                    "{total} samples in the chosen channels, more than the {MAX_SAMPLES} read at \
                     once (split the recording)"
                ),
            ));
        }
        // Position of each data signal among the record's sample blocks (annotations are
        // kept apart by the parser).
        let block_of = |index: usize| self.signals.iter().position(|s| s.index == index);
        let blocks: Vec<usize> = chosen
            .iter()
            .map(|s| block_of(s.index).expect("chosen from the data signals"))
            .collect();
        let mut out: Vec<Vec<f64>> = chosen
            .iter()
            .map(|s| Vec::with_capacity(s.samples_per_record * self.records))
            .collect();
        let mut annotations = Vec::new();
        let mut first_record_s = 0.0;
        for record in 0..self.records {
            let data = self
                .file
                .read_record()
                .map_err(|e| {
                    EdfError::new(
                        &path,
                        format!("data record {}: {}", record + 1, checks::describe(&e)),
                    )
                })?
                .ok_or_else(|| {
                    EdfError::new(
                        &path,
                        format!(
                            "data record {} of {} is missing (truncated file)",
                            record + 1,
                            self.records
                        ),
                    )
                })?;
            // EDF+ onsets count from the header's start time; the first record's time-keeping
            // annotation says when its first sample was taken (a fraction of a second after
            // it, say): onsets here count from the first sample, as EDFlib's do (EDFlib
            // refuses offsets of a second or more; they are subtracted here alike).
            if record == 0 {
                first_record_s = data
                    .annotations
                    .first()
                    .and_then(|tals| tals.iter().find(|t| t.is_time_keeping()))
                    .map_or(0.0, |t| t.onset);
                if !first_record_s.is_finite() {
                    return Err(EdfError::new(
                        &path,
                        "data record 1: its time-keeping annotation is not a finite time",
                    ));
                }
            }
            for tals in &data.annotations {
                for tal in tals {
                    for text in tal.annotations.iter().filter(|t| !t.trim().is_empty()) {
                        if !(tal.onset.is_finite() && tal.duration.is_finite()) {
                            return Err(EdfError::new(
                                &path,
                                format!(
                                    "data record {}: annotation {:?} has onset {} and duration \
                                     {}, not finite times",
                                    record + 1,
                                    text.trim(),
                                    tal.onset,
                                    tal.duration
                                ),
                            ));
                        }
                        annotations.push(Annotation {
                            onset_s: tal.onset - first_record_s,
                            duration_s: tal.duration.max(0.0),
                            text: text.trim().to_owned(),
                        });
                    }
                }
            }
            for ((signal, &block), (samples, scale)) in
                chosen.iter().zip(&blocks).zip(out.iter_mut().zip(&scales))
            {
                let digital: Vec<i32> = match data.raw_signal_samples.get(block) {
                    Some(Samples::Values16Bit(v)) => v.iter().map(|&d| i32::from(d)).collect(),
                    Some(Samples::Values24Bit(v)) => v.clone(),
                    None => {
                        return Err(EdfError::new(
                            &path,
                            format!(
                                "data record {}: no samples of {:?}",
                                record + 1,
                                signal.label
                            ),
                        ))
                    }
                };
                if digital.len() != signal.samples_per_record {
                    return Err(EdfError::new(
                        &path,
                        format!(
                            "data record {}: {} samples of {:?}, the header says {}",
                            record + 1,
                            digital.len(),
                            signal.label,
                            signal.samples_per_record
                        ),
                    ));
                }
                for (i, &d) in digital.iter().enumerate() {
                    if d < signal.digital_min || d > signal.digital_max {
                        return Err(EdfError::new(
                            &path,
                            format!(
                                "data record {}, sample {} of {:?}: digital value {d} is outside \
                                 the header's digital range {}..{}",
                                record + 1,
                                i + 1,
                                signal.label,
                                signal.digital_min,
                                signal.digital_max
                            ),
                        ));
                    }
                    samples.push(scale.microvolts(d));
                }
            }
        }
        annotations.sort_by(|a, b| a.onset_s.total_cmp(&b.onset_s));
        self.first_sample_s = first_record_s;
        let channels = chosen
            .into_iter()
            .zip(out)
            .map(|(s, samples_uv)| Channel {
                label: s.label,
                rate_hz: s.rate_hz,
                samples_uv,
            })
            .collect();
        Ok((channels, annotations))
    }

    /// The annotations alone (every record is read).
    pub fn annotations(&mut self) -> Result<Vec<Annotation>, EdfError> {
        Ok(self.read(&[])?.1)
    }

    /// Seconds from the header's start time to the first sample (known after a read).
    pub fn first_sample_s(&self) -> f64 {
        self.first_sample_s
    }

    /// Positions of the annotation signals (EDF+), empty for plain EDF.
    pub fn annotation_signals(&self) -> &[usize] {
        &self.annotation_signals
    }
}
