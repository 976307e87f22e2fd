//! Alarms written back for the clinician's own viewer: an EDF+ file holding only annotations,
//! with the recording's patient, recording and start fields, so that EDF viewers (EDFbrowser
//! and the like) overlay it on the recording.

use std::path::Path;

use edf_rs::file::EDFFile;
use edf_rs::headers::annotation_list::AnnotationList;
use edf_rs::headers::signal_header::SignalHeader;
use edf_rs::EDFSpecifications;

use crate::{checks, Annotation, EdfError};

/// Writes `annotations` (ASCII text; times from the recording's start) into a new EDF+ file
/// at `out`, its header copied from the recording at `source`: one data record spanning the
/// recording, one annotations signal. Written beside `out` under a temporary name and renamed
/// over it, so `out` is either the old file or the whole new one.
///
/// The alarms' times count from the first sample, the file's records from the header's start
/// time: `first_sample_s` (the source's [`crate::Recording::first_sample_s`], known from the
/// read that produced the alarms) goes back in. Only the source's header is read here.
pub fn write_annotations(
    out: &Path,
    source: &Path,
    first_sample_s: f64,
    annotations: &[Annotation],
) -> Result<(), EdfError> {
    let recording = crate::Recording::open(source)?;
    let offset = first_sample_s;
    let header = &recording.file.header;
    // One record spanning the recording, its duration a whole number of seconds: the header
    // field holds 8 characters (70.10000000000001 would not fit).
    let duration = recording.duration_s().ceil().max(1.0);
    if duration > 99_999_999.0 {
        return Err(EdfError::new(
            out,
            format!("a recording of {duration} s is too long for one annotations record"),
        ));
    }
    let mut tals = vec![AnnotationList::new_time_keeping(offset)];
    let mut bytes = 16;
    for a in annotations {
        let text: String = a
            .text
            .chars()
            .map(|c| {
                if c.is_ascii_graphic() || c == ' ' {
                    c
                } else {
                    '?'
                }
            })
            .collect();
        bytes += text.len() + 48;
        tals.push(
            AnnotationList::new(a.onset_s + offset, a.duration_s.max(0.0), vec![text])
                .map_err(|e| EdfError::new(out, checks::describe(&e)))?,
        );
    }
    let mut name = out.file_name().unwrap_or_default().to_owned();
    name.push(format!(".{}.partial", std::process::id()));
    let partial = out.with_file_name(name);
    let _ = std::fs::remove_file(&partial);
    // Errors name `out`, the file asked for, not its temporary name.
    let written =
        write(&partial, header, duration, tals, bytes).map_err(|e| EdfError::new(out, e.problem));
    let renamed = written.and_then(|()| {
        std::fs::rename(&partial, out).map_err(|e| EdfError::new(out, e.to_string()))
    });
    if renamed.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    renamed
}

fn write(
    out: &Path,
    header: &edf_rs::headers::edf_header::EDFHeader,
    duration: f64,
    tals: Vec<AnnotationList>,
    bytes: usize,
) -> Result<(), EdfError> {
    let fail = |e: edf_rs::error::edf_error::EDFError| EdfError::new(out, checks::describe(&e));
    let mut edf = EDFFile::new(out).map_err(fail)?;
    edf.header
        .with_specification(EDFSpecifications::EDFPlus)
        .with_is_continuous(true)
        .with_patient_id(header.get_patient_id().clone())
        .with_recording_id(header.get_recording_id().clone())
        .with_start_date(header.get_start_date())
        .with_start_time(header.get_start_time())
        .with_record_duration(duration);
    // `new_annotation(n)` holds 4n bytes of annotation text (2n two-byte samples).
    edf.insert_signal(
        0,
        SignalHeader::new_annotation(bytes.div_ceil(4) + 1, EDFSpecifications::EDFPlus),
    )
    .map_err(fail)?;
    let mut record = edf.header.create_record();
    record.annotations = vec![tals];
    edf.append_record(record).map_err(fail)?;
    edf.save().map_err(fail)
}
