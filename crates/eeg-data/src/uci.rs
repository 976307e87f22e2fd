//! Validated reading of the UCI "Epileptic Seizure Recognition" CSV.
//!
//! The header is `Unnamed,X1,...,X178,y` (the first cell may also be empty, as pandas writes it).
//! Every row has an id `X<chunk>.<segment>`, 178 integer samples and a class `y` in 1..=5.
//! The id is never a feature: it encodes the class. It is parsed only to group the rows of one
//! recording segment.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::{CHUNKS_PER_SEGMENT, SAMPLES_PER_RECORDING};

/// Fields in a row: the id, the samples and the class.
pub const FIELDS_PER_ROW: usize = SAMPLES_PER_RECORDING + 2;
/// The largest sample magnitude accepted: every integer up to it is exact in `f32`.
const MAX_SAMPLE_MAGNITUDE: i64 = 1 << 24;

/// One valid data row (its samples live in [`UciData::samples`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UciRow {
    /// 1-based line number in the file (the header is line 1).
    pub line: usize,
    /// The one-second chunk index, 1..=23.
    pub chunk: u8,
    /// The recording segment: the id's text after the first dot.
    pub segment: String,
    /// The UCI class, 1..=5 (1 = seizure).
    pub class: u8,
}

/// The validated content of a UCI CSV file.
#[derive(Debug, Clone, PartialEq)]
pub struct UciData {
    pub rows: Vec<UciRow>,
    /// Row-major samples: `rows.len() * SAMPLES_PER_RECORDING` values.
    pub samples: Vec<f32>,
    /// Rows left out under [`BadRows::Skip`], in file order.
    pub skipped: Vec<RowError>,
}

impl UciData {
    /// The 178 samples of row `index`.
    pub fn row_samples(&self, index: usize) -> &[f32] {
        &self.samples[index * SAMPLES_PER_RECORDING..(index + 1) * SAMPLES_PER_RECORDING]
    }
}

/// What to do with a row that fails validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BadRows {
    /// Stop at the first bad row (the default: data is never silently dropped).
    #[default]
    Fail,
    /// Leave bad rows out and report them in [`UciData::skipped`].
    Skip,
}

/// A row that failed validation, located precisely enough to fix the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    pub path: PathBuf,
    pub line: usize,
    /// The header name of the offending column, or `None` when the row as a whole is wrong.
    pub column: Option<String>,
    /// The offending value (shortened when long).
    pub value: String,
    pub reason: String,
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: ", self.path.display(), self.line)?;
        if let Some(column) = &self.column {
            write!(f, "column {column}: ")?;
        }
        write!(f, "{}", self.reason)?;
        if !self.value.is_empty() {
            write!(f, " (found \"{}\")", self.value)?;
        }
        Ok(())
    }
}

impl std::error::Error for RowError {}

#[derive(Debug, thiserror::Error)]
pub enum UciError {
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: the file is empty", path.display())]
    Empty { path: PathBuf },
    #[error("{}: not a UCI Epileptic Seizure Recognition CSV: {reason}", path.display())]
    NotThisFormat { path: PathBuf, reason: String },
    #[error("{}: the header is valid but there are no data rows", path.display())]
    NoRows { path: PathBuf },
    #[error(transparent)]
    BadRow(#[from] RowError),
}

/// Reads and validates a UCI CSV file.
pub fn read_file(path: &Path, bad_rows: BadRows) -> Result<UciData, UciError> {
    let bytes = std::fs::read(path).map_err(|source| UciError::Io {
        path: path.to_owned(),
        source,
    })?;
    parse(path, &bytes, bad_rows)
}

/// Validates UCI CSV content; `path` only names the source in errors.
pub fn parse(path: &Path, bytes: &[u8], bad_rows: BadRows) -> Result<UciData, UciError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(UciError::Empty {
            path: path.to_owned(),
        });
    }
    let not_format = |reason: String| UciError::NotThisFormat {
        path: path.to_owned(),
        reason,
    };
    if bytes.contains(&0) {
        return Err(not_format("it contains NUL bytes (a binary file?)".into()));
    }
    let mut lines = split_lines(bytes);
    let (_, header) = lines.next().expect("non-empty input has a first line");
    let header = std::str::from_utf8(header)
        .map_err(|_| not_format("the header line is not valid UTF-8".into()))?;
    let columns = check_header(header).map_err(not_format)?;

    let last_line = bytes.iter().filter(|&&b| b == b'\n').count() + 1;
    let mut parser = RowParser::new(path, &columns);
    for (line, content) in lines {
        // The empty remainder after the final line terminator is not a row.
        if content.is_empty() && line == last_line {
            continue;
        }
        match parser.parse_row(line, content) {
            Ok(()) => {}
            Err(error) if bad_rows == BadRows::Skip => parser.data.skipped.push(error),
            Err(error) => return Err(error.into()),
        }
    }
    if parser.data.rows.is_empty() {
        if let Some(first) = parser.data.skipped.first() {
            return Err(first.clone().into());
        }
        return Err(UciError::NoRows {
            path: path.to_owned(),
        });
    }
    Ok(parser.data)
}

/// Lines with their 1-based numbers, without the `\n` or `\r\n` terminator.
fn split_lines(bytes: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    bytes.split(|&b| b == b'\n').enumerate().map(|(i, line)| {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        (i + 1, line)
    })
}

/// Checks the header and returns the column names used in error messages.
fn check_header(header: &str) -> Result<Vec<String>, String> {
    let cells: Vec<&str> = header
        .split(',')
        .map(|c| c.trim().trim_matches('"'))
        .collect();
    if cells.len() != FIELDS_PER_ROW {
        return Err(format!(
            "the header has {} columns, expected {FIELDS_PER_ROW} (Unnamed, X1..X{SAMPLES_PER_RECORDING}, y)",
            cells.len()
        ));
    }
    if !matches!(cells[0], "" | "Unnamed" | "Unnamed: 0") {
        return Err(format!(
            "the first header cell is \"{}\", expected \"Unnamed\" or empty",
            cells[0]
        ));
    }
    for (i, cell) in cells[1..=SAMPLES_PER_RECORDING].iter().enumerate() {
        if *cell != format!("X{}", i + 1) {
            return Err(format!(
                "header column {} is \"{cell}\", expected \"X{}\"",
                i + 2,
                i + 1
            ));
        }
    }
    if cells[FIELDS_PER_ROW - 1] != "y" {
        return Err(format!(
            "the last header cell is \"{}\", expected \"y\"",
            cells[FIELDS_PER_ROW - 1]
        ));
    }
    let mut names: Vec<String> = vec!["Unnamed".into()];
    names.extend((1..=SAMPLES_PER_RECORDING).map(|i| format!("X{i}")));
    names.push("y".into());
    Ok(names)
}

struct RowParser<'a> {
    path: &'a Path,
    columns: &'a [String],
    data: UciData,
    /// (segment, chunk) -> line, to reject duplicate ids.
    seen_ids: HashMap<(String, u8), usize>,
    /// segment -> (class, line that set it), to reject segments with two labels.
    segment_class: HashMap<String, (u8, usize)>,
    row_samples: Vec<f32>,
}

impl<'a> RowParser<'a> {
    fn new(path: &'a Path, columns: &'a [String]) -> Self {
        Self {
            path,
            columns,
            data: UciData {
                rows: Vec::new(),
                samples: Vec::new(),
                skipped: Vec::new(),
            },
            seen_ids: HashMap::new(),
            segment_class: HashMap::new(),
            row_samples: Vec::with_capacity(SAMPLES_PER_RECORDING),
        }
    }

    fn error(&self, line: usize, column: Option<usize>, value: &[u8], reason: String) -> RowError {
        let mut value = String::from_utf8_lossy(value).into_owned();
        if value.chars().count() > 40 {
            value = value.chars().take(40).collect::<String>() + "...";
        }
        RowError {
            path: self.path.to_owned(),
            line,
            column: column.map(|c| self.columns[c].clone()),
            value,
            reason,
        }
    }

    fn parse_row(&mut self, line: usize, content: &[u8]) -> Result<(), RowError> {
        let fields: Vec<&[u8]> = content.split(|&b| b == b',').collect();
        if fields.len() != FIELDS_PER_ROW {
            return Err(self.error(
                line,
                None,
                b"",
                format!(
                    "expected {FIELDS_PER_ROW} fields, found {}",
                    if content.is_empty() { 0 } else { fields.len() }
                ),
            ));
        }
        let (chunk, segment) = self.parse_id(line, fields[0])?;
        self.row_samples.clear();
        for (offset, field) in fields[1..=SAMPLES_PER_RECORDING].iter().enumerate() {
            let value = parse_integer(field)
                .filter(|v| v.abs() <= MAX_SAMPLE_MAGNITUDE)
                .ok_or_else(|| {
                    self.error(
                        line,
                        Some(offset + 1),
                        field,
                        "expected an integer sample".into(),
                    )
                })?;
            self.row_samples.push(value as f32);
        }
        let class_field = fields[FIELDS_PER_ROW - 1];
        let class = parse_integer(class_field)
            .filter(|c| (1..=5).contains(c))
            .ok_or_else(|| {
                self.error(
                    line,
                    Some(FIELDS_PER_ROW - 1),
                    class_field,
                    "expected a class from 1 to 5".into(),
                )
            })? as u8;
        self.check_consistency(line, fields[0], &segment, chunk, class)?;

        self.data.samples.extend_from_slice(&self.row_samples);
        self.data.rows.push(UciRow {
            line,
            chunk,
            segment,
            class,
        });
        Ok(())
    }

    fn parse_id(&self, line: usize, field: &[u8]) -> Result<(u8, String), RowError> {
        let bad = |reason: &str| self.error(line, Some(0), field, reason.into());
        let text = std::str::from_utf8(field)
            .map_err(|_| bad("the id is not valid UTF-8"))?
            .trim()
            .trim_matches('"');
        let (chunk, segment) = text
            .strip_prefix('X')
            .and_then(|rest| rest.split_once('.'))
            .ok_or_else(|| bad("expected an id of the form X<chunk>.<segment>"))?;
        let chunk = chunk
            .parse::<usize>()
            .ok()
            .filter(|c| (1..=CHUNKS_PER_SEGMENT).contains(c))
            .ok_or_else(|| bad("the chunk index in the id must be 1..23"))?;
        if segment.is_empty() {
            return Err(bad("the id names no segment after the dot"));
        }
        Ok((chunk as u8, segment.to_owned()))
    }

    fn check_consistency(
        &mut self,
        line: usize,
        id: &[u8],
        segment: &str,
        chunk: u8,
        class: u8,
    ) -> Result<(), RowError> {
        if let Some(first) = self.seen_ids.get(&(segment.to_owned(), chunk)) {
            return Err(self.error(
                line,
                Some(0),
                id,
                format!("duplicate id, first seen on line {first}"),
            ));
        }
        if let Some(&(first_class, first_line)) = self.segment_class.get(segment) {
            if first_class != class {
                return Err(self.error(
                    line,
                    Some(FIELDS_PER_ROW - 1),
                    class.to_string().as_bytes(),
                    format!(
                        "segment {segment} has class {first_class} on line {first_line}; \
                         a segment has a single class"
                    ),
                ));
            }
        } else {
            self.segment_class.insert(segment.to_owned(), (class, line));
        }
        self.seen_ids.insert((segment.to_owned(), chunk), line);
        Ok(())
    }
}

/// Parses an optionally signed decimal integer, allowing surrounding spaces.
fn parse_integer(field: &[u8]) -> Option<i64> {
    let field = field.trim_ascii();
    let (negative, digits) = match field.first()? {
        b'-' => (true, &field[1..]),
        b'+' => (false, &field[1..]),
        _ => (false, field),
    };
    if digits.is_empty() || digits.len() > 12 {
        return None;
    }
    let mut value: i64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        value = value * 10 + i64::from(d - b'0');
    }
    Some(if negative { -value } else { value })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> String {
        let mut h = String::from("Unnamed");
        for i in 1..=SAMPLES_PER_RECORDING {
            h.push_str(&format!(",X{i}"));
        }
        h.push_str(",y");
        h
    }

    fn row(id: &str, sample: i64, class: &str) -> String {
        let mut r = id.to_owned();
        for _ in 0..SAMPLES_PER_RECORDING {
            r.push_str(&format!(",{sample}"));
        }
        r.push_str(&format!(",{class}"));
        r
    }

    fn parse_str(text: &str) -> Result<UciData, UciError> {
        parse(Path::new("eeg.csv"), text.as_bytes(), BadRows::Fail)
    }

    fn row_error(text: &str) -> RowError {
        match parse_str(text) {
            Err(UciError::BadRow(e)) => e,
            other => panic!("expected a row error, got {other:?}"),
        }
    }

    #[test]
    fn reads_lf_and_crlf_files_alike() {
        let lf = format!(
            "{}\n{}\n{}\n",
            header(),
            row("X1.V1.5", 12, "1"),
            row("X2.V1.5", -7, "1")
        );
        let crlf = lf.replace('\n', "\r\n");
        let a = parse_str(&lf).unwrap();
        let b = parse_str(&crlf).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.rows.len(), 2);
        assert_eq!(
            a.rows[1],
            UciRow {
                line: 3,
                chunk: 2,
                segment: "V1.5".into(),
                class: 1
            }
        );
        assert_eq!(a.row_samples(1), &[-7.0; SAMPLES_PER_RECORDING][..]);
    }

    #[test]
    fn accepts_an_empty_or_quoted_first_header_cell_and_no_final_newline() {
        let text = format!(
            "{}\n{}",
            header().replacen("Unnamed", "\"\"", 1),
            row("X3.V14", 1, "5")
        );
        let data = parse_str(&text).unwrap();
        assert_eq!(data.rows[0].segment, "V14");
        let text = format!(
            "{}\n{}",
            header().replacen("Unnamed", "", 1),
            row("X3.V14", 1, "5")
        );
        assert!(parse_str(&text).is_ok());
    }

    #[test]
    fn empty_file_is_a_clear_error() {
        assert!(matches!(parse_str(""), Err(UciError::Empty { .. })));
        assert!(matches!(parse_str("\r\n \n"), Err(UciError::Empty { .. })));
        let message = parse_str("").unwrap_err().to_string();
        assert_eq!(message, "eeg.csv: the file is empty");
    }

    #[test]
    fn header_only_is_a_clear_error() {
        let err = parse_str(&format!("{}\r\n", header())).unwrap_err();
        assert!(matches!(err, UciError::NoRows { .. }), "{err}");
    }

    #[test]
    fn missing_header_is_not_this_format() {
        let err = parse_str(&row("X1.V1.5", 12, "1")).unwrap_err();
        let message = err.to_string();
        assert!(matches!(err, UciError::NotThisFormat { .. }));
        assert!(
            message.contains("first header cell is \"X1.V1.5\""),
            "{message}"
        );
    }

    #[test]
    fn another_csv_is_not_this_format() {
        let err = parse_str("sepal_length,sepal_width,species\n5.1,3.5,setosa\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "eeg.csv: not a UCI Epileptic Seizure Recognition CSV: the header has 3 columns, \
             expected 180 (Unnamed, X1..X178, y)"
        );
        let wrong_name = header().replace(",X17,", ",X17b,");
        let err = parse_str(&format!("{wrong_name}\n")).unwrap_err();
        assert!(
            err.to_string().contains("header column 18 is \"X17b\""),
            "{err}"
        );
        let err = parse_str(&format!("{}\n", header().replace(",y", ",label"))).unwrap_err();
        assert!(
            err.to_string().contains("last header cell is \"label\""),
            "{err}"
        );
    }

    #[test]
    fn binary_content_is_not_this_format() {
        let err = parse(Path::new("x.bin"), b"\x00\x01\x02garbage", BadRows::Fail).unwrap_err();
        assert!(matches!(err, UciError::NotThisFormat { .. }), "{err}");
    }

    #[test]
    fn non_integer_sample_names_line_column_and_value() {
        let bad = row("X1.V1.5", 12, "1").replacen(",12,", ",12.5,", 1);
        let text = format!("{}\n{}\n{}\n", header(), row("X2.V1.5", 1, "1"), bad);
        let e = row_error(&text);
        assert_eq!(e.line, 3);
        assert_eq!(e.column.as_deref(), Some("X1"));
        assert_eq!(e.value, "12.5");
        assert_eq!(
            e.to_string(),
            "eeg.csv:3: column X1: expected an integer sample (found \"12.5\")"
        );
    }

    #[test]
    fn empty_sample_is_an_error() {
        let bad = row("X1.V1.5", 12, "1").replacen(",12", ",", 1);
        let e = row_error(&format!("{}\n{}\n", header(), bad));
        assert_eq!(e.column.as_deref(), Some("X1"));
        assert_eq!(e.value, "");
    }

    #[test]
    fn wrong_field_count_is_an_error() {
        let short = row("X1.V1.5", 12, "1").replacen(",12", "", 1);
        let e = row_error(&format!("{}\n{}\n", header(), short));
        assert_eq!(e.to_string(), "eeg.csv:2: expected 180 fields, found 179");
        let e = row_error(&format!("{}\n\n{}\n", header(), row("X1.V1.5", 12, "1")));
        assert_eq!(e.to_string(), "eeg.csv:2: expected 180 fields, found 0");
    }

    #[test]
    fn class_outside_one_to_five_is_an_error() {
        for class in ["0", "6", "seizure", "1.0", ""] {
            let e = row_error(&format!("{}\n{}\n", header(), row("X1.V1.5", 3, class)));
            assert_eq!(e.column.as_deref(), Some("y"), "class {class:?}");
            assert_eq!(e.value, class);
        }
    }

    #[test]
    fn malformed_ids_are_errors() {
        for id in ["V1.5", "X0.V1.5", "X24.V1.5", "Xa.V1", "X3.", "X3"] {
            let e = row_error(&format!("{}\n{}\n", header(), row(id, 3, "2")));
            assert_eq!(e.column.as_deref(), Some("Unnamed"), "id {id:?}");
        }
    }

    #[test]
    fn duplicate_id_and_two_labels_in_one_segment_are_errors() {
        let text = format!(
            "{}\n{}\n{}\n",
            header(),
            row("X1.V1.5", 1, "2"),
            row("X1.V1.5", 2, "2")
        );
        assert_eq!(
            row_error(&text).reason,
            "duplicate id, first seen on line 2"
        );
        let text = format!(
            "{}\n{}\n{}\n",
            header(),
            row("X1.V1.5", 1, "2"),
            row("X2.V1.5", 2, "3")
        );
        let e = row_error(&text);
        assert_eq!(e.line, 3);
        assert!(e.reason.contains("has class 2 on line 2"), "{e}");
    }

    #[test]
    fn skip_mode_reports_bad_rows_and_keeps_good_ones() {
        let text = format!(
            "{}\n{}\n{}\n{}\n",
            header(),
            row("X1.V1.5", 1, "2"),
            row("X2.V1.5", 1, "9"),
            row("X3.V1.5", 1, "2").replacen(",1,", ",x,", 1)
        );
        let data = parse(Path::new("eeg.csv"), text.as_bytes(), BadRows::Skip).unwrap();
        assert_eq!(data.rows.len(), 1);
        let lines: Vec<usize> = data.skipped.iter().map(|e| e.line).collect();
        assert_eq!(lines, [3, 4]);
    }

    #[test]
    fn skip_mode_with_no_good_row_reports_the_first_error() {
        let text = format!("{}\n{}\n", header(), row("X1.V1.5", 1, "9"));
        let err = parse(Path::new("eeg.csv"), text.as_bytes(), BadRows::Skip).unwrap_err();
        assert!(matches!(err, UciError::BadRow(_)), "{err}");
    }

    #[test]
    fn integers_parse_with_signs_and_spaces() {
        assert_eq!(parse_integer(b"-1885"), Some(-1885));
        assert_eq!(parse_integer(b" +42 "), Some(42));
        assert_eq!(parse_integer(b"-"), None);
        assert_eq!(parse_integer(b"1e3"), None);
        assert_eq!(parse_integer(b"99999999999999"), None);
    }
}
