//! Tables of bounded numbers: `[link]` and `[memory]`. Each key is taken from the
//! file's table, from `LINLI_<TABLE>_<KEY>`, or from its default, and must lie within
//! its bounds; an error names `<table>.<key>` and where its value came from.

use super::{ConfigError, Sourced, env_name, invalid, put};
use std::collections::BTreeMap;

/// A table's name, its keys and each key's inclusive bounds (same order).
pub(super) struct NumberTable {
    pub name: &'static str,
    pub keys: &'static [&'static str],
    pub bounds: &'static [(u64, u64)],
}

/// One value a key of a table may hold, and where it came from.
pub(super) type Slot = Option<Sourced<u64>>;

impl NumberTable {
    /// The first key of the file's table that this table does not have, as
    /// `<table>.<key>`.
    pub fn unknown_key(&self, table: &toml::Table) -> Option<String> {
        let key = table.keys().find(|k| !self.keys.contains(&k.as_str()))?;
        Some(format!("{}.{key}", self.name))
    }

    pub fn read_file(&self, slots: &mut [Slot], values: &BTreeMap<String, u64>, src: &str) {
        for (slot, key) in slots.iter_mut().zip(self.keys) {
            put(slot, values.get(*key).copied(), src);
        }
    }

    /// Takes `LINLI_<TABLE>_<KEY>` if `name` is one of this table's; false if not.
    pub fn read_env(&self, slots: &mut [Slot], name: &str, text: &str) -> Result<bool, ConfigError> {
        let Some(i) = self.keys.iter().position(|k| env_name(&format!("{}.{k}", self.name)) == name) else {
            return Ok(false);
        };
        let src = format!("env {name}");
        let key = format!("{}.{}", self.name, self.keys[i]);
        let value = text.trim().parse::<u64>().map_err(|_| invalid(&key, &src, format!("not a number: '{text}'")))?;
        put(&mut slots[i], Some(value), &src);
        Ok(true)
    }

    /// The values, each from its slot or `defaults` (same order), checked against
    /// its bounds; also where each came from.
    pub fn build(&self, slots: &[Slot], defaults: &[u64]) -> Result<(Vec<u64>, Vec<String>), ConfigError> {
        let mut values = Vec::with_capacity(self.keys.len());
        let mut sources = Vec::with_capacity(self.keys.len());
        for (i, key) in self.keys.iter().enumerate() {
            let (value, source) = match &slots[i] {
                Some(given) => (given.value, given.source.clone()),
                None => (defaults[i], "default".to_string()),
            };
            let (lo, hi) = self.bounds[i];
            if value < lo || value > hi {
                let range = if hi == u64::MAX { format!("at least {lo}") } else { format!("in {lo}..={hi}") };
                return Err(invalid(&format!("{}.{key}", self.name), &source, format!("{value} is not {range}")));
            }
            values.push(value);
            sources.push(source);
        }
        Ok((values, sources))
    }
}
