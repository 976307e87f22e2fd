//! The spill file: audit records the database could not take in time (an outage, or a
//! shutdown whose flush ran out of time), appended as JSON lines and synced before the
//! writer moves on. The writer re-ingests it once the database answers again, and the next
//! start re-ingests whatever is left; inserts skip ids already present, so a record is never
//! written twice.

use std::fs::OpenOptions;
use std::io::{BufRead, Write};
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

/// A line of the file that is not a record, with its 1-based number.
#[derive(Debug)]
pub struct BadLine {
    pub line: usize,
    pub reason: String,
    pub text: String,
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
        let mut text = String::new();
        for record in records {
            let line = Line {
                at_us: record.at_us,
                record: record.clone(),
            };
            text.push_str(&serde_json::to_string(&line).map_err(std::io::Error::other)?);
            text.push('\n');
        }
        let mut options = OpenOptions::new();
        options.create(true).append(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&self.path)?;
        file.write_all(text.as_bytes())?;
        file.sync_data()
    }

    /// Every record in the file, and the lines that are not records.
    pub fn read(&self) -> std::io::Result<(Vec<PredictionRecord>, Vec<BadLine>)> {
        let file = match std::fs::File::open(&self.path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok((Vec::new(), Vec::new()))
            }
            Err(e) => return Err(e),
        };
        let mut records = Vec::new();
        let mut bad = Vec::new();
        for (index, line) in std::io::BufReader::new(file).lines().enumerate() {
            let line = line?;
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<Line>(&line) {
                Ok(Line { at_us, mut record }) => {
                    record.at_us = at_us;
                    records.push(record);
                }
                Err(e) => bad.push(BadLine {
                    line: index + 1,
                    reason: e.to_string(),
                    text: line,
                }),
            }
        }
        Ok((records, bad))
    }

    /// Removes the file once everything in it is in the database.
    pub fn clear(&self) -> std::io::Result<()> {
        match std::fs::remove_file(&self.path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// The spill file's companion for records no database table would take either.
    pub fn rejected_path(&self) -> PathBuf {
        let mut name = self.path.as_os_str().to_owned();
        name.push(".rejected");
        PathBuf::from(name)
    }
}
