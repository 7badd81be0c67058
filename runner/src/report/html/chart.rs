//! Line charts drawn as inline SVG on the runner's side: the report needs no
//! script or network to show them, and tests can read their data.

use std::fmt::Write as _;

use crate::report::format::{millis, number};

const W: f64 = 760.0;
const H: f64 = 260.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 14.0;
const BOTTOM: f64 = 40.0;
/// Above this many points a series is drawn without point markers.
const MARKERS_UP_TO: usize = 240;

/// Colours of series, in order (colour-blind-safe Okabe-Ito, then extra).
pub const PALETTE: [&str; 10] = [
    "#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442",
    "#7f7f7f", "#8c564b",
];

/// What the y values are.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Unit {
    /// Milliseconds.
    Millis,
    /// A count or rate.
    Plain,
}

/// What the x values are.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum XAxis {
    /// Seconds from the load's start.
    Seconds,
    /// Percentile position: x = -log10(1 - q), labelled 0%, 90%, 99%, ...
    Percentile,
}

/// One line.
#[derive(Debug, Clone)]
pub struct Series {
    /// Legend text.
    pub name: String,
    /// Points in x order; non-finite ones are left out.
    pub points: Vec<(f64, f64)>,
}

/// A chart.
#[derive(Debug, Clone)]
pub struct LineChart {
    /// Element id (for links and tests).
    pub id: String,
    /// Heading shown above it.
    pub title: String,
    /// The lines.
    pub series: Vec<Series>,
    /// y unit.
    pub unit: Unit,
    /// x axis kind.
    pub x: XAxis,
}

/// A "nice" step (1, 2 or 5 times a power of ten) near `range / n`.
fn nice_step(range: f64, n: f64) -> f64 {
    if range <= 0.0 || !range.is_finite() {
        return 1.0;
    }
    let raw = range / n;
    let mag = 10f64.powf(raw.log10().floor());
    let f = raw / mag;
    let nice = if f <= 1.0 {
        1.0
    } else if f <= 2.0 {
        2.0
    } else if f <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * mag
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn y_label(unit: Unit, v: f64) -> String {
    match unit {
        Unit::Millis => millis(v),
        Unit::Plain => number(v),
    }
}

fn x_label(x: XAxis, v: f64) -> String {
    match x {
        XAxis::Seconds => {
            let s = v.round() as u64;
            if s >= 60 {
                format!("{}m{:02}s", s / 60, s % 60)
            } else {
                format!("{s}s")
            }
        }
        XAxis::Percentile => {
            let q = 100.0 * (1.0 - 10f64.powf(-v));
            let digits = (v.round() as usize).saturating_sub(2);
            format!("{q:.digits$}%")
        }
    }
}

impl LineChart {
    /// The chart as an `<svg>` element with a legend.
    pub fn svg(&self) -> String {
        let pts = || {
            self.series
                .iter()
                .flat_map(|s| s.points.iter())
                .filter(|(x, y)| x.is_finite() && y.is_finite())
        };
        let (mut x0, mut x1) = pts().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), (x, _)| {
            (a.min(*x), b.max(*x))
        });
        let y1 = pts().fold(0.0f64, |a, (_, y)| a.max(*y));
        if !x0.is_finite() {
            (x0, x1) = (0.0, 1.0);
        }
        if x1 <= x0 {
            x1 = x0 + 1.0;
        }
        if self.x == XAxis::Percentile {
            x0 = 0.0;
        }
        let ystep = nice_step(y1.max(1e-9), 5.0);
        let ymax = ((y1 / ystep).ceil() * ystep).max(ystep);
        let pw = W - LEFT - RIGHT;
        let ph = H - TOP - BOTTOM;
        let sx = |x: f64| LEFT + (x - x0) / (x1 - x0) * pw;
        let sy = |y: f64| TOP + ph - y / ymax * ph;

        let mut s = String::new();
        let _ = write!(
            s,
            r#"<svg class="chart" id="{}" viewBox="0 0 {W} {H}" role="img" aria-label="{}" xmlns="http://www.w3.org/2000/svg">"#,
            esc(&self.id),
            esc(&self.title)
        );
        // Grid and y labels.
        let _ = write!(s, r#"<g class="axis">"#);
        let mut y = 0.0;
        while y <= ymax * 1.0001 {
            let py = sy(y);
            let _ = write!(
                s,
                r##"<line x1="{LEFT}" x2="{}" y1="{py:.1}" y2="{py:.1}" stroke="#e3e3e3"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
                W - RIGHT,
                LEFT - 6.0,
                py + 4.0,
                esc(&y_label(self.unit, y))
            );
            y += ystep;
        }
        // x ticks.
        let xticks: Vec<f64> = match self.x {
            XAxis::Percentile => (0..=(x1.ceil() as u32)).map(f64::from).collect(),
            XAxis::Seconds => {
                let step = nice_step(x1 - x0, 8.0).max(1.0);
                let mut v = (x0 / step).ceil() * step;
                let mut out = Vec::new();
                while v <= x1 + 1e-9 {
                    out.push(v);
                    v += step;
                }
                out
            }
        };
        for xt in xticks.iter().filter(|v| **v >= x0 && **v <= x1 + 1e-9) {
            let px = sx(*xt);
            let _ = write!(
                s,
                r##"<line x1="{px:.1}" x2="{px:.1}" y1="{}" y2="{}" stroke="#bbb"/><text x="{px:.1}" y="{}" text-anchor="middle">{}</text>"##,
                TOP + ph,
                TOP + ph + 4.0,
                TOP + ph + 18.0,
                esc(&x_label(self.x, *xt))
            );
        }
        let _ = write!(
            s,
            r##"<line x1="{LEFT}" x2="{}" y1="{}" y2="{}" stroke="#888"/></g>"##,
            W - RIGHT,
            TOP + ph,
            TOP + ph
        );
        // Series.
        for (i, series) in self.series.iter().enumerate() {
            let color = PALETTE[i % PALETTE.len()];
            let points: Vec<(f64, f64)> = series
                .points
                .iter()
                .copied()
                .filter(|(x, y)| x.is_finite() && y.is_finite())
                .collect();
            let _ = write!(
                s,
                r#"<g class="series" data-series="{}" data-points="{}" stroke="{color}" fill="{color}">"#,
                esc(&series.name),
                points.len()
            );
            let line: Vec<String> = points
                .iter()
                .map(|(x, y)| format!("{:.1},{:.1}", sx(*x), sy(*y)))
                .collect();
            let _ = write!(
                s,
                r#"<polyline fill="none" stroke-width="1.8" points="{}"/>"#,
                line.join(" ")
            );
            if points.len() <= MARKERS_UP_TO {
                for (x, y) in &points {
                    let _ = write!(
                        s,
                        r#"<circle cx="{:.1}" cy="{:.1}" r="2.2"><title>{}: {} at {}</title></circle>"#,
                        sx(*x),
                        sy(*y),
                        esc(&series.name),
                        esc(&y_label(self.unit, *y)),
                        esc(&x_label(self.x, *x))
                    );
                }
            }
            s.push_str("</g>");
        }
        s.push_str("</svg>");
        // Legend, as HTML so long names wrap.
        let _ = write!(s, r#"<div class="legend">"#);
        for (i, series) in self.series.iter().enumerate() {
            let _ = write!(
                s,
                r#"<span><i style="background:{}"></i>{}</span>"#,
                PALETTE[i % PALETTE.len()],
                esc(&series.name)
            );
        }
        s.push_str("</div>");
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_and_labels() {
        assert_eq!(nice_step(100.0, 5.0), 20.0);
        assert_eq!(nice_step(7.0, 5.0), 2.0);
        assert_eq!(x_label(XAxis::Seconds, 75.0), "1m15s");
        assert_eq!(x_label(XAxis::Percentile, 2.0), "99%");
        assert_eq!(x_label(XAxis::Percentile, 3.0), "99.9%");
    }

    #[test]
    fn series_are_drawn_with_their_data() {
        let c = LineChart {
            id: "c".into(),
            title: "t <x>".into(),
            series: vec![Series {
                name: "GET /a".into(),
                points: vec![(1.0, 2.0), (2.0, f64::NAN), (3.0, 4.0)],
            }],
            unit: Unit::Millis,
            x: XAxis::Seconds,
        };
        let svg = c.svg();
        assert!(
            svg.contains(r#"data-series="GET /a" data-points="2""#),
            "{svg}"
        );
        assert_eq!(svg.matches("<circle").count(), 2);
        assert!(svg.contains("t &lt;x&gt;"));
    }
}
