//! Median pruning (Optuna's `MedianPruner`): after a warm-up, a trial whose best validation
//! loss so far is worse than the median of the other trials' best at the same epoch is
//! stopped. Every trial reports every epoch, running ones included, so parallel trials prune
//! each other too.

use std::sync::Mutex;

#[derive(Debug, Clone, Copy)]
pub struct MedianPruner {
    /// No trial is pruned before this epoch (1-based).
    pub warmup_epochs: usize,
    /// Nor before this many other trials have reached the same epoch.
    pub min_trials: usize,
}

/// The validation losses every trial has reported, epoch by epoch.
#[derive(Debug, Default)]
pub struct Reports {
    losses: Mutex<Vec<Vec<f64>>>,
}

impl Reports {
    pub fn new(trials: usize) -> Self {
        Self {
            losses: Mutex::new(vec![Vec::new(); trials]),
        }
    }

    /// Records `trial`'s loss of its next epoch and says whether to prune it.
    pub fn report(&self, pruner: &MedianPruner, trial: usize, loss: f64) -> bool {
        let mut losses = self.losses.lock().unwrap_or_else(|e| e.into_inner());
        losses[trial].push(loss);
        pruner.should_prune(&losses, trial)
    }
}

/// The best (lowest) loss up to `epoch` (1-based) of a history, if it reached that epoch. A
/// NaN (a diverged epoch) counts as the worst loss.
fn best_until(history: &[f64], epoch: usize) -> Option<f64> {
    (history.len() >= epoch).then(|| {
        history[..epoch]
            .iter()
            .map(|&l| if l.is_nan() { f64::INFINITY } else { l })
            .fold(f64::INFINITY, f64::min)
    })
}

impl MedianPruner {
    pub fn should_prune(&self, histories: &[Vec<f64>], trial: usize) -> bool {
        let epoch = histories[trial].len();
        if epoch < self.warmup_epochs.max(1) {
            return false;
        }
        let Some(own) = best_until(&histories[trial], epoch) else {
            return false;
        };
        let mut others: Vec<f64> = histories
            .iter()
            .enumerate()
            .filter(|&(i, _)| i != trial)
            .filter_map(|(_, h)| best_until(h, epoch))
            .collect();
        if others.len() < self.min_trials.max(1) {
            return false;
        }
        others.sort_by(f64::total_cmp);
        let n = others.len();
        let median = if n % 2 == 1 {
            others[n / 2]
        } else {
            (others[n / 2 - 1] + others[n / 2]) / 2.0
        };
        own > median
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PRUNER: MedianPruner = MedianPruner {
        warmup_epochs: 2,
        min_trials: 2,
    };

    #[test]
    fn a_trial_worse_than_the_median_at_the_same_epoch_is_pruned() {
        let histories = vec![
            vec![0.6, 0.4, 0.3],
            vec![0.7, 0.5, 0.45],
            vec![0.9, 0.8],
            vec![0.5, 0.3],
        ];
        // Trial 2 at epoch 2: best 0.8, others' best at epoch 2: 0.4, 0.5, 0.3 -> median 0.4.
        assert!(PRUNER.should_prune(&histories, 2));
        // Trial 3: 0.3 is better than the median of 0.4, 0.5, 0.8.
        assert!(!PRUNER.should_prune(&histories, 3));
    }

    #[test]
    fn nothing_is_pruned_during_warm_up_or_without_enough_peers() {
        let histories = vec![vec![0.1, 0.1], vec![5.0]];
        assert!(!PRUNER.should_prune(&histories, 1), "warm-up");
        let histories = vec![vec![0.1, 0.1], vec![5.0, 5.0]];
        assert!(!PRUNER.should_prune(&histories, 1), "one peer only");
        // Peers that have not reached the epoch do not count.
        let histories = vec![vec![0.1], vec![0.1], vec![5.0, 5.0]];
        assert!(!PRUNER.should_prune(&histories, 2));
    }

    #[test]
    fn a_diverged_trial_is_pruned_and_a_diverged_peer_does_not_protect_anyone() {
        let histories = vec![vec![0.3, 0.2], vec![0.4, 0.3], vec![f64::NAN, f64::NAN]];
        assert!(PRUNER.should_prune(&histories, 2));
        // Median of 0.2 and inf is inf: trial 1 (0.3) survives; this is Optuna's rule too.
        assert!(!PRUNER.should_prune(&histories, 1));
    }

    #[test]
    fn reports_from_many_threads_are_all_kept() {
        let reports = Reports::new(8);
        std::thread::scope(|s| {
            for trial in 0..8 {
                let reports = &reports;
                s.spawn(move || {
                    for epoch in 0..50 {
                        reports.report(&PRUNER, trial, (trial * 100 + epoch) as f64);
                    }
                });
            }
        });
        let losses = reports.losses.lock().unwrap();
        assert!(losses.iter().all(|h| h.len() == 50));
    }
}
