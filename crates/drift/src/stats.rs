//! Two-sample statistics on sorted samples, as scipy defines them (tests compare):
//! `scipy.stats.ks_2samp(a, b).statistic` and `scipy.stats.wasserstein_distance(a, b)`,
//! plus numpy's linear-interpolation quantile.

/// Sorts a copy (NaN last; callers only pass finite values).
pub fn sorted(values: &[f64]) -> Vec<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted
}

/// Walks the union of two sorted samples, calling `step(x, next_x, cdf_a(x), cdf_b(x))` at
/// each distinct value `x` (with `next_x` the next distinct value, or `x` at the end).
fn walk(a: &[f64], b: &[f64], mut step: impl FnMut(f64, f64, f64, f64)) {
    let (na, nb) = (a.len() as f64, b.len() as f64);
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        let x = match (a.get(i), b.get(j)) {
            (Some(&u), Some(&v)) => u.min(v),
            (Some(&u), None) => u,
            (None, Some(&v)) => v,
            (None, None) => unreachable!(),
        };
        while i < a.len() && a[i] <= x {
            i += 1;
        }
        while j < b.len() && b[j] <= x {
            j += 1;
        }
        let next = match (a.get(i), b.get(j)) {
            (Some(&u), Some(&v)) => u.min(v),
            (Some(&u), None) => u,
            (None, Some(&v)) => v,
            (None, None) => x,
        };
        step(x, next, i as f64 / na, j as f64 / nb);
    }
}

/// The two-sample Kolmogorov-Smirnov statistic: the largest distance between the empirical
/// CDFs of two sorted, non-empty samples.
pub fn ks_statistic(a: &[f64], b: &[f64]) -> f64 {
    assert!(!a.is_empty() && !b.is_empty(), "two non-empty samples");
    let mut largest: f64 = 0.0;
    walk(a, b, |_, _, fa, fb| largest = largest.max((fa - fb).abs()));
    largest
}

/// The first Wasserstein distance between two sorted, non-empty samples: the area between
/// their empirical CDFs.
pub fn wasserstein(a: &[f64], b: &[f64]) -> f64 {
    assert!(!a.is_empty() && !b.is_empty(), "two non-empty samples");
    let mut area = 0.0;
    walk(a, b, |x, next, fa, fb| area += (fa - fb).abs() * (next - x));
    area
}

/// [`wasserstein`] with `incoming`'s values clamped to the range of `reference` (both
/// sorted): each incoming value then moves the distance by at most the reference's range
/// over the sample size, so a share `s` of the incoming sample, whatever its values, moves it
/// by at most `s * (max - min)` of the reference. Drift of the fleet's input is measured this
/// way (and calibrated the same way), so no one user's windows weigh more than their share.
pub fn wasserstein_within(reference: &[f64], incoming: &[f64]) -> f64 {
    assert!(
        !reference.is_empty() && !incoming.is_empty(),
        "two non-empty samples"
    );
    let (low, high) = (reference[0], reference[reference.len() - 1]);
    let clamped: Vec<f64> = incoming.iter().map(|v| v.clamp(low, high)).collect();
    wasserstein(reference, &clamped)
}

/// Population standard deviation (numpy's `std` with `ddof=0`).
pub fn std_dev(values: &[f64]) -> f64 {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    (values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n).sqrt()
}

/// The `q` quantile (clamped to 0..=1) of a sorted sample, interpolated linearly between
/// order statistics (numpy's default); NaN for an empty sample. The one quantile of the
/// workspace (evaluation's intervals and the bedside latencies use it too).
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let position = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let below = position.floor() as usize;
    let above = (below + 1).min(sorted.len() - 1);
    let fraction = position - below as f64;
    sorted[below] + (sorted[above] - sorted[below]) * fraction
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_samples_are_at_distance_zero() {
        let a = sorted(&[3.0, 1.0, 2.0, 2.0]);
        assert_eq!(ks_statistic(&a, &a), 0.0);
        assert_eq!(wasserstein(&a, &a), 0.0);
    }

    #[test]
    fn disjoint_samples_have_ks_one_and_wasserstein_the_shift() {
        let a = [0.0, 1.0, 2.0];
        let b = [10.0, 11.0, 12.0];
        assert_eq!(ks_statistic(&a, &b), 1.0);
        assert!((wasserstein(&a, &b) - 10.0).abs() < 1e-12);
    }

    #[test]
    fn ties_across_samples_count_once() {
        // At x = 1 both CDFs jump together: the largest gap is 0.5, not 1.
        assert_eq!(ks_statistic(&[1.0, 2.0], &[1.0, 3.0]), 0.5);
    }

    #[test]
    fn a_share_of_extreme_values_moves_the_clamped_distance_by_at_most_its_share() {
        let reference: Vec<f64> = (0..1_000).map(|i| f64::from(i) / 100.0).collect();
        let range = reference[999] - reference[0];
        let honest: Vec<f64> = (0..1_000)
            .map(|i| f64::from(i) / 100.0 * 0.999 + 0.001)
            .collect();
        let before = wasserstein_within(&reference, &honest);
        for extreme in [1e6, -1e6, f64::MAX, 1e300] {
            // 100 of the 1,000 (a 10% share) replaced by an extreme value.
            let mut poisoned = honest.clone();
            for v in poisoned.iter_mut().take(100) {
                *v = extreme;
            }
            let poisoned = sorted(&poisoned);
            let after = wasserstein_within(&reference, &poisoned);
            assert!(after.is_finite());
            assert!(
                (after - before).abs() <= 0.1 * range + 1e-9,
                "{extreme}: {before} -> {after}, more than a share of the range ({range})"
            );
            // Unclamped, the same share moves it without bound.
            if extreme.abs() < 1e100 {
                assert!(wasserstein(&reference, &poisoned) > 1_000.0);
            }
        }
        // Inside the reference's range nothing changes.
        assert_eq!(
            wasserstein_within(&reference, &honest),
            wasserstein(&reference, &honest)
        );
    }

    #[test]
    fn quantiles_interpolate_like_numpy() {
        let s = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(quantile(&s, 0.5), 2.5);
        assert!(quantile(&[], 0.5).is_nan());
        assert_eq!(quantile(&[1.0, 3.0], 0.25), 1.5);
        assert_eq!(quantile(&s, 1.0), 4.0);
        assert!((quantile(&s, 0.9) - 3.7).abs() < 1e-12);
    }
}
