//! Writing the console's HTML: escaping, the page around every view, numbers, and the
//! charts (SVG drawn on the server, so the page needs no chart library and no script to
//! show its numbers).
//!
//! Every value that comes from a record or a request is escaped here ([`esc`]); pages
//! never put text into HTML any other way. Pages carry no inline script or style, so
//! the Content-Security-Policy can forbid both.

use super::i18n::Lang;
use std::fmt::Write;

/// `text` made safe inside HTML text and attribute values.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `text` as one component of a URL's query.
pub fn url(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            b => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}

/// An integer with thousands separators: `1,234,567`.
pub fn num(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// An amount in fen as yuan: `1,234,567.89`.
pub fn yuan(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", num((fen / 100).abs()), (fen % 100).abs())
}

/// A duration for a person: `3 天 4 小时`, `2 h 5 min`.
pub fn span(ms: i64, lang: Lang) -> String {
    let minutes = ms.max(0) / 60_000;
    let (days, hours, mins) = (minutes / 1440, minutes / 60 % 24, minutes % 60);
    let (d, h, m) = match lang {
        Lang::Zh => (" 天", " 小时", " 分"),
        Lang::En => (" d", " h", " min"),
    };
    match (days, hours) {
        (0, 0) => format!("{mins}{m}"),
        (0, _) => format!("{hours}{h} {mins}{m}"),
        _ => format!("{days}{d} {hours}{h}"),
    }
}

/// A moment as Shenzhen's local time, `2026-11-22 14:05`.
pub fn time(ms: i64) -> String {
    let local = ms + 8 * 3_600_000;
    let day = local.div_euclid(86_400_000);
    let of_day = local.rem_euclid(86_400_000) / 60_000;
    format!("{} {:02}:{:02}", linli_core::schema::calendar::day_name(day), of_day / 60, of_day % 60)
}

/// The heat class (`heat-0` to `heat-5`) of `value` against the largest, for the
/// colours of a heat table (classes, not inline styles: the CSP forbids those).
pub fn heat(value: i64, max: i64) -> &'static str {
    const CLASSES: [&str; 6] = ["heat-0", "heat-1", "heat-2", "heat-3", "heat-4", "heat-5"];
    if value <= 0 || max <= 0 {
        return CLASSES[0];
    }
    CLASSES[(1 + (value * 4 / max).clamp(0, 4)) as usize]
}

/// One item of the navigation.
pub struct Nav {
    pub path: &'static str,
    pub key: &'static str,
}

pub const NAV: [Nav; 8] = [
    Nav { path: "/overview", key: "overview" },
    Nav { path: "/overdue", key: "overdue" },
    Nav { path: "/resolution", key: "resolution" },
    Nav { path: "/tasks", key: "tasks" },
    Nav { path: "/projects", key: "projects" },
    Nav { path: "/hours", key: "hours" },
    Nav { path: "/sites", key: "sites" },
    Nav { path: "/links", key: "links" },
];

/// What goes around a page's content.
pub struct Frame<'a> {
    pub lang: Lang,
    /// This node's id and tier, in the header.
    pub node: &'a str,
    pub tier: &'a str,
    /// The signed-in operator, if any.
    pub operator: Option<&'a str>,
    /// The navigation item to mark, by path.
    pub active: &'a str,
    /// This page's path and query, for the language switch to come back to.
    pub here: &'a str,
    /// Where the live part reloads from (`/events/...`); `None`: not live.
    pub live: Option<&'a str>,
}

/// A whole page: header, navigation, `title` and `body` (already HTML).
pub fn page(frame: &Frame, title: &str, body: &str) -> String {
    let lang = frame.lang;
    let mut out = String::with_capacity(body.len() + 2048);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"{}\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} · {} · {}</title>\
         <link rel=\"icon\" href=\"/assets/icon.svg\" type=\"image/svg+xml\">\
         <link rel=\"stylesheet\" href=\"/assets/console.css\">\
         <script src=\"/assets/console.js\" defer></script></head><body>",
        lang.html(),
        esc(title),
        esc(frame.node),
        lang.t("console"),
    );
    let _ = write!(
        out,
        "<header><span class=\"brand\">{}</span><span class=\"node\">{} <small>{}</small></span>",
        lang.t("console"),
        esc(frame.node),
        esc(frame.tier)
    );
    let _ = write!(
        out,
        "<a class=\"lang\" href=\"/lang?to={}&amp;back={}\">{}</a>",
        lang.other().code(),
        url(frame.here),
        lang.t("switch")
    );
    if let Some(operator) = frame.operator {
        let _ = write!(
            out,
            "<span class=\"who\">{}: <b id=\"operator\">{}</b></span>\
             <form method=\"post\" action=\"/signout\"><button>{}</button></form>",
            lang.t("signed_in_as"),
            esc(operator),
            lang.t("sign_out")
        );
    }
    out.push_str("</header>");
    if frame.operator.is_some() {
        out.push_str("<nav>");
        for item in &NAV {
            let class = if item.path == frame.active { " class=\"active\"" } else { "" };
            let _ = write!(out, "<a href=\"{}\"{class}>{}</a>", item.path, lang.t(item.key));
        }
        out.push_str("</nav>");
    }
    let _ = write!(out, "<main><h1>{}", esc(title));
    if frame.live.is_some() {
        let _ = write!(out, " <span class=\"live-badge\" id=\"live-badge\">{}</span>", lang.t("live"));
    }
    out.push_str("</h1>");
    match frame.live {
        Some(events) => {
            let _ = write!(out, "<div id=\"live\" data-events=\"{}\">{body}</div>", esc(events));
        }
        None => out.push_str(body),
    }
    out.push_str("</main></body></html>\n");
    out
}

/// A table: `head` cells, then rows of cells already HTML. `class` names the table.
pub fn table(class: &str, head: &[String], rows: &[Vec<String>]) -> String {
    let mut out = format!("<table class=\"{class}\"><thead><tr>");
    for cell in head {
        let _ = write!(out, "<th>{cell}</th>");
    }
    out.push_str("</tr></thead><tbody>");
    for row in rows {
        out.push_str("<tr>");
        for cell in row {
            out.push_str(cell);
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>");
    out
}

/// A cell holding text (escaped).
pub fn td(text: &str) -> String {
    format!("<td>{}</td>", esc(text))
}

/// A cell holding a number, right-aligned; `name` marks it for tests and scripts.
pub fn td_num(n: i64, name: &str) -> String {
    format!("<td class=\"n\" data-name=\"{}\">{}</td>", esc(name), num(n))
}

/// A series of a line chart.
pub struct Series<'a> {
    pub label: &'a str,
    /// The CSS class of its line and dots (`s1`, `s2`).
    pub class: &'static str,
    pub values: &'a [i64],
}

/// A line chart of `series` over `labels` (one per point), with a legend.
pub fn line_chart(labels: &[String], series: &[Series]) -> String {
    const W: i64 = 720;
    const H: i64 = 200;
    const PAD: i64 = 32;
    let max = series.iter().flat_map(|s| s.values.iter().copied()).max().unwrap_or(0).max(1);
    let n = labels.len().max(2) as i64;
    let x = |i: usize| PAD + (i as i64) * (W - 2 * PAD) / (n - 1);
    let y = |v: i64| H - PAD - v * (H - 2 * PAD) / max;
    let mut out = format!("<svg class=\"chart\" viewBox=\"0 0 {W} {H}\" role=\"img\">");
    let _ = write!(out, "<line class=\"axis\" x1=\"{PAD}\" y1=\"{}\" x2=\"{}\" y2=\"{}\"/>", H - PAD, W - PAD, H - PAD);
    let _ = write!(out, "<text class=\"tick\" x=\"2\" y=\"{}\">{}</text>", PAD, num(max));
    for (i, label) in labels.iter().enumerate() {
        if i == 0 || i + 1 == labels.len() || i % 7 == 0 {
            let _ = write!(out, "<text class=\"tick\" x=\"{}\" y=\"{}\">{}</text>", x(i) - 18, H - 8, esc(label));
        }
    }
    for s in series {
        let points: Vec<String> = s.values.iter().enumerate().map(|(i, v)| format!("{},{}", x(i), y(*v))).collect();
        let _ = write!(out, "<polyline class=\"{}\" points=\"{}\"/>", s.class, points.join(" "));
    }
    out.push_str("</svg><p class=\"legend\">");
    for s in series {
        let _ = write!(out, "<span class=\"key {}\"></span>{} ", s.class, esc(s.label));
    }
    out.push_str("</p>");
    out
}

/// Horizontal bars: one row per label, one bar per value (classes `b1`, `b2`, `b3`),
/// scaled to the largest value; each bar says its value in `fmt`.
pub fn bars(rows: &[(String, Vec<i64>)], fmt: impl Fn(i64) -> String) -> String {
    const W: i64 = 720;
    const LABEL: i64 = 150;
    const BAR: i64 = 12;
    let per_row = rows.iter().map(|(_, v)| v.len() as i64).max().unwrap_or(1).max(1) * BAR + 10;
    let max = rows.iter().flat_map(|(_, v)| v.iter().copied()).max().unwrap_or(0).max(1);
    let h = (rows.len() as i64 * per_row).max(per_row);
    let mut out = format!("<svg class=\"chart bars\" viewBox=\"0 0 {W} {h}\" role=\"img\">");
    for (r, (label, values)) in rows.iter().enumerate() {
        let top = r as i64 * per_row;
        let _ = write!(out, "<text class=\"tick\" x=\"0\" y=\"{}\">{}</text>", top + BAR + 2, esc(label));
        for (i, v) in values.iter().enumerate() {
            let width = (v.max(&0) * (W - LABEL - 110) / max).max(1);
            let y = top + i as i64 * BAR;
            let _ = write!(
                out,
                "<rect class=\"b{}\" x=\"{LABEL}\" y=\"{y}\" width=\"{width}\" height=\"{}\"/>\
                 <text class=\"tick\" x=\"{}\" y=\"{}\">{}</text>",
                i + 1,
                BAR - 2,
                LABEL + width + 4,
                y + BAR - 3,
                esc(&fmt(*v))
            );
        }
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_from_records_cannot_become_markup() {
        assert_eq!(esc("<script>alert('x')</script>&\""), "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;");
        assert_eq!(url("a b/&c=中"), "a%20b%2F%26c%3D%E4%B8%AD");
    }

    #[test]
    fn numbers_money_and_spans_read_as_people_write_them() {
        assert_eq!(
            (num(0), num(999), num(1000), num(-1_234_567)),
            ("0".into(), "999".into(), "1,000".into(), "-1,234,567".into())
        );
        assert_eq!(yuan(200_000_000), "2,000,000.00");
        assert_eq!(yuan(12_345), "123.45");
        assert_eq!(span(3 * 86_400_000 + 4 * 3_600_000, Lang::Zh), "3 天 4 小时");
        assert_eq!(span(125 * 60_000, Lang::En), "2 h 5 min");
        assert_eq!(time(0), "1970-01-01 08:00");
        assert_eq!((heat(0, 10), heat(10, 10), heat(1, 10)), ("heat-0", "heat-5", "heat-1"));
    }
}
