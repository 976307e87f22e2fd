//! The strip chart a neurologist would check: the EEG trace, the per-window seizure
//! probability under it with the threshold, and the alarms, as a self-contained SVG.
//!
//! Hand-written SVG rather than a plotting crate: the chart is two panels of lines and
//! rectangles, and `plotters`' SVG backend still needs a font stack to lay out its labels.

use std::fmt::Write;

use crate::alarm::{alarms, Event};
use crate::monitor::WindowScore;
use crate::scoring::Interval;
use html_escape::encode_double_quoted_attribute;

const WIDTH: f64 = 1600.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 20.0;
const TRACE: (f64, f64) = (50.0, 330.0);
const PROBABILITY: (f64, f64) = (370.0, 520.0);
const HEIGHT: f64 = 570.0;

/// What to draw.
#[derive(Debug, Clone, Copy)]
pub struct Chart<'a> {
    pub title: &'a str,
    pub samples: &'a [f32],
    pub windows: &'a [WindowScore],
    pub events: &'a [Event],
    pub threshold: f64,
    /// Annotated seizures, when known (a spliced test recording).
    pub seizures: &'a [Interval],
}

/// A tick step of 1, 2 or 5 times a power of ten giving at most `max` ticks over `span`.
fn tick_step(span: f64, max: f64) -> f64 {
    let raw = (span / max).max(1e-9);
    let power = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * power)
        .find(|&step| step >= raw)
        .unwrap_or(10.0 * power)
}

/// Renders the chart.
pub fn svg(chart: &Chart) -> String {
    let duration = crate::seconds(chart.samples.len() as u64).max(1e-3);
    let x = |t: f64| LEFT + (t / duration).clamp(0.0, 1.0) * (WIDTH - LEFT - RIGHT);
    let (low, high) = chart
        .samples
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(l, h), &v| {
            (l.min(v), h.max(v))
        });
    let (low, high) = if low < high {
        (f64::from(low), f64::from(high))
    } else {
        (-1.0, 1.0)
    };
    let y_trace = |v: f64| TRACE.1 - (v - low) / (high - low) * (TRACE.1 - TRACE.0);
    let y_probability =
        |p: f64| PROBABILITY.1 - p.clamp(0.0, 1.0) * (PROBABILITY.1 - PROBABILITY.0);

    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">"#
    );
    let _ = write!(
        s,
        r#"<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/><text x="{LEFT}" y="24" font-size="16">{}</text>"#,
        encode_double_quoted_attribute(chart.title)
    );
    // Annotated seizures: a green band above the trace.
    for seizure in chart.seizures {
        let _ = write!(
            s,
            r##"<rect class="seizure" x="{:.1}" y="{}" width="{:.1}" height="8" fill="#2a9d3a"/>"##,
            x(seizure.start_s),
            TRACE.0 - 12.0,
            (x(seizure.end_s) - x(seizure.start_s)).max(1.0)
        );
    }
    // Alarms: shaded from onset estimate to offset over both panels, a line at detection.
    for alarm in alarms(chart.events, duration) {
        let (onset, offset, detected) = (alarm.start_s, alarm.end_s, alarm.detected_s);
        let _ = write!(
            s,
            r##"<rect class="alarm" x="{:.1}" y="{}" width="{:.1}" height="{}" fill="#d62828" fill-opacity="0.15"/><line x1="{:.1}" x2="{:.1}" y1="{}" y2="{}" stroke="#d62828" stroke-width="1.5"/>"##,
            x(onset),
            TRACE.0,
            (x(offset) - x(onset)).max(1.0),
            PROBABILITY.1 - TRACE.0,
            x(detected),
            x(detected),
            TRACE.0,
            PROBABILITY.1
        );
    }
    // The trace: the min-max envelope of the samples under each pixel column.
    let columns = (WIDTH - LEFT - RIGHT) as usize;
    let per_column = chart.samples.len().div_ceil(columns).max(1);
    s.push_str(r##"<path class="trace" fill="none" stroke="#1d3557" stroke-width="1" d=""##);
    for (i, chunk) in chart.samples.chunks(per_column).enumerate() {
        let (l, h) = chunk
            .iter()
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(l, h), &v| {
                (l.min(v), h.max(v))
            });
        let column = x(crate::seconds((i * per_column) as u64));
        let _ = write!(
            s,
            "{}{column:.1},{:.1}L{column:.1},{:.1}",
            if i == 0 { "M" } else { "L" },
            y_trace(f64::from(h)),
            y_trace(f64::from(l))
        );
    }
    s.push_str(r#""/>"#);
    // The probability of each window, at the window's end (when it is known).
    s.push_str(r##"<polyline class="probability" fill="none" stroke="#457b9d" stroke-width="1.2" points=""##);
    let step = chart.windows.len().div_ceil(4 * columns).max(1);
    for window in chart.windows.iter().step_by(step) {
        let _ = write!(
            s,
            "{:.1},{:.1} ",
            x(window.end_s),
            y_probability(f64::from(window.probability))
        );
    }
    s.push_str(r#""/>"#);
    let _ = write!(
        s,
        r##"<line class="threshold" x1="{LEFT}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#e76f51" stroke-dasharray="6 4"/><text x="{}" y="{:.1}" text-anchor="end" fill="#e76f51">threshold {:.3}</text>"##,
        WIDTH - RIGHT,
        WIDTH - RIGHT,
        y_probability(chart.threshold) - 4.0,
        chart.threshold,
        y = y_probability(chart.threshold),
    );
    // Axes and labels.
    for (top, bottom) in [TRACE, PROBABILITY] {
        let _ = write!(
            s,
            r##"<rect x="{LEFT}" y="{top}" width="{}" height="{}" fill="none" stroke="#888"/>"##,
            WIDTH - LEFT - RIGHT,
            bottom - top
        );
    }
    let step = tick_step(duration, 12.0);
    let decimals = if step >= 1.0 {
        0
    } else {
        (-step.log10()).ceil() as usize
    };
    for i in 0.. {
        let t = i as f64 * step;
        if t > duration + 1e-9 {
            break;
        }
        let _ = write!(
            s,
            r##"<line x1="{0:.1}" x2="{0:.1}" y1="{1}" y2="{2}" stroke="#888"/><text x="{0:.1}" y="{3}" text-anchor="middle">{4:.5$}</text>"##,
            x(t),
            PROBABILITY.1,
            PROBABILITY.1 + 5.0,
            PROBABILITY.1 + 18.0,
            t,
            decimals
        );
    }
    let _ = write!(
        s,
        r#"<text x="{}" y="{}" text-anchor="end">time (s)</text>"#,
        WIDTH - RIGHT,
        HEIGHT - 8.0
    );
    for (value, label) in [(high, format!("{high:.0}")), (low, format!("{low:.0}"))] {
        let _ = write!(
            s,
            r#"<text x="{}" y="{:.1}" text-anchor="end">{label}</text>"#,
            LEFT - 6.0,
            y_trace(value) + 4.0
        );
    }
    for p in [0.0, 0.5, 1.0] {
        let _ = write!(
            s,
            r#"<text x="{}" y="{:.1}" text-anchor="end">{p}</text>"#,
            LEFT - 6.0,
            y_probability(p) + 4.0
        );
    }
    let _ = write!(
        s,
        r#"<text x="12" y="{}" transform="rotate(-90 12 {0})" text-anchor="middle">EEG (µV)</text><text x="12" y="{}" transform="rotate(-90 12 {1})" text-anchor="middle">P(seizure)</text>"#,
        (TRACE.0 + TRACE.1) / 2.0,
        (PROBABILITY.0 + PROBABILITY.1) / 2.0
    );
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_every_part_and_escapes_the_title() {
        let samples: Vec<f32> = (0..17_361)
            .map(|i| (i as f32 * 0.05).sin() * 100.0)
            .collect();
        let windows: Vec<WindowScore> = (0..190)
            .map(|i| WindowScore {
                start_s: i as f64 * 0.5,
                end_s: i as f64 * 0.5 + 1.025,
                probability: if (100..120).contains(&i) { 0.9 } else { 0.1 },
                ood: None,
            })
            .collect();
        let events = [
            Event::SeizureOnset {
                onset_s: 50.0,
                detected_s: 52.0,
                probability: 0.9,
            },
            Event::SeizureOffset {
                offset_s: 61.0,
                detected_s: 64.0,
            },
            Event::SeizureOnset {
                onset_s: 90.0,
                detected_s: 92.0,
                probability: 0.9,
            },
        ];
        let svg = svg(&Chart {
            title: "patient <7> & co",
            samples: &samples,
            windows: &windows,
            events: &events,
            threshold: 0.33,
            seizures: &[Interval {
                start_s: 49.0,
                end_s: 60.0,
            }],
        });
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>\n"));
        assert!(svg.contains("patient &lt;7&gt; &amp; co"));
        assert_eq!(svg.matches(r#"class="alarm""#).count(), 2);
        assert_eq!(svg.matches(r#"class="seizure""#).count(), 1);
        assert!(svg.contains("threshold 0.330"));
        assert!(!svg.contains("NaN") && !svg.contains("inf"));
    }

    #[test]
    fn empty_and_flat_signals_still_render() {
        for samples in [vec![], vec![5.0f32; 1000]] {
            let svg = svg(&Chart {
                title: "",
                samples: &samples,
                windows: &[],
                events: &[],
                threshold: 0.5,
                seizures: &[],
            });
            assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");
        }
    }

    #[test]
    fn ticks_are_round() {
        assert_eq!(tick_step(7200.0, 12.0), 1000.0);
        assert_eq!(tick_step(60.0, 12.0), 5.0);
        assert_eq!(tick_step(23.6, 12.0), 2.0);
    }
}
