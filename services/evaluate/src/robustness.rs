//! How a model holds up where a bedside signal differs from the data set's chunks: test
//! windows cut at other offsets of the same recordings, and test recordings as another
//! amplifier or ward would record them (baseline offset and drift, gain, mains hum, white
//! noise). Every figure is on the test split, side by side with the unperturbed one, at the
//! model card's threshold.

use eeg_data::offsets::{QuarterOffsets, Windows};
use eeg_data::processed::{ProcessedDataset, Split};
use eeg_data::random::Rng;
use eeg_data::{SAMPLES_PER_RECORDING, SAMPLING_HZ};
use seizure_model::Predictor;
use serde::Serialize;

use crate::metrics;

/// Quality of one way of presenting the test split.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Quality {
    pub name: String,
    /// What was done to the recordings.
    pub description: String,
    pub recordings: usize,
    pub roc_auc: f64,
    /// Best sensitivity at a specificity of at least the target.
    pub sensitivity_at_target_specificity: f64,
    /// At the card's threshold.
    pub accuracy: f64,
    pub sensitivity: f64,
    pub specificity: f64,
    /// Each segment's windows averaged into one patient probability, at the threshold.
    pub patient_accuracy: f64,
    pub patients: usize,
}

/// The candidate's robustness figures (see the module docs).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Robustness {
    pub target_specificity: f64,
    pub threshold: f64,
    /// The test chunks as the data set cut them: the reference for every other line.
    pub aligned: Quality,
    /// Test windows starting at every quarter chunk that is not a chunk boundary.
    pub offsets: Option<Quality>,
    /// The aligned test chunks under each perturbation.
    pub perturbations: Vec<Quality>,
}

/// One change of recording conditions, applied to a raw 178-sample recording.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Perturbation {
    /// A constant added to every sample.
    Baseline(f64),
    /// A linear drift of this many units per second (zero at the recording's start).
    Drift(f64),
    /// Every sample multiplied.
    Gain(f64),
    /// A 50 Hz sine of this amplitude, at a random phase per recording.
    Hum(f64),
    /// Gaussian white noise of this standard deviation.
    Noise(f64),
}

impl Perturbation {
    /// Realistic amplitudes in the data's units (µV-scale; the training split's standard
    /// deviation is about 165): a baseline offset of a few hundred, a drift of 100 per second,
    /// gains of 0.7 to 1.3, residual mains hum of 20 and amplifier noise of 10.
    pub const STANDARD: [Perturbation; 9] = [
        Perturbation::Baseline(300.0),
        Perturbation::Baseline(-300.0),
        Perturbation::Baseline(1000.0),
        Perturbation::Drift(100.0),
        Perturbation::Gain(0.7),
        Perturbation::Gain(1.3),
        Perturbation::Hum(20.0),
        Perturbation::Noise(10.0),
        Perturbation::Noise(25.0),
    ];

    pub fn name(&self) -> String {
        match self {
            // Names are tracker metric keys: letters, digits, `_`, `-`, `.` only.
            Perturbation::Baseline(v) if *v < 0.0 => format!("baseline_down_{}", -v),
            Perturbation::Baseline(v) => format!("baseline_up_{v}"),
            Perturbation::Drift(v) => format!("drift_{v}_per_s"),
            Perturbation::Gain(v) => format!("gain_{v}"),
            Perturbation::Hum(v) => format!("hum_50hz_{v}"),
            Perturbation::Noise(v) => format!("noise_{v}"),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Perturbation::Baseline(v) => format!("constant baseline shift of {v:+}"),
            Perturbation::Drift(v) => format!("linear baseline drift of {v} per second"),
            Perturbation::Gain(v) => format!("amplifier gain x{v}"),
            Perturbation::Hum(v) => format!("50 Hz mains hum, amplitude {v}"),
            Perturbation::Noise(v) => format!("white noise, standard deviation {v}"),
        }
    }

    /// Applies the perturbation to one recording; `rng` draws phases and noise.
    pub fn apply(&self, recording: &mut [f32], rng: &mut Rng) {
        match *self {
            Perturbation::Baseline(v) => recording.iter_mut().for_each(|s| *s += v as f32),
            Perturbation::Drift(per_second) => {
                for (i, s) in recording.iter_mut().enumerate() {
                    *s += (per_second * i as f64 / SAMPLING_HZ) as f32;
                }
            }
            Perturbation::Gain(g) => recording.iter_mut().for_each(|s| *s *= g as f32),
            Perturbation::Hum(amplitude) => {
                let phase = rng.range(0.0, std::f64::consts::TAU);
                let step = std::f64::consts::TAU * 50.0 / SAMPLING_HZ;
                for (i, s) in recording.iter_mut().enumerate() {
                    *s += (amplitude * (phase + step * i as f64).sin()) as f32;
                }
            }
            Perturbation::Noise(sd) => recording
                .iter_mut()
                .for_each(|s| *s += (rng.normal() * sd) as f32),
        }
    }
}

/// Where a presentation is scored: the window threshold, the patient call, and the
/// specificity sensitivity is reported at.
#[derive(Debug, Clone, Copy)]
pub struct OperatingPoints {
    pub threshold: f64,
    pub patient: seizure_model::PatientCall,
    pub target_specificity: f64,
}

/// Scores and summarises one presentation of the test split.
pub fn quality(
    name: &str,
    description: &str,
    scores: &[f64],
    labels: &[bool],
    segments: &[u32],
    at: &OperatingPoints,
) -> Quality {
    let (threshold, target_specificity) = (at.threshold, at.target_specificity);
    let recordings = metrics::compute(scores, labels, threshold);
    let (_, patient_scores, patient_labels) =
        metrics::per_group(scores, labels, segments, &at.patient);
    let patients = metrics::compute(&patient_scores, &patient_labels, at.patient.threshold);
    Quality {
        name: name.to_owned(),
        description: description.to_owned(),
        recordings: scores.len(),
        roc_auc: recordings.roc_auc,
        sensitivity_at_target_specificity: metrics::sensitivity_at_specificity(
            scores,
            labels,
            target_specificity,
        ),
        accuracy: recordings.accuracy,
        sensitivity: recordings.sensitivity,
        specificity: recordings.specificity,
        patient_accuracy: patients.accuracy,
        patients: patients.count,
    }
}

fn scores_of(predictor: &Predictor, samples: &[f32]) -> Vec<f64> {
    predictor
        .predict(samples)
        .into_iter()
        .map(f64::from)
        .collect()
}

/// The test recordings under `perturbation`, seeded so every model sees the same ones.
pub fn perturbed(samples: &[f32], perturbation: Perturbation, seed: u64) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    let mut out = samples.to_vec();
    for recording in out.chunks_exact_mut(SAMPLES_PER_RECORDING) {
        perturbation.apply(recording, &mut rng);
    }
    out
}

/// The inputs of [`evaluate`]: the aligned test split and, when the dataset keeps them, the
/// offset windows.
/// The test segments cut at every quarter chunk between the chunk boundaries.
pub fn offset_windows(dataset: &ProcessedDataset) -> anyhow::Result<Windows> {
    Ok(Windows::cut(
        &dataset.signals(Split::Test)?,
        QuarterOffsets::BetweenBoundaries,
    ))
}

pub struct RobustnessInputs<'a> {
    pub samples: &'a [f32],
    pub labels: &'a [bool],
    pub segments: &'a [u32],
    pub aligned_scores: &'a [f64],
    pub offsets: Option<&'a Windows>,
}

/// The robustness figures of `predictor` at `threshold`.
pub fn evaluate(
    predictor: &Predictor,
    inputs: &RobustnessInputs,
    threshold: f64,
    call: &seizure_model::PatientCall,
    target_specificity: f64,
    seed: u64,
) -> Robustness {
    let summarise = |name: &str, description: &str, scores: &[f64], labels, segments| {
        quality(
            name,
            description,
            scores,
            labels,
            segments,
            &OperatingPoints {
                threshold,
                patient: *call,
                target_specificity,
            },
        )
    };
    let aligned = summarise(
        "aligned",
        "the test chunks as the data set cut them",
        inputs.aligned_scores,
        inputs.labels,
        inputs.segments,
    );
    let offsets = inputs.offsets.map(|windows| {
        summarise(
            "offsets",
            "test windows at every quarter chunk between the chunk boundaries",
            &scores_of(predictor, &windows.samples),
            &windows.labels,
            &windows.segments,
        )
    });
    let perturbations = Perturbation::STANDARD
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let samples = perturbed(inputs.samples, *p, seed ^ (i as u64 + 1));
            summarise(
                &p.name(),
                &p.describe(),
                &scores_of(predictor, &samples),
                inputs.labels,
                inputs.segments,
            )
        })
        .collect();
    Robustness {
        target_specificity,
        threshold,
        aligned,
        offsets,
        perturbations,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perturbations_do_what_they_say() {
        let recording: Vec<f32> = (0..178).map(|i| (i as f32 * 0.7).sin() * 50.0).collect();
        let mut rng = Rng::new(1);
        let mut shifted = recording.clone();
        Perturbation::Baseline(300.0).apply(&mut shifted, &mut rng);
        assert!(shifted
            .iter()
            .zip(&recording)
            .all(|(a, b)| (a - b - 300.0).abs() < 1e-3));
        let mut gained = recording.clone();
        Perturbation::Gain(1.3).apply(&mut gained, &mut rng);
        assert!((gained[5] - recording[5] * 1.3).abs() < 1e-4);
        let mut drift = vec![0f32; 178];
        Perturbation::Drift(100.0).apply(&mut drift, &mut rng);
        assert!((drift[177] - (100.0 * 177.0 / SAMPLING_HZ) as f32).abs() < 1e-3);
        let mut hum = vec![0f32; 178];
        Perturbation::Hum(20.0).apply(&mut hum, &mut rng);
        let peak = hum.iter().fold(0f32, |m, v| m.max(v.abs()));
        assert!(peak > 19.0 && peak <= 20.0 + 1e-4, "{peak}");
        let mut noise = vec![0f32; 178 * 50];
        for chunk in noise.chunks_exact_mut(178) {
            Perturbation::Noise(10.0).apply(chunk, &mut rng);
        }
        let sd = (noise.iter().map(|v| f64::from(v * v)).sum::<f64>() / noise.len() as f64).sqrt();
        assert!((9.0..11.0).contains(&sd), "{sd}");
        // Seeded: the same perturbed split for every model.
        let a = perturbed(&recording, Perturbation::Noise(10.0), 4);
        assert_eq!(a, perturbed(&recording, Perturbation::Noise(10.0), 4));
    }
}
