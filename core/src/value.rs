//! Field values, as the schema types them.
//!
//! Users send JSON; [`parse`] turns a JSON value into a typed [`Value`] for one field or
//! says why it can't. Money is kept in fen (0.01 yuan) as an integer, so sums are
//! exact; it is read and written as a decimal string of yuan ("1234.50").

use crate::error::Problem;
use crate::schema::FieldType;
use serde_json::Value as Json;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Str(String),
    Int(i64),
    /// Money in fen (1 yuan = 100 fen).
    Fen(i64),
    /// Milliseconds since the Unix epoch.
    TimeMs(i64),
    Bool(bool),
    Enum(String),
    Counter(i64),
    Ids(Vec<String>),
}

impl Value {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) | Value::Enum(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(v) | Value::Fen(v) | Value::TimeMs(v) | Value::Counter(v) => Some(*v),
            _ => None,
        }
    }

    /// Bytes this value takes in a record, for the record size bound.
    pub fn size_bytes(&self) -> usize {
        match self {
            Value::Str(s) | Value::Enum(s) => s.len(),
            Value::Ids(ids) => ids.iter().map(|id| id.len() + 1).sum(),
            _ => 8,
        }
    }

    pub fn to_json(&self) -> Json {
        match self {
            Value::Str(s) | Value::Enum(s) => Json::String(s.clone()),
            Value::Int(v) | Value::TimeMs(v) | Value::Counter(v) => Json::from(*v),
            Value::Fen(fen) => Json::String(format_yuan(*fen)),
            Value::Bool(b) => Json::Bool(*b),
            Value::Ids(ids) => Json::Array(ids.iter().cloned().map(Json::String).collect()),
        }
    }
}

pub fn format_yuan(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    let abs = fen.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

/// Parses "1234", "1234.5" or "1234.56" yuan into fen, exactly.
pub fn parse_yuan(text: &str) -> Option<i64> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if whole.is_empty() || frac.len() > 2 || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let whole: i64 = whole.parse().ok()?;
    let frac_fen: i64 = if frac.is_empty() { 0 } else { format!("{frac:0<2}").parse().ok()? };
    let fen = whole.checked_mul(100)?.checked_add(frac_fen)?;
    Some(if negative { -fen } else { fen })
}

fn json_kind(json: &Json) -> String {
    match json {
        Json::Null => "null".into(),
        Json::Bool(_) => "a boolean".into(),
        Json::Number(n) => format!("the number {n}"),
        Json::String(s) if s.chars().count() > 24 => "a string".into(),
        Json::String(s) => format!("the string \"{s}\""),
        Json::Array(_) => "a list".into(),
        Json::Object(_) => "an object".into(),
    }
}

fn wrong(expected: &'static str, json: &Json) -> Problem {
    Problem::WrongType { expected, got: json_kind(json) }
}

fn check_chars(text: &str, chars_max: usize) -> Result<(), Problem> {
    let chars = text.chars().count();
    if chars > chars_max {
        return Err(Problem::StringTooLong { chars, chars_max });
    }
    Ok(())
}

/// Parses a user's JSON value for a field of type `ty`, checking the type's bounds.
pub fn parse(ty: &FieldType, json: &Json) -> Result<Value, Problem> {
    match ty {
        FieldType::String { chars_max } => {
            let text = json.as_str().ok_or_else(|| wrong("a string", json))?;
            check_chars(text, *chars_max)?;
            Ok(Value::Str(text.to_string()))
        }
        FieldType::Int { min, max } => {
            let value = json.as_i64().ok_or_else(|| wrong("an integer", json))?;
            if value < *min || value > *max {
                return Err(Problem::OutOfRange { value, min: *min, max: *max });
            }
            Ok(Value::Int(value))
        }
        FieldType::Yuan { fen_max } => {
            let fen = match json {
                Json::String(text) => parse_yuan(text),
                Json::Number(n) => n.as_i64().and_then(|y| y.checked_mul(100)),
                _ => None,
            }
            .ok_or_else(|| wrong("an amount of yuan such as \"1234.50\"", json))?;
            if fen < 0 || fen > *fen_max {
                return Err(Problem::OutOfRange { value: fen, min: 0, max: *fen_max });
            }
            Ok(Value::Fen(fen))
        }
        FieldType::Timestamp => {
            let ms = json
                .as_i64()
                .filter(|ms| *ms > 0)
                .ok_or_else(|| wrong("a timestamp in milliseconds since 1970", json))?;
            Ok(Value::TimeMs(ms))
        }
        FieldType::Bool => Ok(Value::Bool(json.as_bool().ok_or_else(|| wrong("a boolean", json))?)),
        FieldType::Enum { values } => {
            let text = json.as_str().ok_or_else(|| wrong("a string", json))?;
            if !values.iter().any(|v| v == text) {
                return Err(Problem::NotInEnum { value: text.into(), allowed: values.clone() });
            }
            Ok(Value::Enum(text.to_string()))
        }
        FieldType::Ids { items_max } => {
            let items = json.as_array().ok_or_else(|| wrong("a list of ids", json))?;
            if items.len() > *items_max {
                return Err(Problem::ListTooLong { items: items.len(), items_max: *items_max });
            }
            let mut ids = Vec::with_capacity(items.len());
            for item in items {
                let id = item.as_str().ok_or_else(|| wrong("a list of ids", json))?;
                check_chars(id, crate::ids::NAME_BYTES_MAX)?;
                ids.push(id.to_string());
            }
            Ok(Value::Ids(ids))
        }
        FieldType::Counter => Err(Problem::WrongOperation { field_type: "counter", operation: "set" }),
        FieldType::Claim => Err(Problem::WrongOperation { field_type: "claim", operation: "set" }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yuan_is_exact_in_fen() {
        assert_eq!(parse_yuan("1234.5"), Some(123_450));
        assert_eq!(parse_yuan("0.07"), Some(7));
        assert_eq!(parse_yuan("2000000"), Some(200_000_000));
        assert_eq!(parse_yuan("1.234"), None);
        assert_eq!(parse_yuan("1e3"), None);
        assert_eq!(format_yuan(123_450), "1234.50");
    }
}
