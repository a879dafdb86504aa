//! A peer's frame from the wire: prost decodes the bytes as a `linli.v1.Frame`, and
//! `linli-proto` turns it into the core's [`Frame`]. This is the first code every
//! byte a peer sends meets, before any check of who the peer is allowed to be, so it
//! must refuse anything with an error and never panic.
//!
//! A frame that converts must also survive the way back: core to wire to core gives
//! the same frame (a conversion that loses or bends a field would show here). A Hello
//! that converts then starts a session with the street, as the first frame of a
//! stream does.

use crate::fixtures::{self, NOW_MS, STREET};
use linli_core::link::{self, Frame, LinkLimits, PeerIs, Session, Tier};
use linli_proto::v1;
use prost::Message;

/// Decodes `data` as a frame from a peer; panics only on a bug.
pub fn frame(data: &[u8]) {
    let Ok(wire) = v1::Frame::decode(data) else { return };
    let Ok(frame) = Frame::try_from(wire) else { return };
    let back = Frame::try_from(v1::Frame::from(&frame));
    assert!(matches!(&back, Ok(again) if *again == frame), "{frame:?} does not round-trip: {back:?}");
    if let Frame::Hello(theirs) = frame {
        let mine = fixtures::hello(STREET, Tier::Street, 0, None);
        let peer_is = if theirs.tier > mine.tier { PeerIs::Parent } else { PeerIs::Child };
        // The street's log is empty: the peer's checkpoint names no entry of it.
        let named = None;
        let _ = link::named_seq(&mine, &theirs);
        let _ = Session::start(&mine, &theirs, named, peer_is, LinkLimits::default(), NOW_MS);
    }
}
