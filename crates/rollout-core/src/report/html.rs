//! `report.html`: the Markdown report's content as one page with the charts inline, to open
//! in a browser straight from the report folder (nothing is loaded from anywhere else).

use std::fmt::Write as _;

use super::charts::{Chart, escape_attr as esc};
use super::data::RunReport;
use super::summary::human_seconds;

pub const HTML_FILE: &str = "report.html";

const STYLE: &str = "body{font-family:sans-serif;max-width:1000px;margin:2em auto;color:#222}\
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 10px;text-align:left}\
figure{margin:1.5em 0}svg{max-width:100%;height:auto}.outcome{font-weight:bold}";

/// The page: title, outcome, the figures, every chart inline and the steps with their times.
pub fn html(r: &RunReport, charts: &[Chart]) -> String {
    let f = &r.figures;
    let title = if r.title.is_empty() {
        "Rollout run"
    } else {
        &r.title
    };
    let mut out = String::new();
    let _ = write!(
        out,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head><body>\n<h1>{}</h1>\n<p>Outcome: <span class=\"outcome\">{}</span>",
        esc(title),
        esc(title),
        esc(&f.outcome)
    );
    if let Some(reason) = f.reason.as_deref().filter(|r| !r.is_empty()) {
        let _ = write!(out, ": {}", esc(reason));
    }
    out.push_str("</p>\n<table>\n");
    let rows = [
        ("strategy", f.strategy.clone()),
        ("image", format!("{} → {}", f.from_image, f.to_image)),
        ("time", human_seconds(f.seconds)),
        ("requests", f.requests.to_string()),
        (
            "failed (5xx or no answer)",
            format!("{} ({:.2}%)", f.failed, f.failed_percent()),
        ),
        ("downtime", human_seconds(f.downtime_seconds)),
        ("served by the new version", f.served_by_new.to_string()),
        ("most pods at once", f.peak_pods.to_string()),
    ];
    for (k, v) in rows {
        let _ = writeln!(out, "<tr><th>{}</th><td>{}</td></tr>", esc(k), esc(&v));
    }
    out.push_str("</table>\n<h2>Charts</h2>\n");
    for c in charts {
        // The SVG is our own rendering: inlined as is, after its XML declaration if any.
        let svg = c.svg.find("<svg").map_or(c.svg.as_str(), |i| &c.svg[i..]);
        let _ = writeln!(
            out,
            "<figure data-chart=\"{}\" aria-label=\"{}\">{svg}</figure>",
            esc(c.file),
            esc(c.title)
        );
    }
    if !r.markers.is_empty() {
        out.push_str("<h2>Steps</h2>\n<ol>\n");
        for m in &r.markers {
            let _ = writeln!(out, "<li>{} — {}</li>", esc(&r.step_time(m)), esc(&m.label));
        }
        out.push_str("</ol>\n");
    }
    let _ = writeln!(
        out,
        "<p>Every moment of the run and the engine's events ({}) are in <a href=\"report.json\">report.json</a>.</p>\n</body></html>",
        r.events.len()
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::charts::{render, tests::canary_report};

    #[test]
    fn the_page_has_every_chart_inline_and_escapes_text() {
        let mut r = canary_report();
        r.figures.reason = Some("<b>bad</b> & worse".into());
        r.figures.outcome = "rolled-back".into();
        let charts = render(&r).unwrap();
        let page = html(&r, &charts);
        assert!(page.starts_with("<!doctype html>"));
        assert_eq!(page.matches("<svg").count(), charts.len());
        assert!(page.contains("&lt;b&gt;bad&lt;/b&gt; &amp; worse"));
        assert!(!page.contains("<b>bad"));
        assert!(
            page.contains("<li>4.5s — set weight 50%</li>"),
            "since the rollout started"
        );
        // Nothing is fetched from elsewhere (an XML namespace is a name, not a fetch).
        let fetched = page
            .replace("xmlns=\"http://www.w3.org/2000/svg\"", "")
            .replace("xmlns:xlink=\"http://www.w3.org/1999/xlink\"", "");
        assert!(
            !fetched.contains("http://") && !fetched.contains("https://"),
            "{fetched}"
        );
    }
}
