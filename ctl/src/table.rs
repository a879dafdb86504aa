//! Answers as tables, printed aligned for people (Chinese characters take two
//! columns: widths come from `unicode-width`), or as JSON or CSV for scripts.
//!
//! Times and durations are kept in ms: JSON and CSV print the numbers; the aligned
//! table prints them readable (Shenzhen time, `3h 20m`).

use linli_core::schema::calendar::{civil, cst_day};
use serde_json::{Map, Value};
use std::fmt::Write as _;
use unicode_width::UnicodeWidthStr;

#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Text(String),
    Int(i64),
    Bool(bool),
    /// A timestamp in ms since the epoch.
    Time(i64),
    /// A duration in ms.
    Duration(i64),
    Null,
}

impl Cell {
    pub fn text(s: impl Into<String>) -> Self {
        Cell::Text(s.into())
    }
    pub fn time(ms: Option<i64>) -> Self {
        ms.map(Cell::Time).unwrap_or(Cell::Null)
    }
    pub fn duration(ms: Option<i64>) -> Self {
        ms.map(Cell::Duration).unwrap_or(Cell::Null)
    }

    fn json(&self) -> Value {
        match self {
            Cell::Text(s) => Value::String(s.clone()),
            Cell::Int(n) | Cell::Time(n) | Cell::Duration(n) => Value::from(*n),
            Cell::Bool(b) => Value::Bool(*b),
            Cell::Null => Value::Null,
        }
    }

    fn raw(&self) -> String {
        match self {
            Cell::Text(s) => s.clone(),
            Cell::Int(n) | Cell::Time(n) | Cell::Duration(n) => n.to_string(),
            Cell::Bool(b) => b.to_string(),
            Cell::Null => String::new(),
        }
    }

    fn readable(&self) -> String {
        match self {
            Cell::Time(ms) => readable_time(*ms),
            Cell::Duration(ms) => readable_duration(*ms),
            Cell::Null => "-".into(),
            other => other.raw(),
        }
    }

    fn numeric(&self) -> bool {
        matches!(self, Cell::Int(_) | Cell::Duration(_))
    }
}

/// `2026-11-22 12:00` in Shenzhen.
pub fn readable_time(ms: i64) -> String {
    let day = cst_day(ms);
    let (y, m, d) = civil(day);
    let minutes = (ms + 8 * 3_600_000 - day * 86_400_000) / 60_000;
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}", minutes / 60, minutes % 60)
}

/// `2d 3h`, `3h 20m`, `45s`: the two largest units.
pub fn readable_duration(ms: i64) -> String {
    let sign = if ms < 0 { "-" } else { "" };
    let s = ms.unsigned_abs() / 1000;
    let (d, h, m) = (s / 86_400, s / 3600 % 24, s / 60 % 60);
    let text = match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, m) => format!("{m}m {}s", s % 60),
        (0, h, m) => format!("{h}h {m}m"),
        (d, h, _) => format!("{d}d {h}h"),
    };
    format!("{sign}{text}")
}

#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// The section's name (a JSON key, a heading).
    pub name: String,
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Cell>>,
}

impl Table {
    pub fn new(name: &str, columns: &[&str]) -> Self {
        Self { name: name.into(), columns: columns.iter().map(|c| c.to_string()).collect(), rows: Vec::new() }
    }
    pub fn push(&mut self, row: Vec<Cell>) {
        self.rows.push(row);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
    Csv,
}

/// Renders the sections of an answer.
pub fn render(tables: &[Table], format: Format) -> String {
    match format {
        Format::Table => {
            let titled = tables.len() > 1;
            tables.iter().map(|t| aligned(t, titled)).collect::<Vec<_>>().join("\n")
        }
        Format::Csv => tables.iter().map(csv).collect::<Vec<_>>().join("\n"),
        Format::Json => {
            let mut object = Map::new();
            for table in tables {
                let rows = table
                    .rows
                    .iter()
                    .map(|row| {
                        let fields = table.columns.iter().cloned().zip(row.iter().map(Cell::json));
                        Value::Object(fields.collect())
                    })
                    .collect();
                object.insert(table.name.clone(), Value::Array(rows));
            }
            let mut text = serde_json::to_string_pretty(&Value::Object(object)).unwrap_or_default();
            text.push('\n');
            text
        }
    }
}

fn aligned(table: &Table, titled: bool) -> String {
    let cells: Vec<Vec<String>> = table.rows.iter().map(|row| row.iter().map(Cell::readable).collect()).collect();
    let mut widths: Vec<usize> = table.columns.iter().map(|c| c.width()).collect();
    for row in &cells {
        for (i, cell) in row.iter().enumerate() {
            if let Some(width) = widths.get_mut(i) {
                *width = (*width).max(cell.width());
            }
        }
    }
    let mut out = String::new();
    if titled {
        let _ = writeln!(out, "{}:", table.name);
    }
    let line = |out: &mut String, cells: &[String], numeric: &dyn Fn(usize) -> bool| {
        let mut text = String::new();
        for (i, cell) in cells.iter().enumerate() {
            let pad = " ".repeat(widths[i].saturating_sub(cell.width()));
            let last = i + 1 == cells.len();
            if numeric(i) {
                text.push_str(&pad);
                text.push_str(cell);
            } else {
                text.push_str(cell);
                if !last {
                    text.push_str(&pad);
                }
            }
            if !last {
                text.push_str("  ");
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    let is_numeric = |i: usize| table.rows.first().and_then(|r| r.get(i)).is_some_and(Cell::numeric);
    line(&mut out, &table.columns.iter().map(|c| c.to_uppercase()).collect::<Vec<_>>(), &is_numeric);
    for row in &cells {
        line(&mut out, row, &is_numeric);
    }
    if table.rows.is_empty() {
        out.push_str("(none)\n");
    }
    out
}

/// RFC 4180: fields with a comma, a quote or a line break are quoted, quotes doubled.
fn csv(table: &Table) -> String {
    let field = |s: &str| {
        if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_string() }
    };
    let mut out = table.columns.iter().map(|c| field(c)).collect::<Vec<_>>().join(",");
    out.push('\n');
    for row in &table.rows {
        out.push_str(&row.iter().map(|c| field(&c.raw())).collect::<Vec<_>>().join(","));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Table {
        let mut table = Table::new("teams", &["community", "team", "hours"]);
        table.push(vec![Cell::text("lg-pingdi"), Cell::text("环保一队"), Cell::Int(120)]);
        table.push(vec![Cell::text("lg-x"), Cell::text("a,\"b\""), Cell::Int(7)]);
        table
    }

    #[test]
    fn chinese_text_takes_two_columns() {
        let text = render(&[sample()], Format::Table);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "COMMUNITY  TEAM      HOURS");
        assert_eq!(lines[1], "lg-pingdi  环保一队    120");
        assert_eq!(lines[2], "lg-x       a,\"b\"         7");
        assert!(lines.iter().all(|l| l.width() == lines[0].width()));
    }

    #[test]
    fn csv_quotes_and_json_keys_by_column() {
        assert_eq!(
            render(&[sample()], Format::Csv),
            "community,team,hours\nlg-pingdi,环保一队,120\nlg-x,\"a,\"\"b\"\"\",7\n"
        );
        let json: Value = serde_json::from_str(&render(&[sample()], Format::Json)).unwrap();
        assert_eq!(json["teams"][0]["team"], "环保一队");
        assert_eq!(json["teams"][1]["hours"], 7);
    }

    #[test]
    fn times_and_durations_read_well() {
        assert_eq!(readable_time(1_795_320_000_000), "2026-11-22 12:00");
        assert_eq!(readable_duration(3 * 3_600_000 + 20 * 60_000), "3h 20m");
        assert_eq!(readable_duration(2 * 86_400_000 + 3_600_000), "2d 1h");
        assert_eq!(readable_duration(45_000), "45s");
    }
}
