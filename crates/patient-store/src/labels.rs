//! Ground truth for the patients of a store, kept out of the store itself.
//!
//! A CSV with header `patient_id,segment,class,seizure`: the UCI class (1..=5) and the binary
//! label of every patient, for evaluating what inference answers.

use std::path::Path;

use crate::StoreError;

pub const LABELS_FILE: &str = "labels.csv";
const HEADER: &str = "patient_id,segment,class,seizure";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatientLabel {
    pub patient_id: u64,
    pub segment: String,
    pub class: u8,
    pub seizure: bool,
}

pub fn write_labels(path: &Path, labels: &[PatientLabel]) -> Result<(), StoreError> {
    let mut text = String::from(HEADER);
    text.push('\n');
    for label in labels {
        if label.segment.contains([',', '\n', '\r', '"']) {
            return Err(StoreError::Invalid(format!(
                "segment name {:?} cannot be written to a CSV cell",
                label.segment
            )));
        }
        text.push_str(&format!(
            "{},{},{},{}\n",
            label.patient_id,
            label.segment,
            label.class,
            u8::from(label.seizure)
        ));
    }
    std::fs::write(path, text).map_err(|source| StoreError::Io {
        path: path.to_owned(),
        source,
    })
}

pub fn read_labels(path: &Path) -> Result<Vec<PatientLabel>, StoreError> {
    let text = std::fs::read_to_string(path).map_err(|source| StoreError::Io {
        path: path.to_owned(),
        source,
    })?;
    let corrupt = |line: usize, message: &str| StoreError::Corrupt {
        path: path.to_owned(),
        message: format!("line {line}: {message}"),
    };
    let mut lines = text.lines().enumerate();
    match lines.next() {
        Some((_, header)) if header == HEADER => {}
        _ => return Err(corrupt(1, &format!("expected the header {HEADER}"))),
    }
    lines
        .map(|(i, line)| {
            let fields: Vec<&str> = line.split(',').collect();
            let [id, segment, class, seizure] = fields[..] else {
                return Err(corrupt(i + 1, "expected 4 fields"));
            };
            Ok(PatientLabel {
                patient_id: id.parse().map_err(|_| corrupt(i + 1, "bad patient_id"))?,
                segment: segment.to_owned(),
                class: class.parse().map_err(|_| corrupt(i + 1, "bad class"))?,
                seizure: match seizure {
                    "1" => true,
                    "0" => false,
                    _ => return Err(corrupt(i + 1, "seizure must be 0 or 1")),
                },
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(LABELS_FILE);
        let labels = vec![
            PatientLabel {
                patient_id: 4,
                segment: "V1.4".into(),
                class: 1,
                seizure: true,
            },
            PatientLabel {
                patient_id: 9,
                segment: "V14".into(),
                class: 5,
                seizure: false,
            },
        ];
        write_labels(&path, &labels).unwrap();
        assert_eq!(read_labels(&path).unwrap(), labels);
    }
}
