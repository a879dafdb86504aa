//! The frames that already arrived behind the one a link just read: consecutive
//! batches join it (`linli_core::link::coalesce`), so that the engine applies in one
//! step what arrived while it applied the last batch. Nothing waits for a frame that
//! has not arrived: a frame is taken only if the stream has it now.

use crate::error::NodeError;
use linli_core::link::{Frame, coalesce};
use linli_proto::v1;
use linli_proto::wire::FrameWire;
use std::future::Future;
use std::task::{Context, Poll, Waker};

/// What follows the gathered frame: the first frame that did not join it (for the
/// next turn), or the end of the stream.
#[derive(Default)]
pub(super) struct Behind {
    pub held: Option<Frame>,
    pub ended: bool,
}

/// `first` and the batches that arrived behind it, as one frame; what stopped the
/// gathering goes to `behind`.
pub(super) fn gather(
    first: Frame,
    inbound: &mut tonic::Streaming<v1::Frame>,
    peer: &str,
    behind: &mut Behind,
    wire: &mut FrameWire,
) -> Result<Frame, NodeError> {
    let mut frame = first;
    if !matches!(frame, Frame::Batch { .. }) {
        return Ok(frame);
    }
    // `Streaming::message` is cancel safe: a poll that finds nothing loses nothing.
    while let Some(next) = ready_now(inbound.message()) {
        let Some(next) = next? else {
            behind.ended = true;
            break;
        };
        let next = decode(wire, next, peer)?;
        if let Some(next) = coalesce(&mut frame, next) {
            behind.held = Some(next);
            break;
        }
    }
    Ok(frame)
}

/// A peer's frame in core's terms, decompressed by the session's `wire`; one that
/// does not decode ends the link.
pub(super) fn decode(wire: &mut FrameWire, frame: v1::Frame, peer: &str) -> Result<Frame, NodeError> {
    wire.decode(frame).map_err(|source| NodeError::Wire { peer: peer.to_string(), source })
}

/// The future's output if it is ready without waiting.
fn ready_now<F: Future>(future: F) -> Option<F::Output> {
    let mut future = std::pin::pin!(future);
    match future.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => Some(output),
        Poll::Pending => None,
    }
}
