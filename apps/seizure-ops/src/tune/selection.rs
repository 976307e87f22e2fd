//! Which trial wins: the best validation score among the trials that may be chosen.

use super::trial::TrialResult;

/// The eligible trial with the highest validation ROC AUC, then sensitivity, then the lowest
/// validation loss; the earlier trial on a full tie.
pub(super) fn best_trial(trials: &[TrialResult]) -> Option<&TrialResult> {
    let key = |t: &TrialResult| {
        (
            t.val_roc_auc.unwrap_or(f64::NEG_INFINITY),
            t.val_sensitivity_at_target_specificity
                .filter(|s| s.is_finite())
                .unwrap_or(f64::NEG_INFINITY),
            -t.best_val_loss
                .filter(|l| l.is_finite())
                .unwrap_or(f64::INFINITY),
        )
    };
    trials
        .iter()
        .filter(|t| t.eligible())
        .fold(None, |best, t| match best {
            Some(b) if compare(key(t), key(b)).is_le() => Some(b),
            _ => Some(t),
        })
}

fn compare(a: (f64, f64, f64), b: (f64, f64, f64)) -> std::cmp::Ordering {
    a.0.total_cmp(&b.0)
        .then(a.1.total_cmp(&b.1))
        .then(a.2.total_cmp(&b.2))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tune::space::TrialConfig;
    use crate::tune::trial::TrialStatus;

    fn trial(n: usize, status: TrialStatus, roc: f64, sens: f64, loss: f64) -> TrialResult {
        TrialResult {
            trial: n,
            config: TrialConfig::sample_many(1, 1).remove(0),
            status,
            run_id: Some(format!("run{n}")),
            epochs: 3,
            best_val_loss: Some(loss),
            val_roc_auc: Some(roc),
            val_sensitivity_at_target_specificity: Some(sens),
            seconds: 1.0,
            error: None,
        }
    }

    #[test]
    fn the_best_trial_is_by_roc_then_sensitivity_then_loss_among_eligible_ones() {
        let trials = vec![
            trial(1, TrialStatus::Completed, 0.990, 0.90, 0.2),
            trial(2, TrialStatus::Pruned, 0.999, 0.99, 0.1),
            trial(3, TrialStatus::Completed, 0.995, 0.92, 0.3),
            trial(4, TrialStatus::StoppedAtBudget, 0.995, 0.95, 0.4),
            trial(5, TrialStatus::Completed, 0.995, 0.95, 0.35),
            trial(6, TrialStatus::Failed, 1.0, 1.0, 0.0),
            trial(7, TrialStatus::Completed, f64::NAN, f64::NAN, f64::NAN),
        ];
        // 2 is pruned, 6 failed, 7 diverged; 4 and 5 tie on ROC and sensitivity, 5 has the
        // lower loss.
        assert_eq!(best_trial(&trials).unwrap().trial, 5);
        assert!(best_trial(&trials[5..]).is_none());
        // A full tie keeps the earlier trial.
        let tied = vec![
            trial(1, TrialStatus::Completed, 0.99, 0.9, 0.2),
            trial(2, TrialStatus::Completed, 0.99, 0.9, 0.2),
        ];
        assert_eq!(best_trial(&tied).unwrap().trial, 1);
    }
}
