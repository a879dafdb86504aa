//! linli-sim: a district in a box, for engineers who must show it survives its bad
//! days before rolling out.
//!
//! - [`topology`]: presets of real districts and custom trees, sizes drawn for a seed;
//! - [`workload`]: what the district's people write, on a daily curve;
//! - [`real`]: every node a real server over loopback, each link through a proxy;
//! - [`simulated`]: the same replica engine over a simulated network and clock,
//!   deterministic for a seed;
//! - [`driver`]: one run for both modes: the workload, probes, faults, hand-overs,
//!   settling and measurements, over a mode's [`driver::District`];
//! - [`faults`]: link cuts, crashes, wiped disks, delays, daily outages;
//! - [`ledger`] and [`checks`]: what the acknowledged writes require, compared with
//!   what the district holds at the end;
//! - [`report`] and [`html`]: the summary, `report.json` and `report.html`.

pub mod checks;
pub mod driver;
pub mod error;
pub mod faults;
pub mod html;
pub mod k8s;
pub mod ledger;
pub mod real;
pub mod report;
pub mod rng;
pub mod run;
pub mod simulated;
pub mod topology;
pub mod workload;

pub use error::SimError;
