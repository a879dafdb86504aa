//! What can go wrong in a run, apart from a failed check (which is a result).

use linli_node::NodeError;

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("unknown preset `{name}`; known presets: {known}")]
    UnknownPreset { name: String, known: String },
    #[error("bad topology: {reason}")]
    BadTopology { reason: String },
    #[error("bad scenario {source_name}: {reason}")]
    BadScenario { source_name: String, reason: String },
    #[error("{what}: {source}")]
    Io { what: String, source: std::io::Error },
    #[error("node {node}: {source}")]
    Node { node: String, source: Box<NodeError> },
    /// A simulated node's replica refused or failed (sim mode).
    #[error("node {node}: {source}")]
    Core { node: String, source: Box<linli_core::Error> },
    #[error("no node `{node}` in this district")]
    NoNode { node: String },
    #[error("ledger: record {key}: {reason}")]
    Ledger { key: String, reason: String },
    /// A fault or option this mode cannot carry out.
    #[error("{what} is not possible in {mode} mode: {why}")]
    Unsupported { what: String, mode: &'static str, why: String },
    /// A task of the run itself failed (a panic, a bound hit).
    #[error("the run failed: {reason}")]
    Run { reason: String },
}
