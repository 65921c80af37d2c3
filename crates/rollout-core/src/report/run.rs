//! The files a rollout run leaves behind: `report.md` and `report.html` for people,
//! `report.json` for tools, and the charts of [`super::charts`], all in one directory.

use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};

use super::charts;
use super::data::RunReport;
use super::data::share;
use super::summary::human_seconds;

pub const MARKDOWN_FILE: &str = "report.md";
pub const JSON_FILE: &str = "report.json";

/// `12 (0.4%)`; `0` alone, since a share of nothing says nothing.
fn count_with_share(part: u64, whole: u64) -> String {
    if whole == 0 {
        return part.to_string();
    }
    let p = share(part, whole);
    // One decimal would round a handful of failures among many requests to "0.0%", which
    // reads as none.
    if p > 0.0 && p < 0.1 {
        format!("{part} (<0.1%)")
    } else {
        format!("{part} ({p:.1}%)")
    }
}

/// Text for a Markdown table cell: a `|` would end the cell and a newline the row.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace(['\r', '\n'], " ")
}

/// Markdown: the title, the outcome and its reason, a table of the figures, links to the three
/// charts (file names relative to the report) and the step markers with their times.
pub fn markdown(r: &RunReport) -> String {
    let f = &r.figures;
    let mut out = String::new();
    let title = if r.title.is_empty() {
        "Rollout run"
    } else {
        &r.title
    };
    let _ = writeln!(out, "# {}\n", title.replace('\n', " "));

    let _ = write!(out, "Outcome: **{}**", f.outcome);
    match &f.reason {
        Some(reason) if !reason.is_empty() => {
            let _ = writeln!(out, ": {}\n", reason.replace('\n', " "));
        }
        _ => out.push_str("\n\n"),
    }

    let duration_label = match f.outcome.as_str() {
        "done" => "time to complete",
        "rolled-back" | "rollback-failed" => "time to roll back",
        _ => "time run",
    };
    let mut rows: Vec<(&str, String)> = vec![
        ("strategy", f.strategy.clone()),
        ("image", format!("{} → {}", f.from_image, f.to_image)),
        (duration_label, human_seconds(f.seconds)),
        ("requests", f.requests.to_string()),
        (
            "failed (5xx or no answer)",
            count_with_share(f.failed, f.requests),
        ),
        ("downtime", human_seconds(f.downtime_seconds)),
        (
            "served by the new version",
            count_with_share(f.served_by_new, f.requests),
        ),
        ("most pods at once", f.peak_pods.to_string()),
    ];
    // Both only mean something for a run that failed a gate; a row of dashes on a good run
    // would suggest something was missed.
    if let Some(s) = f.detect_seconds {
        rows.push(("time to detect", human_seconds(s)));
    }
    if let Some(s) = f.rollback_seconds {
        rows.push(("time to roll back after detection", human_seconds(s)));
    }
    out.push_str("| figure | value |\n| --- | --- |\n");
    for (name, value) in rows {
        let _ = writeln!(out, "| {name} | {} |", cell(&value));
    }

    out.push_str("\n## Charts\n\n");
    let mut files = vec![
        (
            "share of answered requests by version",
            charts::TRAFFIC_SHARE,
        ),
        ("failed requests by version", charts::ERROR_RATE),
    ];
    if r.timeline
        .iter()
        .any(|s| s.by_version.values().any(|v| v.latency_ms.is_some()))
    {
        files.push(("95th percentile latency by version", charts::LATENCY));
    }
    files.push(("ready pods by version", charts::READY_PODS));
    for (alt, file) in files {
        let _ = writeln!(out, "![{alt}]({file})\n");
    }

    if !r.markers.is_empty() {
        out.push_str("## Steps\n\nSince the rollout started, as the live progress says.\n\n");
        for m in &r.markers {
            let _ = writeln!(out, "- {} — {}", r.step_time(m), m.label.replace('\n', " "));
        }
        out.push('\n');
    }

    let loads: Vec<String> = r
        .events
        .iter()
        .filter(|e| e.get("event").and_then(|v| v.as_str()) == Some("load"))
        .filter_map(|e| serde_json::from_value::<super::LoadSummary>(e.clone()).ok())
        .map(|l| format!("step {}: {}", l.step + 1, l.line()))
        .collect();
    if !loads.is_empty() {
        // Apart from the users' requests counted above.
        out.push_str("## Synthetic load\n\n");
        for line in loads {
            let _ = writeln!(out, "- {}", line.replace('\n', " "));
        }
        out.push('\n');
    }

    let _ = writeln!(
        out,
        "Every second of the run and the engine's events ({}) are in [{JSON_FILE}]({JSON_FILE}).",
        r.events.len()
    );
    out
}

/// Writes `report.md`, `report.json`, `report.html` and the charts into `dir` (created if
/// missing) and returns the paths written, in that order.
pub fn write(dir: &Path, r: &RunReport) -> io::Result<Vec<PathBuf>> {
    // Everything is rendered before anything is written, so a failure leaves no half report
    // behind that could be taken for a whole one.
    let charts = charts::render(r).map_err(io::Error::other)?;
    let json = serde_json::to_string_pretty(r).map_err(io::Error::other)?;
    let md = markdown(r);
    let page = super::html::html(r, &charts);

    std::fs::create_dir_all(dir)?;
    let mut files: Vec<(&str, &str)> = vec![
        (MARKDOWN_FILE, &md),
        (JSON_FILE, &json),
        (super::html::HTML_FILE, &page),
    ];
    files.extend(charts.iter().map(|c| (c.file, c.svg.as_str())));
    let mut written = Vec::with_capacity(files.len());
    for (name, text) in files {
        let path = dir.join(name);
        std::fs::write(&path, text)?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::charts::tests::canary_report;
    use crate::report::data::{Marker, RunFigures};

    #[test]
    fn failed_percent() {
        let mut f = RunFigures::default();
        assert_eq!(f.failed_percent(), 0.0);
        f.requests = 2000;
        f.failed = 8;
        assert!((f.failed_percent() - 0.4).abs() < 1e-9);
    }

    #[test]
    fn counts_with_their_share() {
        assert_eq!(count_with_share(12, 3000), "12 (0.4%)");
        assert_eq!(count_with_share(1, 5000), "1 (<0.1%)");
        assert_eq!(count_with_share(0, 5000), "0 (0.0%)");
        assert_eq!(count_with_share(0, 0), "0");
    }

    #[test]
    fn markdown_of_a_canary() {
        insta::assert_snapshot!(markdown(&canary_report()));
    }

    #[test]
    fn markdown_of_a_rollback() {
        let mut r = canary_report();
        r.title = "hello | canary".into();
        r.figures.outcome = "rolled-back".into();
        r.figures.reason = Some("gate error-rate failed: 5.2% > 1% | v2".into());
        r.figures.seconds = 41.25;
        r.figures.detect_seconds = Some(6.4);
        r.figures.rollback_seconds = Some(3.05);
        r.figures.downtime_seconds = 1.5;
        r.markers.push(Marker {
            t: 15.0,
            label: "rolling back".into(),
        });
        insta::assert_snapshot!(markdown(&r));
    }

    #[test]
    fn synthetic_load_is_listed_apart_from_users_requests() {
        let mut r = canary_report();
        let users = r.figures.requests;
        let load = crate::report::Event::Load(crate::report::LoadSummary {
            step: 1,
            rate: 20.0,
            target: crate::spec::LoadTarget::Both,
            requests: 600,
            failed: 0,
            to_new: Some(61),
            compared: Some(640),
        });
        r.events.push(serde_json::to_value(&load).unwrap());
        let md = markdown(&r);
        assert!(md.contains(&format!("| requests | {users} |")), "{md}");
        assert!(
            md.contains("## Synthetic load\n\n- step 2: synthetic load: 600 requests (61 to new); at most 600 of the 640 requests compared were synthetic\n"),
            "{md}"
        );
    }

    #[test]
    fn write_leaves_six_files_and_json_that_reads_back() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("runs").join("1");
        let r = canary_report();
        let paths = write(&dir, &r).unwrap();
        let names: Vec<_> = paths
            .iter()
            .map(|p| p.file_name().unwrap().to_str().unwrap().to_owned())
            .collect();
        assert_eq!(
            names,
            [
                "report.md",
                "report.json",
                "report.html",
                "traffic-share.svg",
                "error-rate.svg",
                "ready-pods.svg"
            ]
        );
        for p in &paths {
            assert!(p.is_file(), "{}", p.display());
            assert_eq!(p.parent(), Some(dir.as_path()));
        }
        let back: RunReport =
            serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap())
                .unwrap();
        assert_eq!(back, r);
        let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
        for p in &paths[3..] {
            let name = p.file_name().unwrap().to_str().unwrap();
            assert!(md.contains(&format!("({name})")), "{name} not linked");
        }
    }
}
