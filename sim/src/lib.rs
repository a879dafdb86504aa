//! linli's district simulator.
//!
//! Empty on purpose: topologies, workloads, faults and reports arrive with the
//! simulator issue. Until then the README's main job runs the community node's local
//! demo (`linli-node demo`).
