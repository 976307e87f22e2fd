//! One fuzz target per parser that reads outside input (see the crate's documentation).

use std::path::Path;

use fuzz_tests::{config, corpus, input};
use proptest::prelude::*;

proptest! {
    #![proptest_config(config())]

    /// The UCI CSV reader: any bytes give data or an error that names the file.
    #[test]
    fn uci_csv(bytes in input(corpus("uci_csv"))) {
        for mode in [eeg_data::uci::BadRows::Fail, eeg_data::uci::BadRows::Skip] {
            match eeg_data::uci::parse(Path::new("fuzz.csv"), &bytes, mode) {
                Ok(data) => {
                    prop_assert_eq!(data.samples.len(), data.rows.len() * 178);
                    for row in 0..data.rows.len() {
                        prop_assert!(data.row_samples(row).iter().all(|v| v.is_finite()));
                    }
                }
                Err(e) => prop_assert!(e.to_string().contains("fuzz.csv"), "{}", e),
            }
        }
    }

    /// `.dvc` pointers: a pointer or a message, never a panic.
    #[test]
    fn dvc_pointer(bytes in input(corpus("dvc_pointer"))) {
        let text = String::from_utf8_lossy(&bytes);
        if let Ok(pointer) = artifact_store::dvc::DvcPointer::parse(&text) {
            prop_assert!(!pointer.md5.is_empty());
        }
    }

    /// `.dir` manifests from a remote: whatever is accepted stays inside its directory.
    #[test]
    fn dir_manifest(bytes in input(corpus("dir_manifest"))) {
        if let Ok(entries) = artifact_store::dvc::parse_dir_manifest(&bytes) {
            let base = Path::new("/pulled/data");
            for entry in entries {
                let joined = artifact_store::paths::contained_join(base, &entry.relpath).unwrap();
                prop_assert!(joined.starts_with(base));
                prop_assert!(!entry.relpath.split('/').any(|p| p == ".." || p.is_empty()));
                prop_assert!(artifact_store::dvc::is_md5(&entry.md5));
            }
        }
    }
}

/// The patient store's files (`recordings.npy`, `index.json`) as a corrupted disk or a
/// hostile remote could leave them: opening and reading never panics or over-allocates.
mod patient_store_files {
    use super::*;
    use patient_store::{write_store, NewPatient, PatientStore};

    fn valid_store() -> (Vec<u8>, Vec<u8>) {
        let dir = tempfile::tempdir().unwrap();
        let patients: Vec<NewPatient> = (1..=3u64)
            .map(|id| NewPatient {
                patient_id: id,
                segment: format!("V{id}.1"),
                chunks: vec![1, 2],
                samples: (0..2 * 178).map(|i| i as f32).collect(),
            })
            .collect();
        write_store(
            dir.path(),
            178,
            &patient_store::StoreSource::data("abc.dir"),
            &patients,
        )
        .unwrap();
        (
            std::fs::read(dir.path().join(patient_store::RECORDINGS_FILE)).unwrap(),
            std::fs::read(dir.path().join(patient_store::INDEX_FILE)).unwrap(),
        )
    }

    fn check(recordings: &[u8], index: &[u8]) -> Result<(), TestCaseError> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(patient_store::RECORDINGS_FILE), recordings).unwrap();
        std::fs::write(dir.path().join(patient_store::INDEX_FILE), index).unwrap();
        if let Ok(store) = PatientStore::open(dir.path()) {
            for id in store.patient_ids() {
                let read = store.get(id);
                prop_assert!(read.is_ok(), "{:?}", read.err());
            }
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(config())]

        #[test]
        fn npy(mutated in {
            let (recordings, _) = valid_store();
            let mut seeds = corpus("npy");
            seeds.push(recordings);
            input(seeds)
        }) {
            let (_, index) = valid_store();
            check(&mutated, &index)?;
        }

        #[test]
        fn index(mutated in input(vec![valid_store().1])) {
            let (recordings, _) = valid_store();
            check(&recordings, &mutated)?;
        }
    }
}

/// Access tokens: garbage, hostile headers and edited valid tokens never verify.
mod tokens {
    use super::*;
    use auth_tokens::{Issuer, Jwks, KeySource, Role, SigningAlgorithm, SigningKey, Verifier};

    fn verifier_and_token() -> (Verifier, String) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let key = SigningKey::generate(SigningAlgorithm::EdDSA).unwrap();
        let issuer = Issuer::new(key, "iss", "aud", 900);
        let verifier = runtime
            .block_on(Verifier::new(
                auth_tokens::VerifierConfig {
                    issuer: "iss".into(),
                    audience: "aud".into(),
                    leeway_seconds: 30,
                    max_lifetime_seconds: auth_tokens::DEFAULT_MAX_LIFETIME_SECONDS,
                },
                KeySource::Static(Jwks::of(&[issuer.key()])),
            ))
            .unwrap();
        let (token, _) = issuer.issue("ada", Role::Admin).unwrap();
        (verifier, token)
    }

    proptest! {
        #![proptest_config(config())]

        #[test]
        fn jwt(edits in prop::collection::vec(any::<(usize, u8)>(), 1..4), raw in input(corpus("jwt"))) {
            let (verifier, token) = verifier_and_token();
            prop_assert!(verifier.verify_with_known_keys(&token).is_ok());
            // An edited valid token.
            let mut bytes = token.clone().into_bytes();
            for (at, byte) in edits {
                let at = at % bytes.len();
                bytes[at] = byte;
            }
            let edited = String::from_utf8_lossy(&bytes).into_owned();
            if edited != token {
                prop_assert!(verifier.verify_with_known_keys(&edited).is_err(), "{}", edited);
            }
            // Corpus entries and arbitrary bytes.
            let text = String::from_utf8_lossy(&raw).into_owned();
            prop_assert!(verifier.verify_with_known_keys(&text).is_err());
        }
    }
}
