//! What the parser leaves to its caller: the file's length against its header, and each
//! chosen signal's ranges, unit and type.

use edf_rs::error::edf_error::EDFError;

use crate::units::{microvolts_per_unit, non_eeg_type};
use crate::Signal;

/// The largest file read (a day of 32 channels at 256 Hz is about 1.4 GB).
pub const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024 * 1024;
/// The most samples read at once over the chosen channels (a day of 4 channels at 512 Hz).
pub const MAX_SAMPLES: usize = 200_000_000;

/// The header's account of the data section, against the file's length.
#[derive(Debug, Clone, Copy)]
pub struct DataLayout {
    pub header_bytes: u64,
    pub record_bytes: u64,
    /// `None` when the header says -1 (a recording still being written: refused).
    pub declared_records: Option<usize>,
    pub file_bytes: u64,
}

impl DataLayout {
    /// The number of whole data records, or what is wrong.
    pub fn records(&self) -> Result<usize, String> {
        let Some(data) = self.file_bytes.checked_sub(self.header_bytes) else {
            return Err(format!(
                "{} bytes, shorter than its own header ({} bytes): truncated",
                self.file_bytes, self.header_bytes
            ));
        };
        if self.record_bytes == 0 {
            return match self.declared_records {
                Some(0) if data == 0 => Ok(0),
                _ => Err("data records of 0 bytes (no samples in any signal)".into()),
            };
        }
        let whole = data / self.record_bytes;
        let rest = data % self.record_bytes;
        match self.declared_records {
            Some(declared) if (declared as u64) > whole => Err(format!(
                "the header declares {declared} data records of {} bytes, the file holds {whole}{}: \
                 truncated",
                self.record_bytes,
                if rest > 0 {
                    format!(" and {rest} bytes of one more")
                } else {
                    String::new()
                }
            )),
            Some(declared) if (declared as u64) < whole || rest > 0 => Err(format!(
                "the header declares {declared} data records of {} bytes, but the file has {} \
                 bytes after its header ({whole} records and {rest} bytes): the record sizes do \
                 not match the file",
                self.record_bytes, data
            )),
            Some(declared) => Ok(declared),
            None => Err(format!(
                "header field 'number of data records' is -1: a recording still being written \
                 ({whole} records of {} bytes so far); read it once the recording is finished",
                self.record_bytes
            )),
        }
    }
}

/// Turns a digital value into µV for one signal.
#[derive(Debug, Clone, Copy)]
pub struct Scale {
    gain: f64,
    offset: f64,
}

impl Scale {
    /// EDF's linear map from the digital range onto the physical one, times the unit's µV.
    pub fn microvolts(&self, digital: i32) -> f64 {
        f64::from(digital) * self.gain + self.offset
    }
}

/// Checks a signal chosen for scoring: EEG, a voltage, sane ranges.
pub(crate) fn check_signal(s: &Signal) -> Result<Scale, String> {
    let name = &s.label;
    if let Some(kind) = non_eeg_type(name) {
        return Err(format!(
            "signal {name:?} is an EDF+ {kind} channel, not EEG; choose an EEG channel"
        ));
    }
    let Some(per_unit) = microvolts_per_unit(&s.unit) else {
        return Err(format!(
            "signal {name:?}: physical dimension {:?} is not a voltage (uV, mV or V), so it \
             is not EEG",
            s.unit
        ));
    };
    if !(s.physical_min.is_finite() && s.physical_max.is_finite())
        || s.physical_min == s.physical_max
    {
        return Err(format!(
            "signal {name:?}: physical minimum {} and maximum {} must be two different \
             finite numbers",
            s.physical_min, s.physical_max
        ));
    }
    if s.digital_min >= s.digital_max {
        return Err(format!(
            "signal {name:?}: digital minimum {} must be below the digital maximum {}",
            s.digital_min, s.digital_max
        ));
    }
    if !(s.rate_hz.is_finite() && s.rate_hz > 0.0) {
        return Err(format!("signal {name:?}: no samples in its data records"));
    }
    let gain = (s.physical_max - s.physical_min) / f64::from(s.digital_max - s.digital_min);
    let offset = s.physical_min - gain * f64::from(s.digital_min);
    Ok(Scale {
        gain: gain * per_unit,
        offset: offset * per_unit,
    })
}

/// The parser's error, in words.
pub(crate) fn describe(error: &EDFError) -> String {
    match error {
        EDFError::FileReadError(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            "the file ends inside its header or a data record (truncated, or a header field \
             such as the number of signals larger than the file)"
                .into()
        }
        EDFError::FileReadError(e) => e.to_string(),
        EDFError::InvalidStartDate | EDFError::InvalidStartTime => {
            "not an EDF file (its header has no valid start date and time)".into()
        }
        EDFError::InvalidHeaderSize => "header field 'number of bytes in header' is wrong".into(),
        EDFError::InvalidRecordCount => "header field 'number of data records' is invalid".into(),
        EDFError::InvalidRecordDuration => {
            "header field 'duration of a data record' is invalid".into()
        }
        EDFError::InvalidSignalCount => "header field 'number of signals' is invalid".into(),
        EDFError::InvalidPhysicalRange => {
            "a signal's physical minimum or maximum is invalid".into()
        }
        EDFError::InvalidDigitalRange => "a signal's digital minimum or maximum is invalid".into(),
        EDFError::InvalidSamplesCount => {
            "a signal's 'number of samples in each data record' is invalid".into()
        }
        EDFError::InvalidASCII | EDFError::IllegalCharacters => {
            "the header holds characters EDF does not allow (printable ASCII only)".into()
        }
        other => format!("not a readable EDF/EDF+ file ({other:?})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(records: Option<usize>, file_bytes: u64) -> DataLayout {
        DataLayout {
            header_bytes: 768,
            record_bytes: 1000,
            declared_records: records,
            file_bytes,
        }
    }

    #[test]
    fn the_length_must_match_the_header() {
        assert_eq!(layout(Some(3), 3768).records(), Ok(3));
        assert!(layout(None, 3768)
            .records()
            .unwrap_err()
            .contains("still being written"));
        assert!(layout(Some(3), 3767)
            .records()
            .unwrap_err()
            .contains("truncated"));
        assert!(layout(Some(3), 500)
            .records()
            .unwrap_err()
            .contains("shorter than its own header"));
        assert!(layout(Some(2), 3768)
            .records()
            .unwrap_err()
            .contains("do not match"));
        assert!(layout(Some(3), 3770)
            .records()
            .unwrap_err()
            .contains("do not match"));
        assert!(layout(None, 3770)
            .records()
            .unwrap_err()
            .contains("still being written"));
        assert!(layout(Some(usize::MAX), 3768)
            .records()
            .unwrap_err()
            .contains("truncated"));
    }

    fn signal(label: &str, unit: &str) -> Signal {
        Signal {
            index: 0,
            label: label.into(),
            unit: unit.into(),
            rate_hz: 256.0,
            samples_per_record: 256,
            physical_min: -1000.0,
            physical_max: 1000.0,
            digital_min: -32768,
            digital_max: 32767,
        }
    }

    #[test]
    fn only_eeg_voltages_with_sane_ranges_are_read() {
        let scale = check_signal(&signal("EEG Fp1-F7", "uV")).unwrap();
        assert!((scale.microvolts(32767) - 1000.0).abs() < 1e-9);
        assert!((scale.microvolts(-32768) + 1000.0).abs() < 1e-9);
        let mv = check_signal(&signal("Fp1", "mV")).unwrap();
        assert!((mv.microvolts(32767) - 1_000_000.0).abs() < 1e-6);
        assert!(check_signal(&signal("ECG I", "uV"))
            .unwrap_err()
            .contains("ECG"));
        assert!(check_signal(&signal("Resp chest", "uV"))
            .unwrap_err()
            .contains("Resp"));
        assert!(check_signal(&signal("Temp", "degC"))
            .unwrap_err()
            .contains("not EEG"));
        assert!(check_signal(&signal("Fp1", "%"))
            .unwrap_err()
            .contains("not a voltage"));
        let mut s = signal("Fp1", "uV");
        s.physical_min = f64::NAN;
        assert!(check_signal(&s).unwrap_err().contains("finite"));
        let mut s = signal("Fp1", "uV");
        s.physical_max = s.physical_min;
        assert!(check_signal(&s).is_err());
        let mut s = signal("Fp1", "uV");
        s.digital_max = s.digital_min;
        assert!(check_signal(&s).unwrap_err().contains("digital minimum"));
    }
}
