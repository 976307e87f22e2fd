//! The per-patient store that inference reads.
//!
//! A store directory holds:
//! * `recordings.npy`: float32 `[total_recordings, 178]`, raw samples, each patient's recordings
//!   contiguous and in chunk order (a plain `.npy`, so numpy can open it too);
//! * `index.json`: for every patient, its id, segment name, first row and chunk numbers.
//!
//! Opening reads only the index; [`PatientStore::get`] reads one patient's rows with a single
//! positioned read, so lookups are O(1) and memory does not grow with the number of patients.
//! Labels are deliberately not part of the store: patient-pull keeps them in a separate file
//! for evaluation (see [`labels`]).

pub mod labels;

use std::collections::HashMap;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use fs_err as fs;
use fs_err::os::unix::fs::FileExt;
use ndarray::Array2;
use ndarray_npy::{WriteNpyError, WriteNpyExt};
use serde::{Deserialize, Serialize};

pub const RECORDINGS_FILE: &str = "recordings.npy";
pub const INDEX_FILE: &str = "index.json";
pub const FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PatientEntry {
    pub patient_id: u64,
    /// The recording segment this patient's data comes from.
    pub segment: String,
    /// Row of the patient's first recording in `recordings.npy`.
    pub first_row: usize,
    /// Chunk number of each recording, in row order.
    pub chunks: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoreIndex {
    pub format_version: u32,
    pub samples_per_recording: usize,
    /// The DVC hash of the processed data the store was built from.
    pub source_data_md5: Option<String>,
    /// The split of that data the patients come from (`patient_pool`: segments held out of
    /// training, validation and test) and the split's seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_split: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split_seed: Option<u64>,
    pub patients: Vec<PatientEntry>,
}

/// Where a store's patients come from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreSource {
    pub data_md5: Option<String>,
    pub split: Option<String>,
    pub split_seed: Option<u64>,
}

impl StoreSource {
    /// Only the data version is known.
    pub fn data(md5: &str) -> Self {
        Self {
            data_md5: Some(md5.to_owned()),
            ..Self::default()
        }
    }
}

/// A patient to be written: its recordings' raw samples, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct NewPatient {
    pub patient_id: u64,
    pub segment: String,
    pub chunks: Vec<u8>,
    pub samples: Vec<f32>,
}

/// One patient's recordings as read from the store.
#[derive(Debug, Clone, PartialEq)]
pub struct PatientRecordings {
    pub patient_id: u64,
    pub segment: String,
    pub chunks: Vec<u8>,
    /// `chunks.len() * samples_per_recording` raw samples, row-major.
    pub samples: Vec<f32>,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Reading or writing a file failed. Files are opened with `fs-err`, so the message names
    /// the file.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("{}: {message}", path.display())]
    Corrupt { path: PathBuf, message: String },
    #[error("invalid store content: {0}")]
    Invalid(String),
}

/// Writes a store into the (empty) directory `dir`.
pub fn write_store(
    dir: &Path,
    samples_per_recording: usize,
    source: &StoreSource,
    patients: &[NewPatient],
) -> Result<StoreIndex, StoreError> {
    let mut entries = Vec::with_capacity(patients.len());
    let mut samples = Vec::new();
    let mut next_row = 0;
    for patient in patients {
        if patient.samples.len() != patient.chunks.len() * samples_per_recording {
            return Err(StoreError::Invalid(format!(
                "patient {} has {} samples for {} recordings of {samples_per_recording}",
                patient.patient_id,
                patient.samples.len(),
                patient.chunks.len()
            )));
        }
        if entries
            .iter()
            .any(|e: &PatientEntry| e.patient_id == patient.patient_id)
        {
            return Err(StoreError::Invalid(format!(
                "patient id {} appears twice",
                patient.patient_id
            )));
        }
        entries.push(PatientEntry {
            patient_id: patient.patient_id,
            segment: patient.segment.clone(),
            first_row: next_row,
            chunks: patient.chunks.clone(),
        });
        next_row += patient.chunks.len();
        samples.extend_from_slice(&patient.samples);
    }
    let recordings = Array2::from_shape_vec((next_row, samples_per_recording), samples)
        .expect("sample count checked per patient");
    let path = dir.join(RECORDINGS_FILE);
    recordings
        .write_npy(BufWriter::new(fs::File::create(&path)?))
        .map_err(|e| match e {
            WriteNpyError::Io(e) => StoreError::Io(e),
            e => StoreError::Corrupt {
                path: path.clone(),
                message: e.to_string(),
            },
        })?;
    let index = StoreIndex {
        format_version: FORMAT_VERSION,
        samples_per_recording,
        source_data_md5: source.data_md5.clone(),
        source_split: source.split.clone(),
        split_seed: source.split_seed,
        patients: entries,
    };
    let path = dir.join(INDEX_FILE);
    let text = serde_json::to_string_pretty(&index).expect("the index serialises") + "\n";
    fs::write(path, text)?;
    Ok(index)
}

/// Whether a store built from processed data `store_data_md5` may serve a model trained on
/// `model_training_md5`. Its patients are the data's held-out pool, disjoint from that data's
/// training split by construction; from any other data version (another split seed, another
/// CSV) they may be segments the model was trained on, and its answers would be flattering
/// and wrong. An unknown version on either side is refused too.
pub fn check_disjoint(
    store_data_md5: Option<&str>,
    model_training_md5: Option<&str>,
) -> Result<(), String> {
    match (store_data_md5, model_training_md5) {
        (Some(store), Some(model)) if store == model => Ok(()),
        (Some(store), Some(model)) => Err(format!(
            "the patient store was built from data {store} but the model was trained on data \
             {model}: its patients may be segments the model was trained on (rebuild the store \
             with patient-pull together with the promotion of a model trained on that data)"
        )),
        (None, _) => Err(
            "the patient store does not record the data it was built from: \
             rebuild it with patient-pull"
                .into(),
        ),
        (_, None) => Err("the model card does not record its training data".into()),
    }
}

/// An open store. Cheap to share across threads: reads are positioned and take `&self`.
#[derive(Debug)]
pub struct PatientStore {
    /// `recordings.npy` (an `fs-err` file: its errors name the path).
    recordings: fs::File,
    /// Byte offset of the first sample in `recordings.npy`.
    data_offset: u64,
    samples_per_recording: usize,
    by_id: HashMap<u64, PatientEntry>,
    source_data_md5: Option<String>,
}

impl PatientStore {
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let index_path = dir.join(INDEX_FILE);
        let text = fs::read_to_string(&index_path)?;
        let corrupt = |message: String| StoreError::Corrupt {
            path: index_path.clone(),
            message,
        };
        let index: StoreIndex = serde_json::from_str(&text).map_err(|e| corrupt(e.to_string()))?;
        if index.format_version != FORMAT_VERSION {
            return Err(corrupt(format!(
                "format version {} is not the supported {FORMAT_VERSION}",
                index.format_version
            )));
        }
        let recordings = fs::File::open(dir.join(RECORDINGS_FILE))?;
        let (data_offset, rows, columns) = read_npy_header(&recordings)?;
        if columns != index.samples_per_recording {
            return Err(corrupt(format!(
                "{RECORDINGS_FILE} has {columns} samples per recording, the index says {}",
                index.samples_per_recording
            )));
        }
        let mut by_id = HashMap::with_capacity(index.patients.len());
        for entry in index.patients {
            if entry
                .first_row
                .checked_add(entry.chunks.len())
                .is_none_or(|end| end > rows)
            {
                return Err(corrupt(format!(
                    "patient {} points past the {rows} rows of {RECORDINGS_FILE}",
                    entry.patient_id
                )));
            }
            let id = entry.patient_id;
            if by_id.insert(id, entry).is_some() {
                return Err(corrupt(format!("patient id {id} appears twice")));
            }
        }
        Ok(Self {
            recordings,
            data_offset,
            samples_per_recording: index.samples_per_recording,
            by_id,
            source_data_md5: index.source_data_md5,
        })
    }

    /// One patient's recordings, or `None` for an unknown id.
    pub fn get(&self, patient_id: u64) -> Result<Option<PatientRecordings>, StoreError> {
        let Some(entry) = self.by_id.get(&patient_id) else {
            return Ok(None);
        };
        let row_bytes = (self.samples_per_recording * 4) as u64;
        let mut bytes = vec![0u8; entry.chunks.len() * self.samples_per_recording * 4];
        self.recordings.read_exact_at(
            &mut bytes,
            self.data_offset + entry.first_row as u64 * row_bytes,
        )?;
        let samples = bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        Ok(Some(PatientRecordings {
            patient_id,
            segment: entry.segment.clone(),
            chunks: entry.chunks.clone(),
            samples,
        }))
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// All patient ids, ascending.
    pub fn patient_ids(&self) -> Vec<u64> {
        let mut ids: Vec<u64> = self.by_id.keys().copied().collect();
        ids.sort_unstable();
        ids
    }

    pub fn samples_per_recording(&self) -> usize {
        self.samples_per_recording
    }

    pub fn source_data_md5(&self) -> Option<&str> {
        self.source_data_md5.as_deref()
    }
}

/// Parses a `.npy` header for a C-order little-endian float32 matrix.
/// Returns (data offset, rows, columns).
///
/// Hand-written on purpose; `ndarray-npy` (0.10) cannot do this job safely:
/// * its readers take whole arrays: `ReadNpyExt::read_npy` reads the entire file into memory and
///   `ViewNpyExt::view_npy` needs the entire file as one byte slice (a memory map, i.e. `unsafe`,
///   which this workspace denies), while [`PatientStore::get`] reads one patient's rows with a
///   positioned read, so memory does not grow with the store;
/// * its header parser, `npy::header::Header::from_reader`, allocates `HEADER_LEN` bytes as the
///   file states it (up to 4 GiB in a version 2 or 3 header) before reading them, without
///   comparing it with the file's length, and `read_npy` allocates the whole array from the
///   header's shape before reading any data. A corrupted or hostile `recordings.npy` would then
///   make the inference service allocate gigabytes. Here the header length and the shape's byte
///   count are both checked against the file's length before anything is allocated (see
///   `hostile_npy_headers_are_refused_before_anything_is_allocated`).
fn read_npy_header(file: &fs::File) -> Result<(u64, usize, usize), StoreError> {
    let corrupt = |message: &str| StoreError::Corrupt {
        path: file.path().to_owned(),
        message: message.to_owned(),
    };
    let mut preamble = [0u8; 12];
    file.read_exact_at(&mut preamble, 0)?;
    if &preamble[..6] != b"\x93NUMPY" {
        return Err(corrupt("not a .npy file"));
    }
    let (header_len, header_start) = match preamble[6] {
        1 => (u16::from_le_bytes([preamble[8], preamble[9]]) as usize, 10),
        2 | 3 => (
            u32::from_le_bytes([preamble[8], preamble[9], preamble[10], preamble[11]]) as usize,
            12,
        ),
        _ => return Err(corrupt("unsupported .npy version")),
    };
    // Sizes come from the file: check them against the file before allocating anything.
    let actual_len = file.metadata()?.len();
    const MAX_HEADER: usize = 64 * 1024;
    if header_len > MAX_HEADER || (header_start + header_len) as u64 > actual_len {
        return Err(corrupt(&format!(
            "the header claims {header_len} bytes; the file has {actual_len}"
        )));
    }
    let mut header = vec![0u8; header_len];
    file.read_exact_at(&mut header, header_start as u64)?;
    let header = String::from_utf8_lossy(&header);
    if !header.contains("'descr': '<f4'") || !header.contains("'fortran_order': False") {
        return Err(corrupt("expected a C-order little-endian float32 array"));
    }
    let shape = header
        .split_once("'shape': (")
        .and_then(|(_, rest)| rest.split_once(')'))
        .map(|(shape, _)| shape)
        .ok_or_else(|| corrupt("the header has no shape"))?;
    let dims: Vec<usize> = shape
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(str::parse)
        .collect::<Result<_, _>>()
        .map_err(|_| corrupt("the shape is not a list of integers"))?;
    let [rows, columns] = dims[..] else {
        return Err(corrupt("expected a two-dimensional array"));
    };
    let data_offset = (header_start + header_len) as u64;
    let expected_len = rows
        .checked_mul(columns)
        .and_then(|n| n.checked_mul(4))
        .and_then(|n| u64::try_from(n).ok())
        .and_then(|n| n.checked_add(data_offset))
        .ok_or_else(|| corrupt("the shape overflows"))?;
    if actual_len != expected_len {
        return Err(corrupt(&format!(
            "the file has {actual_len} bytes, its header promises {expected_len}"
        )));
    }
    Ok((data_offset, rows, columns))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patient(id: u64, recordings: usize, base: f32) -> NewPatient {
        NewPatient {
            patient_id: id,
            segment: format!("V1.{id}"),
            chunks: (1..=recordings as u8).collect(),
            samples: (0..recordings * 3).map(|i| base + i as f32).collect(),
        }
    }

    #[test]
    fn round_trip_reads_each_patient_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let patients = [
            patient(7, 2, 100.0),
            patient(3, 4, -50.0),
            patient(12, 1, 0.5),
        ];
        write_store(dir.path(), 3, &StoreSource::data("abc.dir"), &patients).unwrap();
        let store = PatientStore::open(dir.path()).unwrap();
        assert_eq!(store.len(), 3);
        assert_eq!(store.patient_ids(), [3, 7, 12]);
        assert_eq!(store.source_data_md5(), Some("abc.dir"));
        for p in &patients {
            let got = store.get(p.patient_id).unwrap().unwrap();
            assert_eq!(got.samples, p.samples);
            assert_eq!(got.chunks, p.chunks);
            assert_eq!(got.segment, p.segment);
        }
        assert_eq!(store.get(4).unwrap(), None);
    }

    #[test]
    fn recordings_file_is_plain_npy() {
        let dir = tempfile::tempdir().unwrap();
        write_store(
            dir.path(),
            3,
            &StoreSource::default(),
            &[patient(1, 2, 1.0)],
        )
        .unwrap();
        let array: Array2<f32> = ndarray_npy::read_npy(dir.path().join(RECORDINGS_FILE)).unwrap();
        assert_eq!(array.shape(), [2, 3]);
        assert_eq!(array[[1, 2]], 6.0);
    }

    #[test]
    fn a_store_serves_only_a_model_trained_on_its_data_version() {
        assert!(check_disjoint(Some("a.dir"), Some("a.dir")).is_ok());
        let other = check_disjoint(Some("a.dir"), Some("b.dir")).unwrap_err();
        assert!(
            other.contains("b.dir") && other.contains("may be segments"),
            "{other}"
        );
        assert!(check_disjoint(None, Some("a.dir")).is_err());
        assert!(check_disjoint(Some("a.dir"), None).is_err());
    }

    #[test]
    fn duplicate_ids_and_wrong_sample_counts_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let err = write_store(
            dir.path(),
            3,
            &StoreSource::default(),
            &[patient(1, 1, 0.0), patient(1, 1, 0.0)],
        );
        assert!(matches!(err, Err(StoreError::Invalid(_))));
        let mut bad = patient(2, 2, 0.0);
        bad.samples.pop();
        assert!(write_store(dir.path(), 3, &StoreSource::default(), &[bad]).is_err());
    }

    #[test]
    fn truncated_recordings_are_detected_on_open() {
        let dir = tempfile::tempdir().unwrap();
        write_store(
            dir.path(),
            3,
            &StoreSource::default(),
            &[patient(1, 2, 1.0)],
        )
        .unwrap();
        let path = dir.path().join(RECORDINGS_FILE);
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 4]).unwrap();
        let err = PatientStore::open(dir.path()).unwrap_err();
        assert!(err.to_string().contains("header promises"), "{err}");
    }

    /// A store whose `recordings.npy` is replaced by `bytes`.
    fn store_with_recordings(
        bytes: &[u8],
    ) -> (tempfile::TempDir, Result<PatientStore, StoreError>) {
        let dir = tempfile::tempdir().unwrap();
        write_store(
            dir.path(),
            3,
            &StoreSource::default(),
            &[patient(1, 2, 0.0)],
        )
        .unwrap();
        std::fs::write(dir.path().join(RECORDINGS_FILE), bytes).unwrap();
        let opened = PatientStore::open(dir.path());
        (dir, opened)
    }

    #[test]
    fn hostile_npy_headers_are_refused_before_anything_is_allocated() {
        // Version 2 header claiming 4 GiB of header text in a 12-byte file.
        let mut huge_header = b"\x93NUMPY\x02\x00".to_vec();
        huge_header.extend_from_slice(&u32::MAX.to_le_bytes());
        let (_dir, opened) = store_with_recordings(&huge_header);
        let error = opened.err().unwrap().to_string();
        assert!(error.contains("the header claims"), "{error}");

        // A shape whose byte count overflows.
        let header = format!(
            "{{'descr': '<f4', 'fortran_order': False, 'shape': ({}, 3), }}",
            usize::MAX / 2
        );
        let mut overflow = b"\x93NUMPY\x01\x00".to_vec();
        overflow.extend_from_slice(&(header.len() as u16).to_le_bytes());
        overflow.extend_from_slice(header.as_bytes());
        let (_dir, opened) = store_with_recordings(&overflow);
        let error = opened.err().unwrap().to_string();
        assert!(error.contains("overflows"), "{error}");

        // A version 1 header under the 64 KiB limit but longer than the file.
        let mut past_the_end = b"\x93NUMPY\x01\x00".to_vec();
        past_the_end.extend_from_slice(&60_000u16.to_le_bytes());
        past_the_end.extend_from_slice(b"{'descr': '<f4', ");
        let (_dir, opened) = store_with_recordings(&past_the_end);
        let error = opened.err().unwrap().to_string();
        assert!(error.contains("the header claims 60000 bytes"), "{error}");

        for junk in [
            &b""[..],
            b"\x93NUMPY",
            b"not numpy at all",
            b"\x93NUMPY\x09\x00\x00\x00\x00\x00",
        ] {
            let (_dir, opened) = store_with_recordings(junk);
            assert!(opened.is_err(), "{junk:?}");
        }
    }

    #[test]
    fn store_is_shareable_across_threads() {
        fn assert_sync<T: Send + Sync>() {}
        assert_sync::<PatientStore>();
    }
}
