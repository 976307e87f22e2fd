//! Fuzzing on stable Rust: proptest mutates a committed corpus of real and hostile inputs
//! (`corpus/<target>/`), plus arbitrary bytes, and each target's test checks that the parser
//! answers with a value or an error, never a panic, an abort or an unbounded allocation.
//! `PROPTEST_CASES` sets the run's length (CI: the default below); a failing input is shrunk
//! and saved under `proptest-regressions/`, to be committed with the fix.

use std::path::{Path, PathBuf};

use proptest::prelude::*;

/// Cases per target unless `PROPTEST_CASES` says otherwise: a bounded run for CI.
pub const DEFAULT_CASES: u32 = 512;

pub fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_CASES);
    ProptestConfig {
        cases,
        ..ProptestConfig::default()
    }
}

pub fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target)
}

/// Every file of `corpus/<target>/`, sorted by name.
pub fn corpus(target: &str) -> Vec<Vec<u8>> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(corpus_dir(target))
        .unwrap_or_else(|e| panic!("corpus/{target}: {e}"))
        .map(|entry| entry.unwrap().path())
        .collect();
    paths.sort();
    paths.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

/// One edit of a byte string.
#[derive(Debug, Clone)]
pub enum Mutation {
    Flip { at: usize, bits: u8 },
    Set { at: usize, byte: u8 },
    Truncate { at: usize },
    Insert { at: usize, bytes: Vec<u8> },
    Delete { at: usize, len: usize },
    Repeat { at: usize, len: usize, times: usize },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let interesting = prop::sample::select(vec![
        b'0', b'9', b'-', b',', b'.', b'\n', b'\r', b'"', b'\'', b'{', b'}', b'[', b']', b':',
        b'/', b'\\', 0, 0x7f, 0xff, b'e', b'E', b'+',
    ]);
    prop_oneof![
        (any::<usize>(), 1u8..=255).prop_map(|(at, bits)| Mutation::Flip { at, bits }),
        (any::<usize>(), interesting).prop_map(|(at, byte)| Mutation::Set { at, byte }),
        any::<usize>().prop_map(|at| Mutation::Truncate { at }),
        (any::<usize>(), prop::collection::vec(any::<u8>(), 1..16))
            .prop_map(|(at, bytes)| Mutation::Insert { at, bytes }),
        (any::<usize>(), 1usize..64).prop_map(|(at, len)| Mutation::Delete { at, len }),
        (any::<usize>(), 1usize..32, 2usize..64).prop_map(|(at, len, times)| Mutation::Repeat {
            at,
            len,
            times
        }),
    ]
}

pub fn apply(mut bytes: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for m in mutations {
        let n = bytes.len();
        let pos = |at: usize| if n == 0 { 0 } else { at % (n + 1) };
        match m {
            Mutation::Flip { at, bits } if n > 0 => bytes[at % n] ^= bits,
            Mutation::Set { at, byte } if n > 0 => bytes[at % n] = *byte,
            Mutation::Truncate { at } => bytes.truncate(pos(*at)),
            Mutation::Insert { at, bytes: new } => {
                let at = pos(*at);
                bytes.splice(at..at, new.iter().copied());
            }
            Mutation::Delete { at, len } if n > 0 => {
                let at = at % n;
                bytes.drain(at..(at + len).min(n));
            }
            Mutation::Repeat { at, len, times } if n > 0 => {
                let at = at % n;
                let piece: Vec<u8> = bytes[at..(at + len).min(n)].to_vec();
                let copies: Vec<u8> = piece.repeat(*times);
                bytes.splice(at..at, copies);
            }
            _ => {}
        }
    }
    bytes
}

/// A corpus entry with up to 8 edits, or (one case in eight) arbitrary bytes.
pub fn input(seeds: Vec<Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    let count = seeds.len();
    prop_oneof![
        7 => (0..count, prop::collection::vec(mutation(), 0..8))
            .prop_map(move |(i, edits)| apply(seeds[i].clone(), &edits)),
        1 => prop::collection::vec(any::<u8>(), 0..512),
    ]
}
