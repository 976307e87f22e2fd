//! A clinical recording brought to the model's input: the training data's band (0.53-40 Hz,
//! the UCI recordings' acquisition filter) with a mains notch, then resampled to the model's
//! rate (173.61 Hz) by a windowed-sinc anti-aliasing resampler (`rubato`).
//!
//! The same streaming code serves a file (pushed in one go, then [`Conditioner::finish`]) and
//! a live session (pushed at any chunking): the filters are causal, as a bedside device's
//! would be, and the resampler's start-up delay is dropped, so an output sample at index `i`
//! is the input's time `i / 173.61` s (less the band-pass's few samples of group delay).

use biquad::{Biquad, Coefficients, DirectForm2Transposed, ToHertz, Type};
use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{
    Async, FixedAsync, Indexing, Resampler, SincInterpolationParameters, SincInterpolationType,
    WindowFunction,
};

/// The lowest and highest input rates taken (clinical EEG is recorded at 200 to 2048 Hz; the
/// band's 40 Hz edge needs at least 100).
pub const MIN_INPUT_HZ: f64 = 100.0;
pub const MAX_INPUT_HZ: f64 = 4096.0;
/// The training data's band.
pub const BAND_HZ: (f64, f64) = (0.53, 40.0);
/// Input frames the resampler takes at a time (a quarter second at 256 Hz).
const CHUNK: usize = 64;
const SINC_TAPS: usize = 64;
const SINC_OVERSAMPLING: usize = 64;
/// The heap one conditioner holds, at most: the sinc table (taps x oversampling x 8 bytes),
/// the resampler's and filters' buffers, with room to spare (the inference service's memory
/// budget counts it per resampling session; `monitor_memory` measures it).
pub const CONDITIONER_BYTES: u64 = 64 * 1024;

/// The mains frequency removed by the notch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase", try_from = "MainsSpelling")]
pub enum Mains {
    /// 50 Hz (Europe, most of Asia and Africa).
    #[serde(rename = "50")]
    Hz50,
    /// 60 Hz (the Americas, parts of Asia).
    #[serde(rename = "60")]
    Hz60,
    /// No notch (a recording already notched, or battery powered).
    None,
}

impl Mains {
    pub fn hz(self) -> Option<f64> {
        match self {
            Self::Hz50 => Some(50.0),
            Self::Hz60 => Some(60.0),
            Self::None => None,
        }
    }
}

/// How a client may write the mains frequency: `"50"`, `50`, `"60"`, `60` or `"none"`.
#[derive(serde::Deserialize)]
#[serde(untagged)]
enum MainsSpelling {
    Number(f64),
    Text(String),
}

impl TryFrom<MainsSpelling> for Mains {
    type Error = String;
    fn try_from(spelling: MainsSpelling) -> Result<Self, Self::Error> {
        match spelling {
            MainsSpelling::Number(50.0) => Ok(Self::Hz50),
            MainsSpelling::Number(60.0) => Ok(Self::Hz60),
            MainsSpelling::Number(hz) => Err(format!("mains {hz}: expected 50, 60 or none")),
            MainsSpelling::Text(text) => text.parse(),
        }
    }
}

impl std::str::FromStr for Mains {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "50" => Ok(Self::Hz50),
            "60" => Ok(Self::Hz60),
            "none" => Ok(Self::None),
            other => Err(format!("mains {other:?}: expected 50, 60 or none")),
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ConditionError {
    #[error(
        "an input rate of {0} Hz is outside the range taken, {MIN_INPUT_HZ} to {MAX_INPUT_HZ} Hz"
    )]
    Rate(f64),
    #[error("the resampler cannot be built: {0}")]
    Resampler(String),
}

/// Checks an input rate against the range taken.
pub fn check_rate(input_hz: f64) -> Result<f64, ConditionError> {
    if input_hz.is_finite() && (MIN_INPUT_HZ..=MAX_INPUT_HZ).contains(&input_hz) {
        Ok(input_hz)
    } else {
        Err(ConditionError::Rate(input_hz))
    }
}

/// Band-pass, notch and resampler state of one signal.
pub struct Conditioner {
    input_hz: f64,
    notch_hz: Option<f64>,
    /// The first sample, subtracted from every sample: the filters start from rest at the
    /// signal's level, so a DC offset gives no start-up transient (the high-pass removes the
    /// offset either way).
    baseline: Option<f64>,
    filters: Vec<DirectForm2Transposed<f64>>,
    resampler: Async<f64>,
    /// Filtered input waiting for a full chunk.
    pending: Vec<f64>,
    /// Output frames of the resampler's start-up delay still to drop.
    to_drop: usize,
    /// Input frames taken and output frames given, for the end's trim.
    taken: u64,
    given: u64,
    out_buffer: Vec<f64>,
}

impl std::fmt::Debug for Conditioner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conditioner")
            .field("input_hz", &self.input_hz)
            .field("taken", &self.taken)
            .field("given", &self.given)
            .finish_non_exhaustive()
    }
}

impl Conditioner {
    /// A conditioner from `input_hz` to the model's rate.
    pub fn new(input_hz: f64, mains: Mains) -> Result<Self, ConditionError> {
        let input_hz = check_rate(input_hz)?;
        let coefficients = |kind, f0: f64, q: f64| {
            Coefficients::<f64>::from_params(kind, input_hz.hz(), f0.hz(), q)
                .map_err(|e| ConditionError::Resampler(format!("filter at {f0} Hz: {e:?}")))
        };
        // A 2nd-order Butterworth high-pass at 0.53 Hz, a 4th-order Butterworth low-pass at
        // 40 Hz (two sections), and a notch (Q 30: about 1.7 Hz wide) below the Nyquist.
        let mut sections = vec![
            coefficients(Type::HighPass, BAND_HZ.0, std::f64::consts::FRAC_1_SQRT_2)?,
            coefficients(Type::LowPass, BAND_HZ.1, 0.541_196_100_146_197)?,
            coefficients(Type::LowPass, BAND_HZ.1, 1.306_562_964_876_376_6)?,
        ];
        let notch_hz = mains.hz().filter(|&f| f < input_hz / 2.0);
        if let Some(mains) = notch_hz {
            sections.push(coefficients(Type::Notch, mains, 30.0)?);
        }
        let ratio = eeg_data::SAMPLING_HZ / input_hz;
        // 64 taps, 64 sub-sample steps with cubic interpolation between them: a 32 KiB table
        // per conditioner (a session holds one), anti-aliasing well below the model's
        // Nyquist for a band that ends at 40 Hz (the tone tests below).
        let parameters = SincInterpolationParameters::new(SINC_TAPS, WindowFunction::Blackman2)
            .oversampling_factor(SINC_OVERSAMPLING)
            .interpolation(SincInterpolationType::Cubic);
        let resampler =
            Async::<f64>::new_sinc(ratio, 1.0, &parameters, CHUNK, 1, FixedAsync::Input)
                .map_err(|e| ConditionError::Resampler(e.to_string()))?;
        let to_drop = resampler.output_delay();
        let out_buffer = vec![0.0; resampler.output_frames_max()];
        Ok(Self {
            input_hz,
            notch_hz,
            baseline: None,
            filters: sections
                .into_iter()
                .map(DirectForm2Transposed::<f64>::new)
                .collect(),
            resampler,
            pending: Vec::with_capacity(2 * CHUNK),
            to_drop,
            taken: 0,
            given: 0,
            out_buffer,
        })
    }

    pub fn input_hz(&self) -> f64 {
        self.input_hz
    }

    /// The mains frequency notched out (none above the input's Nyquist, or when asked).
    pub fn mains_notch_hz(&self) -> Option<f64> {
        self.notch_hz
    }

    /// Input samples taken so far.
    pub fn samples_taken(&self) -> u64 {
        self.taken
    }

    /// Conditions `samples` (finite, checked by the caller) and appends the model-rate
    /// samples they complete to `out`.
    pub fn push(&mut self, samples: &[f64], out: &mut Vec<f64>) {
        for &x in samples {
            let baseline = *self.baseline.get_or_insert(x);
            let y = self.filters.iter_mut().fold(x - baseline, |v, f| f.run(v));
            self.pending.push(y);
            self.taken += 1;
            if self.pending.len() == self.resampler.input_frames_next() {
                self.run(None, out);
            }
        }
    }

    /// Flushes the last partial chunk; the output ends at the input's last instant.
    pub fn finish(&mut self, out: &mut Vec<f64>) {
        let expected = (self.taken as f64 * eeg_data::SAMPLING_HZ / self.input_hz).floor() as u64;
        // Zero-padded partial chunks until the delay line has given out every sample due.
        let mut guard = 0;
        while self.given < expected && guard < 1 + self.resampler.output_delay() / CHUNK + 4 {
            let partial = self.pending.len();
            self.run(Some(partial), out);
            guard += 1;
        }
        let extra = self.given.saturating_sub(expected) as usize;
        out.truncate(out.len().saturating_sub(extra));
        self.given = self.given.min(expected);
    }

    fn run(&mut self, partial: Option<usize>, out: &mut Vec<f64>) {
        let frames = self.resampler.input_frames_next();
        self.pending.resize(frames, 0.0);
        let input = InterleavedSlice::new(&self.pending[..], 1, frames).expect("sized above");
        let capacity = self.out_buffer.len();
        let mut output =
            InterleavedSlice::new_mut(&mut self.out_buffer[..], 1, capacity).expect("sized");
        let indexing = Indexing {
            input_offset: 0,
            output_offset: 0,
            partial_len: partial,
            active_channels_mask: None,
        };
        let (_, written) = self
            .resampler
            .process_into_buffer(&input, &mut output, Some(&indexing))
            .expect("buffers sized from the resampler's own figures");
        self.pending.clear();
        let skip = self.to_drop.min(written);
        self.to_drop -= skip;
        out.extend_from_slice(&self.out_buffer[skip..written]);
        self.given += (written - skip) as u64;
    }
}

/// Conditions a whole recording at `input_hz`.
pub fn condition(samples: &[f64], input_hz: f64, mains: Mains) -> Result<Vec<f64>, ConditionError> {
    let mut conditioner = Conditioner::new(input_hz, mains)?;
    let mut out = Vec::with_capacity(
        (samples.len() as f64 * eeg_data::SAMPLING_HZ / conditioner.input_hz) as usize + CHUNK,
    );
    conditioner.push(samples, &mut out);
    conditioner.finish(&mut out);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(hz: f64, rate: f64, seconds: f64, amplitude: f64) -> Vec<f64> {
        (0..(rate * seconds) as usize)
            .map(|i| amplitude * (2.0 * std::f64::consts::PI * hz * i as f64 / rate).sin())
            .collect()
    }

    fn rms(x: &[f64]) -> f64 {
        (x.iter().map(|v| v * v).sum::<f64>() / x.len() as f64).sqrt()
    }

    #[test]
    fn the_output_has_the_model_rate_length() {
        for rate in [200.0, 250.0, 256.0, 512.0, 1000.0, 100.0] {
            let out = condition(&sine(5.0, rate, 20.0, 100.0), rate, Mains::Hz50).unwrap();
            let expected = (20.0 * eeg_data::SAMPLING_HZ).floor() as usize;
            assert!(out.len().abs_diff(expected) <= 1, "{rate}: {}", out.len());
        }
    }

    #[test]
    fn a_band_tone_passes_mains_and_out_of_band_do_not() {
        let rate = 256.0;
        let settle = (5.0 * eeg_data::SAMPLING_HZ) as usize;
        let gain = |hz: f64, mains| {
            let out = condition(&sine(hz, rate, 30.0, 100.0), rate, mains).unwrap();
            rms(&out[settle..]) / (100.0 / 2f64.sqrt())
        };
        assert!(
            (gain(10.0, Mains::Hz50) - 1.0).abs() < 0.05,
            "{}",
            gain(10.0, Mains::Hz50)
        );
        assert!(
            gain(50.0, Mains::Hz50) < 0.02,
            "{}",
            gain(50.0, Mains::Hz50)
        );
        assert!(
            gain(60.0, Mains::Hz60) < 0.02,
            "{}",
            gain(60.0, Mains::Hz60)
        );
        // Above the model's Nyquist (86.8 Hz): gone, not folded back into the band.
        assert!(
            gain(100.0, Mains::None) < 0.01,
            "{}",
            gain(100.0, Mains::None)
        );
        assert!(gain(0.05, Mains::None) < 0.2, "{}", gain(0.05, Mains::None));
    }

    #[test]
    fn a_tone_keeps_its_time_after_resampling() {
        // A 2 Hz tone taken at 256 Hz lines up with the same tone taken at the model's rate,
        // each through the same band-pass (whose phase at 2 Hz both share): the resampler
        // adds no delay of its own beyond a fraction of a sample.
        let model = eeg_data::SAMPLING_HZ;
        let out = condition(&sine(2.0, 256.0, 20.0, 100.0), 256.0, Mains::None).unwrap();
        let direct = condition(&sine(2.0, model, 20.0, 100.0), model, Mains::None).unwrap();
        let settle = (5.0 * model) as usize;
        let n = out.len().min(direct.len());
        let error = rms(&out[settle..n]
            .iter()
            .zip(&direct[settle..n])
            .map(|(a, b)| a - b)
            .collect::<Vec<_>>());
        // 5 µV rms of a 100 µV tone at 2 Hz is a shift of 5.6 ms: under one model sample
        // (5.76 ms; the resampler's delay is dropped in whole samples).
        assert!(error < 5.0, "rms error {error} of a 100 µV tone");
    }

    #[test]
    fn chunking_does_not_change_the_output() {
        let rate = 250.0;
        let x = sine(7.0, rate, 10.0, 50.0);
        let whole = condition(&x, rate, Mains::Hz50).unwrap();
        let mut c = Conditioner::new(rate, Mains::Hz50).unwrap();
        let mut out = Vec::new();
        for chunk in x.chunks(37) {
            c.push(chunk, &mut out);
        }
        c.finish(&mut out);
        assert_eq!(whole, out);
    }

    #[test]
    fn a_dc_offset_gives_no_start_up_transient() {
        let rate = 256.0;
        let tone = sine(10.0, rate, 10.0, 50.0);
        let shifted: Vec<f64> = tone.iter().map(|v| v + 4000.0).collect();
        let a = condition(&tone, rate, Mains::Hz50).unwrap();
        let b = condition(&shifted, rate, Mains::Hz50).unwrap();
        // The high-pass removes the offset; starting from the first sample, it leaves no
        // transient either: the two agree from the first second on.
        let worst = a
            .iter()
            .zip(&b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f64::max);
        assert!(worst < 1e-6 * 4000.0, "{worst} µV apart");
    }

    #[test]
    fn rates_outside_the_range_are_refused() {
        for rate in [0.0, -256.0, 99.9, 4096.5, f64::NAN, f64::INFINITY] {
            assert!(Conditioner::new(rate, Mains::Hz50).is_err(), "{rate}");
        }
        assert_eq!(
            "60".parse::<Mains>(),
            Ok(Mains::Hz60),
            "mains parses from the CLI's spelling"
        );
        assert!("55".parse::<Mains>().is_err());
    }
}
