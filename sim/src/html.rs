//! The report as one self-contained HTML page: the summary, and SVG plots of the
//! propagation latency CDF, each street's lag over time with the fault windows
//! marked, throughput, bytes on the wire and memory. No scripts, no external files.

use crate::report::{Report, summary};
use std::fmt::Write as _;

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 260.0;
const MARGIN: f64 = 48.0;
const COLOURS: [&str; 8] = ["#c0392b", "#2471a3", "#229954", "#d68910", "#7d3c98", "#17a589", "#5d6d7e", "#a04000"];

struct Series {
    name: String,
    points: Vec<(f64, f64)>,
}

pub fn page(report: &Report) -> String {
    let mut html = String::from(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>linli-sim report</title>\
         <style>body{font-family:sans-serif;margin:2em;max-width:800px}pre{background:#f4f4f4;padding:1em;\
         overflow-x:auto}svg{display:block;margin:1em 0}.fail{color:#c0392b}</style></head><body>",
    );
    let _ = write!(html, "<h1>linli-sim: {}</h1>", escape(&report.topology));
    if !report.passed() {
        let _ = write!(
            html,
            "<p class=\"fail\">Checks failed. Reproduce with <code>{}</code></p>",
            escape(&report.command)
        );
    }
    let _ = write!(html, "<pre>{}</pre>", escape(&summary(report)));

    let n = report.propagation_ms.len().max(1) as f64;
    let cdf = report.propagation_ms.iter().enumerate().map(|(i, ms)| (*ms, (i + 1) as f64 / n)).collect();
    html.push_str(&chart(
        "Propagation, community to district (CDF)",
        "ms",
        "fraction of probes",
        &[Series { name: "probes".into(), points: cdf }],
        &[],
    ));

    let seconds = |ms: u64| ms as f64 / 1e3;
    let bands: Vec<(f64, f64, String)> = report
        .faults
        .iter()
        .map(|f| (seconds(f.start_ms), seconds(f.end_ms), format!("{:?} {}", f.kind, f.node)))
        .collect();
    let lag: Vec<Series> = report
        .streets
        .iter()
        .enumerate()
        .map(|(i, street)| Series {
            name: street.clone(),
            points: report
                .samples
                .iter()
                .map(|s| (seconds(s.at_ms), s.street_lag.get(i).copied().unwrap_or(0) as f64))
                .collect(),
        })
        .collect();
    html.push_str(&chart("Lag per street at the district", "s", "log entries behind", &lag, &bands));

    let rate = |value: fn(&crate::report::Sample) -> u64, scale: f64| -> Vec<(f64, f64)> {
        report
            .samples
            .windows(2)
            .map(|w| {
                let dt = (w[1].at_ms - w[0].at_ms).max(1) as f64 / 1e3;
                (seconds(w[1].at_ms), value(&w[1]).saturating_sub(value(&w[0])) as f64 / dt / scale)
            })
            .collect()
    };
    html.push_str(&chart(
        "Throughput",
        "s",
        "writes acknowledged per second",
        &[Series { name: "writes/s".into(), points: rate(|s| s.acked, 1.0) }],
        &bands,
    ));
    html.push_str(&chart(
        "Bytes on the wire",
        "s",
        "kB/s on all links",
        &[Series { name: "kB/s".into(), points: rate(|s| s.bytes, 1e3) }],
        &bands,
    ));
    if report.mode == "sim" {
        // Memory would make two runs of one seed differ; the terminal prints it.
        html.push_str("<p>Memory is not sampled in sim mode, so that two runs of one seed give the same report.</p>\n");
    } else {
        let memory = report.samples.iter().map(|s| (seconds(s.at_ms), (s.rss_bytes >> 20) as f64)).collect();
        html.push_str(&chart("Memory", "s", "MB resident", &[Series { name: "rss".into(), points: memory }], &bands));
        html.push_str(&memory_by_part(report, &bands));
    }
    html.push_str("</body></html>\n");
    html
}

/// One chart per tier: its servers' resident memory beside the parts the probe
/// reads (see `real::memory`), in MB.
fn memory_by_part(report: &Report, bands: &[(f64, f64, String)]) -> String {
    let mut html = String::new();
    for tier in crate::report::probed_tiers(&report.memory_by_part) {
        let probes: Vec<_> = report.memory_by_part.iter().filter(|p| p.tier == tier).collect();
        let series = |name: &str, bytes: fn(&crate::report::MemoryParts) -> u64| Series {
            name: name.into(),
            points: probes.iter().map(|p| (p.at_s, bytes(p) as f64 / 1e6)).collect(),
        };
        let all = [
            series("resident", |p| p.resident_bytes),
            series("documents", |p| p.documents_bytes),
            series("store", |p| p.store_bytes),
            series("decoded log", |p| p.log_cache_bytes),
        ];
        html.push_str(&chart(&format!("Memory of the {tier} servers, by part"), "s", "MB", &all, bands));
    }
    html
}

fn chart(title: &str, x_label: &str, y_label: &str, series: &[Series], bands: &[(f64, f64, String)]) -> String {
    let points = series.iter().flat_map(|s| s.points.iter());
    let x_max = points.clone().map(|p| p.0).fold(0.0, f64::max).max(bands.iter().map(|b| b.1).fold(0.0, f64::max));
    let y_max = points.map(|p| p.1).fold(0.0, f64::max);
    let (x_max, y_max) = (nice(x_max), nice(y_max));
    let x = |v: f64| MARGIN + v / x_max * (WIDTH - 2.0 * MARGIN);
    let y = |v: f64| HEIGHT - MARGIN - v / y_max * (HEIGHT - 2.0 * MARGIN);
    let mut svg = String::new();
    let _ = write!(
        svg,
        "<h2>{}</h2><svg width=\"{WIDTH}\" height=\"{HEIGHT}\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" \
         xmlns=\"http://www.w3.org/2000/svg\" font-size=\"11\">",
        escape(title)
    );
    for (start, end, label) in bands {
        let _ = write!(
            svg,
            "<rect x=\"{:.1}\" y=\"{MARGIN}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"#f5b7b1\" opacity=\"0.4\">\
             <title>{}</title></rect>",
            x(*start),
            (x(*end) - x(*start)).max(1.0),
            HEIGHT - 2.0 * MARGIN,
            escape(label)
        );
    }
    let _ = write!(
        svg,
        "<line x1=\"{MARGIN}\" y1=\"{0}\" x2=\"{1}\" y2=\"{0}\" stroke=\"#333\"/>\
         <line x1=\"{MARGIN}\" y1=\"{MARGIN}\" x2=\"{MARGIN}\" y2=\"{0}\" stroke=\"#333\"/>",
        HEIGHT - MARGIN,
        WIDTH - MARGIN
    );
    for tick in 0..=4 {
        let (xv, yv) = (x_max * f64::from(tick) / 4.0, y_max * f64::from(tick) / 4.0);
        let _ = write!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            x(xv),
            HEIGHT - MARGIN + 14.0,
            short(xv),
            MARGIN - 4.0,
            y(yv) + 4.0,
            short(yv)
        );
    }
    let _ = write!(
        svg,
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text><text x=\"12\" y=\"{:.1}\" \
         transform=\"rotate(-90 12 {:.1})\" text-anchor=\"middle\">{}</text>",
        WIDTH / 2.0,
        HEIGHT - 8.0,
        escape(x_label),
        HEIGHT / 2.0,
        HEIGHT / 2.0,
        escape(y_label)
    );
    for (i, s) in series.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let path: Vec<String> = s.points.iter().map(|(px, py)| format!("{:.1},{:.1}", x(*px), y(*py))).collect();
        let _ = write!(
            svg,
            "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"1.5\" points=\"{}\"><title>{}</title></polyline>",
            path.join(" "),
            escape(&s.name)
        );
    }
    svg.push_str("</svg>");
    svg
}

/// A round axis maximum at or above `v`.
fn nice(v: f64) -> f64 {
    if v <= 0.0 {
        return 1.0;
    }
    let magnitude = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0].iter().map(|m| m * magnitude).find(|m| *m >= v).unwrap_or(10.0 * magnitude)
}

fn short(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_round_up_and_text_is_escaped() {
        assert_eq!(nice(7.3), 10.0);
        assert_eq!(nice(180.0), 200.0);
        assert_eq!(nice(0.0), 1.0);
        assert_eq!(escape("<a & \"b\">"), "&lt;a &amp; &quot;b&quot;&gt;");
        let svg = chart("t", "x", "y", &[Series { name: "s".into(), points: vec![(0.0, 0.0), (2.0, 3.0)] }], &[]);
        assert!(svg.contains("<polyline"), "{svg}");
    }
}
