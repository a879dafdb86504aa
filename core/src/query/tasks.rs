//! Tasks (点单-派单-接单): the funnel ordered -> dispatched -> accepted -> completed.

use super::requests::ALL;
use super::window::{hists_in, months_present};
use super::{Filter, Placement, TASKS};
use crate::error::Result;
use crate::views::{Hist, Views};
use std::collections::BTreeMap;

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
        let group = |community: &str| {
            if self.by_street { placement.street(community).to_string() } else { ALL.to_string() }
        };
        let mut ordered: BTreeMap<String, i64> = BTreeMap::new();
        for (key, count) in &views.counts {
            if key.registry == TASKS
                && self.filter.place(placement, &key.community)
                && self.filter.category(&key.category)
            {
                *ordered.entry(group(&key.community)).or_default() += count;
            }
        }
        let mut steps: BTreeMap<String, Vec<Hist>> = BTreeMap::new();
        for (i, step) in STEPS.iter().enumerate() {
            for month in months_present(views, TASKS, step) {
                for (key, hist) in hists_in(views, TASKS, step, &month) {
                    if self.filter.place(placement, &key.community) && self.filter.category(&key.category) {
                        let hists = steps.entry(group(&key.community)).or_insert_with(|| vec![Hist::default(); 3]);
                        hists[i].merge(hist);
                    }
                }
            }
        }
        let streets: std::collections::BTreeSet<String> = ordered.keys().chain(steps.keys()).cloned().collect();
        Ok(streets
            .into_iter()
            .map(|street| {
                let hists = steps.get(&street);
                let steps = STEPS
                    .iter()
                    .enumerate()
                    .map(|(i, step)| {
                        let hist = hists.map(|h| &h[i]);
                        StepRow {
                            step: step.to_string(),
                            count: hist.map(Hist::total).unwrap_or(0),
                            p50_ms: hist.and_then(|h| h.quantile_ms(0.5)),
                        }
                    })
                    .collect();
                FunnelRow { ordered: ordered.get(&street).copied().unwrap_or(0), street, steps }
            })
            .collect())
    }
}
