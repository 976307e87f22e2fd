//! Ground truth for the patients of a store, kept out of the store itself.
//!
//! A CSV with header `patient_id,segment,class,seizure`: the UCI class (1..=5) and the binary
//! label (0 or 1) of every patient, for evaluating what inference answers. Written and read with
//! the `csv` crate, so a segment name may hold commas, quotes or line breaks (they are quoted).

use std::path::Path;

use fs_err as fs;
use serde::{Deserialize, Serialize};

use crate::StoreError;

pub const LABELS_FILE: &str = "labels.csv";
const HEADER: [&str; 4] = ["patient_id", "segment", "class", "seizure"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatientLabel {
    pub patient_id: u64,
    pub segment: String,
    pub class: u8,
    pub seizure: bool,
}

/// One line of the file, fields in [`HEADER`]'s order.
#[derive(Serialize, Deserialize)]
struct Row {
    patient_id: u64,
    segment: String,
    class: u8,
    /// 0 or 1.
    seizure: u8,
}

pub fn write_labels(path: &Path, labels: &[PatientLabel]) -> Result<(), StoreError> {
    let bytes = to_csv(labels)
        .map_err(|e| StoreError::Invalid(format!("the labels cannot be written as CSV: {e}")))?;
    fs::write(path, bytes)?;
    Ok(())
}

fn to_csv(labels: &[PatientLabel]) -> csv::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    // The header is written explicitly: serde would write it only with the first row, and a file
    // without patients must still have it.
    let mut writer = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(&mut bytes);
    writer.write_record(HEADER)?;
    for label in labels {
        writer.serialize(Row {
            patient_id: label.patient_id,
            segment: label.segment.clone(),
            class: label.class,
            seizure: u8::from(label.seizure),
        })?;
    }
    writer.flush()?;
    drop(writer);
    Ok(bytes)
}

pub fn read_labels(path: &Path) -> Result<Vec<PatientLabel>, StoreError> {
    let bytes = fs::read(path)?;
    let corrupt = |line: u64, message: String| StoreError::Corrupt {
        path: path.to_owned(),
        message: format!("line {line}: {message}"),
    };
    // Headers are checked here, not by the reader, so that the first line must be exactly them.
    // The reader is not flexible: a row with another number of fields than the header is an
    // error.
    let mut records = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(bytes.as_slice())
        .into_records();
    match records.next() {
        Some(Ok(header)) if header.iter().eq(HEADER) => {}
        _ => {
            return Err(corrupt(
                1,
                format!("expected the header {}", HEADER.join(",")),
            ))
        }
    }
    records
        .map(|record| {
            let record = record.map_err(|e| corrupt(line_of(e.position()), describe(&e)))?;
            let line = line_of(record.position());
            let row: Row = record
                .deserialize(None)
                .map_err(|e| corrupt(line, describe(&e)))?;
            let seizure = match row.seizure {
                0 => false,
                1 => true,
                _ => return Err(corrupt(line, "seizure must be 0 or 1".into())),
            };
            Ok(PatientLabel {
                patient_id: row.patient_id,
                segment: row.segment,
                class: row.class,
                seizure,
            })
        })
        .collect()
}

/// The line a record starts on (1-based; the header is line 1).
fn line_of(position: Option<&csv::Position>) -> u64 {
    position.map_or(0, csv::Position::line)
}

/// What is wrong with a row, without the position `csv` adds (the caller names the line).
fn describe(error: &csv::Error) -> String {
    match error.kind() {
        csv::ErrorKind::UnequalLengths { len, .. } => {
            format!("expected {} fields, found {len}", HEADER.len())
        }
        csv::ErrorKind::Deserialize { err, .. } => {
            match err
                .field()
                .and_then(|i| HEADER.get(usize::try_from(i).ok()?).copied())
            {
                Some(column) => format!("bad {column}: {}", err.kind()),
                None => err.kind().to_string(),
            }
        }
        _ => error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn label(patient_id: u64, segment: &str, class: u8, seizure: bool) -> PatientLabel {
        PatientLabel {
            patient_id,
            segment: segment.into(),
            class,
            seizure,
        }
    }

    #[test]
    fn labels_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(LABELS_FILE);
        let labels = vec![label(4, "V1.4", 1, true), label(9, "V14", 5, false)];
        write_labels(&path, &labels).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "patient_id,segment,class,seizure\n4,V1.4,1,1\n9,V14,5,0\n"
        );
        assert_eq!(read_labels(&path).unwrap(), labels);
    }

    #[test]
    fn segment_names_with_commas_quotes_and_line_breaks_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(LABELS_FILE);
        let labels = vec![
            label(1, "V1,4", 2, false),
            label(2, "say \"V2\"", 3, true),
            label(3, "a,\"b\"\nc", 4, false),
            label(4, "", 5, true),
        ];
        write_labels(&path, &labels).unwrap();
        assert_eq!(read_labels(&path).unwrap(), labels);
    }

    #[test]
    fn a_file_without_patients_keeps_its_header() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(LABELS_FILE);
        write_labels(&path, &[]).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "patient_id,segment,class,seizure\n"
        );
        assert!(read_labels(&path).unwrap().is_empty());
    }

    /// The error `read_labels` gives for a file holding `text`.
    fn read_error(text: &str) -> String {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(LABELS_FILE);
        std::fs::write(&path, text).unwrap();
        let error = read_labels(&path).unwrap_err();
        assert!(matches!(error, StoreError::Corrupt { .. }), "{error:?}");
        error.to_string()
    }

    #[test]
    fn another_header_is_refused_naming_line_1() {
        for text in [
            "",
            "patient_id,segment,class\n1,V1,1\n",
            "id,segment,class,seizure\n1,V1,1,1\n",
            "patient_id,segment,class,seizure,extra\n",
        ] {
            let error = read_error(text);
            assert!(
                error.contains("line 1: expected the header patient_id,segment,class,seizure"),
                "{text:?}: {error}"
            );
        }
    }

    #[test]
    fn bad_rows_are_refused_naming_their_line() {
        let header = "patient_id,segment,class,seizure\n1,V1,1,1\n";
        for (row, expected) in [
            ("2,V2,1\n", "line 3: expected 4 fields, found 3"),
            ("2,V2,1,1,9\n", "line 3: expected 4 fields, found 5"),
            ("-2,V2,1,1\n", "line 3: bad patient_id"),
            ("2,V2,x,1\n", "line 3: bad class"),
            ("2,V2,256,1\n", "line 3: bad class"),
            ("2,V2,1,2\n", "line 3: seizure must be 0 or 1"),
            ("2,V2,1,yes\n", "line 3: bad seizure"),
        ] {
            let error = read_error(&format!("{header}{row}"));
            assert!(error.contains(expected), "{row:?}: {error}");
        }
    }
}
