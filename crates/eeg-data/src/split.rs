//! Leakage-free splitting and class balancing.
//!
//! Rows are grouped by recording segment; whole segments are assigned to splits, stratified by
//! the UCI class, so the 23 chunks of a segment never straddle two splits.

use std::collections::HashMap;

use crate::binary_label;
use crate::processed::{Balance, Fold, Fractions, Split};
use crate::random::Rng;
use crate::uci::UciData;

/// The rows of one recording segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub name: String,
    pub class: u8,
    /// Indices into `UciData::rows`, in chunk order.
    pub rows: Vec<usize>,
}

/// Groups rows by segment. Segments come out sorted by name, so the result does not depend on
/// the (shuffled) row order of the file.
pub fn group_segments(data: &UciData) -> Vec<Segment> {
    let mut by_name: HashMap<&str, Segment> = HashMap::new();
    for (i, row) in data.rows.iter().enumerate() {
        by_name
            .entry(&row.segment)
            .or_insert_with(|| Segment {
                name: row.segment.clone(),
                class: row.class,
                rows: Vec::new(),
            })
            .rows
            .push(i);
    }
    let mut segments: Vec<Segment> = by_name.into_values().collect();
    for segment in &mut segments {
        segment.rows.sort_by_key(|&i| data.rows[i].chunk);
    }
    segments.sort_by(|a, b| a.name.cmp(&b.name));
    segments
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid split fractions: {0}")]
pub struct FractionsError(String);

/// Checks that fractions are usable: train, validation and test positive, the pool
/// non-negative, and all four summing to 1.
pub fn check_fractions(fractions: &Fractions) -> Result<(), FractionsError> {
    for split in Split::ALL {
        let f = fractions.of(split);
        let must_be_positive = split != Split::PatientPool;
        if !f.is_finite() || f < 0.0 || (must_be_positive && f == 0.0) {
            return Err(FractionsError(format!(
                "{} is {f}; it must be {}",
                split.name(),
                if must_be_positive {
                    "above 0"
                } else {
                    "at least 0"
                }
            )));
        }
    }
    let sum: f64 = Split::ALL.iter().map(|&s| fractions.of(s)).sum();
    if (sum - 1.0).abs() > 1e-6 {
        return Err(FractionsError(format!(
            "train + validation + test + patient pool = {sum}, not 1"
        )));
    }
    Ok(())
}

/// How many of `n` items each split gets: largest-remainder rounding, then every split with a
/// positive fraction gets at least one item while the largest split can spare one.
pub fn allocate(n: usize, fractions: &Fractions) -> [usize; 4] {
    let exact: Vec<f64> = Split::ALL
        .iter()
        .map(|&s| fractions.of(s) * n as f64)
        .collect();
    let mut counts: [usize; 4] = std::array::from_fn(|i| exact[i].floor() as usize);
    let mut by_remainder: Vec<usize> = (0..4).collect();
    by_remainder.sort_by(|&a, &b| {
        let (ra, rb) = (exact[a] - exact[a].floor(), exact[b] - exact[b].floor());
        rb.total_cmp(&ra).then(a.cmp(&b))
    });
    let assigned: usize = counts.iter().sum();
    for &i in by_remainder.iter().take(n.saturating_sub(assigned)) {
        counts[i] += 1;
    }
    for i in 0..4 {
        if counts[i] == 0 && fractions.of(Split::ALL[i]) > 0.0 {
            let largest = (0..4).max_by_key(|&j| (counts[j], usize::MAX - j)).unwrap();
            if counts[largest] > 1 {
                counts[largest] -= 1;
                counts[i] += 1;
            }
        }
    }
    counts
}

/// Assigns every segment to a split, stratified by class. Returns one split per segment.
pub fn assign_splits(segments: &[Segment], fractions: &Fractions, seed: u64) -> Vec<Split> {
    let mut rng = Rng::new(seed);
    let mut assignment = vec![Split::Train; segments.len()];
    let mut classes: Vec<u8> = segments.iter().map(|s| s.class).collect();
    classes.sort_unstable();
    classes.dedup();
    for class in classes {
        let mut members: Vec<usize> = (0..segments.len())
            .filter(|&i| segments[i].class == class)
            .collect();
        rng.shuffle(&mut members);
        let counts = allocate(members.len(), fractions);
        let mut members = members.into_iter();
        for (split, count) in Split::ALL.into_iter().zip(counts) {
            for i in members.by_ref().take(count) {
                assignment[i] = split;
            }
        }
    }
    assignment
}

/// Assigns segments for cross-validation fold `fold`: within each class, segments are shuffled
/// (seeded) and dealt into `fold.count` folds in turn, so every fold holds about the same
/// number of each class; fold `fold.index` is the test split, and the rest are shared among
/// train, validation and the patient pool in proportion to their fractions. Over the folds,
/// every segment is tested exactly once.
pub fn assign_fold(
    segments: &[Segment],
    fractions: &Fractions,
    fold: Fold,
    seed: u64,
) -> Vec<Split> {
    let scale = 1.0 - fractions.test;
    let rest = Fractions {
        train: fractions.train / scale,
        validation: fractions.validation / scale,
        test: 0.0,
        patient_pool: fractions.patient_pool / scale,
    };
    let mut rng = Rng::new(seed);
    let mut assignment = vec![Split::Train; segments.len()];
    let mut classes: Vec<u8> = segments.iter().map(|s| s.class).collect();
    classes.sort_unstable();
    classes.dedup();
    // Continue dealing across classes, so small classes do not all start at fold 0.
    let mut dealt = 0usize;
    for class in classes {
        let mut members: Vec<usize> = (0..segments.len())
            .filter(|&i| segments[i].class == class)
            .collect();
        rng.shuffle(&mut members);
        let mut others = Vec::new();
        for i in members {
            if dealt % fold.count == fold.index {
                assignment[i] = Split::Test;
            } else {
                others.push(i);
            }
            dealt += 1;
        }
        let counts = allocate(others.len(), &rest);
        let mut others = others.into_iter();
        for (split, count) in Split::ALL.into_iter().zip(counts) {
            for i in others.by_ref().take(count) {
                assignment[i] = split;
            }
        }
    }
    assignment
}

/// The training rows after balancing, in a seeded random order, and the loss weight per
/// binary label.
pub fn balance_training_rows(
    rows: &[usize],
    class_of: impl Fn(usize) -> u8,
    method: Balance,
    seed: u64,
) -> (Vec<usize>, [f64; 2]) {
    let mut rng = Rng::new(seed ^ 0xBA1A_4CE0);
    let (mut negatives, mut positives): (Vec<usize>, Vec<usize>) = rows
        .iter()
        .partition(|&&row| binary_label(class_of(row)) == 0);
    let counts = [negatives.len(), positives.len()];
    let mut weights = [1.0, 1.0];
    match method {
        Balance::Undersample => {
            let keep = counts[0].min(counts[1]);
            for class_rows in [&mut negatives, &mut positives] {
                rng.shuffle(class_rows);
                class_rows.truncate(keep);
            }
        }
        Balance::Weight => {
            let total = (counts[0] + counts[1]) as f64;
            for label in 0..2 {
                if counts[label] > 0 {
                    weights[label] = total / (2.0 * counts[label] as f64);
                }
            }
        }
        Balance::None => {}
    }
    let mut kept: Vec<usize> = negatives.into_iter().chain(positives).collect();
    kept.sort_unstable();
    rng.shuffle(&mut kept);
    (kept, weights)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::Rng;
    use crate::synthetic::{csv_bytes, SynthConfig};
    use crate::uci::{self, BadRows};
    use proptest::prelude::*;
    use std::collections::HashSet;
    use std::path::Path;

    fn synthetic(seed: u64, segments_per_class: usize) -> UciData {
        let bytes = csv_bytes(&SynthConfig {
            seed,
            segments_per_class,
        });
        uci::parse(Path::new("synthetic.csv"), &bytes, BadRows::Fail).unwrap()
    }

    #[test]
    fn every_segment_is_tested_in_exactly_one_fold() {
        let data = synthetic(3, 20);
        let segments = group_segments(&data);
        let f = Fractions::default();
        let mut tested = vec![0usize; segments.len()];
        for index in 0..5 {
            let fold = Fold { index, count: 5 };
            let assignment = assign_fold(&segments, &f, fold, 11);
            let test: Vec<usize> = (0..segments.len())
                .filter(|&i| assignment[i] == Split::Test)
                .collect();
            // 100 segments, 20 per class: 20 per fold, 4 of each class.
            assert_eq!(test.len(), 20);
            for class in 1..=5u8 {
                assert_eq!(
                    test.iter().filter(|&&i| segments[i].class == class).count(),
                    4
                );
            }
            // The rest keep the pipeline's proportions: 60 : 10 : 10 of 80.
            let count = |split| assignment.iter().filter(|&&s| s == split).count();
            assert_eq!(
                (
                    count(Split::Train),
                    count(Split::Validation),
                    count(Split::PatientPool)
                ),
                (60, 10, 10)
            );
            for i in test {
                tested[i] += 1;
            }
        }
        assert!(tested.iter().all(|&n| n == 1), "{tested:?}");
    }

    #[test]
    fn allocate_uses_largest_remainders() {
        let f = Fractions::default();
        assert_eq!(allocate(100, &f), [60, 10, 20, 10]);
        assert_eq!(allocate(7, &f), [4, 1, 1, 1]);
        assert_eq!(allocate(1, &f), [1, 0, 0, 0]);
        assert_eq!(allocate(0, &f), [0, 0, 0, 0]);
    }

    #[test]
    fn fractions_are_checked() {
        assert!(check_fractions(&Fractions::default()).is_ok());
        let no_pool = Fractions {
            patient_pool: 0.0,
            test: 0.3,
            ..Fractions::default()
        };
        assert!(check_fractions(&no_pool).is_ok());
        let bad_sum = Fractions {
            train: 0.7,
            ..Fractions::default()
        };
        assert!(check_fractions(&bad_sum).unwrap_err().0.contains("not 1"));
        let no_validation = Fractions {
            validation: 0.0,
            train: 0.7,
            ..Fractions::default()
        };
        assert!(check_fractions(&no_validation).is_err());
    }

    #[test]
    fn splits_do_not_depend_on_row_order() {
        let data = synthetic(3, 6);
        let mut shuffled = data.clone();
        let mut order: Vec<usize> = (0..data.rows.len()).collect();
        Rng::new(99).shuffle(&mut order);
        shuffled.rows = order.iter().map(|&i| data.rows[i].clone()).collect();
        let a = group_segments(&data);
        let b = group_segments(&shuffled);
        let names = |s: &[Segment]| s.iter().map(|s| s.name.clone()).collect::<Vec<_>>();
        assert_eq!(names(&a), names(&b));
        let f = Fractions::default();
        assert_eq!(assign_splits(&a, &f, 5), assign_splits(&b, &f, 5));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        #[test]
        fn no_segment_appears_in_two_splits(seed in any::<u64>(), per_class in 4usize..12) {
            let data = synthetic(seed, per_class);
            let segments = group_segments(&data);
            let assignment = assign_splits(&segments, &Fractions::default(), seed);
            let mut split_of_segment: HashMap<&str, Split> = HashMap::new();
            for (segment, split) in segments.iter().zip(&assignment) {
                for &row in &segment.rows {
                    let name = data.rows[row].segment.as_str();
                    let previous = split_of_segment.insert(name, *split);
                    prop_assert!(previous.is_none() || previous == Some(*split));
                }
            }
            // Every class is represented in every split with a positive fraction.
            for class in 1..=5u8 {
                let splits: HashSet<Split> = segments.iter().zip(&assignment)
                    .filter(|(s, _)| s.class == class).map(|(_, &sp)| sp).collect();
                prop_assert_eq!(splits.len(), 4);
            }
        }

        #[test]
        fn undersampled_training_rows_are_balanced(
            seed in any::<u64>(),
            negatives in 0usize..300,
            positives in 0usize..300,
        ) {
            let classes: Vec<u8> = (0..negatives).map(|i| 2 + (i % 4) as u8)
                .chain((0..positives).map(|_| 1)).collect();
            let rows: Vec<usize> = (0..classes.len()).collect();
            let (kept, weights) =
                balance_training_rows(&rows, |r| classes[r], Balance::Undersample, seed);
            let seizures = kept.iter().filter(|&&r| classes[r] == 1).count();
            prop_assert_eq!(seizures, negatives.min(positives));
            prop_assert_eq!(kept.len() - seizures, negatives.min(positives));
            prop_assert_eq!(weights, [1.0, 1.0]);
            let unique: HashSet<usize> = kept.iter().copied().collect();
            prop_assert_eq!(unique.len(), kept.len());
        }

        #[test]
        fn weighting_keeps_every_row_and_equalises_total_weight(
            seed in any::<u64>(),
            negatives in 1usize..300,
            positives in 1usize..300,
        ) {
            let classes: Vec<u8> = (0..negatives).map(|_| 3)
                .chain((0..positives).map(|_| 1)).collect();
            let rows: Vec<usize> = (0..classes.len()).collect();
            let (kept, weights) =
                balance_training_rows(&rows, |r| classes[r], Balance::Weight, seed);
            prop_assert_eq!(kept.len(), rows.len());
            let total_negative = weights[0] * negatives as f64;
            let total_positive = weights[1] * positives as f64;
            prop_assert!((total_negative - total_positive).abs() < 1e-6);
        }

        #[test]
        fn normalisation_depends_on_training_rows_only(
            seed in any::<u64>(),
            scale in 1.0f32..1000.0,
        ) {
            let mut data = synthetic(seed, 4);
            let segments = group_segments(&data);
            let assignment = assign_splits(&segments, &Fractions::default(), seed);
            let train_rows: Vec<usize> = segments.iter().zip(&assignment)
                .filter(|(_, &s)| s == Split::Train)
                .flat_map(|(s, _)| s.rows.iter().copied()).collect();
            // Through the real path (build_outputs fits the normalisation the manifest keeps):
            // this fails if it ever fits on validation, test or pool rows.
            let options = crate::prepare::SplitOptions { seed, ..Default::default() };
            let source = crate::processed::SourceInfo {
                file_name: "synthetic.csv".into(),
                md5: "0".repeat(32),
                rows: data.rows.len(),
                skipped_lines: vec![],
            };
            let fit = |data: &UciData| {
                crate::prepare::build_outputs(data, source.clone(), &options).0.normalisation
            };
            let before = fit(&data);
            // Rescaling every non-training row must not move the statistics.
            let train: HashSet<usize> = train_rows.iter().copied().collect();
            for row in 0..data.rows.len() {
                if !train.contains(&row) {
                    let start = row * crate::SAMPLES_PER_RECORDING;
                    for v in &mut data.samples[start..start + crate::SAMPLES_PER_RECORDING] {
                        *v *= scale;
                    }
                }
            }
            prop_assert_eq!(before, fit(&data));
        }
    }
}
