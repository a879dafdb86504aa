//! A link session's frames on the wire, compressed with zstd contexts the session
//! keeps from its first frame to its last.
//!
//! Why not gRPC's own compression: tonic compresses every message with a new zstd
//! context and decompresses it with another, for a frame that may be an `Ack` of a
//! few bytes. At a live load a batch carries one or two entries, and making and
//! clearing the contexts was ~4% of a coordinator's CPU in its profile. So a
//! link compresses its frames itself: a frame of at least [`COMPRESS_BYTES_MIN`]
//! encoded bytes travels as [`Body::Zstd`], the encoded frame compressed with the
//! session's one compressor; smaller frames, and frames that compression does not
//! shrink, travel as they are. The receiver decompresses with its one decompressor,
//! at most the frame bytes the link allows ([`FrameWire::new`]): a frame that would
//! decompress past them, or that holds another compressed frame, is refused (and the
//! link ends, as for any frame that does not decode).
//!
//! Memory: a compressor's window is [`WINDOW_LOG`] (128 KiB) and its tables are as
//! small; its context holds about 1 MB once a batch of a megabyte went through it
//! (33 KB after small frames only; zstd's defaults hold 1.3 MB), kept for the
//! session. A decompressor writes straight into the frame's buffer and holds no
//! window of its own.

use crate::ProtoError;
use crate::v1;
use crate::v1::frame::Body;
use linli_core::link::Frame;
use prost::Message;

/// Frames smaller than this, encoded, are not compressed: a `Hello`, an `Ack`, a
/// batch of one small entry gain nothing worth a compression call.
pub const COMPRESS_BYTES_MIN: usize = 256;
/// zstd's level for link frames: its default, what gRPC's compression used.
pub const ZSTD_LEVEL: i32 = 3;
/// The compressor's window, log2 bytes: a batch's changes resemble each other within
/// a few KiB, and a larger window only costs memory on every link.
pub const WINDOW_LOG: u32 = 17;

/// This node's Hello as it goes on the wire, plain, saying that this node reads
/// compressed frames.
pub fn hello_frame(hello: &linli_core::link::Hello) -> v1::Frame {
    let mut frame = v1::Frame::from(&Frame::Hello(hello.clone()));
    if let Some(Body::Hello(hello)) = frame.body.as_mut() {
        hello.reads_zstd = true;
    }
    frame
}

/// Whether a peer's Hello says it reads compressed frames (see [`hello_frame`]).
pub fn reads_zstd(frame: &v1::Frame) -> bool {
    matches!(&frame.body, Some(Body::Hello(hello)) if hello.reads_zstd)
}

/// One link session's codec: it encodes the frames it sends and decodes those it
/// receives. Not shared between sessions: the contexts hold the session's state only
/// while a call runs, but a session is one task, so it needs no lock.
pub struct FrameWire {
    compressor: zstd::bulk::Compressor<'static>,
    /// The peer said it reads compressed frames (an older node did not).
    peer_reads_zstd: bool,
    decompressor: zstd::bulk::Decompressor<'static>,
    /// The most bytes a received frame may decompress to.
    frame_bytes_max: usize,
}

impl FrameWire {
    /// A codec whose received frames decompress to at most `frame_bytes_max` bytes
    /// (the link's frame bound), and that compresses what it sends if
    /// `peer_reads_zstd` (its Hello said so, [`reads_zstd`]). Fails only if zstd
    /// cannot make its contexts.
    pub fn new(frame_bytes_max: usize, peer_reads_zstd: bool) -> Result<Self, ProtoError> {
        let failed = |e: std::io::Error| ProtoError::Invalid {
            message: "Frame",
            field: "zstd",
            reason: format!("no zstd context: {e}"),
        };
        let mut compressor = zstd::bulk::Compressor::new(ZSTD_LEVEL).map_err(failed)?;
        for parameter in [
            zstd::zstd_safe::CParameter::WindowLog(WINDOW_LOG),
            zstd::zstd_safe::CParameter::HashLog(WINDOW_LOG - 1),
            zstd::zstd_safe::CParameter::ChainLog(WINDOW_LOG - 1),
        ] {
            compressor.set_parameter(parameter).map_err(failed)?;
        }
        let decompressor = zstd::bulk::Decompressor::new().map_err(failed)?;
        Ok(Self { compressor, peer_reads_zstd, decompressor, frame_bytes_max })
    }

    /// `frame` as it goes on the wire: compressed when that pays (see the module).
    pub fn encode(&mut self, frame: &Frame) -> v1::Frame {
        let plain = v1::Frame::from(frame);
        let plain_bytes = plain.encoded_len();
        if plain_bytes < COMPRESS_BYTES_MIN || !self.peer_reads_zstd {
            return plain;
        }
        match self.compressor.compress(&plain.encode_to_vec()) {
            Ok(compressed) if compressed.len() < plain_bytes => v1::Frame { body: Some(Body::Zstd(compressed)) },
            // A frame that does not shrink (or a compressor that fails, which zstd
            // does not on bytes in memory) goes as it is.
            _ => plain,
        }
    }

    /// A received frame in core's terms, decompressed if it came compressed.
    pub fn decode(&mut self, frame: v1::Frame) -> Result<Frame, ProtoError> {
        let Some(Body::Zstd(compressed)) = &frame.body else { return Frame::try_from(frame) };
        let invalid = |reason: String| ProtoError::Invalid { message: "Frame", field: "zstd", reason };
        let plain = self
            .decompressor
            .decompress(compressed, self.frame_bytes_max)
            .map_err(|e| invalid(format!("does not decompress to at most {} bytes: {e}", self.frame_bytes_max)))?;
        let inner = v1::Frame::decode(plain.as_slice())
            .map_err(|e| invalid(format!("decompresses to bytes that are not a frame: {e}")))?;
        if matches!(inner.body, Some(Body::Zstd(_))) {
            return Err(invalid("holds another compressed frame".into()));
        }
        Frame::try_from(inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use linli_core::ids::DocId;
    use linli_core::store::LogEntry;

    fn batch(count: usize, change_bytes: usize) -> Frame {
        let doc = DocId::parse("c1/requests/2026-12").expect("doc id");
        let entries = (1..=count as u64)
            .map(|seq| LogEntry {
                seq,
                doc: doc.clone(),
                origin: None,
                changes: vec![vec![b'x'; change_bytes]],
                traces: Vec::new(),
            })
            .collect();
        Frame::Batch { entries, through: count as u64, fingerprint: 0 }
    }

    #[test]
    fn a_large_frame_travels_compressed_and_comes_back_the_same() {
        let mut sender = FrameWire::new(1 << 20, true).expect("codec");
        let mut receiver = FrameWire::new(1 << 20, true).expect("codec");
        let frame = batch(20, 400);
        let wire = sender.encode(&frame);
        assert!(matches!(wire.body, Some(Body::Zstd(_))), "a batch of 8 KB of alike changes is compressed");
        assert!(wire.encoded_len() < v1::Frame::from(&frame).encoded_len() / 4);
        assert_eq!(receiver.decode(wire).expect("decodes"), frame);
        // The contexts serve the next frame too.
        let next = batch(3, 300);
        assert_eq!(receiver.decode(sender.encode(&next)).expect("decodes"), next);
    }

    #[test]
    fn a_small_frame_travels_as_it_is() {
        let mut wire = FrameWire::new(1 << 20, true).expect("codec");
        let ack = Frame::Ack { through: 7, above: vec![5] };
        let sent = wire.encode(&ack);
        assert!(!matches!(sent.body, Some(Body::Zstd(_))));
        assert_eq!(wire.decode(sent).expect("decodes"), ack);
    }

    #[test]
    fn a_peer_that_does_not_read_zstd_gets_plain_frames() {
        let mut wire = FrameWire::new(1 << 20, false).expect("codec");
        let frame = batch(20, 400);
        assert_eq!(wire.encode(&frame), v1::Frame::from(&frame));
    }

    #[test]
    fn the_hello_says_this_node_reads_zstd_and_travels_plain() {
        let hello = linli_core::link::Hello {
            node: linli_core::ids::NodeId::new("c1").expect("id"),
            tier: linli_core::link::Tier::Community,
            log_id: "log".into(),
            log_end: 3,
            log_trimmed: 0,
            checkpoint: None,
            subtree: Default::default(),
        };
        let frame = hello_frame(&hello);
        assert!(reads_zstd(&frame));
        assert!(!reads_zstd(&v1::Frame::from(&Frame::Hello(hello.clone()))));
        assert_eq!(Frame::try_from(frame).expect("plain"), Frame::Hello(hello));
    }

    #[test]
    fn a_frame_that_decompresses_past_the_bound_is_refused() {
        let mut sender = FrameWire::new(1 << 20, true).expect("codec");
        let mut receiver = FrameWire::new(4 * 1024, true).expect("codec");
        let error = receiver.decode(sender.encode(&batch(40, 400))).expect_err("past 4 KiB");
        assert!(error.to_string().contains("at most 4096 bytes"), "{error}");
    }

    #[test]
    fn a_compressed_frame_inside_a_compressed_frame_is_refused() {
        let inner = v1::Frame { body: Some(Body::Zstd(vec![0; 600])) };
        let nested = zstd::bulk::compress(&inner.encode_to_vec(), ZSTD_LEVEL).expect("zstd");
        let mut receiver = FrameWire::new(1 << 20, true).expect("codec");
        let error = receiver.decode(v1::Frame { body: Some(Body::Zstd(nested)) }).expect_err("nested");
        assert!(error.to_string().contains("another compressed frame"), "{error}");
    }

    #[test]
    fn bytes_that_are_not_zstd_are_refused() {
        let mut receiver = FrameWire::new(1 << 20, true).expect("codec");
        let error = receiver.decode(v1::Frame { body: Some(Body::Zstd(vec![1, 2, 3, 4])) }).expect_err("not zstd");
        assert!(error.to_string().contains("Frame: `zstd`"), "{error}");
    }
}
