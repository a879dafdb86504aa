//! linli's fuzz targets: the places where a peer's bytes enter a node.
//!
//! Each target is a function of `&[u8]` that must never panic, whatever the bytes: a
//! panic is a bug found (a failed assertion too: the targets check what must hold
//! besides). The `fuzz/` project (cargo-fuzz, nightly) calls them from libFuzzer, and
//! `tests/corpora.rs` runs every input of its committed corpora through them on the
//! stable toolchain, so every crash once found stays fixed. See `docs/fuzzing.md`.
//!
//! - [`frame()`]: a frame from the wire, decoded and converted to the core's.
//! - [`session_batch()`]: a receiving link session driven by the peer's frames.
//! - [`apply_changes()`]: a peer's Automerge changes applied by the replica engine.
//!
//! [`fuzz()`] runs a target under libFuzzer, where linli's own containment of
//! Automerge's panics must still work.

pub mod apply_changes;
mod fixtures;
pub mod frame;
mod reader;
pub mod session_batch;
mod under_libfuzzer;

pub use apply_changes::apply_changes;
pub use frame::frame;
pub use session_batch::session_batch;
pub use under_libfuzzer::fuzz;

/// A fuzz target: any bytes in, a panic only on a bug.
pub type Target = fn(&[u8]);

/// The targets by name, as `fuzz/corpus/<name>/` and `fuzz/fuzz_targets/<name>.rs`
/// name them.
pub const TARGETS: [(&str, Target); 3] =
    [("frame", frame), ("session_batch", session_batch), ("apply_changes", apply_changes)];
