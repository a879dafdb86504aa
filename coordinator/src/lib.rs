//! linli's street and district coordinators.
//!
//! A coordinator runs the same server as a community node (`linli_node::server`):
//! the same replica engine over RocksDB, with a different role. A street accepts links
//! from its communities and keeps one to the district; the district accepts the
//! streets. Their scope is their subtree, so a street may dispatch a community's
//! request and the district may publish to every community. The binary is
//! `linli-coordinator --tier street|district`. The operators' `Query` service runs in
//! every server (`linli_node::server::query`); [`ctl`] is `linlictl`, its command line.

pub mod ctl;
