//! The process's log: one line per event, text or JSON, each with the node's id and
//! tier, and budgets for lines a peer or a client could make without end.
//!
//! `LINLI_LOG` filters (`info` by default, e.g. `linli_node=debug`); `LINLI_LOG_FORMAT`
//! is `text` (default) or `json`: one JSON object per line, with `timestamp`, `level`,
//! `node`, `tier`, `fields.message` and the event's fields, for a log collector.
//! Until a server knows its id (before its config is read) lines carry neither.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::{DefaultFields, Format, JsonFields, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// This process's node id and tier, once a server has read its config.
static NODE: OnceLock<(String, String)> = OnceLock::new();

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, thiserror::Error)]
#[error("LINLI_LOG_FORMAT is `{0}`: expected `text` or `json`")]
pub struct UnknownLogFormat(String);

/// Why the process's log or trace export could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum LoggingError {
    #[error(transparent)]
    Format(#[from] UnknownLogFormat),
    #[error(transparent)]
    Telemetry(#[from] crate::telemetry::TelemetryError),
}

impl LogFormat {
    /// From `LINLI_LOG_FORMAT`; text where unset.
    pub fn from_env() -> Result<Self, UnknownLogFormat> {
        match std::env::var("LINLI_LOG_FORMAT").ok().as_deref() {
            None | Some("") | Some("text") => Ok(Self::Text),
            Some("json") => Ok(Self::Json),
            Some(other) => Err(UnknownLogFormat(other.to_string())),
        }
    }
}

/// Installs the process's subscriber: `LINLI_LOG` filters, `LINLI_LOG_FORMAT` formats,
/// and where an OTLP endpoint is configured, spans are exported (see
/// [`crate::telemetry`]; then this must run inside the tokio runtime that serves).
pub fn init() -> Result<(), LoggingError> {
    use tracing_subscriber::Layer;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = tracing_subscriber::EnvFilter::try_from_env("LINLI_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let format = LogFormat::from_env()?;
    match crate::telemetry::endpoint_from_env() {
        // The filter applies to the whole process, as it always did: nothing changes
        // when traces are off.
        None => tracing_subscriber::registry().with(filter).with(lines(format)).init(),
        // The filter applies to the log lines only: the exporter takes linli's spans
        // whatever the log level.
        Some((endpoint, var)) => {
            let spans = crate::telemetry::layer(&endpoint, var)?;
            tracing_subscriber::registry().with(lines(format).with_filter(filter)).with(spans).init();
            tracing::info!(%endpoint, "exporting traces over OTLP");
        }
    }
    Ok(())
}

/// The layer that writes log lines in `format`, for any subscriber stack.
fn lines<S>(format: LogFormat) -> Box<dyn tracing_subscriber::Layer<S> + Send + Sync>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    use tracing_subscriber::Layer;
    match format {
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .event_format(WithNode(Format::default()))
            .fmt_fields(DefaultFields::new())
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .event_format(WithNode(Format::default().json().with_span_list(false)))
            .fmt_fields(JsonFields::new())
            .boxed(),
    }
}

/// Every later line carries `node` and `tier` (the first call wins).
pub fn set_node(id: &str, tier: &str) {
    let _ = NODE.set((id.to_string(), tier.to_string()));
}

/// A formatter that puts the node's id and tier on the line made by the one it wraps.
struct WithNode<F>(F);

fn json_string(text: &str) -> String {
    serde_json::Value::String(text.to_string()).to_string()
}

impl<S, N, F> FormatEvent<S, N> for WithNode<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> std::fmt::Result {
        let Some((id, tier)) = NODE.get() else { return self.0.format_event(ctx, writer, event) };
        let mut line = String::new();
        self.0.format_event(ctx, Writer::new(&mut line), event)?;
        match line.strip_prefix('{') {
            Some(rest) => write!(writer, "{{\"node\":{},\"tier\":{},{rest}", json_string(id), json_string(tier)),
            None => write!(writer, "node={id} tier={tier} {line}"),
        }
    }
}

/// Lines per minute a budget lets through.
const LINES_PER_MINUTE: u64 = 20;
const MINUTE: Duration = Duration::from_secs(60);

/// At most [`LINES_PER_MINUTE`] lines of one kind a minute, for events a peer or a
/// client can repeat at will (refused entries, refused calls): past it the lines are
/// counted, and the first line allowed after the minute says how many were held back.
/// The metrics count every event regardless.
pub struct LogBudget {
    window: std::sync::Mutex<(Instant, u64)>,
    held_back: AtomicU64,
}

impl Default for LogBudget {
    fn default() -> Self {
        Self { window: std::sync::Mutex::new((Instant::now(), 0)), held_back: AtomicU64::new(0) }
    }
}

impl LogBudget {
    /// `Some(lines held back since the last allowed one)` when this line may be
    /// written; `None` when it is held back.
    pub fn allow(&self) -> Option<u64> {
        let mut window = self.window.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if window.0.elapsed() >= MINUTE {
            *window = (Instant::now(), 0);
        }
        if window.1 >= LINES_PER_MINUTE {
            self.held_back.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        window.1 += 1;
        Some(self.held_back.swap(0, Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_budget_lets_twenty_lines_a_minute_through_and_counts_the_rest() {
        let budget = LogBudget::default();
        let allowed = (0..100).filter(|_| budget.allow().is_some()).count();
        assert_eq!(allowed, 20);
        // A new minute: the first line says how many were held back.
        budget.window.lock().expect("window").0 -= MINUTE;
        assert_eq!(budget.allow(), Some(80));
        assert_eq!(budget.allow(), Some(0));
    }

    #[test]
    fn an_unknown_format_is_refused_by_name() {
        let error = UnknownLogFormat("yaml".into());
        assert_eq!(error.to_string(), "LINLI_LOG_FORMAT is `yaml`: expected `text` or `json`");
    }
}
