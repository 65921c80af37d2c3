//! The SVG charts a run leaves beside its report: which version answered the users, how often
//! each failed them, how long they waited (when the run measured it), and how many pods each
//! had ready, over time, with the rollout's steps marked on the time axis.
//!
//! The lines are built once ([`lines`]) and drawn twice: here as SVG for the report, and by
//! `rollout dashboard`'s page, which receives the same [`Lines`] as JSON.
//!
//! Steps are marked by numbered badges above the plot, each on a leader line down to its time,
//! with the numbers explained in a legend below the chart: a run's steps often come within a
//! second of each other, and labels written at their times would print over each other. The
//! badges and the legend entries are laid out ([`layout_markers`]) so that no two overlap.
//!
//! Rendering is pure (a report in, strings out) so it can be tested without touching disk;
//! [`super::run::write`] puts the strings into files.

use std::collections::BTreeMap;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use serde::Serialize;

use super::data::{Marker, RunReport, SecondSample};
use super::summary::human_seconds;

/// Share of answered requests per version, percent.
pub const TRAFFIC_SHARE: &str = "traffic-share.svg";
/// Failed requests per version, percent, and requests that got no answer at all.
pub const ERROR_RATE: &str = "error-rate.svg";
/// 95th percentile latency per version (only when the run measured latencies).
pub const LATENCY: &str = "latency.svg";
/// Ready pods per version.
pub const READY_PODS: &str = "ready-pods.svg";

/// The name of the series for requests no version answered, in the error-rate chart.
pub const NO_ANSWER: &str = "no answer";

/// One rendered chart: the file name it is meant to be written under and its SVG text.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    pub file: &'static str,
    pub title: &'static str,
    pub svg: String,
}

const WIDTH: u32 = 960;
/// Height of the plot with its caption and axes, without the marker strip and legend.
const HEIGHT: u32 = 420;
/// Room at the right for the legend, so it never hides a line (a series at 100% runs along
/// the top of the plot, where a legend inside it would sit).
const LEGEND_WIDTH: u32 = 170;
/// Longest marker label or legend entry drawn in full; the markdown report has the full text.
const MAX_LABEL_CHARS: usize = 44;
/// The chart's outer margin and the room for the y labels, as given to plotters: the plot's
/// left edge is at their sum.
const MARGIN: i32 = 12;
const Y_LABEL_AREA: i32 = 56;
/// Height of the caption line above the marker strip.
const CAPTION_HEIGHT: i32 = 34;
/// Size of a step's numbered badge and the gap kept around it.
const BADGE_HEIGHT: i32 = 16;
const BADGE_GAP: i32 = 3;
/// Legend entries below the chart: line height and the gap between entries.
const LEGEND_ROW: i32 = 20;
const LEGEND_GAP: i32 = 18;
/// Width of a character of the 12-pixel sans-serif labels, taken wide: a box estimated too
/// small could overlap its neighbour, one too large only leaves room.
const CHAR_WIDTH: i32 = 7;

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

/// One line of a chart: a version's (or [`NO_ANSWER`]'s) values over time. `None` points are
/// gaps: times where the value is undefined (no request to take a share or a rate of), which a
/// line should not bridge as if it were known.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Line {
    pub name: String,
    pub points: Vec<Option<(f64, f64)>>,
}

/// The lines of every chart, and the top of each y axis.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Lines {
    /// Versions in the order they first appear, which fixes their colours.
    pub versions: Vec<String>,
    pub traffic: Vec<Line>,
    pub errors: Vec<Line>,
    pub error_max: f64,
    /// Empty when no latency was measured.
    pub latency: Vec<Line>,
    pub latency_max: f64,
    pub pods: Vec<Line>,
    pub pods_max: f64,
}

/// The lines of the charts, from a timeline:
///  - traffic: share of answered requests per version, percent (0–100);
///  - errors: failed / requests per version, percent, plus a [`NO_ANSWER`] line (unanswered
///    requests as a share of all requests that moment) when any went unanswered;
///  - latency: the 95th percentile per version, milliseconds;
///  - pods: ready pods per version.
pub fn lines(timeline: &[SecondSample]) -> Lines {
    let versions = versions_in_order(timeline);
    let per_version = |value: &dyn Fn(&SecondSample, &str) -> Option<f64>| -> Vec<Line> {
        versions
            .iter()
            .map(|v| Line {
                name: v.clone(),
                points: timeline
                    .iter()
                    .map(|s| value(s, v).map(|y| (s.t, y)))
                    .collect(),
            })
            .collect()
    };
    let traffic = per_version(&|s, v| {
        let answered: u64 = s.by_version.values().map(|x| x.requests).sum();
        // A version absent from a moment that others answered served none of it.
        let mine = s.by_version.get(v).map_or(0, |x| x.requests);
        percent(mine, answered)
    });
    let mut errors = per_version(&|s, v| {
        let x = s.by_version.get(v)?;
        percent(x.failed, x.requests)
    });
    if timeline.iter().any(|s| s.unanswered > 0) {
        errors.push(Line {
            name: NO_ANSWER.to_owned(),
            points: timeline
                .iter()
                .map(|s| {
                    let answered: u64 = s.by_version.values().map(|x| x.requests).sum();
                    percent(s.unanswered, answered.saturating_add(s.unanswered)).map(|p| (s.t, p))
                })
                .collect(),
        });
    }
    let top = |lines: &[Line]| {
        lines
            .iter()
            .flat_map(|s| s.points.iter().flatten())
            .map(|(_, y)| *y)
            .filter(|y| y.is_finite())
            .fold(0.0, f64::max)
    };
    let error_max = nice_ceiling(top(&errors));
    let latency = if timeline
        .iter()
        .any(|s| s.by_version.values().any(|x| x.latency_ms.is_some()))
    {
        per_version(&|s, v| s.by_version.get(v)?.latency_ms)
    } else {
        Vec::new()
    };
    let latency_max = round_up(top(&latency) * 1.1);
    // A version missing from a moment had no pods then (not yet made, or gone).
    let pods =
        per_version(&|s, v| Some(f64::from(s.by_version.get(v).map_or(0, |x| x.ready_pods))));
    // One above the peak keeps the top line off the frame.
    let pods_max = top(&pods) + 1.0;
    Lines {
        versions,
        traffic,
        errors,
        error_max,
        latency,
        latency_max,
        pods,
        pods_max,
    }
}

/// A drawn line: a [`Line`] with its colour.
struct Series<'a> {
    line: &'a Line,
    color: RGBColor,
}

impl Series<'_> {
    /// The unbroken stretches of the line.
    fn runs(&self) -> Vec<Vec<(f64, f64)>> {
        let mut runs = Vec::new();
        let mut current = Vec::new();
        for p in &self.line.points {
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

/// What differs between the charts besides their series.
struct Frame<'a> {
    caption: &'a str,
    y_desc: &'a str,
    y_max: f64,
    /// Pod counts are whole numbers: label only whole ticks.
    whole_y: bool,
}

/// The charts over time (x: seconds since the start), one line per version, each step marked
/// by a numbered badge above the plot with a dashed line down to its time:
/// [`TRAFFIC_SHARE`], [`ERROR_RATE`], [`LATENCY`] (when latencies were measured) and
/// [`READY_PODS`]; see [`lines`].
///
/// Every series' `<polyline>` elements, in the plot and in the legend, carry
/// `data-series="<version>"` so a reader (or a test) can tell the lines apart.
pub fn render(r: &RunReport) -> Result<Vec<Chart>, ChartError> {
    let l = lines(&r.timeline);
    let colors = palette(l.versions.len());
    let color_of = |name: &str| {
        l.versions
            .iter()
            .position(|v| v == name)
            .and_then(|i| colors.get(i).copied())
            .unwrap_or(NO_ANSWER_COLOR)
    };
    fn colored<'a>(lines: &'a [Line], color_of: &dyn Fn(&str) -> RGBColor) -> Vec<Series<'a>> {
        lines
            .iter()
            .map(|line| Series {
                line,
                color: color_of(&line.name),
            })
            .collect()
    }
    let series = |lines| colored(lines, &color_of);
    let x_range = x_range(&r.timeline, &r.markers);
    let mut charts = vec![
        Chart {
            file: TRAFFIC_SHARE,
            title: "share of answered requests by version",
            svg: draw(
                &Frame {
                    caption: "Share of answered requests by version",
                    y_desc: "% of answered requests",
                    y_max: 100.0,
                    whole_y: false,
                },
                x_range,
                &series(&l.traffic),
                &r.markers,
            )?,
        },
        Chart {
            file: ERROR_RATE,
            title: "failed requests by version",
            svg: draw(
                &Frame {
                    caption: "Failed requests by version",
                    y_desc: "% failed",
                    y_max: l.error_max,
                    whole_y: false,
                },
                x_range,
                &series(&l.errors),
                &r.markers,
            )?,
        },
    ];
    if !l.latency.is_empty() {
        charts.push(Chart {
            file: LATENCY,
            title: "95th percentile latency by version",
            svg: draw(
                &Frame {
                    caption: "Latency by version (95th percentile)",
                    y_desc: "ms",
                    y_max: l.latency_max,
                    whole_y: false,
                },
                x_range,
                &series(&l.latency),
                &r.markers,
            )?,
        });
    }
    charts.push(Chart {
        file: READY_PODS,
        title: "ready pods by version",
        svg: draw(
            &Frame {
                caption: "Ready pods by version",
                y_desc: "ready pods",
                y_max: l.pods_max,
                whole_y: true,
            },
            x_range,
            &series(&l.pods),
            &r.markers,
        )?,
    });
    Ok(charts)
}

/// Versions in the order they first appear in the timeline (within one moment, by name, as
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

/// 1, 2 or 5 times a power of ten at or above `v` (at least 1): a latency axis's top.
fn round_up(v: f64) -> f64 {
    if !(v.is_finite() && v > 1.0) {
        return 1.0;
    }
    let p = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * p)
        .find(|c| *c >= v)
        .unwrap_or(10.0 * p)
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
    let s = format!("{v:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_owned()
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

/// A rectangle on the chart, in pixels from its top left corner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rect {
    pub x: i32,
    pub y: i32,
    pub w: i32,
    pub h: i32,
}

impl Rect {
    /// Whether the two share any pixel.
    pub fn overlaps(&self, o: &Rect) -> bool {
        self.x < o.x + o.w && o.x < self.x + self.w && self.y < o.y + o.h && o.y < self.y + self.h
    }
}

/// Where the step markers go: a badge per marker in the strip above the plot, an entry per
/// marker in the legend below it.
#[derive(Debug, Clone, PartialEq)]
pub struct MarkerLayout {
    /// Height of the strip above the plot that holds the badges.
    pub strip: i32,
    /// Each marker's badge, `y` from the top of the strip.
    pub badges: Vec<Rect>,
    /// Each marker's legend entry (its badge and text), `y` from the top of the legend.
    pub entries: Vec<Rect>,
    /// Height of the legend.
    pub legend: i32,
}

/// `1`, `12`: a badge's text, the marker's number counting from 1.
fn badge_width(number: usize) -> i32 {
    8 + CHAR_WIDTH * i32::try_from(number.to_string().len()).unwrap_or(3)
}

/// The entry text of a marker in the legend.
fn entry_text(m: &Marker) -> String {
    format!("{} {}", human_seconds(m.t), shorten(&m.label))
}

/// Lays out the badges of markers at pixel positions `xs` (in order of time) and their legend
/// entries within `width` pixels. A badge is centred on its time and goes in the first row
/// from the top where it overlaps no badge already placed, so markers close in time stack
/// instead of printing over each other; legend entries flow left to right and wrap.
pub fn layout_markers(markers: &[Marker], xs: &[i32], width: i32) -> MarkerLayout {
    let mut badges: Vec<Rect> = Vec::with_capacity(xs.len());
    for (i, x) in xs.iter().enumerate() {
        let w = badge_width(i + 1);
        let mut row = 0;
        let rect = loop {
            let r = Rect {
                x: x - w / 2,
                y: BADGE_GAP + row * (BADGE_HEIGHT + BADGE_GAP),
                w,
                h: BADGE_HEIGHT,
            };
            // One pixel of air on each side keeps touching badges apart.
            let padded = Rect {
                x: r.x - 1,
                w: r.w + 2,
                ..r
            };
            if !badges.iter().any(|b| b.overlaps(&padded)) {
                break r;
            }
            row += 1;
        };
        badges.push(rect);
    }
    let strip = badges
        .iter()
        .map(|b| b.y + b.h + BADGE_GAP)
        .max()
        .unwrap_or(0);
    let mut entries = Vec::with_capacity(markers.len());
    let (mut x, mut y) = (MARGIN, 4);
    for (i, m) in markers.iter().enumerate() {
        let text = i32::try_from(entry_text(m).chars().count()).unwrap_or(60);
        let w = badge_width(i + 1) + 6 + text * CHAR_WIDTH;
        if x > MARGIN && x + w > width - MARGIN {
            x = MARGIN;
            y += LEGEND_ROW;
        }
        entries.push(Rect {
            x,
            y,
            w,
            h: BADGE_HEIGHT,
        });
        x += w + LEGEND_GAP;
    }
    let legend = if markers.is_empty() {
        0
    } else {
        y + LEGEND_ROW + 4
    };
    MarkerLayout {
        strip,
        badges,
        entries,
        legend,
    }
}

/// The markers that can be drawn (those with a finite time), their times' pixels and where
/// their badges and legend entries go on a chart whose time axis spans `range`.
fn placed_markers(markers: &[Marker], range: (f64, f64)) -> (Vec<Marker>, Vec<i32>, MarkerLayout) {
    let markers: Vec<Marker> = markers
        .iter()
        .filter(|m| m.t.is_finite())
        .cloned()
        .collect();
    let xs: Vec<i32> = markers.iter().map(|m| x_pixel(m.t, range)).collect();
    let layout = layout_markers(&markers, &xs, WIDTH as i32);
    (markers, xs, layout)
}

/// Where [`render`] puts the step markers of `r` on each of its charts (they share the time
/// axis, so the layout is the same on every one).
pub fn marker_layout(r: &RunReport) -> MarkerLayout {
    placed_markers(&r.markers, x_range(&r.timeline, &r.markers)).2
}

/// The plot's horizontal extent in pixels, as plotters lays it out for [`draw`]'s settings.
fn plot_x_extent() -> (i32, i32) {
    let plot_width = i32::try_from(WIDTH - LEGEND_WIDTH).unwrap_or(790);
    (MARGIN + Y_LABEL_AREA, plot_width - MARGIN)
}

/// The pixel of time `t` on an axis from `lo` to `hi`.
fn x_pixel(t: f64, (lo, hi): (f64, f64)) -> i32 {
    let (left, right) = plot_x_extent();
    let f = ((t - lo) / (hi - lo)).clamp(0.0, 1.0);
    left + (f * f64::from(right - left)).round() as i32
}

fn draw(
    frame: &Frame,
    (x_lo, x_hi): (f64, f64),
    series: &[Series],
    markers: &[Marker],
) -> Result<String, ChartError> {
    let (markers, xs, layout) = placed_markers(markers, (x_lo, x_hi));
    let total = HEIGHT as i32 + layout.strip + layout.legend;
    let mut svg = String::new();
    {
        let root =
            SVGBackend::with_string(&mut svg, (WIDTH, u32::try_from(total).unwrap_or(HEIGHT)))
                .into_drawing_area();
        root.fill(&WHITE).map_err(ChartError::of)?;
        let (main, legend_below) = root.split_vertically(HEIGHT as i32 + layout.strip);
        let (plot_column, legend_area) = main.split_horizontally(WIDTH - LEGEND_WIDTH);
        let (head, body) = plot_column.split_vertically(CAPTION_HEIGHT + layout.strip);
        head.draw(&Text::new(
            frame.caption.to_owned(),
            ((WIDTH - LEGEND_WIDTH) as i32 / 2, 8),
            ("sans-serif", 20)
                .into_font()
                .color(&BLACK)
                .pos(Pos::new(HPos::Center, VPos::Top)),
        ))
        .map_err(ChartError::of)?;

        let mut chart = ChartBuilder::on(&body)
            .margin(MARGIN)
            .margin_top(0)
            .x_label_area_size(40)
            .y_label_area_size(Y_LABEL_AREA)
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
        let span = x_hi - x_lo;
        let mut mesh = chart.configure_mesh();
        mesh.x_desc("seconds since the start")
            .y_desc(frame.y_desc)
            .x_label_formatter(&x_format)
            .y_label_formatter(&y_format)
            // A tick every second or so on a short run, so steps a second apart can be told
            // apart; plotters' default of ten labels would leave whole seconds between them.
            .x_labels(((span.ceil() as usize) + 1).clamp(6, 24))
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

        // Markers: a dashed line through the plot, a leader up to the badge, the badge with
        // its number; the numbers are explained below the chart.
        let plot_top = CAPTION_HEIGHT + layout.strip;
        let plot_bottom = HEIGHT as i32 + layout.strip - 40 - MARGIN;
        let badge_font = ("sans-serif", 12)
            .into_font()
            .color(&WHITE)
            .pos(Pos::new(HPos::Center, VPos::Center));
        for (i, (b, x)) in layout.badges.iter().zip(&xs).enumerate() {
            root.draw(&PathElement::new(
                vec![(*x, CAPTION_HEIGHT + b.y + b.h), (*x, plot_top)],
                MARKER_COLOR.stroke_width(1),
            ))
            .map_err(ChartError::of)?;
            draw_dashed(&root, *x, plot_top, plot_bottom)?;
            draw_badge(&root, b, CAPTION_HEIGHT, i + 1, &badge_font)?;
        }
        let entry_font = ("sans-serif", 12)
            .into_font()
            .color(&BLACK)
            .pos(Pos::new(HPos::Left, VPos::Center));
        for (i, (e, m)) in layout.entries.iter().zip(&markers).enumerate() {
            let badge = Rect {
                w: badge_width(i + 1),
                ..*e
            };
            draw_badge(&legend_below, &badge, 0, i + 1, &badge_font)?;
            legend_below
                .draw(&Text::new(
                    entry_text(m),
                    (e.x + badge.w + 6, e.y + e.h / 2),
                    entry_font.clone(),
                ))
                .map_err(ChartError::of)?;
        }

        let legend_text = ("sans-serif", 14)
            .into_font()
            .color(&BLACK)
            .pos(Pos::new(HPos::Left, VPos::Center));
        for (i, s) in series.iter().enumerate() {
            let y = plot_top + 20 + 24 * i as i32;
            legend_area
                .draw(&PathElement::new(
                    vec![(8, y), (40, y)],
                    s.color.stroke_width(3),
                ))
                .map_err(ChartError::of)?;
            legend_area
                .draw(&Text::new(
                    shorten(&s.line.name),
                    (48, y),
                    legend_text.clone(),
                ))
                .map_err(ChartError::of)?;
        }

        root.present().map_err(ChartError::of)?;
    }
    Ok(tag_series(&svg, series))
}

/// A vertical dashed line at `x` from `top` to `bottom`.
fn draw_dashed<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    x: i32,
    top: i32,
    bottom: i32,
) -> Result<(), ChartError> {
    let mut y = top;
    while y < bottom {
        area.draw(&PathElement::new(
            vec![(x, y), (x, (y + 6).min(bottom))],
            MARKER_COLOR.stroke_width(1),
        ))
        .map_err(|e| ChartError::of(format!("{e:?}")))?;
        y += 10;
    }
    Ok(())
}

/// A grey rounded badge with a white number, `dy` pixels below the area's top.
fn draw_badge<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    b: &Rect,
    dy: i32,
    number: usize,
    font: &TextStyle,
) -> Result<(), ChartError> {
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| ChartError::of(format!("{e:?}"));
    area.draw(&Rectangle::new(
        [(b.x, dy + b.y), (b.x + b.w, dy + b.y + b.h)],
        MARKER_COLOR.filled(),
    ))
    .map_err(err)?;
    area.draw(&Text::new(
        number.to_string(),
        (b.x + b.w / 2, dy + b.y + b.h / 2),
        font.clone(),
    ))
    .map_err(err)
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
                s.line.name.as_str(),
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

/// Escapes text for an XML or HTML attribute or element.
pub fn escape_attr(s: &str) -> String {
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
                            latency_ms: None,
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
                            latency_ms: None,
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
                ..Default::default()
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
            started: 0.5,
        }
    }

    fn texts(svg: &str) -> Vec<String> {
        svg.lines()
            .collect::<Vec<_>>()
            .windows(2)
            .filter(|w| w[0].starts_with("<text"))
            .map(|w| {
                w[1].trim()
                    .replace("&apos;", "'")
                    .replace("&quot;", "\"")
                    .replace("&lt;", "<")
                    .replace("&gt;", ">")
                    .replace("&amp;", "&")
            })
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
                // Step labels are legend entries after their time: `5s set weight 50%`.
                assert!(
                    texts
                        .iter()
                        .any(|t| t == want || t.ends_with(&format!(" {want}"))),
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

    /// The markers of a demo canary: eight steps, most within a second of each other, and a
    /// rollback — the run whose labels used to print over each other.
    fn demo_markers() -> Vec<Marker> {
        [
            (0.4, "pin the Service to the stable pods"),
            (0.5, "deploy the canary (1 pod)"),
            (1.6, "wait until the new pods are ready"),
            (1.7, "make the canary's Service"),
            (1.8, "set weight 10%"),
            (1.9, "analysis: smoke, error-rate"),
            (3.2, "set weight 50%"),
            (3.3, "pause 3s"),
            (6.4, "set weight 100%"),
            (6.5, "rolling back"),
        ]
        .into_iter()
        .map(|(t, l)| Marker {
            t,
            label: l.to_owned(),
        })
        .collect()
    }

    #[test]
    fn step_markers_of_a_short_run_never_overlap() {
        let markers = demo_markers();
        let range = (0.0, 8.0);
        let xs: Vec<i32> = markers.iter().map(|m| x_pixel(m.t, range)).collect();
        let layout = layout_markers(&markers, &xs, WIDTH as i32);
        assert_eq!(layout.badges.len(), markers.len());
        assert_eq!(layout.entries.len(), markers.len());
        for boxes in [&layout.badges, &layout.entries] {
            for (i, a) in boxes.iter().enumerate() {
                for b in &boxes[i + 1..] {
                    assert!(!a.overlaps(b), "{a:?} overlaps {b:?}");
                }
            }
        }
        // Each badge sits on its marker's time, inside the strip; each entry inside the chart.
        for (b, x) in layout.badges.iter().zip(&xs) {
            assert!(b.x <= *x && *x <= b.x + b.w, "{b:?} not on {x}");
            assert!(b.y >= 0 && b.y + b.h <= layout.strip, "{b:?}");
        }
        for e in &layout.entries {
            assert!(e.x >= 0 && e.x + e.w <= WIDTH as i32, "{e:?}");
            assert!(e.y >= 0 && e.y + e.h <= layout.legend, "{e:?}");
        }

        // The drawn chart carries every number and every label in full.
        let mut r = canary_report();
        r.timeline.truncate(8);
        r.markers = markers.clone();
        let charts = render(&r).unwrap();
        let texts = texts(&charts[0].svg);
        for (i, m) in markers.iter().enumerate() {
            let n = (i + 1).to_string();
            assert!(
                texts.iter().filter(|t| **t == n).count() >= 2,
                "badge {n} on the chart and in the legend: {texts:?}"
            );
            assert!(
                texts.iter().any(|t| t.ends_with(&m.label)),
                "no {:?} in {texts:?}",
                m.label
            );
        }
        // The SVG is as tall as the strip and the legend make it.
        let height = format!(
            "height=\"{}\"",
            HEIGHT as i32 + layout.strip + layout.legend
        );
        assert!(charts[0].svg.lines().next().unwrap().contains(&height));
    }

    #[test]
    fn layout_with_no_markers_adds_nothing() {
        let l = layout_markers(&[], &[], WIDTH as i32);
        assert_eq!((l.strip, l.legend), (0, 0));
    }

    #[test]
    fn latency_gets_a_chart_when_measured() {
        let mut r = canary_report();
        for s in &mut r.timeline {
            for v in s.by_version.values_mut() {
                v.latency_ms = Some(12.0);
            }
        }
        let charts = render(&r).unwrap();
        let files: Vec<_> = charts.iter().map(|c| c.file).collect();
        assert_eq!(files, [TRAFFIC_SHARE, ERROR_RATE, LATENCY, READY_PODS]);
        assert_eq!(lines(&r.timeline).latency_max, 20.0);
    }

    #[test]
    fn ticks_without_trailing_zeros() {
        assert_eq!(tick(12.0), "12");
        assert_eq!(tick(2.5), "2.5");
        assert_eq!(tick(0.25), "0.25");
    }
}
