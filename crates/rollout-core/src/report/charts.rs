//! The three SVG charts a run leaves beside its report: which version answered the users,
//! how often each failed them, and how many pods each had ready, second by second, with the
//! rollout's steps marked on the time axis.
//!
//! Rendering is pure (a report in, strings out) so it can be tested without touching disk;
//! [`super::run::write`] puts the strings into files.

use std::collections::BTreeMap;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::data::{Marker, RunReport, SecondSample};

/// Share of answered requests per version, percent.
pub const TRAFFIC_SHARE: &str = "traffic-share.svg";
/// Failed requests per version, percent, and requests that got no answer at all.
pub const ERROR_RATE: &str = "error-rate.svg";
/// Ready pods per version.
pub const READY_PODS: &str = "ready-pods.svg";

/// The name of the series for requests no version answered, in the error-rate chart.
pub const NO_ANSWER: &str = "no answer";

/// One rendered chart: the file name it is meant to be written under and its SVG text.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    pub file: &'static str,
    pub svg: String,
}

const WIDTH: u32 = 960;
const HEIGHT: u32 = 420;
/// Room at the right for the legend, so it never hides a line (a series at 100% runs along
/// the top of the plot, where a legend inside it would sit).
const LEGEND_WIDTH: u32 = 170;
/// Longest marker label or legend entry drawn in full; the markdown report has the full text.
const MAX_LABEL_CHARS: usize = 28;

/// Versions get these colours in the order they first appear: blue for the version the run
/// started from, orange for the next, and so on. Red and grey are left out because they mean
/// "no answer" and "marker" here.
const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),  // blue
    RGBColor(255, 127, 14),  // orange
    RGBColor(44, 160, 44),   // green
    RGBColor(148, 103, 189), // purple
    RGBColor(140, 86, 75),   // brown
    RGBColor(227, 119, 194), // pink
    RGBColor(188, 189, 34),  // olive
    RGBColor(23, 190, 207),  // cyan
];
const NO_ANSWER_COLOR: RGBColor = RGBColor(214, 39, 40);
const MARKER_COLOR: RGBColor = RGBColor(120, 120, 120);

/// One line of a chart. `None` points are gaps: seconds where the value is undefined (no
/// request to take a share or a rate of), which a line should not bridge as if it were known.
struct Series {
    name: String,
    color: RGBColor,
    points: Vec<Option<(f64, f64)>>,
}

impl Series {
    /// The unbroken stretches of the line.
    fn runs(&self) -> Vec<Vec<(f64, f64)>> {
        let mut runs = Vec::new();
        let mut current = Vec::new();
        for p in &self.points {
            match p {
                Some((x, y)) if x.is_finite() && y.is_finite() => current.push((*x, *y)),
                _ => {
                    if !current.is_empty() {
                        runs.push(std::mem::take(&mut current));
                    }
                }
            }
        }
        if !current.is_empty() {
            runs.push(current);
        }
        runs
    }
}

/// What differs between the three charts besides their series.
struct Frame<'a> {
    caption: &'a str,
    y_desc: &'a str,
    y_max: f64,
    /// Pod counts are whole numbers: label only whole ticks.
    whole_y: bool,
}

/// Three charts over time (x: seconds since the start), one line per version, with a dashed
/// vertical line and a short label at every marker:
///  - [`TRAFFIC_SHARE`]: share of answered requests per version, percent (0–100);
///  - [`ERROR_RATE`]: failed / requests per version, percent, plus a [`NO_ANSWER`] series
///    (unanswered requests as a share of all requests that second) when any went unanswered;
///  - [`READY_PODS`]: ready pods per version.
///
/// Every series' `<polyline>` elements, in the plot and in the legend, carry
/// `data-series="<version>"` so a reader (or a test) can tell the lines apart.
pub fn render(r: &RunReport) -> Result<Vec<Chart>, ChartError> {
    let versions = versions_in_order(&r.timeline);
    let colors = palette(versions.len());
    let x_range = x_range(&r.timeline, &r.markers);

    // One line per version, each point from that second's sample.
    let per_version = |value: &dyn Fn(&SecondSample, &str) -> Option<f64>| -> Vec<Series> {
        versions
            .iter()
            .zip(&colors)
            .map(|(v, c)| Series {
                name: v.clone(),
                color: *c,
                points: r
                    .timeline
                    .iter()
                    .map(|s| value(s, v).map(|y| (s.t, y)))
                    .collect(),
            })
            .collect()
    };

    let traffic = per_version(&|s, v| {
        let answered: u64 = s.by_version.values().map(|x| x.requests).sum();
        // A version absent from a second that others answered served none of it.
        let mine = s.by_version.get(v).map_or(0, |x| x.requests);
        percent(mine, answered)
    });

    let mut errors = per_version(&|s, v| {
        let x = s.by_version.get(v)?;
        percent(x.failed, x.requests)
    });
    if r.timeline.iter().any(|s| s.unanswered > 0) {
        errors.push(Series {
            name: NO_ANSWER.to_owned(),
            color: NO_ANSWER_COLOR,
            points: r
                .timeline
                .iter()
                .map(|s| {
                    let answered: u64 = s.by_version.values().map(|x| x.requests).sum();
                    percent(s.unanswered, answered.saturating_add(s.unanswered)).map(|p| (s.t, p))
                })
                .collect(),
        });
    }
    let worst_error = errors
        .iter()
        .flat_map(|s| s.points.iter().flatten())
        .map(|(_, y)| *y)
        .fold(0.0, f64::max);

    // A version missing from a second had no pods then (not yet made, or gone).
    let pods =
        per_version(&|s, v| Some(f64::from(s.by_version.get(v).map_or(0, |x| x.ready_pods))));
    let most_pods = r
        .timeline
        .iter()
        .flat_map(|s| s.by_version.values())
        .map(|x| x.ready_pods)
        .max()
        .unwrap_or(0);

    Ok(vec![
        Chart {
            file: TRAFFIC_SHARE,
            svg: draw(
                &Frame {
                    caption: "Share of answered requests by version",
                    y_desc: "% of answered requests",
                    y_max: 100.0,
                    whole_y: false,
                },
                x_range,
                &traffic,
                &r.markers,
            )?,
        },
        Chart {
            file: ERROR_RATE,
            svg: draw(
                &Frame {
                    caption: "Failed requests by version",
                    y_desc: "% failed",
                    y_max: nice_ceiling(worst_error),
                    whole_y: false,
                },
                x_range,
                &errors,
                &r.markers,
            )?,
        },
        Chart {
            file: READY_PODS,
            svg: draw(
                &Frame {
                    caption: "Ready pods by version",
                    y_desc: "ready pods",
                    // One above the peak keeps the top line off the frame.
                    y_max: f64::from(most_pods) + 1.0,
                    whole_y: true,
                },
                x_range,
                &pods,
                &r.markers,
            )?,
        },
    ])
}

/// Versions in the order they first appear in the timeline (within one second, by name, as
/// the map holds them), which fixes their colours.
fn versions_in_order(timeline: &[SecondSample]) -> Vec<String> {
    let mut seen: Vec<String> = Vec::new();
    for s in timeline {
        for v in s.by_version.keys() {
            if !seen.contains(v) {
                seen.push(v.clone());
            }
        }
    }
    seen
}

/// `n` colours, all different from each other and from the reserved ones, because the
/// `data-series` attributes are put on by colour.
fn palette(n: usize) -> Vec<RGBColor> {
    let mut colors: Vec<RGBColor> = PALETTE.iter().copied().take(n).collect();
    let taken = |c: &RGBColor, colors: &[RGBColor]| {
        colors
            .iter()
            .chain([NO_ANSWER_COLOR, MARKER_COLOR].iter())
            .any(|x| x.rgb() == c.rgb())
    };
    // Past the fixed palette, hues a golden angle apart stay distinguishable for a while; the
    // bound only guards against looping forever should they ever run out.
    let mut k = 0u32;
    while colors.len() < n && k < 100_000 {
        let hue = (f64::from(k) * 0.381_966).fract();
        let (r, g, b) = HSLColor(hue, 0.6, 0.42).rgb();
        let c = RGBColor(r, g, b);
        if !taken(&c, &colors) {
            colors.push(c);
        }
        k += 1;
    }
    while colors.len() < n {
        colors.push(MARKER_COLOR);
    }
    colors
}

/// The time axis: from the start (or an earlier sample) to the last sample or marker,
/// at least one second wide so an empty run still draws an axis.
fn x_range(timeline: &[SecondSample], markers: &[Marker]) -> (f64, f64) {
    let times = timeline
        .iter()
        .map(|s| s.t)
        .chain(markers.iter().map(|m| m.t))
        .filter(|t| t.is_finite());
    let (lo, hi) = times.fold((0.0f64, 0.0f64), |(lo, hi), t| (lo.min(t), hi.max(t)));
    (lo, hi.max(lo + 1.0))
}

fn percent(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64 * 100.0)
}

/// A round upper bound for a percent axis, so a 2% error rate is not a flat line at the
/// bottom of a 0–100 chart.
fn nice_ceiling(max: f64) -> f64 {
    // A tenth above the worst keeps its line off the top of the frame.
    [5.0, 10.0, 20.0, 25.0, 50.0, 100.0]
        .into_iter()
        .find(|c| *c >= max * 1.1)
        // Above 100% only when a second counted more failures than requests.
        .unwrap_or(if max.is_finite() {
            max.max(100.0)
        } else {
            100.0
        })
}

fn shorten(s: &str) -> String {
    if s.chars().count() <= MAX_LABEL_CHARS {
        s.to_owned()
    } else {
        let mut out: String = s.chars().take(MAX_LABEL_CHARS - 1).collect();
        out.push('…');
        out
    }
}

/// `12`, `2.5`: ticks without trailing zeros.
fn tick(v: f64) -> String {
    let s = format!("{v:.1}");
    s.strip_suffix(".0").unwrap_or(&s).to_owned()
}

/// A chart that could not be drawn, with the drawing library's reason.
#[derive(Debug, thiserror::Error)]
#[error("cannot draw a chart: {0}")]
pub struct ChartError(String);

impl ChartError {
    fn of(e: impl std::fmt::Display) -> Self {
        ChartError(e.to_string())
    }
}

fn draw(
    frame: &Frame,
    (x_lo, x_hi): (f64, f64),
    series: &[Series],
    markers: &[Marker],
) -> Result<String, ChartError> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(ChartError::of)?;
        let (plot_area, legend_area) = root.split_horizontally(WIDTH - LEGEND_WIDTH);

        let mut chart = ChartBuilder::on(&plot_area)
            .caption(frame.caption, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(56)
            .build_cartesian_2d(x_lo..x_hi, 0.0..frame.y_max)
            .map_err(ChartError::of)?;

        let y_format = |v: &f64| {
            if !frame.whole_y {
                tick(*v)
            } else if v.fract() == 0.0 {
                format!("{v:.0}")
            } else {
                // Halfway ticks of a pod axis would read as half pods.
                String::new()
            }
        };
        let x_format = |v: &f64| tick(*v);
        let mut mesh = chart.configure_mesh();
        mesh.x_desc("seconds since the start")
            .y_desc(frame.y_desc)
            .x_label_formatter(&x_format)
            .y_label_formatter(&y_format)
            // One faint line between labelled ones; plotters' default of ten makes a dense
            // grid that competes with the series.
            .max_light_lines(1)
            .light_line_style(RGBColor(235, 235, 235));
        if frame.whole_y {
            // At most one label per pod while they fit; beyond that plotters picks the step.
            mesh.y_labels((frame.y_max as usize + 1).min(11));
        }
        mesh.draw().map_err(ChartError::of)?;

        for s in series {
            for run in s.runs() {
                chart
                    .draw_series(LineSeries::new(run, s.color.stroke_width(2)))
                    .map_err(ChartError::of)?;
            }
        }

        let label_style = ("sans-serif", 12).into_font().color(&MARKER_COLOR);
        for (i, m) in markers.iter().filter(|m| m.t.is_finite()).enumerate() {
            chart
                .draw_series(DashedLineSeries::new(
                    vec![(m.t, 0.0), (m.t, frame.y_max)],
                    6,
                    4,
                    MARKER_COLOR.stroke_width(1),
                ))
                .map_err(ChartError::of)?;
            // Markers close in time would print their labels on top of each other: step them
            // down in three rows.
            let y = frame.y_max * (0.98 - 0.06 * (i % 3) as f64);
            chart
                .draw_series(std::iter::once(
                    EmptyElement::at((m.t, y))
                        + Text::new(shorten(&m.label), (4, 0), label_style.clone()),
                ))
                .map_err(ChartError::of)?;
        }

        let legend_text = ("sans-serif", 14)
            .into_font()
            .color(&BLACK)
            .pos(Pos::new(HPos::Left, VPos::Center));
        for (i, s) in series.iter().enumerate() {
            let y = 60 + 24 * i as i32;
            legend_area
                .draw(&PathElement::new(
                    vec![(8, y), (40, y)],
                    s.color.stroke_width(3),
                ))
                .map_err(ChartError::of)?;
            legend_area
                .draw(&Text::new(shorten(&s.name), (48, y), legend_text.clone()))
                .map_err(ChartError::of)?;
        }

        root.present().map_err(ChartError::of)?;
    }
    Ok(tag_series(&svg, series))
}

/// Puts `data-series="<name>"` on every polyline drawn in a series' colour. plotters has no
/// way to attach attributes to what it draws, but it writes one element per line and each
/// series has a colour of its own, so the colour identifies the series.
fn tag_series(svg: &str, series: &[Series]) -> String {
    let by_color: BTreeMap<String, &str> = series
        .iter()
        .map(|s| {
            let (r, g, b) = s.color.rgb();
            (
                format!("stroke=\"#{r:02X}{g:02X}{b:02X}\""),
                s.name.as_str(),
            )
        })
        .collect();
    let mut out = String::with_capacity(svg.len() + svg.len() / 8);
    for line in svg.split_inclusive('\n') {
        let tagged = line.strip_prefix("<polyline ").and_then(|rest| {
            by_color
                .iter()
                .find(|(stroke, _)| rest.contains(stroke.as_str()))
                .map(|(_, name)| (*name, rest))
        });
        match tagged {
            Some((name, rest)) => {
                out.push_str("<polyline data-series=\"");
                out.push_str(&escape_attr(name));
                out.push_str("\" ");
                out.push_str(rest);
            }
            None => out.push_str(line),
        }
    }
    out
}

fn escape_attr(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::report::data::{RunFigures, VersionSecond};

    /// 20 seconds of a canary: v1 serves everything, half from t=5, none from t=12; v2 the
    /// reverse. A few v2 failures at t=6 and unanswered requests at t=12.
    pub(crate) fn canary_report() -> RunReport {
        let timeline = (0..20)
            .map(|t| {
                let v2_share = match t {
                    0..5 => 0,
                    5..12 => 50,
                    _ => 100,
                };
                let mut by_version = BTreeMap::new();
                if v2_share < 100 {
                    by_version.insert(
                        "v1".to_owned(),
                        VersionSecond {
                            requests: 100 - v2_share,
                            failed: 0,
                            ready_pods: if v2_share == 0 { 3 } else { 2 },
                        },
                    );
                }
                if t >= 4 {
                    by_version.insert(
                        "v2".to_owned(),
                        VersionSecond {
                            requests: v2_share,
                            failed: if t == 6 { 5 } else { 0 },
                            ready_pods: if v2_share == 100 { 3 } else { 1 },
                        },
                    );
                }
                SecondSample {
                    t: f64::from(t),
                    by_version,
                    unanswered: if t == 12 { 4 } else { 0 },
                }
            })
            .collect();
        RunReport {
            title: "hello: canary nginx:1.27 → nginx:1.27.1".into(),
            figures: RunFigures {
                strategy: "canary".into(),
                from_image: "nginx:1.27".into(),
                to_image: "nginx:1.27.1".into(),
                outcome: "done".into(),
                reason: None,
                seconds: 19.6,
                requests: 2004,
                failed: 9,
                downtime_seconds: 0.0,
                served_by_new: 1150,
                peak_pods: 4,
                detect_seconds: None,
                rollback_seconds: None,
            },
            timeline,
            markers: vec![
                Marker {
                    t: 5.0,
                    label: "set weight 50%".into(),
                },
                Marker {
                    t: 12.0,
                    label: "set weight 100%".into(),
                },
            ],
            events: vec![serde_json::json!({"event": "finished", "outcome": "done"})],
        }
    }

    fn texts(svg: &str) -> Vec<String> {
        svg.lines()
            .collect::<Vec<_>>()
            .windows(2)
            .filter(|w| w[0].starts_with("<text"))
            .map(|w| w[1].trim().to_owned())
            .collect()
    }

    fn series_polylines<'a>(svg: &'a str, name: &str) -> Vec<&'a str> {
        let attr = format!("<polyline data-series=\"{name}\"");
        svg.lines().filter(|l| l.starts_with(&attr)).collect()
    }

    #[test]
    fn three_charts_with_a_line_and_a_legend_per_version_and_the_markers() {
        let charts = render(&canary_report()).unwrap();
        let files: Vec<_> = charts.iter().map(|c| c.file).collect();
        assert_eq!(files, [TRAFFIC_SHARE, ERROR_RATE, READY_PODS]);
        for c in &charts {
            let svg = &c.svg;
            assert!(svg.starts_with("<svg"), "{}", c.file);
            assert!(svg.trim_end().ends_with("</svg>"), "{}", c.file);
            assert_eq!(
                svg.matches("<text").count(),
                svg.matches("</text>").count(),
                "{}",
                c.file
            );
            let texts = texts(svg);
            for want in ["v1", "v2", "set weight 50%", "set weight 100%"] {
                assert!(
                    texts.iter().any(|t| t == want),
                    "{}: no {want:?} in {texts:?}",
                    c.file
                );
            }
            // In the plot and in the legend, at least.
            for v in ["v1", "v2"] {
                assert!(series_polylines(svg, v).len() >= 2, "{}: {v}", c.file);
            }
            // Blue for the first version, orange for the second.
            assert!(series_polylines(svg, "v1")[0].contains("stroke=\"#1F77B4\""));
            assert!(series_polylines(svg, "v2")[0].contains("stroke=\"#FF7F0E\""));
        }
        let errors = &charts[1].svg;
        assert!(texts(errors).iter().any(|t| t == NO_ANSWER));
        assert!(!series_polylines(errors, NO_ANSWER).is_empty());
        assert!(!texts(&charts[0].svg).iter().any(|t| t == NO_ANSWER));
    }

    #[test]
    fn the_share_line_follows_the_traffic() {
        let charts = render(&canary_report()).unwrap();
        // v1's line in the plot (the longest of its polylines: the legend's has two points)
        // has a point per second it took part in, 0..=19 with v1 at 0% once v2 took all.
        let v1 = series_polylines(&charts[0].svg, "v1")
            .into_iter()
            .max_by_key(|l| l.matches(',').count())
            .unwrap();
        let points = v1
            .split("points=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        assert_eq!(points.split_whitespace().count(), 20);
    }

    #[test]
    fn an_empty_run_draws_axes_and_no_series() {
        let charts = render(&RunReport::default()).unwrap();
        assert_eq!(charts.len(), 3);
        for c in &charts {
            assert!(c.svg.starts_with("<svg") && c.svg.trim_end().ends_with("</svg>"));
            assert!(!c.svg.contains("data-series"), "{}", c.file);
            assert!(texts(&c.svg).iter().any(|t| t == "seconds since the start"));
        }
    }

    #[test]
    fn seconds_nobody_was_asked_are_gaps_not_zeroes() {
        let mut r = canary_report();
        for s in &mut r.timeline[8..10] {
            s.by_version.clear();
        }
        let charts = render(&r).unwrap();
        // v1's share line breaks in two around the silent seconds (plus the legend's).
        assert_eq!(series_polylines(&charts[0].svg, "v1").len(), 3);
    }

    #[test]
    fn every_version_gets_a_colour_of_its_own() {
        let colors = palette(40);
        assert_eq!(colors[0].rgb(), (31, 119, 180));
        assert_eq!(colors[1].rgb(), (255, 127, 14));
        for (i, a) in colors.iter().enumerate() {
            assert_ne!(a.rgb(), NO_ANSWER_COLOR.rgb());
            assert_ne!(a.rgb(), MARKER_COLOR.rgb());
            for b in &colors[i + 1..] {
                assert_ne!(a.rgb(), b.rgb());
            }
        }
    }

    #[test]
    fn names_are_escaped_in_attributes_and_text() {
        let mut r = canary_report();
        for s in &mut r.timeline {
            if let Some(v) = s.by_version.remove("v2") {
                s.by_version.insert("<v2 & \"x\">".to_owned(), v);
            }
        }
        let charts = render(&r).unwrap();
        let svg = &charts[0].svg;
        assert!(svg.contains("data-series=\"&lt;v2 &amp; &quot;x&quot;&gt;\""));
        assert!(!svg.contains("<v2"));
    }
}
