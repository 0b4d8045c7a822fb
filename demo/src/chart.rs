//! The report's chart: runners and jobs over time, as a small hand-written SVG.
//!
//! Why no plotting crate: four step lines, axes and a legend take about a hundred lines, while
//! `plotters` would add a dependency tree (fonts, image formats unless trimmed) to a crate the
//! 2-core CI builds anyway, and change the lock file the other demo binary shares.

use std::fmt::Write as _;

/// The fleet and the jobs at one moment of the run.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Sample {
    /// Seconds since the workload started.
    pub t: f64,
    /// ghaec2's last `desired` (none before its first decision).
    pub desired: Option<u32>,
    /// Instances launched and not terminated.
    pub instances: u32,
    /// Runners running a job.
    pub busy: u32,
    /// Jobs waiting for a runner (queued or assigned).
    pub waiting: u32,
    /// Jobs running.
    pub running: u32,
    /// Jobs finished (completed or cancelled).
    pub done: u32,
}

const WIDTH: f64 = 900.0;
const HEIGHT: f64 = 430.0;
const LEFT: f64 = 50.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 100.0;

/// A series: legend, colour, dash pattern, and its value in a sample.
struct Series {
    name: &'static str,
    colour: &'static str,
    dash: Option<&'static str>,
    value: fn(&Sample) -> Option<u32>,
}

const SERIES: [Series; 4] = [
    Series {
        name: "instances (launched, not terminated)",
        colour: "#1f77b4",
        dash: None,
        value: |s| Some(s.instances),
    },
    Series {
        name: "desired (ghaec2's decision)",
        colour: "#7f7f7f",
        dash: Some("6 4"),
        value: |s| s.desired,
    },
    Series {
        name: "jobs waiting for a runner",
        colour: "#d62728",
        dash: None,
        value: |s| Some(s.waiting),
    },
    Series {
        name: "jobs running",
        colour: "#2ca02c",
        dash: None,
        value: |s| Some(s.running),
    },
];

/// The chart of `samples` (in time order) as a standalone SVG document.
pub fn svg(samples: &[Sample], title: &str) -> String {
    let t_max = samples.iter().map(|s| s.t).fold(0.0_f64, f64::max).max(1.0);
    let y_max = samples
        .iter()
        .flat_map(|s| SERIES.iter().filter_map(|series| (series.value)(s)))
        .max()
        .unwrap_or(0)
        .max(1);
    let y_max = f64::from(nice_ceiling(y_max));
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let x = |t: f64| LEFT + t / t_max * plot_w;
    let y = |v: f64| TOP + plot_h - v / y_max * plot_h;

    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(
        out,
        r#"<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>"#
    );
    let _ = writeln!(
        out,
        r#"<text x="{LEFT}" y="22" font-size="15" font-weight="bold">{}</text>"#,
        escape(title)
    );

    // Grid and y labels.
    let y_step = (y_max / 5.0).max(1.0).ceil();
    let mut v = 0.0;
    while v <= y_max {
        let py = y(v);
        let _ = writeln!(
            out,
            r##"<line x1="{LEFT}" y1="{py:.1}" x2="{:.1}" y2="{py:.1}" stroke="#e5e5e5"/><text x="{:.1}" y="{:.1}" text-anchor="end">{v}</text>"##,
            LEFT + plot_w,
            LEFT - 6.0,
            py + 4.0
        );
        v += y_step;
    }
    // x ticks every 30 s (every 10 s for short runs).
    let x_step = if t_max > 90.0 { 30.0 } else { 10.0 };
    let mut t = 0.0;
    while t <= t_max + 1e-9 {
        let px = x(t);
        let _ = writeln!(
            out,
            r##"<line x1="{px:.1}" y1="{:.1}" x2="{px:.1}" y2="{:.1}" stroke="#999"/><text x="{px:.1}" y="{:.1}" text-anchor="middle">{t}</text>"##,
            TOP + plot_h,
            TOP + plot_h + 5.0,
            TOP + plot_h + 18.0
        );
        t += x_step;
    }
    let _ = writeln!(
        out,
        r##"<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{:.1}" stroke="#333"/><line x1="{LEFT}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#333"/>"##,
        TOP + plot_h,
        TOP + plot_h,
        LEFT + plot_w,
        TOP + plot_h
    );
    let _ = writeln!(
        out,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">seconds since the workload started</text>"#,
        LEFT + plot_w / 2.0,
        TOP + plot_h + 34.0
    );

    if samples.is_empty() {
        let _ = writeln!(
            out,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">no samples</text>"#,
            LEFT + plot_w / 2.0,
            TOP + plot_h / 2.0
        );
    }
    for series in &SERIES {
        let points = step_points(samples, series.value);
        if points.is_empty() {
            continue;
        }
        let path: Vec<String> = points
            .iter()
            .map(|(t, v)| format!("{:.1},{:.1}", x(*t), y(f64::from(*v))))
            .collect();
        let dash = series
            .dash
            .map(|d| format!(r#" stroke-dasharray="{d}""#))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            r#"<polyline fill="none" stroke="{}" stroke-width="2"{dash} points="{}"><title>{}</title></polyline>"#,
            series.colour,
            path.join(" "),
            escape(series.name)
        );
    }
    // Legend, in two columns under the axis.
    for (i, series) in SERIES.iter().enumerate() {
        let lx = LEFT + (i % 2) as f64 * 330.0;
        let ly = TOP + plot_h + 62.0 + (i / 2) as f64 * 18.0;
        let dash = series
            .dash
            .map(|d| format!(r#" stroke-dasharray="{d}""#))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            r#"<line x1="{lx:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="{}" stroke-width="2"{dash}/><text x="{:.1}" y="{:.1}">{}</text>"#,
            ly - 4.0,
            lx + 24.0,
            ly - 4.0,
            series.colour,
            lx + 30.0,
            ly,
            escape(series.name)
        );
    }
    out.push_str("</svg>\n");
    out
}

/// The points of a step line: each value holds until the next sample. Samples without a
/// value (no decision yet) are skipped.
fn step_points(samples: &[Sample], value: fn(&Sample) -> Option<u32>) -> Vec<(f64, u32)> {
    let mut points: Vec<(f64, u32)> = Vec::new();
    for s in samples {
        let Some(v) = value(s) else { continue };
        if let Some(&(_, last)) = points.last()
            && last != v
        {
            points.push((s.t, last));
        }
        points.push((s.t, v));
    }
    points
}

/// The smallest of 5, 10, 15, 20, 30, 40, 50, … not below `v`.
fn nice_ceiling(v: u32) -> u32 {
    match v {
        0..=5 => 5,
        6..=20 => v.div_ceil(5) * 5,
        _ => v.div_ceil(10) * 10,
    }
}

/// XML text escaping.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(t: f64, desired: Option<u32>, instances: u32, waiting: u32, running: u32) -> Sample {
        Sample {
            t,
            desired,
            instances,
            busy: running,
            waiting,
            running,
            done: 0,
        }
    }

    #[test]
    fn a_recorded_timeline_becomes_four_step_lines() {
        let samples = [
            sample(0.0, None, 1, 0, 0),
            sample(1.0, Some(4), 1, 3, 0),
            sample(2.0, Some(4), 4, 0, 3),
            sample(3.0, Some(1), 1, 0, 0),
        ];
        let svg = svg(&samples, "ghaec2 demo");
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<polyline").count(), 4);
        assert!(svg.contains("ghaec2 demo"));
        for series in &SERIES {
            assert!(svg.contains(series.name));
        }
        assert!(!svg.contains("no samples"));
    }

    #[test]
    fn step_lines_hold_a_value_until_the_next_sample() {
        let samples = [
            sample(0.0, None, 1, 0, 0),
            sample(1.0, Some(4), 1, 0, 0),
            sample(2.0, Some(4), 3, 0, 0),
        ];
        assert_eq!(
            step_points(&samples, |s| Some(s.instances)),
            vec![(0.0, 1), (1.0, 1), (2.0, 1), (2.0, 3)]
        );
        // No decision yet: the desired line starts at the first one.
        assert_eq!(
            step_points(&samples, |s| s.desired),
            vec![(1.0, 4), (2.0, 4)]
        );
    }

    #[test]
    fn empty_timeline_and_escaping() {
        let svg = svg(&[], "a <b> & \"c\"");
        assert!(svg.contains("no samples"));
        assert!(svg.contains("a &lt;b&gt; &amp; &quot;c&quot;"));
        assert_eq!(svg.matches("<polyline").count(), 0);
    }

    #[test]
    fn y_axis_rounds_up() {
        assert_eq!(nice_ceiling(0), 5);
        assert_eq!(nice_ceiling(5), 5);
        assert_eq!(nice_ceiling(12), 15);
        assert_eq!(nice_ceiling(37), 40);
    }
}
