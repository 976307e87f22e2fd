//! A signal's physical dimension and EDF+ type (the label's first word).

/// µV per one of `unit` for a voltage (`uV`, `µV`, `mV`, `V`, `nV`), else `None`.
pub fn microvolts_per_unit(unit: &str) -> Option<f64> {
    match unit.trim() {
        "uV" | "µV" | "μV" | "UV" | "uv" => Some(1.0),
        "mV" | "mv" => Some(1e3),
        "V" | "v" => Some(1e6),
        "nV" | "nv" => Some(1e-3),
        _ => None,
    }
}

/// The EDF+ signal types that are not EEG (EDF+ specification, "standard texts").
const NON_EEG: [&str; 17] = [
    "ECG", "EKG", "EOG", "ERG", "EMG", "MEG", "MCG", "EP", "Temp", "Resp", "SaO2", "SpO2", "Light",
    "Sound", "Event", "Pleth", "Pulse",
];

/// The EDF+ type of a label that names a channel other than EEG (`ECG I` -> `ECG`).
pub fn non_eeg_type(label: &str) -> Option<&'static str> {
    let first = label.split([' ', '-', '_']).next().unwrap_or("");
    NON_EEG
        .iter()
        .find(|kind| kind.eq_ignore_ascii_case(first))
        .copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eeg_labels_pass_and_others_are_named() {
        for label in ["EEG Fp1-F7", "Fp1", "T3-T5", "EEG C3-A2", "FP1-REF", "Cz"] {
            assert_eq!(non_eeg_type(label), None, "{label}");
        }
        assert_eq!(non_eeg_type("ECG I"), Some("ECG"));
        assert_eq!(non_eeg_type("EMG chin"), Some("EMG"));
        assert_eq!(non_eeg_type("spo2"), Some("SpO2"));
        assert_eq!(non_eeg_type("EOG-L"), Some("EOG"));
    }

    #[test]
    fn voltages_convert_to_microvolts() {
        assert_eq!(microvolts_per_unit(" uV "), Some(1.0));
        assert_eq!(microvolts_per_unit("mV"), Some(1000.0));
        assert_eq!(microvolts_per_unit("V"), Some(1e6));
        assert_eq!(microvolts_per_unit("degC"), None);
        assert_eq!(microvolts_per_unit(""), None);
    }
}
