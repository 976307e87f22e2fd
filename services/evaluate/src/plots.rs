//! The evaluation plots as self-contained SVG files: the ROC curve, the precision-recall curve
//! and the confusion matrix. SVG text is drawn by the viewer, so no font files are needed.

use std::fmt::Write as _;

use crate::metrics::Confusion;
use html_escape::encode_double_quoted_attribute;

const WIDTH: f64 = 480.0;
const HEIGHT: f64 = 480.0;
const MARGIN: f64 = 60.0;

fn header(title: &str) -> String {
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{HEIGHT}\" \
         viewBox=\"0 0 {WIDTH} {HEIGHT}\" font-family=\"sans-serif\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{}\" y=\"30\" text-anchor=\"middle\" font-size=\"16\">{}</text>\n",
        WIDTH / 2.0,
        encode_double_quoted_attribute(title)
    )
}

/// A curve on the unit square, with axes, ticks and an optional chance diagonal.
pub fn curve(
    title: &str,
    x_label: &str,
    y_label: &str,
    points: &[(f64, f64)],
    diagonal: bool,
    note: &str,
) -> String {
    let side = WIDTH - 2.0 * MARGIN;
    let to_x = |x: f64| MARGIN + x.clamp(0.0, 1.0) * side;
    let to_y = |y: f64| HEIGHT - MARGIN - y.clamp(0.0, 1.0) * side;
    let mut svg = header(title);
    let _ = writeln!(
        svg,
        "<rect x=\"{MARGIN}\" y=\"{MARGIN}\" width=\"{side}\" height=\"{side}\" fill=\"none\" stroke=\"black\"/>"
    );
    for tick in 0..=5 {
        let v = f64::from(tick) / 5.0;
        let _ = writeln!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"11\">{v:.1}</text>\n\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" font-size=\"11\">{v:.1}</text>",
            to_x(v),
            HEIGHT - MARGIN + 16.0,
            MARGIN - 6.0,
            to_y(v) + 4.0
        );
    }
    if diagonal {
        let _ = writeln!(
            svg,
            "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"gray\" stroke-dasharray=\"4 4\"/>",
            to_x(0.0),
            to_y(0.0),
            to_x(1.0),
            to_y(1.0)
        );
    }
    let path: Vec<String> = points
        .iter()
        .filter(|(x, y)| x.is_finite() && y.is_finite())
        .map(|&(x, y)| format!("{:.2},{:.2}", to_x(x), to_y(y)))
        .collect();
    let _ = writeln!(
        svg,
        "<polyline points=\"{}\" fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"2\"/>",
        path.join(" ")
    );
    let _ = writeln!(
        svg,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-size=\"13\">{}</text>\n\
         <text x=\"18\" y=\"{}\" text-anchor=\"middle\" font-size=\"13\" transform=\"rotate(-90 18 {})\">{}</text>\n\
         <text x=\"{}\" y=\"{}\" text-anchor=\"end\" font-size=\"13\">{}</text>\n</svg>",
        WIDTH / 2.0,
        HEIGHT - 20.0,
        encode_double_quoted_attribute(x_label),
        HEIGHT / 2.0,
        HEIGHT / 2.0,
        encode_double_quoted_attribute(y_label),
        WIDTH - MARGIN - 8.0,
        HEIGHT - MARGIN - 12.0,
        encode_double_quoted_attribute(note)
    );
    svg
}

/// The 2 x 2 confusion matrix, cells shaded by their share of the row.
pub fn confusion_matrix(title: &str, c: &Confusion) -> String {
    let cell = (WIDTH - 2.0 * MARGIN) / 2.0;
    let rows = [
        ("non-seizure", [c.true_negative, c.false_positive]),
        ("seizure", [c.false_negative, c.true_positive]),
    ];
    let mut svg = header(title);
    for (r, (name, counts)) in rows.iter().enumerate() {
        let total = counts.iter().sum::<usize>().max(1) as f64;
        for (col, &count) in counts.iter().enumerate() {
            let (x, y) = (MARGIN + col as f64 * cell, MARGIN + r as f64 * cell);
            let shade = 255.0 - 180.0 * count as f64 / total;
            let _ = writeln!(
                svg,
                "<rect x=\"{x}\" y=\"{y}\" width=\"{cell}\" height=\"{cell}\" fill=\"rgb({shade:.0},{shade:.0},255)\" stroke=\"black\"/>\n\
                 <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"22\">{count}</text>",
                x + cell / 2.0,
                y + cell / 2.0 + 8.0
            );
        }
        let _ = writeln!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"12\" transform=\"rotate(-90 {:.1} {:.1})\">true {name}</text>",
            MARGIN - 12.0,
            MARGIN + (r as f64 + 0.5) * cell,
            MARGIN - 12.0,
            MARGIN + (r as f64 + 0.5) * cell
        );
    }
    for (col, name) in ["non-seizure", "seizure"].iter().enumerate() {
        let _ = writeln!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"12\">predicted {name}</text>",
            MARGIN + (col as f64 + 0.5) * cell,
            HEIGHT - MARGIN + 20.0
        );
    }
    svg.push_str("</svg>\n");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn curves_and_matrices_are_well_formed_svg() {
        let svg = curve(
            "ROC <test>",
            "FPR",
            "TPR",
            &[(0.0, 0.0), (0.2, 0.9), (1.0, 1.0)],
            true,
            "AUC 0.95",
        );
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("ROC &lt;test&gt;"));
        assert!(svg.contains("<polyline points=\"60.00,420.00 132.00,96.00 420.00,60.00\""));
        let matrix = confusion_matrix(
            "Confusion",
            &Confusion {
                true_positive: 7,
                false_positive: 1,
                true_negative: 30,
                false_negative: 2,
            },
        );
        assert_eq!(matrix.matches("<rect x=").count(), 4);
        for count in [">7<", ">1<", ">30<", ">2<"] {
            assert!(matrix.contains(count), "{count}");
        }
    }
}
