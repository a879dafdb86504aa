//! Tasks (点单-派单-接单): the funnel ordered -> dispatched -> accepted -> completed.

use super::requests::ALL;
use super::window::hists_in;
use super::{Filter, Placement, Places, TASKS};
use crate::error::Result;
use crate::views::hist::Dense;
use crate::views::{ALL_TIME, Views};
use std::collections::{BTreeMap, BTreeSet};

/// The steps of the funnel: each a duration of the `tasks` registry, from the previous
/// stage's timestamp to its own.
pub const STEPS: [&str; 3] = ["dispatch", "accept", "complete"];

/// Over all time: how many tasks were ordered, and reached each stage (have both of
/// the step's timestamps), with the median time of each step. `category` filters by
/// service.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Funnel {
    pub filter: Filter,
    pub by_street: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepRow {
    pub step: String,
    /// Tasks that took this step.
    pub count: i64,
    pub p50_ms: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunnelRow {
    pub street: String,
    pub ordered: i64,
    /// One per [`STEPS`], in order.
    pub steps: Vec<StepRow>,
}

impl Funnel {
    pub fn answer(&self, views: &Views, placement: &Placement) -> Result<Vec<FunnelRow>> {
        self.filter.refuse_status("funnel")?;
        let mut places = Places::new(&self.filter, placement);
        let mut ordered: BTreeMap<&str, i64> = BTreeMap::new();
        for (key, count) in &views.counts {
            if key.registry != TASKS || !self.filter.category(&key.category) {
                continue;
            }
            let Some(street) = places.street(&key.community) else { continue };
            *ordered.entry(if self.by_street { street } else { ALL }).or_default() += count;
        }
        // Over all time: the all-time histograms, one per community and service.
        let mut steps: BTreeMap<&str, [Dense; 3]> = BTreeMap::new();
        for (i, step) in STEPS.iter().enumerate() {
            for (key, hist) in hists_in(views, TASKS, step, ALL_TIME) {
                if !self.filter.category(&key.category) {
                    continue;
                }
                let Some(street) = places.street(&key.community) else { continue };
                steps.entry(if self.by_street { street } else { ALL }).or_default()[i].merge(hist);
            }
        }
        let streets: BTreeSet<&str> = ordered.keys().chain(steps.keys()).copied().collect();
        Ok(streets
            .into_iter()
            .map(|street| {
                let hists = steps.get(street);
                let steps = STEPS
                    .iter()
                    .enumerate()
                    .map(|(i, step)| {
                        let hist = hists.map(|h| &h[i]);
                        StepRow {
                            step: step.to_string(),
                            count: hist.map(Dense::total).unwrap_or(0),
                            p50_ms: hist.and_then(|h| h.quantile_ms(0.5)),
                        }
                    })
                    .collect();
                FunnelRow { ordered: ordered.get(street).copied().unwrap_or(0), street: street.to_string(), steps }
            })
            .collect())
    }
}
