//! Registry schemas.
//!
//! A registry (requests, tasks, projects...) is declared in one TOML file under
//! `registries/`: its fields and their types, which are required, which are personal
//! data (`local`), its status machine, how it shards and which aggregates to keep. A new
//! registry is a new file, not new code. The six defaults are compiled in; a node can
//! load another directory instead: it reads the files, [`Registries::from_texts`]
//! checks them. See `docs/registries.md` for the file format.

pub mod calendar;
mod load;

pub use calendar::{month_shard, year_shard};
pub use load::parse_schema;

use crate::error::{Error, Result};
use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldType {
    String {
        chars_max: usize,
    },
    Int {
        min: i64,
        max: i64,
    },
    /// Money, kept in fen; `fen_max` bounds one value.
    Yuan {
        fen_max: i64,
    },
    /// Milliseconds since the Unix epoch.
    Timestamp,
    Bool,
    Enum {
        values: Vec<String>,
    },
    /// Only adds up (Automerge counter): concurrent increments all count.
    Counter,
    Ids {
        items_max: usize,
    },
    /// One winner among concurrent claimants (a task's acceptor): earliest HLC wins,
    /// then the lowest node id. Every claim is kept, so a loser can see it lost.
    Claim,
}

impl FieldType {
    pub fn name(&self) -> &'static str {
        match self {
            FieldType::String { .. } => "string",
            FieldType::Int { .. } => "int",
            FieldType::Yuan { .. } => "yuan",
            FieldType::Timestamp => "timestamp",
            FieldType::Bool => "bool",
            FieldType::Enum { .. } => "enum",
            FieldType::Counter => "counter",
            FieldType::Ids { .. } => "ids",
            FieldType::Claim => "claim",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldSpec {
    pub name: String,
    pub ty: FieldType,
    pub required: bool,
    /// Personal data: kept in the community's local store, never in a replicated
    /// document (Automerge keeps every value in history forever).
    pub local: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusMachine {
    pub field: String,
    pub initial: String,
    /// Statuses in which a record counts as open (for the deadline index).
    pub open: Vec<String>,
    /// Allowed moves: from -> [to].
    pub moves: BTreeMap<String, Vec<String>>,
}

impl StatusMachine {
    pub fn allows(&self, from: &str, to: &str) -> bool {
        self.moves.get(from).is_some_and(|tos| tos.iter().any(|t| t == to))
    }
    pub fn allowed_from(&self, from: &str) -> Vec<String> {
        self.moves.get(from).cloned().unwrap_or_default()
    }
    pub fn is_open(&self, status: &str) -> bool {
        self.open.iter().any(|s| s == status)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShardBy {
    Month,
    Year,
    /// One document per owner: for registries that stay small (grids).
    None,
}

/// The sum under which `count_groups` counts records by their `sums_by` value.
pub const GROUP_COUNT: &str = "records";

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ViewSpec {
    /// Counts are kept by (community, registry, status, this field).
    pub count_by: Option<String>,
    /// Fields summed by (community, registry, field, shard).
    pub sums: Vec<String>,
    /// Timestamp field that indexes open records by deadline.
    pub deadline: Option<String>,
    /// The `sums` are also kept by the value of this field (a volunteer's team).
    pub sums_by: Option<String>,
    /// Records are also counted by the `sums_by` value, as the sum named
    /// [`GROUP_COUNT`] (sites by colour class).
    pub count_groups: bool,
    /// Histograms of the time between two timestamp fields (reported -> resolved).
    pub durations: Vec<DurationSpec>,
    /// Keep the open records listed (with status, category, deadline), for drill-down.
    pub list_open: bool,
    /// Timestamp field that indexes every record by it (a site's last report), to find
    /// those that went silent.
    pub last_seen: Option<String>,
    /// The timestamp fields a row carries, in this order: durations' ends, then
    /// `last_seen`. Derived at load.
    pub times: Vec<String>,
}

/// A histogram of `to - from` by (registry, name, period of `to`, community, category).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DurationSpec {
    pub name: String,
    pub from: String,
    pub to: String,
}

impl ViewSpec {
    /// The timestamp fields rows must carry for these views, without repeats.
    pub fn derive_times(&mut self) {
        let mut times: Vec<String> = Vec::new();
        let wanted = self.durations.iter().flat_map(|d| [&d.from, &d.to]).chain(self.last_seen.as_ref());
        for field in wanted {
            if !times.contains(field) {
                times.push(field.clone());
            }
        }
        self.times = times;
    }

    /// The index of `field` in a row's `times_ms`.
    pub fn time_index(&self, field: &str) -> Option<usize> {
        self.times.iter().position(|t| t == field)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schema {
    pub name: String,
    pub title: String,
    pub shard_by: ShardBy,
    /// Timestamp field whose value picks the shard; creation time when absent.
    pub shard_field: Option<String>,
    pub record_bytes_max: usize,
    pub fields: BTreeMap<String, FieldSpec>,
    pub status: Option<StatusMachine>,
    pub views: ViewSpec,
}

impl Schema {
    pub fn field(&self, name: &str) -> Option<&FieldSpec> {
        self.fields.get(name)
    }

    /// The shard of a record created at `created_ms` with the given shard field value.
    pub fn shard_for(&self, shard_field_ms: Option<i64>, created_ms: i64) -> String {
        let ms = shard_field_ms.unwrap_or(created_ms);
        match self.shard_by {
            ShardBy::Month => month_shard(ms),
            ShardBy::Year => year_shard(ms),
            ShardBy::None => "all".to_string(),
        }
    }

    /// Whether [`Self::shard_for`] can produce `shard`: `YYYY-MM` by month, `YYYY` by
    /// year, `all` otherwise. A peer's document on any other shard is refused.
    pub fn shard_is_valid(&self, shard: &str) -> bool {
        let year = |y: &str| y.len() == 4 && y.bytes().all(|b| b.is_ascii_digit());
        match self.shard_by {
            ShardBy::Month => shard
                .split_once('-')
                .is_some_and(|(y, m)| year(y) && m.len() == 2 && m.parse::<u32>().is_ok_and(|m| (1..=12).contains(&m))),
            ShardBy::Year => year(shard),
            ShardBy::None => shard == "all",
        }
    }
}

/// The registries a node knows, by name.
#[derive(Debug, Clone)]
pub struct Registries {
    by_name: BTreeMap<String, Arc<Schema>>,
}

const DEFAULTS: [(&str, &str); 6] = [
    ("registries/requests.toml", include_str!("../../../registries/requests.toml")),
    ("registries/tasks.toml", include_str!("../../../registries/tasks.toml")),
    ("registries/projects.toml", include_str!("../../../registries/projects.toml")),
    ("registries/volunteers.toml", include_str!("../../../registries/volunteers.toml")),
    ("registries/sites.toml", include_str!("../../../registries/sites.toml")),
    ("registries/grids.toml", include_str!("../../../registries/grids.toml")),
];

impl Registries {
    /// The six registries shipped with linli.
    pub fn defaults() -> Result<Self> {
        Self::from_texts(DEFAULTS)
    }

    /// Registries from their files' texts, as (file name, text), one registry each.
    /// Errors name the file (and the registry and field); two files declaring the same
    /// registry are refused.
    pub fn from_texts<N, T>(files: impl IntoIterator<Item = (N, T)>) -> Result<Self>
    where
        N: AsRef<str>,
        T: AsRef<str>,
    {
        load::parse_files(files)
    }

    pub fn from_schemas(schemas: Vec<Schema>) -> Self {
        Self { by_name: schemas.into_iter().map(|s| (s.name.clone(), Arc::new(s))).collect() }
    }

    pub fn get(&self, name: &str) -> Result<&Arc<Schema>> {
        self.by_name.get(name).ok_or_else(|| Error::UnknownRegistry {
            registry: name.to_string(),
            known: self.by_name.keys().cloned().collect::<Vec<_>>().join(", "),
        })
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<Schema>> {
        self.by_name.values()
    }
}
