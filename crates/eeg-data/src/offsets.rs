//! Windows of continuous signals at offsets other than the data set's chunk boundaries: what
//! a bedside signal looks like, cut wherever a window happens to start.

use crate::processed::{Signals, SIGNAL_SAMPLES};
use crate::SAMPLES_PER_RECORDING;

/// Which quarter-chunk offsets to cut at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuarterOffsets {
    /// Every quarter chunk, the chunk boundaries (the data set's own recordings) included.
    All,
    /// Only those between chunk boundaries.
    BetweenBoundaries,
}

/// Window starts at every quarter chunk (rounded) whose 178-sample window fits in a signal.
pub fn quarter_offsets(which: QuarterOffsets) -> impl Iterator<Item = usize> {
    let quarter = SAMPLES_PER_RECORDING as f64 / 4.0;
    (0..)
        .filter(move |k| which == QuarterOffsets::All || k % 4 != 0)
        .map(move |k| (k as f64 * quarter).round() as usize)
        .take_while(|start| start + SAMPLES_PER_RECORDING <= SIGNAL_SAMPLES)
}

/// Raw 178-sample windows cut from signals, with the label and segment of each.
#[derive(Debug, Clone, PartialEq)]
pub struct Windows {
    /// Row-major, 178 per window.
    pub samples: Vec<f32>,
    pub labels: Vec<bool>,
    pub segments: Vec<u32>,
}

impl Windows {
    /// Every signal cut at `which` offsets, signal by signal.
    pub fn cut(signals: &Signals, which: QuarterOffsets) -> Self {
        let offsets: Vec<usize> = quarter_offsets(which).collect();
        let mut windows = Self {
            samples: Vec::with_capacity(signals.len() * offsets.len() * SAMPLES_PER_RECORDING),
            labels: Vec::new(),
            segments: Vec::new(),
        };
        for row in 0..signals.len() {
            let signal = signals.samples.row(row);
            let signal = signal.as_slice().expect("rows of a standard array");
            for &start in &offsets {
                windows
                    .samples
                    .extend_from_slice(&signal[start..start + SAMPLES_PER_RECORDING]);
                windows.labels.push(signals.y[row] == 1);
                windows.segments.push(signals.segment[row]);
            }
        }
        windows
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array1, Array2};

    #[test]
    fn quarter_offsets_fit_and_skip_boundaries_when_asked() {
        let between: Vec<usize> = quarter_offsets(QuarterOffsets::BetweenBoundaries).collect();
        assert_eq!(&between[..4], &[45, 89, 134, 223]);
        assert!(between.iter().all(|o| o % 178 != 0));
        assert!(between.iter().all(|o| o + 178 <= SIGNAL_SAMPLES));
        // Three quarter points in each of the 22 gaps between 23 chunks.
        assert_eq!(between.len(), 66);
        let all: Vec<usize> = quarter_offsets(QuarterOffsets::All).collect();
        assert_eq!(all.len(), 66 + 23);
        assert_eq!(&all[..5], &[0, 45, 89, 134, 178]);
    }

    #[test]
    fn windows_are_contiguous_cuts_of_their_signal() {
        let signals = Signals {
            samples: Array2::from_shape_fn((2, SIGNAL_SAMPLES), |(s, i)| (10_000 * s + i) as f32),
            segment: Array1::from(vec![4, 9]),
            y: Array1::from(vec![0, 1]),
        };
        let windows = Windows::cut(&signals, QuarterOffsets::BetweenBoundaries);
        assert_eq!(windows.len(), 132);
        assert_eq!(windows.samples.len(), 132 * 178);
        assert_eq!(windows.segments[0], 4);
        assert_eq!(windows.segments[66], 9);
        assert!(!windows.labels[0] && windows.labels[66]);
        let second = &windows.samples[178..356];
        assert_eq!(second[0], 89.0);
        assert_eq!(second[177], 89.0 + 177.0);
        assert_eq!(windows.samples[66 * 178], 10_045.0);
    }
}
