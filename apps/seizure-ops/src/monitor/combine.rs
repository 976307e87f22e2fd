//! What several channels, or many windows, say together: the combined alarms and the
//! out-of-distribution summary.

use bedside::WindowScore;
use serde::Serialize;

use super::AlarmSpan;

/// The alarms of several channels as one list: an alarm when any channel alarms, and the
/// alarms of different channels that overlap in time are one (from the earliest onset to the
/// latest offset, detected at the earliest detection).
pub fn combined(per_channel: &[Vec<AlarmSpan>]) -> Vec<AlarmSpan> {
    let mut all: Vec<AlarmSpan> = per_channel.iter().flatten().copied().collect();
    all.sort_by(|a, b| a.onset_s.total_cmp(&b.onset_s));
    let mut merged: Vec<AlarmSpan> = Vec::with_capacity(all.len());
    for alarm in all {
        match merged.last_mut() {
            Some(last) if alarm.onset_s <= last.offset_s => {
                last.offset_s = last.offset_s.max(alarm.offset_s);
                last.detected_s = last.detected_s.min(alarm.detected_s);
            }
            _ => merged.push(alarm),
        }
    }
    merged
}

/// The share of windows the drift profile calls unlike the training windows.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct OodSummary {
    pub windows: usize,
    pub windows_flagged: usize,
    pub fraction: f64,
    /// More than 5% of the windows flagged (50 times the training windows' own rate, 0.1%;
    /// the 100 held-out recordings streamed back to back flag 1 window in 4,704): the
    /// recording is unlike the training data (another scale, montage or spectrum) and its
    /// alarms are unvalidated.
    pub flagged: bool,
    /// False when the model carries no drift profile (no flags can be raised).
    pub scored: bool,
}

/// Above this share of flagged windows a recording is called out of distribution.
pub const OOD_RECORDING_FRACTION: f64 = 0.05;

impl OodSummary {
    /// Several channels together: their windows counted together, and flagged when any
    /// channel is (an alarm may come from any one of them).
    pub fn of_channels(channels: &[OodSummary]) -> Self {
        let windows = channels.iter().map(|c| c.windows).sum::<usize>();
        let windows_flagged = channels.iter().map(|c| c.windows_flagged).sum::<usize>();
        Self {
            windows,
            windows_flagged,
            fraction: if windows == 0 {
                0.0
            } else {
                windows_flagged as f64 / windows as f64
            },
            flagged: channels.iter().any(|c| c.flagged),
            scored: channels.iter().any(|c| c.scored),
        }
    }

    pub fn of(windows: &[WindowScore]) -> Self {
        let scored = windows.iter().any(|w| w.ood.is_some());
        let flagged = windows
            .iter()
            .filter(|w| w.ood.as_ref().is_some_and(|o| o.flagged))
            .count();
        let fraction = if windows.is_empty() {
            0.0
        } else {
            flagged as f64 / windows.len() as f64
        };
        Self {
            windows: windows.len(),
            windows_flagged: flagged,
            fraction,
            flagged: fraction > OOD_RECORDING_FRACTION,
            scored,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(onset_s: f64, offset_s: f64, detected_s: f64) -> AlarmSpan {
        AlarmSpan {
            onset_s,
            offset_s,
            detected_s,
        }
    }

    #[test]
    fn overlapping_alarms_of_several_channels_are_one() {
        let a = vec![span(10.0, 20.0, 13.0), span(100.0, 110.0, 104.0)];
        let b = vec![span(15.0, 25.0, 12.5), span(50.0, 60.0, 53.0)];
        assert_eq!(
            combined(&[a, b]),
            vec![
                span(10.0, 25.0, 12.5),
                span(50.0, 60.0, 53.0),
                span(100.0, 110.0, 104.0)
            ]
        );
        assert_eq!(combined(&[]), vec![]);
    }
}
