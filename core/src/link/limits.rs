//! The bounds of a link, in one place: the server's config parses them, the
//! simulator starts from the same defaults, and the [`super::Session`] enforces them.

/// Bound on one frame on the wire (decoded). Log batches stay far below it
/// ([`LinkLimits::batch_bytes_max`]); a single log entry larger than a batch still goes
/// alone, and a peer's frame past this bound is refused by the decoder (the session
/// ends and reconnects).
pub const FRAME_BYTES_MAX: usize = 32 * 1024 * 1024;

/// Bound on log entries in one batch a peer sends, checked before anything of it is
/// applied; also the highest `batch_entries_max` a node may be configured with, so an
/// honest sender never reaches it. A batch over it ends the session (nothing applied).
pub const BATCH_ENTRIES_BOUND: usize = 4_096;

/// Bound on the documents one batch touches: the engine applies a batch in one step,
/// and a step must stay short (every link and every write waits behind it). A sender
/// ends its batch before one more document would pass it; a received batch over it
/// ends the session (nothing applied).
pub const BATCH_DOCS_MAX: usize = 1_024;

/// Tiers above a parent whose watermarks an `Ack` may carry (see
/// [`super::durable`]): a tree deeper than this is refused at the wire.
pub const TIERS_ABOVE_MAX: usize = 8;

/// What a log entry costs in a batch besides its changes (ids, sequence number,
/// lengths): counted against [`LinkLimits::batch_bytes_max`].
pub const ENTRY_OVERHEAD_BYTES: usize = 64;

/// Frames a session may have queued for the peer before it stops reading the peer's
/// frames (they are mostly answers to those): a peer that never reads cannot grow
/// this node's memory past it.
pub const OUTBOX_FRAMES_MAX: usize = 1024;

/// Repair starts the sync protocol on one more document only while fewer frames and
/// engine steps than this are queued on its link, so repairing thousands of documents
/// never floods the stream or the engine's queue.
pub const REPAIR_OUTBOX_LOW: usize = 16;

/// The default of [`LinkLimits::clock_skew_ms_max`] and of the replica's
/// `ReplicaConfig::skew_ms_max`, which enforces it: one value, so a runtime that does
/// not pass its config's (the simulator) bounds peers' clocks as a server does.
pub const CLOCK_SKEW_MS_MAX: u64 = 300_000;

/// The bounds of one link. Every field is a `[link]` key of a server's config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkLimits {
    /// Bound on one log batch before compression, counting [`ENTRY_OVERHEAD_BYTES`]
    /// per entry. When hit the batch ends; one larger entry goes alone. Default 262,144.
    pub batch_bytes_max: usize,
    /// Bound on log entries in one batch. When hit the batch ends. Default 512, at
    /// most [`BATCH_ENTRIES_BOUND`]; a batch also ends at [`BATCH_DOCS_MAX`] documents.
    pub batch_entries_max: usize,
    /// Batches sent and not yet acknowledged; past it the sender waits for an `Ack`.
    /// Default 4.
    pub window_batches_max: usize,
    /// Reconnect backoff: first delay and cap, in ms; full jitter. Defaults 100 and 10,000.
    pub backoff_ms_min: u64,
    pub backoff_ms_max: u64,
    /// Idle link keepalive interval in ms. Default 15,000.
    pub keepalive_ms: u64,
    /// Entries skipped for the peer (not in its routes) are announced in an empty
    /// batch once the log has been quiet this long, so a reconnect does not rescan
    /// them, without a synced write at the peer per skipped entry. Default 1,000.
    pub skipped_flush_ms: u64,
    /// How long a new stream may take to send its Hello. A stream silent past it is
    /// closed; until its Hello is valid it replaces nothing (the peer's live session, if
    /// any, goes on). Default 10,000.
    pub hello_timeout_ms: u64,
    /// How far after this node's clock a peer's change may be dated; a later one is
    /// refused with a reason (`Refusal`), so a peer whose clock runs ahead cannot move
    /// this node's clock, and the shards of the records it creates, for good. Enforced
    /// by the replica when it applies ([`crate::replica::ReplicaConfig::skew_ms_max`]).
    /// Default 300,000 (5 minutes).
    pub clock_skew_ms_max: u64,
    /// Log entries kept behind the log's end for a peer that stays away; past it they
    /// are trimmed and the peer is repaired when it comes back ([`super::trim`]). With
    /// every peer connected the log holds only what some peer has not acknowledged.
    /// Default 1,000,000 (about a week of a busy district).
    pub log_retained_entries_max: u64,
    /// The log is trimmed in steps of at least this many entries, not one synced write
    /// per acknowledgement. Default 1,024.
    pub log_trim_entries_min: u64,
}

impl Default for LinkLimits {
    fn default() -> Self {
        Self {
            batch_bytes_max: 262_144,
            batch_entries_max: 512,
            window_batches_max: 4,
            backoff_ms_min: 100,
            backoff_ms_max: 10_000,
            keepalive_ms: 15_000,
            skipped_flush_ms: 1_000,
            hello_timeout_ms: 10_000,
            clock_skew_ms_max: CLOCK_SKEW_MS_MAX,
            log_retained_entries_max: 1_000_000,
            log_trim_entries_min: 1_024,
        }
    }
}
