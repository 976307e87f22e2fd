//! The real UCI file from ../shared/data: 11,500 rows, 500 segments, no leakage, the expected
//! counts per split. Present in CI; skipped loudly by hand without it.

use std::collections::{BTreeMap, HashSet};

use eeg_data::processed::{ProcessedDataset, Split};
use preprocessing::{preprocess, PreprocessArgs};

#[test]
fn real_data_set_splits_by_segment_with_expected_counts() {
    let Some(csv) = test_support::require_real_data() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // The defaults: seed 42, fractions 0.6/0.1/0.2/0.1, layout 22 x 8, class weights.
    let args = PreprocessArgs::new(csv, dir.path().join("data"));
    let outcome = preprocess(&args.settings().unwrap()).unwrap();
    let manifest = &outcome.prepared.manifest;
    assert_eq!(manifest.source.rows, 11_500);
    assert_eq!(manifest.source.md5, "6fd90d64def591ae3c8de83bc8dc7348");
    assert_eq!(manifest.segments.len(), 500);

    // 100 segments per class, 23 rows each: 60/10/20/10 segments per class.
    let per_class = |rows: usize| -> BTreeMap<String, usize> {
        (1..=5).map(|c| (c.to_string(), rows)).collect()
    };
    let expect = [
        (Split::Validation, 50, 1150),
        (Split::Test, 100, 2300),
        (Split::PatientPool, 50, 1150),
    ];
    for (split, segments, rows) in expect {
        let summary = &manifest.splits[&split];
        assert_eq!(
            (summary.segments, summary.rows),
            (segments, rows),
            "{split:?}"
        );
        assert_eq!(summary.class_counts, per_class(rows / 5), "{split:?}");
        assert_eq!(summary.label_counts, [rows * 4 / 5, rows / 5], "{split:?}");
    }
    // Training: every row of its 300 segments, 1,380 seizure and 5,520 others, each class
    // weighted so both weigh the same in the loss.
    let train = &manifest.splits[&Split::Train];
    assert_eq!(train.label_counts, [5520, 1380]);
    assert_eq!(train.class_counts["1"], 1380);
    assert_eq!(train.x_shape, [6900, 22, 8]);
    assert_eq!(manifest.class_weights, [0.625, 2.5]);

    let dataset = ProcessedDataset::open(&args.out).unwrap();
    let mut seen: HashSet<u32> = HashSet::new();
    for split in Split::ALL {
        let segments: HashSet<u32> = dataset
            .split(split)
            .unwrap()
            .segment
            .iter()
            .copied()
            .collect();
        assert!(seen.is_disjoint(&segments), "{split:?} shares a segment");
        seen.extend(segments);
    }
    // Undersampling drops rows, not whole segments: every segment is somewhere.
    assert_eq!(seen.len(), 500);
}
