//! The event scorer against the `timescoring` package (PyPI, the SzCORE reference scorer):
//! the same counts and rates on random and edge-case annotations.

use bedside::{score, Alarm, Interval, ScoringParams};
use eeg_data::random::Rng;
use serde_json::{json, Value};

/// Times on a 0.05 s grid, so `t * 10` often lands on a rounding tie.
fn time(rng: &mut Rng, low: f64, high: f64) -> f64 {
    (rng.range(low, high) * 20.0).round() / 20.0
}

/// Sorted events: some close together (merged by the 90 s rule), some long (split at 5 min).
fn events(rng: &mut Rng, duration: f64, count: usize) -> Vec<Interval> {
    let mut at = time(rng, 0.0, 200.0);
    let mut events = Vec::new();
    for _ in 0..count {
        let length = if rng.unit() < 0.15 {
            time(rng, 300.0, 800.0)
        } else {
            time(rng, 0.5, 120.0)
        };
        if at + length > duration {
            break;
        }
        events.push(Interval {
            start_s: at,
            end_s: at + length,
        });
        at += length + time(rng, 1.0, 600.0);
    }
    events
}

/// Detections: jittered copies of some reference events plus random ones.
fn detections(rng: &mut Rng, reference: &[Interval], duration: f64) -> Vec<Interval> {
    let mut found = Vec::new();
    for e in reference {
        if rng.unit() < 0.7 {
            let start = (e.start_s + time(rng, -50.0, 40.0)).max(0.0);
            found.push(Interval {
                start_s: start,
                end_s: (start + time(rng, 0.5, 200.0)).min(duration),
            });
        }
    }
    let extra = rng.below(5);
    found.extend(events(rng, duration, extra));
    found.sort_by(|a, b| a.start_s.total_cmp(&b.start_s));
    found
}

fn pairs(events: &[Interval]) -> Value {
    events.iter().map(|e| json!([e.start_s, e.end_s])).collect()
}

#[test]
fn matches_timescoring_on_random_and_edge_cases() {
    let Some(python) = test_support::scoring_python() else {
        return;
    };
    let mut rng = Rng::new(2026);
    let mut cases: Vec<(f64, Vec<Interval>, Vec<Interval>)> = (0..300)
        .map(|_| {
            let duration = time(&mut rng, 300.0, 7200.0);
            let count = rng.below(9);
            let reference = events(&mut rng, duration, count);
            let hypothesis = detections(&mut rng, &reference, duration);
            (duration, reference, hypothesis)
        })
        .collect();
    let i = |start_s, end_s| Interval { start_s, end_s };
    // Edge cases: at the file's start and end, nothing detected, nothing annotated, a
    // detection exactly at the tolerance's edge, ties at the 10 Hz raster.
    cases.extend([
        (600.0, vec![i(0.0, 20.0)], vec![i(0.0, 5.0)]),
        (600.0, vec![i(580.0, 600.0)], vec![i(590.0, 600.0)]),
        (600.0, vec![i(100.0, 120.0)], vec![]),
        (600.0, vec![], vec![i(100.0, 120.0)]),
        (600.0, vec![], vec![]),
        (900.0, vec![i(100.0, 120.0)], vec![i(60.0, 70.0)]),
        (900.0, vec![i(100.0, 120.0)], vec![i(180.0, 200.0)]),
        (900.0, vec![i(100.05, 120.25)], vec![i(120.25, 180.05)]),
        (
            900.0,
            vec![i(100.0, 120.0), i(150.0, 160.0)],
            vec![i(155.0, 400.0)],
        ),
    ]);

    let input: Vec<Value> = cases
        .iter()
        .map(|(duration, reference, hypothesis)| {
            json!({"duration_s": duration, "reference": pairs(reference), "hypothesis": pairs(hypothesis)})
        })
        .collect();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/clients/timescoring_check.py"
    );
    let expected: Vec<Value> = serde_json::from_value(test_support::json_through_python(
        &python,
        std::path::Path::new(script),
        &Value::from(input),
    ))
    .unwrap();
    assert_eq!(expected.len(), cases.len());

    let close = |ours: Option<f64>, theirs: &Value| match (ours, theirs.as_f64()) {
        (None, None) => true,
        (Some(a), Some(b)) => (a - b).abs() <= 1e-9 * b.abs().max(1.0),
        _ => false,
    };
    let (mut detected, mut false_alarms) = (0, 0);
    for ((duration, reference, hypothesis), theirs) in cases.iter().zip(&expected) {
        let alarms: Vec<Alarm> = hypothesis
            .iter()
            .map(|e| Alarm {
                start_s: e.start_s,
                end_s: e.end_s,
                detected_s: e.start_s,
            })
            .collect();
        let ours = score(reference, &alarms, *duration, &ScoringParams::default());
        let context = format!("duration {duration}, reference {reference:?}, hypothesis {hypothesis:?}: timescoring {theirs}, ours {ours:?}");
        assert_eq!(
            ours.reference_events as u64,
            theirs["ref_true"].as_u64().unwrap(),
            "{context}"
        );
        assert_eq!(
            ours.true_positives as u64,
            theirs["tp"].as_u64().unwrap(),
            "{context}"
        );
        assert_eq!(
            ours.false_positives as u64,
            theirs["fp"].as_u64().unwrap(),
            "{context}"
        );
        assert!(
            close(ours.sensitivity(), &theirs["sensitivity"]),
            "{context}"
        );
        assert!(close(ours.precision(), &theirs["precision"]), "{context}");
        assert!(close(ours.f1(), &theirs["f1"]), "{context}");
        assert!(
            close(Some(ours.false_alarms_per_day()), &theirs["fp_per_day"]),
            "{context}"
        );
        detected += ours.true_positives;
        false_alarms += ours.false_positives;
    }
    // The random cases exercise both outcomes in numbers.
    assert!(
        detected > 200 && false_alarms > 200,
        "{detected} {false_alarms}"
    );
}
