//! linli's wire protocol, `linli.v1`.
//!
//! Empty on purpose: the services and messages arrive with the tiers issue
//! (community nodes, street and district coordinators over gRPC). Until then no
//! crate depends on this one, so nothing can mistake it for a working protocol.
