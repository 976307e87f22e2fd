//! Out-of-fold evidence for the model's decisions ([`seizure_model::decisions`]).
//!
//! The training and validation segments are dealt into `folds` class-stratified folds. For
//! each fold, a model is trained exactly as the served one (same recipe, seed and early
//! stopping) on the other segments, with a seventh of them (stratified) as its own validation
//! split for early stopping, and scores the fold's segments, which it never saw:
//!
//! * their 23 aligned windows (the window and patient decisions);
//! * each background segment once as a continuous stream at the bedside hop (false alarms);
//! * each seizure segment as a stream after one of the fold's background segments (detection
//!   and latency).
//!
//! The patient pool and the test split are never read. The served model itself is trained
//! apart; these models only score.

use std::sync::Arc;

use anyhow::bail;
use bedside::tuning::{choose_rule, held_out_streams, Grid, ScoredStream, Targets};
use eeg_data::processed::{Signals, SplitArrays};
use eeg_data::random::Rng;
use eeg_data::{CHUNKS_PER_SEGMENT, SAMPLES_PER_RECORDING};
use ndarray::{concatenate, Axis};
use seizure_model::decisions::{self, Decisions, Evidence};
use seizure_model::{ModelCard, Predictor};

use crate::shards::{run_in_lanes, Sharding};
use crate::train::{self, TrainConfig};
use crate::windows::{Augmentation, TrainingWindows, Windows};

/// What out-of-fold evidence is chosen for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OofSettings {
    pub folds: usize,
    pub window_specificity: f64,
    pub patient_specificity: f64,
    pub alarm: Targets,
    pub hop: usize,
}

/// The rows and signals of the training and validation splits together.
pub struct Pool<'a> {
    pub train: &'a SplitArrays,
    pub validation: &'a SplitArrays,
    /// Continuous signals of every training and validation segment.
    pub signals: Signals,
    pub segments: usize,
    pub normalisation: eeg_data::layout::Normalisation,
    pub windows: Windows,
    pub augmentation: Augmentation,
    /// Keep as many background rows as seizure rows (the pipeline's `undersample`).
    pub undersample: bool,
    /// Train each fold on at most this many rows (a smoke run's `--max-train-rows`).
    pub max_rows: Option<usize>,
}

/// One segment scored out of fold.
#[derive(Debug, Clone)]
pub struct Scored {
    pub segment: u32,
    pub seizure: bool,
    pub fold: usize,
    /// Its aligned windows' probabilities.
    pub windows: Vec<f64>,
}

/// Everything scored out of fold.
pub struct OutOfFold {
    pub segments: Vec<Scored>,
    pub background: Vec<ScoredStream>,
    pub seizures: Vec<ScoredStream>,
    /// The folds' models, in fold order (in memory only: `seizure-ops cv` scores their
    /// ensemble on its outer test split as a candidate beside the served model).
    pub models: Vec<Arc<Predictor>>,
}

impl OutOfFold {
    fn empty() -> Self {
        Self {
            segments: Vec::new(),
            background: Vec::new(),
            seizures: Vec::new(),
            models: Vec::new(),
        }
    }
}

/// Joins the training and validation signals.
pub fn pool_signals(train: &Signals, validation: &Signals) -> anyhow::Result<Signals> {
    Ok(Signals {
        samples: concatenate(Axis(0), &[train.samples.view(), validation.samples.view()])?,
        segment: concatenate(Axis(0), &[train.segment.view(), validation.segment.view()])?,
        y: concatenate(Axis(0), &[train.y.view(), validation.y.view()])?,
    })
}

/// Deals the pool's segments into `folds` class-stratified folds (seeded): each segment's
/// fold, by signal row.
fn deal(signals: &Signals, folds: usize, seed: u64) -> Vec<usize> {
    let mut rng = Rng::new(seed ^ 0x00F0_1D5E);
    let mut fold_of = vec![0; signals.len()];
    let mut dealt = 0;
    for label in [1u8, 0] {
        let mut members: Vec<usize> = (0..signals.len())
            .filter(|&i| signals.y[i] == label)
            .collect();
        rng.shuffle(&mut members);
        for row in members {
            fold_of[row] = dealt % folds;
            dealt += 1;
        }
    }
    fold_of
}

/// The segments fold `fold`'s model learns from, by segment index: of the other folds'
/// segments, a stratified seventh validates (early stopping) and the rest trains. Neither
/// holds a segment of the fold.
fn inner_split(
    signals: &Signals,
    fold_of: &[usize],
    fold: usize,
    segments: usize,
    rng: &mut Rng,
) -> anyhow::Result<(Vec<bool>, Vec<bool>)> {
    let mut trains = vec![false; segments];
    let mut validates = vec![false; segments];
    for label in [1u8, 0] {
        let mut members: Vec<usize> = (0..signals.len())
            .filter(|&i| fold_of[i] != fold && signals.y[i] == label)
            .collect();
        rng.shuffle(&mut members);
        let held = members.len().div_ceil(7);
        for (i, row) in members.into_iter().enumerate() {
            let segment = signals.segment[row] as usize;
            let Some(slot) = (if i < held {
                validates.get_mut(segment)
            } else {
                trains.get_mut(segment)
            }) else {
                bail!("segment {segment} of the signals is not in the manifest's {segments}");
            };
            *slot = true;
        }
    }
    Ok((trains, validates))
}

/// The rows of `arrays` whose segment is in `keep` (by segment index).
fn rows_of(arrays: &SplitArrays, keep: &[bool]) -> Vec<usize> {
    (0..arrays.rows())
        .filter(|&r| {
            keep.get(arrays.segment[r] as usize)
                .copied()
                .unwrap_or(false)
        })
        .collect()
}

fn select(train: &SplitArrays, validation: &SplitArrays, rows: &[(bool, usize)]) -> SplitArrays {
    let pick = |from_train: bool| if from_train { train } else { validation };
    let x: Vec<_> = rows
        .iter()
        .map(|&(t, r)| pick(t).x.index_axis(Axis(0), r).insert_axis(Axis(0)))
        .collect();
    let one = |f: &dyn Fn(&SplitArrays) -> &ndarray::Array1<_>| -> Vec<_> {
        rows.iter().map(|&(t, r)| f(pick(t))[r]).collect()
    };
    SplitArrays {
        x: concatenate(Axis(0), &x).expect("rows of one layout"),
        y: one(&|a| &a.y).into(),
        class: one(&|a| &a.class).into(),
        segment: ndarray::Array1::from(
            rows.iter()
                .map(|&(t, r)| pick(t).segment[r])
                .collect::<Vec<u32>>(),
        ),
        chunk: one(&|a| &a.chunk).into(),
    }
}

/// Trains one model per fold and scores each fold's segments with it. The folds' trainings
/// share `config`'s thread budget: as many run at once as the budget allows (each on its
/// share of the threads, so the cores are never oversubscribed), and their scores are put
/// together in fold order. A training's weights depend on the shard count, never on its
/// threads, so the evidence is the same however many run at once.
pub fn score(
    pool: &Pool,
    config: &TrainConfig,
    card: &ModelCard,
    settings: &OofSettings,
) -> anyhow::Result<OutOfFold> {
    if !(2..=20).contains(&settings.folds) {
        bail!("--oof-folds must be between 2 and 20 (or 0: no out-of-fold decisions)");
    }
    let fold_of = deal(&pool.signals, settings.folds, config.seed);
    let budget = config.sharding.threads.max(1);
    let lanes = budget.min(settings.folds);
    let fold_config = TrainConfig {
        sharding: Sharding {
            threads: (budget / lanes).max(1),
            ..config.sharding
        },
        ..config.clone()
    };
    let folds = run_in_lanes((0..settings.folds).collect(), lanes, |fold| {
        score_fold(pool, &fold_config, card, settings, &fold_of, fold)
    });
    let mut out = OutOfFold::empty();
    for fold in folds {
        let fold = fold?;
        out.segments.extend(fold.segments);
        out.background.extend(fold.background);
        out.seizures.extend(fold.seizures);
        out.models.extend(fold.models);
    }
    Ok(out)
}

/// Trains fold `fold`'s model on the other folds' segments and scores the fold's own.
fn score_fold(
    pool: &Pool,
    config: &TrainConfig,
    card: &ModelCard,
    settings: &OofSettings,
    fold_of: &[usize],
    fold: usize,
) -> anyhow::Result<OutOfFold> {
    let signals = &pool.signals;
    let started = std::time::Instant::now();
    // The other folds' segments: a seventh of each class validates, the rest trains.
    let mut rng = Rng::new(config.seed ^ (fold as u64 + 1).wrapping_mul(0x9E37_79B9));
    let (trains, validates) = inner_split(signals, fold_of, fold, pool.segments, &mut rng)?;
    let tagged = |keep: &[bool]| -> Vec<(bool, usize)> {
        rows_of(pool.train, keep)
            .into_iter()
            .map(|r| (true, r))
            .chain(
                rows_of(pool.validation, keep)
                    .into_iter()
                    .map(|r| (false, r)),
            )
            .collect()
    };
    let mut train_rows = tagged(&trains);
    if pool.undersample {
        let label = |&(t, r): &(bool, usize)| {
            if t {
                pool.train.y[r]
            } else {
                pool.validation.y[r]
            }
        };
        let (mut seizure, mut background): (Vec<_>, Vec<_>) =
            train_rows.into_iter().partition(|row| label(row) == 1);
        rng.shuffle(&mut background);
        background.truncate(seizure.len());
        seizure.extend(background);
        seizure.sort_unstable();
        train_rows = seizure;
    }
    if let Some(limit) = pool.max_rows {
        rng.shuffle(&mut train_rows);
        train_rows.truncate(limit.max(1));
        train_rows.sort_unstable();
    }
    let validation_rows = tagged(&validates);
    if train_rows.is_empty() || validation_rows.is_empty() {
        bail!("fold {fold}: too few segments to train and validate on");
    }
    let inner_train = select(pool.train, pool.validation, &train_rows);
    let inner_validation = select(pool.train, pool.validation, &validation_rows);
    let windows = TrainingWindows::new(
        &inner_train,
        Some(signals),
        pool.segments,
        pool.normalisation,
        pool.windows,
        pool.augmentation,
    )?;
    let outcome = train::train(
        &windows,
        &inner_validation,
        config,
        card,
        || {},
        |_| std::ops::ControlFlow::Continue(()),
    );
    let predictor = Arc::new(Predictor::from_network(card.clone(), &outcome.network));
    let held_out: Vec<usize> = (0..signals.len()).filter(|&i| fold_of[i] == fold).collect();
    let mut out = OutOfFold::empty();
    let (mut quiet, mut onsets) = (Vec::new(), Vec::new());
    for &row in &held_out {
        let signal = signals.samples.row(row);
        let signal = signal.to_slice().expect("signal rows are contiguous");
        let windows: Vec<f64> = predictor
            .predict(&signal[..CHUNKS_PER_SEGMENT * SAMPLES_PER_RECORDING])
            .into_iter()
            .map(f64::from)
            .collect();
        let seizure = signals.y[row] == 1;
        out.segments.push(Scored {
            segment: signals.segment[row],
            seizure,
            fold,
            windows,
        });
        if seizure {
            onsets.push(signal);
        } else {
            quiet.push(signal);
        }
    }
    if quiet.is_empty() {
        bail!("fold {fold} has no background segment to put its seizures after");
    }
    let (background, seizures) = held_out_streams(&predictor, &quiet, &onsets, settings.hop)?;
    out.background = background;
    out.seizures = seizures;
    out.models.push(predictor);
    tracing::info!(
        fold,
        best_epoch = outcome.best_epoch,
        train_rows = inner_train.rows(),
        held_out = held_out.len(),
        threads = config.sharding.threads,
        seconds = started.elapsed().as_secs_f64(),
        "out-of-fold model trained and scored"
    );
    Ok(out)
}

/// The three decisions from out-of-fold scores; None when the scores are not finite (a
/// diverged fold) or a class is missing.
pub fn decide(scored: &OutOfFold, settings: &OofSettings) -> Option<Decisions> {
    let scores: Vec<f64> = scored
        .segments
        .iter()
        .flat_map(|s| s.windows.iter().copied())
        .collect();
    let labels: Vec<bool> = scored
        .segments
        .iter()
        .flat_map(|s| std::iter::repeat_n(s.seizure, s.windows.len()))
        .collect();
    let window = decisions::choose_window(&scores, &labels, settings.window_specificity)?;
    let patients: Vec<(Vec<f64>, bool)> = scored
        .segments
        .iter()
        .map(|s| (s.windows.clone(), s.seizure))
        .collect();
    let patient =
        decisions::choose_patient(&patients, window.threshold, settings.patient_specificity)?;
    let alarm = choose_rule(
        &scored.background,
        &scored.seizures,
        settings.hop,
        &Grid::around(window.threshold),
        settings.alarm,
    );
    let seizure_segments = scored.segments.iter().filter(|s| s.seizure).count();
    Some(Decisions {
        evidence: Evidence {
            source: format!(
                "{}-fold out-of-fold predictions over the {} training + validation segments \
                 (each scored by a model trained without it; test and patient pool unused)",
                settings.folds,
                scored.segments.len()
            ),
            folds: settings.folds,
            segments: scored.segments.len(),
            seizure_segments,
        },
        window,
        patient,
        alarm,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array1, Array2};

    #[test]
    fn folds_are_stratified_and_cover_every_segment_once() {
        let y: Vec<u8> = (0..350).map(|i| u8::from(i % 5 == 0)).collect();
        let signals = Signals {
            samples: Array2::zeros((350, 4)),
            segment: Array1::from((0..350u32).collect::<Vec<_>>()),
            y: Array1::from(y),
        };
        let fold_of = deal(&signals, 5, 42);
        for fold in 0..5 {
            let members: Vec<usize> = (0..350).filter(|&i| fold_of[i] == fold).collect();
            let seizures = members.iter().filter(|&&i| signals.y[i] == 1).count();
            assert_eq!(members.len(), 70);
            assert_eq!(seizures, 14);
        }
        assert_eq!(fold_of, deal(&signals, 5, 42), "seeded");
        assert_ne!(fold_of, deal(&signals, 5, 43));
        // A fold's model learns from none of the segments it scores.
        for fold in 0..5 {
            let (trains, validates) =
                inner_split(&signals, &fold_of, fold, 350, &mut Rng::new(7)).unwrap();
            for row in 0..350 {
                let learns = trains[row] || validates[row];
                assert_eq!(learns, fold_of[row] != fold, "segment {row}, fold {fold}");
                assert!(!(trains[row] && validates[row]));
            }
            let validating = (0..350).filter(|&r| validates[r]).count();
            assert_eq!(validating, 8 + 32, "a stratified seventh of 56 + 224");
        }
        // A signal naming a segment the manifest does not have is an error, not a panic.
        let mut odd = signals.clone();
        odd.segment[0] = 9_999;
        assert!(inner_split(&odd, &fold_of, 1, 350, &mut Rng::new(7)).is_err());
    }
}
