//! The spill file: audit records the database could not take in time (an outage, or a
//! shutdown whose flush ran out of time), appended as JSON lines and synced before the
//! writer moves on. The writer re-ingests it once the database answers again, and the next
//! start re-ingests whatever is left; inserts skip ids already present, so a record is never
//! written twice.

use fs_err::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::PredictionRecord;

/// One spilled record: the record with its exact timestamp.
#[derive(Serialize, Deserialize)]
struct Line {
    at_us: i64,
    #[serde(flatten)]
    record: PredictionRecord,
}

#[derive(Debug, Clone)]
pub struct SpillFile {
    path: PathBuf,
}

/// A line of the file that is not a record (a torn write, a disk error), with its 1-based
/// number.
#[derive(Debug)]
pub struct BadLine {
    pub line: usize,
    pub reason: String,
    pub bytes: Vec<u8>,
}

fn private_options() -> OpenOptions {
    let mut options = OpenOptions::new();
    #[cfg(unix)]
    fs_err::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
}

fn lines_of(records: &[PredictionRecord]) -> std::io::Result<Vec<u8>> {
    let mut text = Vec::new();
    for record in records {
        let line = Line {
            at_us: record.at_us,
            record: record.clone(),
        };
        serde_json::to_writer(&mut text, &line).map_err(std::io::Error::other)?;
        text.push(b'\n');
    }
    Ok(text)
}

impl SpillFile {
    pub fn new(path: PathBuf) -> Self {
        Self { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `records` and syncs them to disk (the file is created with mode 0600).
    pub fn append(&self, records: &[PredictionRecord]) -> std::io::Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        let mut text = lines_of(records)?;
        let mut file = private_options()
            .create(true)
            .append(true)
            .open(&self.path)?;
        // After a torn write (a crash, a full disk) the file may end mid-line: start on a
        // new line, so the torn one stays the only bad line.
        let len = file.metadata()?.len();
        if len > 0 {
            let mut last = [0u8; 1];
            let reader = fs_err::File::open(&self.path)?;
            std::os::unix::fs::FileExt::read_exact_at(reader.file(), &mut last, len - 1)?;
            if last[0] != b'\n' {
                text.insert(0, b'\n');
            }
        }
        file.write_all(&text)?;
        file.sync_data()
    }

    /// Whether records could be appended now: opens the file for appending (creating it,
    /// mode 0600, if missing) and syncs it, writing nothing. A file created here is removed
    /// again, so an empty spill file never lingers.
    pub fn check_writable(&self) -> std::io::Result<()> {
        let existed = self.path.exists();
        let file = private_options()
            .create(true)
            .append(true)
            .open(&self.path)?;
        file.sync_data()?;
        if !existed && file.metadata()?.len() == 0 {
            fs_err::remove_file(&self.path)?;
        }
        Ok(())
    }

    /// Every record in the file, and the lines that are not records. Read as bytes: a line
    /// that is not UTF-8 is one bad line, not an unreadable file.
    pub fn read(&self) -> std::io::Result<(Vec<PredictionRecord>, Vec<BadLine>)> {
        let bytes = match fs_err::read(&self.path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok((Vec::new(), Vec::new()))
            }
            Err(e) => return Err(e),
        };
        let mut records = Vec::new();
        let mut bad = Vec::new();
        for (index, line) in bytes.split(|b| *b == b'\n').enumerate() {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            match serde_json::from_slice::<Line>(line) {
                Ok(Line { at_us, mut record }) => {
                    record.at_us = at_us;
                    records.push(record);
                }
                Err(e) => bad.push(BadLine {
                    line: index + 1,
                    reason: e.to_string(),
                    bytes: line.to_vec(),
                }),
            }
        }
        Ok((records, bad))
    }

    /// Replaces the file's content with `records` (atomically: a synced temporary file
    /// renamed over it), or removes it when there are none.
    pub fn replace(&self, records: &[PredictionRecord]) -> std::io::Result<()> {
        if records.is_empty() {
            return match fs_err::remove_file(&self.path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            };
        }
        let mut temporary = self.path.as_os_str().to_owned();
        temporary.push(".tmp");
        let temporary = PathBuf::from(temporary);
        let mut file = private_options()
            .create(true)
            .write(true)
            .truncate(true)
            .open(&temporary)?;
        file.write_all(&lines_of(records)?)?;
        file.sync_all()?;
        fs_err::rename(&temporary, &self.path)
    }

    /// Keeps lines that are not records in the companion file `<spill>.rejected` (mode
    /// 0600), byte for byte, for a person to look at: they never block the write-back.
    pub fn set_aside(&self, bad: &[BadLine]) -> std::io::Result<()> {
        if bad.is_empty() {
            return Ok(());
        }
        let mut file = private_options()
            .create(true)
            .append(true)
            .open(self.rejected_path())?;
        for line in bad {
            file.write_all(&line.bytes)?;
            file.write_all(b"\n")?;
        }
        file.sync_data()
    }

    /// The spill file's companion for lines that are not records.
    pub fn rejected_path(&self) -> PathBuf {
        let mut name = self.path.as_os_str().to_owned();
        name.push(".rejected");
        PathBuf::from(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(i: usize) -> PredictionRecord {
        PredictionRecord {
            id: format!("{i:032x}"),
            at: String::new(),
            at_us: 1_000 + i as i64,
            username: "ada".into(),
            role: "clinician".into(),
            request_id: None,
            patient_id: Some(i as u64),
            model_version: "1".into(),
            recordings: 23,
            seizure_probability: 0.25,
            prediction: false,
            epileptic_recordings: vec![],
            kind: super::super::KIND_PREDICTION.into(),
            session_id: None,
            acknowledges: None,
            decision: None,
        }
    }

    #[test]
    fn a_record_with_its_patient_decision_reads_back_whole() {
        let dir = tempfile::tempdir().unwrap();
        let spill = SpillFile::new(dir.path().join("spill.jsonl"));
        let decided = PredictionRecord {
            decision: Some(super::super::RecordedDecision {
                rule: "mean_probability".into(),
                score: 0.25,
                threshold: 0.5,
                source: "model_card".into(),
            }),
            ..record(1)
        };
        spill.append(&[decided.clone(), record(2)]).unwrap();
        let (records, bad) = spill.read().unwrap();
        assert!(bad.is_empty(), "{:?}", bad.first().map(|b| &b.reason));
        assert_eq!(records, vec![decided, record(2)]);
    }

    #[test]
    fn torn_and_binary_lines_are_set_aside_and_the_rest_read() {
        let dir = tempfile::tempdir().unwrap();
        let spill = SpillFile::new(dir.path().join("spill.jsonl"));
        spill.append(&[record(1), record(2)]).unwrap();
        let mut file = OpenOptions::new().append(true).open(spill.path()).unwrap();
        // A torn write: binary, and no newline at its end.
        file.write_all(b"{\"at_us\": 5, \"id\": \"torn\x00\xff")
            .unwrap();
        drop(file);
        spill.append(&[record(3)]).unwrap();
        let (records, bad) = spill.read().unwrap();
        assert_eq!(records.len(), 3);
        assert_eq!(records[2].at_us, 1_003, "the exact timestamp survives");
        assert_eq!(bad.len(), 1);
        assert_eq!(bad[0].line, 3);
        spill.set_aside(&bad).unwrap();
        let kept = std::fs::read(spill.rejected_path()).unwrap();
        assert!(kept.starts_with(b"{\"at_us\": 5"));
        spill.replace(&records[1..]).unwrap();
        assert_eq!(spill.read().unwrap().0.len(), 2);
        spill.replace(&[]).unwrap();
        assert!(!spill.path().exists());
    }
}
