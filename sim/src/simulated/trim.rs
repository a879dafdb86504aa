//! Log trimming on the simulated network, as a server's trimmer does it: what each
//! node's peers hold of its log goes to core's `link::trim_through`, and the engine
//! trims (`Event::TrimLog`). Run on the replicas' tick.

use super::net::{Dir, Net};
use crate::error::SimError;
use linli_core::link::{PeerHold, trim_through};

impl Net {
    /// Trims every node's log below what its peers hold, within the retention bound.
    pub fn trim_logs(&mut self) -> Result<(), SimError> {
        for node in 0..self.nodes.len() {
            let holds: Vec<PeerHold> = self
                .links_of(node)
                .into_iter()
                .map(|link| {
                    let l = &self.links[link];
                    // The peer's durable checkpoint of this node's log: the parent's of
                    // a child's log travels up, the child's of the parent's down.
                    let dir = if l.child == node { Dir::Up } else { Dir::Down };
                    PeerHold { acked: Some(l.applied_through[dir as usize]), connected: l.is_up() }
                })
                .collect();
            let me = &mut self.nodes[node];
            let (log_end, trimmed) = (me.log_end()?, me.log_trimmed()?);
            if let Some(through) = trim_through(log_end, trimmed, &holds, &self.limits) {
                me.trim_log(through)?;
            }
        }
        Ok(())
    }
}
