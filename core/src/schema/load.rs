//! Checking registry files. A bad file fails at load, naming the file, the registry and
//! the field, so a node never starts with a schema it cannot enforce. Files come in as
//! text: reading them from disk is the runtime's job (`linli-node`).

use super::{DurationSpec, FieldSpec, FieldType, Registries, Schema, ShardBy, StatusMachine, ViewSpec};
use crate::error::{Error, Result};
use serde::Deserialize;
use std::collections::BTreeMap;

const STRING_CHARS_MAX_DEFAULT: usize = 200;
const IDS_ITEMS_MAX_DEFAULT: usize = 64;
const RECORD_BYTES_MAX_DEFAULT: usize = 16 * 1024;
/// Hard ceiling on what a schema may allow for one record: documents must stay small.
const RECORD_BYTES_CEILING: usize = 256 * 1024;
const FIELDS_MAX: usize = 64;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSchema {
    name: String,
    title: Option<String>,
    shard: RawShard,
    record_bytes_max: Option<usize>,
    fields: BTreeMap<String, RawField>,
    status: Option<RawStatus>,
    #[serde(default)]
    views: RawViews,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawShard {
    by: String,
    field: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawField {
    #[serde(rename = "type")]
    ty: String,
    #[serde(default)]
    required: bool,
    #[serde(default)]
    local: bool,
    values: Option<Vec<String>>,
    chars_max: Option<usize>,
    min: Option<i64>,
    max: Option<i64>,
    yuan_max: Option<i64>,
    items_max: Option<usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStatus {
    field: String,
    initial: String,
    #[serde(default)]
    open: Vec<String>,
    /// Moves written "from -> to".
    moves: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawViews {
    count_by: Option<String>,
    #[serde(default)]
    sums: Vec<String>,
    deadline: Option<String>,
    sums_by: Option<String>,
    #[serde(default)]
    count_groups: bool,
    #[serde(default)]
    durations: Vec<RawDuration>,
    #[serde(default)]
    list_open: bool,
    last_seen: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDuration {
    name: String,
    from: String,
    to: String,
}

/// Histograms per registry: each costs memory per (community, category, day).
const DURATIONS_MAX: usize = 8;

struct Ctx<'a> {
    file: &'a str,
    registry: String,
}

impl Ctx<'_> {
    fn err(&self, field: &str, problem: impl Into<String>) -> Error {
        Error::Schema {
            file: self.file.to_string(),
            registry: self.registry.clone(),
            field: field.to_string(),
            problem: problem.into(),
        }
    }
}

/// Parses registry files given as (file name, text), one registry each, in the given
/// order. Two files declaring the same registry are refused, naming the second.
pub(super) fn parse_files<N, T>(files: impl IntoIterator<Item = (N, T)>) -> Result<Registries>
where
    N: AsRef<str>,
    T: AsRef<str>,
{
    let mut schemas: Vec<Schema> = Vec::new();
    for (file, text) in files {
        let file = file.as_ref();
        let schema = parse_schema(file, text.as_ref())?;
        if schemas.iter().any(|s| s.name == schema.name) {
            return Err(Ctx { file, registry: schema.name }.err("name", "another file declares the same registry"));
        }
        schemas.push(schema);
    }
    Ok(Registries::from_schemas(schemas))
}

/// Parses and checks one registry file. `file` is only used in errors.
pub fn parse_schema(file: &str, text: &str) -> Result<Schema> {
    let raw: RawSchema = toml::from_str(text).map_err(|e| Error::Schema {
        file: file.to_string(),
        registry: "?".into(),
        field: "-".into(),
        problem: e.to_string().trim().replace('\n', " "),
    })?;
    let ctx = Ctx { file, registry: raw.name.clone() };
    crate::ids::DocId::new("x", &raw.name, "x").map_err(|e| ctx.err("name", e.to_string()))?;

    if raw.fields.len() > FIELDS_MAX {
        return Err(ctx.err("fields", format!("{} fields, more than {FIELDS_MAX}", raw.fields.len())));
    }
    let mut fields = BTreeMap::new();
    for (name, raw_field) in raw.fields {
        let spec = field_spec(&ctx, &name, raw_field)?;
        fields.insert(name, spec);
    }

    let shard_by = match raw.shard.by.as_str() {
        "month" => ShardBy::Month,
        "year" => ShardBy::Year,
        "none" => ShardBy::None,
        other => return Err(ctx.err("shard.by", format!("`{other}` is not month, year or none"))),
    };
    if let Some(field) = &raw.shard.field {
        expect_type(&ctx, &fields, "shard.field", field, &["timestamp"])?;
    }

    let status = match raw.status {
        Some(raw_status) => Some(status_machine(&ctx, &fields, raw_status)?),
        None => None,
    };

    let RawViews { count_by, sums, deadline, sums_by, count_groups, durations, list_open, last_seen } = raw.views;
    let durations: Vec<DurationSpec> =
        durations.into_iter().map(|d| DurationSpec { name: d.name, from: d.from, to: d.to }).collect();
    let mut views = ViewSpec {
        count_by,
        sums,
        deadline,
        sums_by,
        count_groups,
        durations,
        list_open,
        last_seen,
        times: Vec::new(),
    };
    views.derive_times();
    if let Some(field) = &views.sums_by {
        expect_type(&ctx, &fields, "views.sums_by", field, &["string", "enum"])?;
        if views.sums.is_empty() && !views.count_groups {
            return Err(ctx.err(field, "views.sums_by needs views.sums or views.count_groups: there is nothing to sum"));
        }
    }
    if views.count_groups {
        if views.sums_by.is_none() {
            return Err(ctx.err("views.count_groups", "needs views.sums_by: the field to count records by"));
        }
        if views.sums.iter().any(|s| s == super::GROUP_COUNT) {
            let why = format!("a sum named `{}` would be mixed with the group counts", super::GROUP_COUNT);
            return Err(ctx.err("views.sums", why));
        }
    }
    if views.durations.len() > DURATIONS_MAX {
        return Err(
            ctx.err("views.durations", format!("{} durations, more than {DURATIONS_MAX}", views.durations.len()))
        );
    }
    for (i, duration) in views.durations.iter().enumerate() {
        crate::ids::DocId::new("x", &duration.name, "x").map_err(|e| ctx.err("views.durations", e.to_string()))?;
        if views.durations[..i].iter().any(|d| d.name == duration.name) {
            return Err(ctx.err("views.durations", format!("duration `{}` is listed twice", duration.name)));
        }
        expect_type(&ctx, &fields, "views.durations", &duration.from, &["timestamp"])?;
        expect_type(&ctx, &fields, "views.durations", &duration.to, &["timestamp"])?;
    }
    if let Some(field) = &views.last_seen {
        expect_type(&ctx, &fields, "views.last_seen", field, &["timestamp"])?;
    }
    if views.list_open && status.is_none() {
        return Err(ctx.err("views.list_open", "a list of open records needs a status machine to know what is open"));
    }
    if let Some(field) = &views.count_by {
        expect_type(&ctx, &fields, "views.count_by", field, &["enum"])?;
    }
    for field in &views.sums {
        expect_type(&ctx, &fields, "views.sums", field, &["counter", "int", "yuan"])?;
    }
    if let Some(field) = &views.deadline {
        expect_type(&ctx, &fields, "views.deadline", field, &["timestamp"])?;
        if status.is_none() {
            return Err(ctx.err(field, "a deadline index needs a status machine to know what is open"));
        }
    }

    let record_bytes_max = raw.record_bytes_max.unwrap_or(RECORD_BYTES_MAX_DEFAULT);
    if record_bytes_max == 0 || record_bytes_max > RECORD_BYTES_CEILING {
        return Err(ctx.err("record_bytes_max", format!("must be in 1..={RECORD_BYTES_CEILING}")));
    }

    Ok(Schema {
        title: raw.title.unwrap_or_else(|| raw.name.clone()),
        name: raw.name,
        shard_by,
        shard_field: raw.shard.field,
        record_bytes_max,
        fields,
        status,
        views,
    })
}

fn field_spec(ctx: &Ctx, name: &str, raw: RawField) -> Result<FieldSpec> {
    crate::ids::DocId::new("x", name, "x").map_err(|e| ctx.err(name, e.to_string()))?;
    if crate::doc::SYSTEM_FIELDS.contains(&name) {
        return Err(ctx.err(name, format!("`{name}` is reserved: linli sets it (the record id, a split's links)")));
    }
    let unexpected = |key: &str, present: bool| -> Result<()> {
        if present {
            return Err(ctx.err(name, format!("`{key}` does not apply to type {}", raw.ty)));
        }
        Ok(())
    };
    let ty = match raw.ty.as_str() {
        "string" => FieldType::String { chars_max: raw.chars_max.unwrap_or(STRING_CHARS_MAX_DEFAULT) },
        "int" => {
            let (min, max) = (raw.min.unwrap_or(i64::MIN), raw.max.unwrap_or(i64::MAX));
            if min > max {
                return Err(ctx.err(name, format!("min {min} is above max {max}")));
            }
            FieldType::Int { min, max }
        }
        "yuan" => {
            let yuan_max = raw.yuan_max.unwrap_or(1_000_000_000);
            let fen_max = yuan_max
                .checked_mul(100)
                .filter(|f| *f > 0)
                .ok_or_else(|| ctx.err(name, format!("yuan_max {yuan_max} is out of range")))?;
            FieldType::Yuan { fen_max }
        }
        "timestamp" => FieldType::Timestamp,
        "bool" => FieldType::Bool,
        "enum" => {
            let values = raw.values.clone().unwrap_or_default();
            if values.is_empty() {
                return Err(ctx.err(name, "an enum needs a non-empty `values` list"));
            }
            let mut seen = std::collections::BTreeSet::new();
            for value in &values {
                // Enum values become parts of view keys on disk: names only.
                crate::ids::DocId::new("x", value, "x").map_err(|e| ctx.err(name, e.to_string()))?;
                if !seen.insert(value) {
                    return Err(ctx.err(name, format!("enum value `{value}` is listed twice")));
                }
            }
            FieldType::Enum { values }
        }
        "counter" => FieldType::Counter,
        "ids" => FieldType::Ids { items_max: raw.items_max.unwrap_or(IDS_ITEMS_MAX_DEFAULT) },
        "claim" => FieldType::Claim,
        other => {
            return Err(ctx.err(
                name,
                format!("unknown type `{other}` (string, int, yuan, timestamp, bool, enum, counter, ids, claim)"),
            ));
        }
    };
    let is = |t: &str| raw.ty == t;
    unexpected("values", raw.values.is_some() && !is("enum"))?;
    unexpected("chars_max", raw.chars_max.is_some() && !is("string"))?;
    unexpected("min", raw.min.is_some() && !is("int"))?;
    unexpected("max", raw.max.is_some() && !is("int"))?;
    unexpected("yuan_max", raw.yuan_max.is_some() && !is("yuan"))?;
    unexpected("items_max", raw.items_max.is_some() && !is("ids"))?;
    if raw.local && matches!(ty, FieldType::Counter | FieldType::Claim) {
        return Err(ctx.err(name, "a counter or claim cannot be local: it exists to be merged"));
    }
    if raw.local && raw.required {
        return Err(ctx.err(name, "a local field cannot be required: upper tiers never see it"));
    }
    Ok(FieldSpec { name: name.to_string(), ty, required: raw.required, local: raw.local })
}

fn expect_type(ctx: &Ctx, fields: &BTreeMap<String, FieldSpec>, key: &str, field: &str, types: &[&str]) -> Result<()> {
    let spec = fields.get(field).ok_or_else(|| ctx.err(field, format!("{key} names a field that is not declared")))?;
    if !types.contains(&spec.ty.name()) {
        return Err(ctx.err(field, format!("{key} needs a field of type {}", types.join(" or "))));
    }
    if spec.local {
        return Err(ctx.err(field, format!("{key} cannot use a local field: it never leaves the community")));
    }
    Ok(())
}

fn status_machine(ctx: &Ctx, fields: &BTreeMap<String, FieldSpec>, raw: RawStatus) -> Result<StatusMachine> {
    expect_type(ctx, fields, "status.field", &raw.field, &["enum"])?;
    let values = match &fields[&raw.field].ty {
        FieldType::Enum { values } => values.clone(),
        _ => unreachable!("expect_type checked the type"),
    };
    let known = |status: &str, key: &str| -> Result<()> {
        if values.iter().any(|v| v == status) {
            Ok(())
        } else {
            Err(ctx.err(&raw.field, format!("{key} `{status}` is not one of the field's values")))
        }
    };
    known(&raw.initial, "status.initial")?;
    for status in &raw.open {
        known(status, "status.open")?;
    }
    let mut moves: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for text in &raw.moves {
        let (from, to) = text
            .split_once("->")
            .map(|(f, t)| (f.trim(), t.trim()))
            .ok_or_else(|| ctx.err(&raw.field, format!("move `{text}` is not written \"from -> to\"")))?;
        known(from, "status.moves")?;
        known(to, "status.moves")?;
        moves.entry(from.to_string()).or_default().push(to.to_string());
    }
    Ok(StatusMachine { field: raw.field, initial: raw.initial, open: raw.open, moves })
}
