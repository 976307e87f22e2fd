//! A recording's fingerprint: a stable 64-bit hash of its samples, the same in every process
//! and release, so that fingerprints written beside a model (of every recording the data set
//! publishes) can be compared with what clients send later, in a request or anywhere in a
//! stream.
//!
//! Every recording of the UCI data set is public: a client can post them back, at any time,
//! to make the fleet's input look like the training data (masking drift). The service leaves
//! exact matches out of its drift window (docs/hardening.md).
//!
//! The hash is polynomial (Rabin-Karp) over the samples' `f32` bits, each mixed first by
//! SplitMix64's finaliser, with wrapping arithmetic, then mixed once more: a [`Rolling`]
//! hash gives the fingerprint of the last 178 samples of a stream at every sample for one
//! multiply-add, so a replay is recognised whatever its alignment with the stream's windows
//! (a general-purpose hash such as XXH3 cannot roll). `-0.0` counts as `+0.0`. It is not
//! collision-resistant against a chosen input: a client who forges a collision only gets
//! their own windows left out.

use std::collections::VecDeque;

use crate::processed::{DatasetError, ProcessedDataset, RAW_SPLITS, SIGNAL_SPLITS};
use crate::SAMPLES_PER_RECORDING;

/// The polynomial's base (odd, so that its powers never vanish modulo 2^64).
const BASE: u64 = 0x9E37_79B9_7F4A_7C15;

/// SplitMix64's finaliser: a bijection that spreads every input bit over the output.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn term(sample: f32) -> u64 {
    let sample = if sample == 0.0 { 0.0f32 } else { sample };
    mix(u64::from(sample.to_bits()))
}

/// The fingerprint of one recording's samples (of any length; the data set's are 178).
pub fn fingerprint(recording: &[f32]) -> u64 {
    let polynomial = recording
        .iter()
        .fold(0u64, |h, &v| h.wrapping_mul(BASE).wrapping_add(term(v)));
    mix(polynomial)
}

/// The fingerprint of the last `len` samples of a stream, updated one sample at a time.
#[derive(Debug, Clone)]
pub struct Rolling {
    len: usize,
    /// `BASE^len`: the weight of the term that leaves.
    top: u64,
    terms: VecDeque<u64>,
    polynomial: u64,
}

impl Rolling {
    /// A hash of the last `len` samples (at least one).
    pub fn new(len: usize) -> Self {
        let len = len.max(1);
        let top = (0..len).fold(1u64, |p, _| p.wrapping_mul(BASE));
        Self {
            len,
            top,
            terms: VecDeque::with_capacity(len),
            polynomial: 0,
        }
    }

    /// Takes the next sample; once `len` samples have come, the fingerprint of the last
    /// `len` ([`fingerprint`] of them).
    pub fn push(&mut self, sample: f32) -> Option<u64> {
        let term = term(sample);
        self.polynomial = self.polynomial.wrapping_mul(BASE).wrapping_add(term);
        self.terms.push_back(term);
        if self.terms.len() > self.len {
            let gone = self.terms.pop_front().expect("more than len terms");
            self.polynomial = self.polynomial.wrapping_sub(gone.wrapping_mul(self.top));
        }
        (self.terms.len() == self.len).then(|| mix(self.polynomial))
    }
}

/// The fingerprints of every one-second recording a processed data set holds: the raw
/// recordings of the test split and the patient pool, and every chunk of the continuous
/// signals of the training, validation and test splits. Sorted, without repeats. A constant
/// recording (a flat line, which a disconnected electrode also gives) is left out: it must
/// stay new input. A split that cannot be read (an older data directory) is skipped and
/// named in `unreadable`; the others still count.
pub fn of_dataset(dataset: &ProcessedDataset) -> Fingerprinted {
    let mut all = Vec::new();
    let mut unreadable = Vec::new();
    let mut add = |samples: &[f32]| {
        all.extend(
            samples
                .chunks_exact(SAMPLES_PER_RECORDING)
                .filter(|r| r.iter().any(|&v| v != r[0]))
                .map(fingerprint),
        )
    };
    for split in RAW_SPLITS {
        match dataset.raw(split) {
            Ok(raw) => add(raw
                .as_standard_layout()
                .as_slice()
                .expect("a standard-layout array is contiguous")),
            Err(e) => unreadable.push(e),
        }
    }
    for split in SIGNAL_SPLITS {
        match dataset.signals(split) {
            Ok(signals) => add(signals
                .samples
                .as_standard_layout()
                .as_slice()
                .expect("a standard-layout array is contiguous")),
            Err(e) => unreadable.push(e),
        }
    }
    all.sort_unstable();
    all.dedup();
    Fingerprinted {
        fingerprints: all,
        unreadable,
    }
}

/// What [`of_dataset`] found.
#[derive(Debug)]
pub struct Fingerprinted {
    /// Sorted, without repeats.
    pub fingerprints: Vec<u64>,
    /// The splits that could not be read.
    pub unreadable: Vec<DatasetError>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn is_stable_across_processes_and_releases() {
        // A fixed value, so fingerprints written by one release are read by the next (a
        // separate Python port of the function, SplitMix64's finaliser on each sample's `<f4`
        // bits and the polynomial modulo 2^64, gave the same value).
        let recording: Vec<f32> = (0..178).map(|i| i as f32 - 89.0).collect();
        assert_eq!(fingerprint(&recording), STABLE);
    }
    const STABLE: u64 = 16_423_555_065_878_209_724;

    #[test]
    fn negative_zero_is_zero_and_one_sample_changes_it() {
        let mut a = vec![0.0f32; 178];
        let mut b = a.clone();
        b[3] = -0.0;
        assert_eq!(fingerprint(&a), fingerprint(&b));
        a[177] = 1.0;
        assert_ne!(fingerprint(&a), fingerprint(&b));
        // Order matters.
        let c: Vec<f32> = (0..178).map(|i| i as f32).collect();
        let mut d = c.clone();
        d.swap(0, 1);
        assert_ne!(fingerprint(&c), fingerprint(&d));
    }

    #[test]
    fn a_data_set_s_recordings_are_all_fingerprinted_and_an_unreadable_split_is_named() {
        use crate::prepare::{prepare, PrepareOptions};
        use crate::processed::Split;
        use crate::synthetic::{csv_bytes, SynthConfig};
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("eeg.csv");
        let config = SynthConfig {
            seed: 3,
            segments_per_class: 5,
        };
        std::fs::write(&csv, csv_bytes(&config)).unwrap();
        let data = dir.path().join("data");
        prepare(&PrepareOptions::new(csv, data.clone())).unwrap();
        let dataset = ProcessedDataset::open(&data).unwrap();
        let found = of_dataset(&dataset);
        assert!(found.unreadable.is_empty(), "{:?}", found.unreadable);
        assert!(found.fingerprints.windows(2).all(|p| p[0] < p[1]));
        let test_raw = dataset.raw(Split::Test).unwrap();
        for row in test_raw.outer_iter() {
            let row = row.to_vec();
            assert!(found.fingerprints.binary_search(&fingerprint(&row)).is_ok());
        }
        // 25 segments of 23 recordings: every one of them.
        assert_eq!(found.fingerprints.len(), 25 * 23);
        // Without the test split's raw file the others still count.
        std::fs::remove_file(data.join("test_raw.npy")).unwrap();
        let partial = of_dataset(&dataset);
        assert_eq!(partial.unreadable.len(), 1);
        assert!(!partial.fingerprints.is_empty());
    }

    proptest! {
        #[test]
        fn the_rolling_hash_is_the_fingerprint_of_the_last_len_samples(
            stream in proptest::collection::vec(-2000i32..2000, 1..600),
            len in 1usize..200,
        ) {
            let stream: Vec<f32> = stream.into_iter().map(|v| v as f32 / 4.0).collect();
            let mut rolling = Rolling::new(len);
            for (i, &v) in stream.iter().enumerate() {
                let got = rolling.push(v);
                if i + 1 >= len {
                    prop_assert_eq!(got, Some(fingerprint(&stream[i + 1 - len..=i])));
                } else {
                    prop_assert_eq!(got, None);
                }
            }
        }
    }
}
