//! The staff's marks in an EDF+ recording: which annotations name a seizure, and the seizures
//! they mark (the reference the alarms are drawn and scored against).

/// Whether an annotation's text marks a seizure ("seizure", "Seizure onset", "SZ", "Sz1",
/// "electrographic seizure", "ictal activity"), not its absence, a suspicion ruled out, or
/// another phase ("no seizure", "no sz", "not a seizure", "seizure-free", "pre seizure",
/// "interictal", "postictal", "non-ictal", "non-epileptic", "seizure ruled out").
pub fn names_a_seizure(text: &str) -> bool {
    let text = text.to_ascii_lowercase();
    let negations = [
        "no seiz",
        "no sz",
        "not seiz",
        "not a seiz",
        "no electrographic",
        "no clinical",
        "non-seiz",
        "nonseiz",
        "non seiz",
        "without seiz",
        "seizure-free",
        "seizure free",
        "pre-seiz",
        "preseiz",
        "pre seiz",
        "post-seiz",
        "postseiz",
        "post seiz",
        "interictal",
        "inter-ictal",
        "inter ictal",
        "preictal",
        "pre-ictal",
        "pre ictal",
        "postictal",
        "post-ictal",
        "post ictal",
        "periictal",
        "peri-ictal",
        "peri ictal",
        "non-ictal",
        "nonictal",
        "non ictal",
        "non-epileptic",
        "nonepileptic",
        "non epileptic",
        "ruled out",
        "r/o",
    ];
    if negations.iter().any(|n| text.contains(n)) {
        return false;
    }
    text.contains("seiz")
        || text.contains("ictal")
        || text.split(|c: char| !c.is_ascii_alphanumeric()).any(|w| {
            w.strip_prefix("sz")
                .is_some_and(|n| n.chars().all(|c| c.is_ascii_digit()))
        })
}

/// The annotations of a recording that mark a seizure with a duration, clipped to the
/// recording (0 to `duration_s`).
pub fn annotated_seizures(
    annotations: &[eeg_edf::Annotation],
    duration_s: f64,
) -> Vec<bedside::Interval> {
    let mut marks: Vec<bedside::Interval> = annotations
        .iter()
        .filter(|a| a.duration_s > 0.0 && names_a_seizure(&a.text))
        .map(|a| bedside::Interval {
            start_s: a.onset_s.max(0.0),
            end_s: (a.onset_s + a.duration_s).min(duration_s),
        })
        .filter(|i| i.start_s.is_finite() && i.end_s.is_finite() && i.end_s > i.start_s)
        .collect();
    // In time order, overlapping marks as one (a "clinical seizure" inside an
    // "electrographic seizure" is one seizure, not a shorter one).
    marks.sort_by(|a, b| a.start_s.total_cmp(&b.start_s));
    let mut seizures: Vec<bedside::Interval> = Vec::with_capacity(marks.len());
    for mark in marks {
        match seizures.last_mut() {
            Some(last) if mark.start_s <= last.end_s => last.end_s = last.end_s.max(mark.end_s),
            _ => seizures.push(mark),
        }
    }
    seizures
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seizure_marks_are_told_from_their_absence_and_other_phases() {
        for text in [
            "seizure",
            "Seizure onset",
            "SZ",
            "sz start",
            "Sz1",
            "sz#2",
            "ictal activity",
            "SEIZ",
            "electrographic seizure",
            "Clinical seizure",
        ] {
            assert!(names_a_seizure(text), "{text}");
        }
        for text in [
            "No seizure",
            "no sz",
            "not a seizure",
            "no electrographic seizure",
            "seizure-free",
            "pre-seizure",
            "pre seizure",
            "post seizure",
            "interictal",
            "postictal",
            "post ictal",
            "non-ictal",
            "peri-ictal",
            "psychogenic non-epileptic seizure",
            "Seizure ruled out",
            "r/o seizure",
            "eyes open",
            "sleep",
            "size",
            "spike",
            "EEG onset",
        ] {
            assert!(!names_a_seizure(text), "{text}");
        }
    }

    #[test]
    fn annotated_seizures_are_clipped_to_the_recording_in_order_and_united() {
        let mark = |onset_s: f64, duration_s: f64| eeg_edf::Annotation {
            onset_s,
            duration_s,
            text: "seizure".into(),
        };
        let seizures = annotated_seizures(
            &[
                mark(50.0, 1e300),
                mark(-5.0, 10.0),
                mark(200.0, 5.0),
                mark(20.0, 0.0),
            ],
            100.0,
        );
        let spans: Vec<(f64, f64)> = seizures.iter().map(|i| (i.start_s, i.end_s)).collect();
        assert_eq!(spans, [(0.0, 5.0), (50.0, 100.0)]);
        // Nested and out of order: one seizure, as long as the outer mark.
        let nested = annotated_seizures(&[mark(20.0, 10.0), mark(10.0, 60.0)], 100.0);
        let spans: Vec<(f64, f64)> = nested.iter().map(|i| (i.start_s, i.end_s)).collect();
        assert_eq!(spans, [(10.0, 70.0)]);
    }
}
