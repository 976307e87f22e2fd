//! Confidence intervals for test-split figures.
//!
//! The 23 recordings of a segment are not independent (one patient, one hour), so every
//! resampling is over **segments**: a bootstrap draw picks whole segments with replacement and
//! scores all their recordings (percentile intervals). Proportions over independent units
//! (patients) get the Wilson score interval.

use eeg_data::random::Rng;
use serde::Serialize;

/// A two-sided interval at `confidence`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Interval {
    pub low: f64,
    pub high: f64,
    /// `wilson` or `segment-bootstrap`.
    pub method: &'static str,
}

impl Interval {
    pub fn contains(&self, value: f64) -> bool {
        self.low <= value && value <= self.high
    }
}

/// The standard normal quantile for a two-sided `confidence` (0.95 -> 1.96), by bisection of
/// the error function's complement (no tables; accurate to 1e-9).
pub fn z_two_sided(confidence: f64) -> f64 {
    let tail = (1.0 - confidence) / 2.0;
    let (mut low, mut high) = (0.0f64, 10.0f64);
    for _ in 0..100 {
        let mid = (low + high) / 2.0;
        if upper_tail(mid) > tail {
            low = mid;
        } else {
            high = mid;
        }
    }
    (low + high) / 2.0
}

/// P(Z > z) for the standard normal, from erfc (Numerical Recipes' Chebyshev fit, 1.2e-7).
fn upper_tail(z: f64) -> f64 {
    let x = z / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.5 * x.abs());
    let y = t
        * (-x * x - 1.265_512_23
            + t * (1.000_023_68
                + t * (0.374_091_96
                    + t * (0.096_784_18
                        + t * (-0.186_288_06
                            + t * (0.278_868_07
                                + t * (-1.135_203_98
                                    + t * (1.488_515_87
                                        + t * (-0.822_152_23 + t * 0.170_872_77)))))))))
            .exp();
    let erfc = if x >= 0.0 { y } else { 2.0 - y };
    erfc / 2.0
}

/// The Wilson score interval of `successes` out of `n` at `confidence` (NaN for n = 0).
pub fn wilson(successes: usize, n: usize, confidence: f64) -> Interval {
    if n == 0 {
        return Interval {
            low: f64::NAN,
            high: f64::NAN,
            method: "wilson",
        };
    }
    let z = z_two_sided(confidence);
    let (k, n) = (successes as f64, n as f64);
    let p = k / n;
    let denominator = 1.0 + z * z / n;
    let centre = (p + z * z / (2.0 * n)) / denominator;
    let half = z * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt() / denominator;
    Interval {
        low: (centre - half).max(0.0),
        high: (centre + half).min(1.0),
        method: "wilson",
    }
}

/// The recordings of each segment, for resampling segments.
#[derive(Debug, Clone)]
pub struct Segments {
    members: Vec<Vec<usize>>,
}

impl Segments {
    /// Groups recording indices by their segment id.
    pub fn of(segments: &[u32]) -> Self {
        let mut by_id: std::collections::BTreeMap<u32, Vec<usize>> = Default::default();
        for (i, &segment) in segments.iter().enumerate() {
            by_id.entry(segment).or_default().push(i);
        }
        Self {
            members: by_id.into_values().collect(),
        }
    }

    pub fn len(&self) -> usize {
        self.members.len()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// One bootstrap draw: as many segments as there are, with replacement. Returns the
    /// recording indices and, for each, the draw it belongs to (a segment drawn twice counts
    /// as two patients).
    pub fn draw(&self, rng: &mut Rng) -> (Vec<usize>, Vec<u32>) {
        let mut indices = Vec::new();
        let mut groups = Vec::new();
        for draw in 0..self.members.len() {
            let segment = &self.members[rng.below(self.members.len())];
            indices.extend_from_slice(segment);
            groups.extend(std::iter::repeat_n(draw as u32, segment.len()));
        }
        (indices, groups)
    }
}

/// `statistic` over `resamples` segment draws (seeded, so a decision is reproducible). Draws
/// where the statistic is undefined (one class only, say) are left out; returns the finite
/// values, sorted.
pub fn bootstrap(
    segments: &Segments,
    resamples: usize,
    seed: u64,
    mut statistic: impl FnMut(&[usize], &[u32]) -> f64,
) -> Vec<f64> {
    let mut rng = Rng::new(seed);
    let mut values: Vec<f64> = (0..resamples)
        .filter_map(|_| {
            let (indices, groups) = segments.draw(&mut rng);
            Some(statistic(&indices, &groups)).filter(|v| v.is_finite())
        })
        .collect();
    values.sort_by(f64::total_cmp);
    values
}

/// The `q` quantile of sorted values (NaN if empty): drift's, the workspace's one.
pub use drift::stats::quantile;

/// The percentile interval of bootstrap values at `confidence`.
pub fn percentile_interval(sorted: &[f64], confidence: f64) -> Interval {
    let tail = (1.0 - confidence) / 2.0;
    Interval {
        low: quantile(sorted, tail),
        high: quantile(sorted, 1.0 - tail),
        method: "segment-bootstrap",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_normal_quantile_matches_tables() {
        assert!((z_two_sided(0.95) - 1.959_964).abs() < 1e-5);
        assert!((z_two_sided(0.99) - 2.575_829).abs() < 1e-5);
        assert!((z_two_sided(0.90) - 1.644_854).abs() < 1e-5);
    }

    #[test]
    fn wilson_matches_published_values() {
        // 99 of 100 (the example): about 94.6% .. 99.8%.
        let i = wilson(99, 100, 0.95);
        assert!((i.low - 0.9455).abs() < 5e-4, "{i:?}");
        assert!((i.high - 0.9982).abs() < 5e-4, "{i:?}");
        // 0 of 10: the lower bound is 0 and the upper about 0.2775.
        let i = wilson(0, 10, 0.95);
        assert_eq!(i.low, 0.0);
        assert!((i.high - 0.2775).abs() < 5e-4, "{i:?}");
        assert!(wilson(0, 0, 0.95).low.is_nan());
    }

    #[test]
    fn segment_draws_keep_segments_whole() {
        let segments = Segments::of(&[7, 7, 7, 3, 3, 3, 9, 9, 9]);
        assert_eq!(segments.len(), 3);
        let mut rng = Rng::new(1);
        for _ in 0..20 {
            let (indices, groups) = segments.draw(&mut rng);
            assert_eq!(indices.len(), 9);
            for chunk in indices.chunks(3) {
                // Consecutive members of one segment, in order.
                assert_eq!(chunk[1], chunk[0] + 1);
                assert_eq!(chunk[2], chunk[0] + 2);
            }
            assert_eq!(groups, [0, 0, 0, 1, 1, 1, 2, 2, 2]);
        }
    }

    #[test]
    fn bootstrap_of_a_mean_covers_it_and_is_reproducible() {
        let values: Vec<f64> = (0..200).map(|i| (i % 10) as f64).collect();
        let segments = Segments::of(&(0..200).map(|i| i / 4).collect::<Vec<u32>>());
        let mean = |idx: &[usize], _: &[u32]| {
            idx.iter().map(|&i| values[i]).sum::<f64>() / idx.len() as f64
        };
        let a = bootstrap(&segments, 500, 3, mean);
        let b = bootstrap(&segments, 500, 3, mean);
        assert_eq!(a, b, "seeded");
        let interval = percentile_interval(&a, 0.95);
        assert!(interval.contains(4.5), "{interval:?}");
        assert!(interval.high - interval.low < 1.5, "{interval:?}");
        assert_eq!(quantile(&[1.0, 2.0, 3.0], 0.5), 2.0);
        assert_eq!(quantile(&[1.0, 3.0], 0.25), 1.5);
    }
}
