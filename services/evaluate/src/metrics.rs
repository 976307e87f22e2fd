//! Binary classification metrics on seizure probabilities.
//!
//! ROC AUC is the Mann-Whitney statistic with ties counted half (the area under the ROC curve
//! drawn through tied scores); PR AUC is average precision (sklearn's step-wise definition).
//!
//! Scores that are not all finite have no metrics: every score-derived value is NaN (a sort
//! would otherwise rank NaN scores and report a finite, meaningless AUC for a diverged model).

use seizure_model::PatientCall;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Confusion {
    pub true_positive: usize,
    pub false_positive: usize,
    pub true_negative: usize,
    pub false_negative: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    pub count: usize,
    pub positives: usize,
    pub threshold: f64,
    pub accuracy: f64,
    /// Recall of the seizure class.
    pub sensitivity: f64,
    pub specificity: f64,
    pub precision: f64,
    pub f1: f64,
    pub roc_auc: f64,
    pub pr_auc: f64,
    pub confusion: Confusion,
}

fn ratio(numerator: usize, denominator: usize) -> f64 {
    if denominator == 0 {
        f64::NAN
    } else {
        numerator as f64 / denominator as f64
    }
}

pub fn confusion(scores: &[f64], labels: &[bool], threshold: f64) -> Confusion {
    let mut c = Confusion::default();
    for (&score, &label) in scores.iter().zip(labels) {
        match (score >= threshold, label) {
            (true, true) => c.true_positive += 1,
            (true, false) => c.false_positive += 1,
            (false, false) => c.true_negative += 1,
            (false, true) => c.false_negative += 1,
        }
    }
    c
}

/// Every score is a number (not NaN, not infinite).
pub fn all_finite(scores: &[f64]) -> bool {
    scores.iter().all(|s| s.is_finite())
}

/// Area under the ROC curve; ties between a positive and a negative count one half.
pub fn roc_auc(scores: &[f64], labels: &[bool]) -> f64 {
    if !all_finite(scores) {
        return f64::NAN;
    }
    let positives = labels.iter().filter(|&&l| l).count();
    let negatives = labels.len() - positives;
    if positives == 0 || negatives == 0 {
        return f64::NAN;
    }
    // Average ranks over ties (1-based), then the Mann-Whitney U of the positives.
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && scores[order[j + 1]] == scores[order[i]] {
            j += 1;
        }
        let average_rank = (i + j) as f64 / 2.0 + 1.0;
        rank_sum += average_rank * order[i..=j].iter().filter(|&&k| labels[k]).count() as f64;
        i = j + 1;
    }
    let u = rank_sum - (positives * (positives + 1)) as f64 / 2.0;
    u / (positives * negatives) as f64
}

/// Points `(x, y)` of a curve, one per distinct threshold, from the highest score down.
fn sweep(scores: &[f64], labels: &[bool]) -> Vec<(usize, usize)> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let (mut tp, mut fp) = (0, 0);
    let mut points = Vec::new();
    for (k, &i) in order.iter().enumerate() {
        if labels[i] {
            tp += 1;
        } else {
            fp += 1;
        }
        let last_of_tie = k + 1 == order.len() || scores[order[k + 1]] != scores[i];
        if last_of_tie {
            points.push((tp, fp));
        }
    }
    points
}

/// The ROC curve: (false positive rate, true positive rate), from (0, 0) to (1, 1).
pub fn roc_curve(scores: &[f64], labels: &[bool]) -> Vec<(f64, f64)> {
    let positives = labels.iter().filter(|&&l| l).count();
    let negatives = labels.len() - positives;
    std::iter::once((0.0, 0.0))
        .chain(
            sweep(scores, labels)
                .into_iter()
                .map(|(tp, fp)| (ratio(fp, negatives), ratio(tp, positives))),
        )
        .collect()
}

/// The precision-recall curve: (recall, precision), one point per threshold.
pub fn pr_curve(scores: &[f64], labels: &[bool]) -> Vec<(f64, f64)> {
    let positives = labels.iter().filter(|&&l| l).count();
    sweep(scores, labels)
        .into_iter()
        .map(|(tp, fp)| (ratio(tp, positives), ratio(tp, tp + fp)))
        .collect()
}

/// Average precision: the sum over thresholds of (recall gain) x precision.
pub fn average_precision(scores: &[f64], labels: &[bool]) -> f64 {
    if !all_finite(scores) {
        return f64::NAN;
    }
    let curve = pr_curve(scores, labels);
    if curve.is_empty() || curve[0].0.is_nan() {
        return f64::NAN;
    }
    let mut previous_recall = 0.0;
    let mut area = 0.0;
    for (recall, precision) in curve {
        area += (recall - previous_recall) * precision;
        previous_recall = recall;
    }
    area
}

pub fn compute(scores: &[f64], labels: &[bool], threshold: f64) -> Metrics {
    assert_eq!(scores.len(), labels.len());
    let c = confusion(scores, labels, threshold);
    // A NaN score is neither above nor below the threshold: no rate is defined.
    let finite = all_finite(scores);
    let ratio = |n, d| if finite { ratio(n, d) } else { f64::NAN };
    let precision = ratio(c.true_positive, c.true_positive + c.false_positive);
    let sensitivity = ratio(c.true_positive, c.true_positive + c.false_negative);
    Metrics {
        count: scores.len(),
        positives: labels.iter().filter(|&&l| l).count(),
        threshold,
        accuracy: ratio(c.true_positive + c.true_negative, scores.len()),
        sensitivity,
        specificity: ratio(c.true_negative, c.true_negative + c.false_positive),
        precision,
        f1: 2.0 * precision * sensitivity / (precision + sensitivity),
        roc_auc: roc_auc(scores, labels),
        pr_auc: average_precision(scores, labels),
        confusion: c,
    }
}

/// The best sensitivity reachable while keeping specificity at least `min_specificity`.
pub fn sensitivity_at_specificity(scores: &[f64], labels: &[bool], min_specificity: f64) -> f64 {
    if !all_finite(scores) || labels.iter().all(|&l| l) || !labels.contains(&true) {
        return f64::NAN;
    }
    roc_curve(scores, labels)
        .into_iter()
        .filter(|&(fpr, _)| 1.0 - fpr >= min_specificity)
        .map(|(_, tpr)| tpr)
        .fold(0.0, f64::max)
}

/// Patient-level scores (each group's recordings scored by the patient `call`'s rule), with
/// each group's label. Returns (group ids, scores, labels), ordered by group id.
pub fn per_group(
    scores: &[f64],
    labels: &[bool],
    groups: &[u32],
    call: &PatientCall,
) -> (Vec<u32>, Vec<f64>, Vec<bool>) {
    let mut members: BTreeMap<u32, (Vec<f64>, bool)> = BTreeMap::new();
    for ((&score, &label), &group) in scores.iter().zip(labels).zip(groups) {
        members
            .entry(group)
            .or_insert((Vec::new(), label))
            .0
            .push(score);
    }
    let ids = members.keys().copied().collect();
    let means = members.values().map(|(s, _)| call.score(s)).collect();
    let group_labels = members.values().map(|(_, l)| *l).collect();
    (ids, means, group_labels)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn confusion_based_metrics_match_hand_computation() {
        // TP: 0.9, 0.6 | FN: 0.4 | FP: 0.7 | TN: 0.1, 0.2
        let scores = [0.9, 0.6, 0.4, 0.7, 0.1, 0.2];
        let labels = [true, true, true, false, false, false];
        let m = compute(&scores, &labels, 0.5);
        assert_eq!(
            m.confusion,
            Confusion {
                true_positive: 2,
                false_positive: 1,
                true_negative: 2,
                false_negative: 1
            }
        );
        assert!(close(m.accuracy, 4.0 / 6.0));
        assert!(close(m.sensitivity, 2.0 / 3.0));
        assert!(close(m.specificity, 2.0 / 3.0));
        assert!(close(m.precision, 2.0 / 3.0));
        assert!(close(m.f1, 2.0 / 3.0));
        // Pairs (pos, neg): 9 in all; the positive wins in 0.9>all 3, 0.6>0.1,0.2 (2), 0.4>0.1,0.2 (2) = 7.
        assert!(close(m.roc_auc, 7.0 / 9.0));
    }

    #[test]
    fn roc_auc_counts_ties_as_one_half() {
        // One positive and one negative with the same score: AUC 0.5.
        assert!(close(roc_auc(&[0.3, 0.3], &[true, false]), 0.5));
        // Positives {0.8, 0.5}, negatives {0.5, 0.2}: pairs 0.8>0.5, 0.8>0.2, 0.5=0.5 (1/2), 0.5>0.2.
        let auc = roc_auc(&[0.8, 0.5, 0.5, 0.2], &[true, true, false, false]);
        assert!(close(auc, 3.5 / 4.0));
        // All scores equal: 0.5 whatever the labels.
        assert!(close(
            roc_auc(&[1.0; 5], &[true, false, true, false, false]),
            0.5
        ));
        assert!(roc_auc(&[0.1, 0.2], &[true, true]).is_nan());
    }

    #[test]
    fn roc_curve_through_ties_has_the_same_area() {
        let scores = [0.8, 0.5, 0.5, 0.2];
        let labels = [true, true, false, false];
        let curve = roc_curve(&scores, &labels);
        assert_eq!(curve, [(0.0, 0.0), (0.0, 0.5), (0.5, 1.0), (1.0, 1.0)]);
        let trapezoid: f64 = curve
            .windows(2)
            .map(|w| (w[1].0 - w[0].0) * (w[1].1 + w[0].1) / 2.0)
            .sum();
        assert!(close(trapezoid, roc_auc(&scores, &labels)));
    }

    #[test]
    fn average_precision_matches_hand_computation() {
        // Ranked: 0.9 (pos), 0.8 (neg), 0.7 (pos): AP = 1/2 * 1 + 1/2 * 2/3.
        let ap = average_precision(&[0.9, 0.8, 0.7], &[true, false, true]);
        assert!(close(ap, 0.5 + 1.0 / 3.0));
        // A perfect ranking has AP 1.
        assert!(close(average_precision(&[0.9, 0.1], &[true, false]), 1.0));
    }

    #[test]
    fn sensitivity_at_a_specificity_floor() {
        let scores = [0.9, 0.8, 0.7, 0.6, 0.3, 0.2];
        let labels = [true, false, true, true, false, false];
        // Specificity 1 allows only the first point: sensitivity 1/3.
        assert!(close(
            sensitivity_at_specificity(&scores, &labels, 1.0),
            1.0 / 3.0
        ));
        // Specificity 2/3 allows one false positive: all three positives above 0.3.
        assert!(close(
            sensitivity_at_specificity(&scores, &labels, 0.6),
            1.0
        ));
    }

    #[test]
    fn non_finite_scores_have_no_metrics() {
        // What a diverged model gives: NaN everywhere. A sort would rank NaN and report 0.5.
        let labels = [true, false, true, false];
        let nan = [f64::NAN; 4];
        let m = compute(&nan, &labels, 0.5);
        for value in [
            m.roc_auc,
            m.pr_auc,
            m.accuracy,
            m.sensitivity,
            m.specificity,
            m.precision,
            m.f1,
        ] {
            assert!(value.is_nan(), "{m:?}");
        }
        assert!(sensitivity_at_specificity(&nan, &labels, 0.98).is_nan());
        // One infinite score among good ones is enough.
        let one_bad = [0.9, 0.1, f64::INFINITY, 0.2];
        assert!(roc_auc(&one_bad, &labels).is_nan());
        assert!(average_precision(&one_bad, &labels).is_nan());
        assert!(compute(&[0.9, 0.1, 0.8, 0.2], &labels, 0.5).roc_auc == 1.0);
    }

    #[test]
    fn groups_average_their_recordings() {
        let (ids, scores, labels) = per_group(
            &[0.2, 0.4, 0.9, 0.7],
            &[false, false, true, true],
            &[5, 5, 2, 2],
            &PatientCall::mean_at(0.5),
        );
        assert_eq!(ids, [2, 5]);
        assert!(close(scores[0], 0.8) && close(scores[1], 0.3));
        assert_eq!(labels, [true, false]);
    }
}
