//! A deterministic generator of synthetic EEG in exactly the UCI format.
//!
//! It stands in for the real file where that is absent (tests, a fresh clone). Each segment is
//! one continuous 23.6 s signal cut into 23 one-second chunks, like the real data:
//! * class 1 (seizure): high-amplitude rhythmic spike-and-wave at 2.5-4 Hz;
//! * class 2: irregular background with sporadic interictal spikes;
//! * class 3: irregular background with a weak theta rhythm;
//! * class 4 (eyes closed): waxing and waning alpha rhythm;
//! * class 5 (eyes open): low-amplitude broadband activity with some beta.
//!
//! The random source is [`Rng`], so a seed gives the same bytes on every platform and with
//! every dependency version.

use std::f64::consts::PI;
use std::io::{self, Write};

use crate::random::Rng;
use crate::{CHUNKS_PER_SEGMENT, SAMPLES_PER_RECORDING, SAMPLING_HZ};

const SEGMENT_SAMPLES: usize = CHUNKS_PER_SEGMENT * SAMPLES_PER_RECORDING;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SynthConfig {
    pub seed: u64,
    /// Segments of each of the five classes (the real file has 100).
    pub segments_per_class: usize,
}

impl Default for SynthConfig {
    fn default() -> Self {
        Self {
            seed: 42,
            segments_per_class: 100,
        }
    }
}

/// Writes a complete UCI-format CSV (header, CRLF line endings, shuffled rows).
pub fn write_csv(config: &SynthConfig, out: &mut impl Write) -> io::Result<()> {
    let mut rng = Rng::new(config.seed);
    let segments = config.segments_per_class * 5;
    // Segment names carry no class information: a shuffled numbering.
    let mut numbers: Vec<usize> = (1..=segments).collect();
    rng.shuffle(&mut numbers);

    let mut signals = Vec::with_capacity(segments);
    for (i, number) in numbers.iter().enumerate() {
        let class = (i / config.segments_per_class.max(1)) as u8 + 1;
        signals.push((
            format!("V1.{number}"),
            class,
            segment_signal(class, &mut rng),
        ));
    }
    let mut rows: Vec<(usize, usize)> = (0..segments)
        .flat_map(|s| (0..CHUNKS_PER_SEGMENT).map(move |c| (s, c)))
        .collect();
    rng.shuffle(&mut rows);

    out.write_all(b"Unnamed")?;
    for i in 1..=SAMPLES_PER_RECORDING {
        write!(out, ",X{i}")?;
    }
    out.write_all(b",y\r\n")?;
    for (s, c) in rows {
        let (name, class, signal) = &signals[s];
        write!(out, "X{}.{name}", c + 1)?;
        for v in &signal[c * SAMPLES_PER_RECORDING..(c + 1) * SAMPLES_PER_RECORDING] {
            write!(out, ",{v}")?;
        }
        write!(out, ",{class}\r\n")?;
    }
    Ok(())
}

/// The whole CSV in memory.
pub fn csv_bytes(config: &SynthConfig) -> Vec<u8> {
    let mut out = Vec::new();
    write_csv(config, &mut out).expect("writing to a Vec cannot fail");
    out
}

/// A per-sample signal generator: time in seconds, random source -> value.
type Generator = Box<dyn FnMut(f64, &mut Rng) -> f64>;

/// One synthetic segment of `class` (1..5) as its 23 recordings of 178 samples, row-major:
/// deterministic reference inputs, e.g. for checking a model before serving it.
pub fn reference_segment(class: u8, seed: u64) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    segment_signal(class, &mut rng)
        .into_iter()
        .map(|v| v as f32)
        .collect()
}

/// One continuous segment of `SEGMENT_SAMPLES` integer samples for `class`.
fn segment_signal(class: u8, rng: &mut Rng) -> Vec<i32> {
    let offset = rng.range(-25.0, 25.0);
    let (mut background, mut signal) = class_activity(class, rng);
    (0..SEGMENT_SAMPLES)
        .map(|i| {
            let t = i as f64 / SAMPLING_HZ;
            let value = offset + signal(t, rng) + background.next(rng);
            value.round().clamp(-2048.0, 2047.0) as i32
        })
        .collect()
}

/// The background noise and the characteristic activity of one class.
fn class_activity(class: u8, rng: &mut Rng) -> (ArNoise, Generator) {
    match class {
        1 => {
            let background = ArNoise::new(0.9, rng.range(30.0, 60.0));
            let freq = rng.range(2.5, 4.0);
            let amplitude = rng.range(250.0, 700.0);
            let phase0 = rng.unit();
            let signal = move |t: f64, _: &mut Rng| {
                let envelope = 1.0 + 0.25 * (2.0 * PI * 0.07 * t).sin();
                amplitude * envelope * spike_and_wave((freq * t + phase0).fract())
            };
            (background, Box::new(signal))
        }
        2 => {
            let background = ArNoise::new(0.95, rng.range(50.0, 90.0));
            let spike_rate = rng.range(0.1, 0.5) / SAMPLING_HZ;
            let (mut spike_left, mut spike_amplitude) = (0usize, 0.0);
            let signal = move |_: f64, rng: &mut Rng| {
                if spike_left == 0 && rng.unit() < spike_rate {
                    spike_left = 8;
                    spike_amplitude = rng.range(120.0, 260.0);
                }
                if spike_left == 0 {
                    return 0.0;
                }
                spike_left -= 1;
                spike_amplitude * (PI * spike_left as f64 / 8.0).sin()
            };
            (background, Box::new(signal))
        }
        3 => {
            let background = ArNoise::new(0.93, rng.range(40.0, 70.0));
            (background, sine(rng.range(4.5, 7.0), rng.range(10.0, 30.0)))
        }
        4 => {
            let background = ArNoise::new(0.8, rng.range(15.0, 30.0));
            let (freq, amplitude) = (rng.range(8.0, 12.0), rng.range(40.0, 80.0));
            let wax = rng.range(0.1, 0.3);
            let signal = move |t: f64, _: &mut Rng| {
                let envelope = 0.6 + 0.4 * (2.0 * PI * wax * t).sin();
                amplitude * envelope * (2.0 * PI * freq * t).sin()
            };
            (background, Box::new(signal))
        }
        _ => {
            let background = ArNoise::new(0.7, rng.range(20.0, 40.0));
            (
                background,
                sine(rng.range(15.0, 25.0), rng.range(5.0, 15.0)),
            )
        }
    }
}

fn sine(freq: f64, amplitude: f64) -> Generator {
    Box::new(move |t, _| amplitude * (2.0 * PI * freq * t).sin())
}

/// One spike-and-wave cycle at phase in [0, 1): a sharp spike, then a slow negative wave.
fn spike_and_wave(phase: f64) -> f64 {
    let spike = (-((phase - 0.1) / 0.035).powi(2)).exp();
    let wave = if phase > 0.2 {
        -0.6 * (PI * (phase - 0.2) / 0.8).sin()
    } else {
        0.0
    };
    spike + wave
}

/// First-order autoregressive noise with a given stationary standard deviation.
struct ArNoise {
    coefficient: f64,
    innovation: f64,
    state: f64,
}

impl ArNoise {
    fn new(coefficient: f64, std: f64) -> Self {
        Self {
            coefficient,
            innovation: std * (1.0 - coefficient * coefficient).sqrt(),
            state: 0.0,
        }
    }

    fn next(&mut self, rng: &mut Rng) -> f64 {
        self.state = self.coefficient * self.state + self.innovation * rng.normal();
        self.state
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::uci::{self, BadRows};
    use std::collections::{HashMap, HashSet};
    use std::path::Path;

    fn small() -> SynthConfig {
        SynthConfig {
            seed: 7,
            segments_per_class: 4,
        }
    }

    #[test]
    fn output_is_valid_uci_csv_with_full_segments() {
        let bytes = csv_bytes(&small());
        assert!(bytes.ends_with(b"\r\n"));
        let data = uci::parse(Path::new("synthetic.csv"), &bytes, BadRows::Fail).unwrap();
        assert_eq!(data.rows.len(), 20 * CHUNKS_PER_SEGMENT);
        let mut chunks: HashMap<&str, HashSet<u8>> = HashMap::new();
        let mut classes: HashMap<u8, HashSet<&str>> = HashMap::new();
        for row in &data.rows {
            chunks.entry(&row.segment).or_default().insert(row.chunk);
            classes.entry(row.class).or_default().insert(&row.segment);
        }
        assert_eq!(chunks.len(), 20);
        assert!(chunks.values().all(|c| c.len() == CHUNKS_PER_SEGMENT));
        assert!((1..=5).all(|class| classes[&class].len() == 4));
    }

    #[test]
    fn same_seed_same_bytes_other_seed_other_bytes() {
        assert_eq!(csv_bytes(&small()), csv_bytes(&small()));
        let other = SynthConfig { seed: 8, ..small() };
        assert_ne!(csv_bytes(&small()), csv_bytes(&other));
    }

    #[test]
    fn seizures_have_higher_amplitude_than_background() {
        let bytes = csv_bytes(&small());
        let data = uci::parse(Path::new("s.csv"), &bytes, BadRows::Fail).unwrap();
        let mut mean_abs = [0f64; 6];
        let mut counts = [0usize; 6];
        for (i, row) in data.rows.iter().enumerate() {
            let samples = data.row_samples(i);
            let mean = samples.iter().map(|&v| f64::from(v)).sum::<f64>() / samples.len() as f64;
            mean_abs[row.class as usize] += samples
                .iter()
                .map(|&v| (f64::from(v) - mean).abs())
                .sum::<f64>()
                / samples.len() as f64;
            counts[row.class as usize] += 1;
        }
        let level = |c: usize| mean_abs[c] / counts[c] as f64;
        for class in 2..=5 {
            assert!(
                level(1) > 2.0 * level(class),
                "seizure {} vs class {class} {}",
                level(1),
                level(class)
            );
        }
    }
}
