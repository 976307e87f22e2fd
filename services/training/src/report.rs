//! What `training` prints when a run is done.

use std::path::Path;

use crate::outcome::TrainingOutcome;

/// The run's summary: epochs, the chosen decisions, speed, and where the model went.
pub(crate) fn print(outcome: &TrainingOutcome, out: &Path) {
    let last = outcome.history.last();
    println!(
        "trained {} epochs (best {}{}), validation loss {:.4}, accuracy {:.4}",
        outcome.history.len(),
        outcome.best_epoch,
        if outcome.stopped_early {
            ", stopped early"
        } else {
            ""
        },
        outcome.card.metrics["val_loss"],
        outcome.card.metrics["val_accuracy"],
    );
    if let Some(d) = &outcome.card.decisions {
        print!("{}", decisions_summary(d));
    }
    if let Some(t) = &outcome.card.temperature_scaling {
        println!(
            "temperature scaling: T {:.3}, validation NLL {:.4} -> {:.4}",
            t.temperature, t.validation_nll_before, t.validation_nll_after
        );
    }
    match &outcome.card.decision_threshold {
        Some(t) => println!(
            "decision threshold {:.6} ({}: validation specificity {:.4}, sensitivity {:.4})",
            t.value, t.rule, t.validation_specificity, t.validation_sensitivity
        ),
        None => println!("no decision threshold: the validation scores are not finite (diverged)"),
    }
    if let Some(last) = last {
        println!(
            "speed: {:.0} samples/s, {:.2} s/epoch (last epoch)",
            last.samples_per_second, last.seconds
        );
    }
    println!(
        "wrote {} (run {} in the {} tracker at {})",
        out.display(),
        outcome.run_id,
        outcome.tracker_kind,
        outcome.tracker_location
    );
}

/// The out-of-fold decisions, in a few lines.
pub fn decisions_summary(d: &seizure_model::Decisions) -> String {
    let rate = |r: &seizure_model::decisions::Rate| {
        format!(
            "{:.4} [{:.4}, {:.4}] ({}/{})",
            r.value, r.interval[0], r.interval[1], r.count, r.of
        )
    };
    let mut text = format!(
        "decisions on {}:\n  window: threshold {:.6} for specificity >= {}: specificity {}, sensitivity {}\n  \
         patient: {} >= {:.4} (gap {:.4}..{:.4}) for specificity >= {}: right {}, specificity {}, sensitivity {}\n",
        d.evidence.source,
        d.window.threshold,
        d.window.target_specificity,
        rate(&d.window.specificity),
        rate(&d.window.sensitivity),
        d.patient.rule.as_str(),
        d.patient.threshold,
        d.patient.margin[0],
        d.patient.margin[1],
        d.patient.target_specificity,
        rate(&d.patient.accuracy),
        rate(&d.patient.specificity),
        rate(&d.patient.sensitivity),
    );
    match &d.alarm {
        Some(a) => text.push_str(&format!(
            "  alarm: threshold {:.4}, {} of {}, refractory {} s: {} false alarms in {:.2} h of distinct \
             background = {:.2}/h [{:.2}, {:.2}]; {}/{} seizures detected ({:.3}), latency median {} s, \
             p90 {} s; {} ({} rules compared)\n",
            a.threshold,
            a.k,
            a.n,
            a.refractory_s,
            a.false_alarms,
            a.background_hours,
            a.false_alarms_per_hour,
            a.false_alarms_per_hour_interval[0],
            a.false_alarms_per_hour_interval[1],
            a.detected,
            a.seizures,
            a.event_sensitivity,
            a.latency_median_s.map_or("-".into(), |v| format!("{v:.2}")),
            a.latency_p90_s.map_or("-".into(), |v| format!("{v:.2}")),
            if a.meets_targets {
                format!("meets the targets (<= {}/h)", a.budget_per_hour)
            } else {
                format!("MISSES the targets (<= {}/h, sensitivity >= 0.95, median latency <= 5 s)", a.budget_per_hour)
            },
            a.rules_compared,
        )),
        None => text.push_str("  alarm: none chosen (no continuous signals)\n"),
    }
    text
}
