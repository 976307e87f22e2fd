//! Which stretches of a stream are known recordings replayed: every run of 178 samples, at
//! any offset, whose fingerprint ([`eeg_data::fingerprint`]) a caller recognises (the
//! patient store's, the data set's). A window is a replay when known runs cover every one of
//! its samples, so recordings streamed back to back count whatever the windows' hop and
//! alignment, while a window with any new sample in it does not.

use std::collections::VecDeque;

use eeg_data::fingerprint::Rolling;
use eeg_data::SAMPLES_PER_RECORDING;

/// The rolling fingerprint of a stream and the known stretches still needed.
#[derive(Debug, Clone)]
pub struct ReplayTracker {
    rolling: Rolling,
    /// Samples taken so far.
    seen: u64,
    /// Merged known stretches, `[start, end)` in stream samples, oldest first.
    covered: VecDeque<(u64, u64)>,
}

impl Default for ReplayTracker {
    fn default() -> Self {
        Self {
            rolling: Rolling::new(SAMPLES_PER_RECORDING),
            seen: 0,
            covered: VecDeque::new(),
        }
    }
}

/// Known stretches kept at most (a push's worth of distinct ones; older ones go first).
const MAX_STRETCHES: usize = 4_096;

impl ReplayTracker {
    /// Takes the next samples; `known` says whether a fingerprint is of a known recording.
    pub fn push(&mut self, samples: &[f32], known: &dyn Fn(u64) -> bool) {
        for &v in samples {
            self.seen += 1;
            let Some(fingerprint) = self.rolling.push(v) else {
                continue;
            };
            if !known(fingerprint) {
                continue;
            }
            let (start, end) = (self.seen - SAMPLES_PER_RECORDING as u64, self.seen);
            match self.covered.back_mut() {
                Some(last) if start <= last.1 => last.1 = last.1.max(end),
                _ => {
                    self.covered.push_back((start, end));
                    if self.covered.len() > MAX_STRETCHES {
                        self.covered.pop_front();
                    }
                }
            }
        }
    }

    /// Whether known stretches cover the window of `len` samples from `start` (a window of
    /// samples already taken).
    pub fn covers(&self, start: u64, len: usize) -> bool {
        let end = start + len as u64;
        self.covered.iter().any(|&(s, e)| s <= start && end <= e)
    }

    /// Forgets stretches that end before `sample` (no window to come starts before it).
    pub fn forget_before(&mut self, sample: u64) {
        while self.covered.front().is_some_and(|&(_, e)| e <= sample) {
            self.covered.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use eeg_data::fingerprint::fingerprint;
    use std::collections::HashSet;

    fn recording(seed: u32) -> Vec<f32> {
        (0..SAMPLES_PER_RECORDING as u32)
            .map(|i| ((i * 7919 + seed * 104_729) % 1000) as f32 - 500.0)
            .collect()
    }

    #[test]
    fn recordings_back_to_back_cover_every_window_at_any_hop_and_new_samples_do_not() {
        let known_recordings: Vec<Vec<f32>> = (0..5).map(recording).collect();
        let known: HashSet<u64> = known_recordings.iter().map(|r| fingerprint(r)).collect();
        let is_known = |f: u64| known.contains(&f);
        let mut tracker = ReplayTracker::default();
        // Three known recordings, one new, two known again, pushed in odd-sized pieces.
        let mut stream: Vec<f32> = known_recordings[..3].concat();
        stream.extend(recording(99));
        stream.extend(known_recordings[3..5].concat());
        for piece in stream.chunks(61) {
            tracker.push(piece, &is_known);
        }
        let r = SAMPLES_PER_RECORDING as u64;
        for start in (0..=stream.len() as u64 - r).step_by(29) {
            let new = (start + r > 3 * r) && start < 4 * r;
            assert_eq!(
                tracker.covers(start, SAMPLES_PER_RECORDING),
                !new,
                "window at {start}"
            );
        }
        tracker.forget_before(4 * r);
        assert!(!tracker.covers(0, SAMPLES_PER_RECORDING));
        assert!(tracker.covers(4 * r + 10, SAMPLES_PER_RECORDING - 10));
    }

    #[test]
    fn one_changed_sample_is_new_input() {
        let mut r = recording(1);
        let known = HashSet::from([fingerprint(&r)]);
        r[100] += 1.0;
        let mut tracker = ReplayTracker::default();
        tracker.push(&r, &|f| known.contains(&f));
        assert!(!tracker.covers(0, SAMPLES_PER_RECORDING));
    }
}
