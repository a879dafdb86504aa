//! How view entries are laid out in the store's `views` column family.
//!
//! Keys: a kind byte, then NUL-separated parts (names never hold NUL). Counts and sums
//! are i64 little-endian values; the deadline index has empty values and its key
//! starts with the deadline as a sign-flipped big-endian i64, so a scan is in order.

use super::{CountKey, DeadlineKey, SumKey, Views};
use crate::error::{Error, Result};

/// One entry of the views to put (`Some`) or delete (`None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewWrite {
    pub key: Vec<u8>,
    pub value: Option<Vec<u8>>,
}

const COUNT: u8 = b'c';
const SUM: u8 = b's';
const DEADLINE: u8 = b'd';

fn key(kind: u8, parts: &[&str]) -> Vec<u8> {
    let mut key = vec![kind];
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            key.push(0);
        }
        key.extend_from_slice(part.as_bytes());
    }
    key
}

pub fn count_write(k: &CountKey, value: Option<i64>) -> ViewWrite {
    ViewWrite {
        key: key(COUNT, &[&k.community, &k.registry, &k.status, &k.category]),
        value: value.map(|v| v.to_le_bytes().to_vec()),
    }
}

pub fn sum_write(k: &SumKey, value: Option<i64>) -> ViewWrite {
    ViewWrite {
        key: key(SUM, &[&k.community, &k.registry, &k.field, &k.period]),
        value: value.map(|v| v.to_le_bytes().to_vec()),
    }
}

pub fn deadline_write(k: &DeadlineKey, present: bool) -> ViewWrite {
    let mut key = vec![DEADLINE];
    key.extend_from_slice(&((k.0 as u64) ^ (1 << 63)).to_be_bytes());
    key.extend_from_slice(k.1.as_bytes());
    ViewWrite { key, value: present.then(Vec::new) }
}

fn corrupt(key: &[u8], reason: &str) -> Error {
    Error::Corrupt { what: "view entry", key: String::from_utf8_lossy(key).into_owned(), reason: reason.into() }
}

pub fn decode_into(views: &mut Views, key: &[u8], value: &[u8]) -> Result<()> {
    let (&kind, rest) = key.split_first().ok_or_else(|| corrupt(key, "empty key"))?;
    let parts = || -> Result<Vec<String>> {
        let text = std::str::from_utf8(rest).map_err(|_| corrupt(key, "not UTF-8"))?;
        Ok(text.split('\0').map(str::to_string).collect())
    };
    let number = || -> Result<i64> {
        let bytes: [u8; 8] = value.try_into().map_err(|_| corrupt(key, "value is not 8 bytes"))?;
        Ok(i64::from_le_bytes(bytes))
    };
    match kind {
        COUNT => {
            let [community, registry, status, category]: [String; 4] =
                parts()?.try_into().map_err(|_| corrupt(key, "count key needs 4 parts"))?;
            views.counts.insert(CountKey { community, registry, status, category }, number()?);
        }
        SUM => {
            let [community, registry, field, period]: [String; 4] =
                parts()?.try_into().map_err(|_| corrupt(key, "sum key needs 4 parts"))?;
            views.sums.insert(SumKey { community, registry, field, period }, number()?);
        }
        DEADLINE => {
            if rest.len() < 8 {
                return Err(corrupt(key, "deadline key too short"));
            }
            let (ms, record) = rest.split_at(8);
            let ms = (u64::from_be_bytes(ms.try_into().map_err(|_| corrupt(key, "bad deadline"))?) ^ (1 << 63)) as i64;
            let record = std::str::from_utf8(record).map_err(|_| corrupt(key, "record not UTF-8"))?;
            views.open_by_deadline.insert((ms, record.to_string()));
        }
        _ => return Err(corrupt(key, "unknown kind byte")),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_and_deadlines_sort_by_time() {
        let mut views = Views::default();
        let count =
            CountKey { community: "c".into(), registry: "r".into(), status: "open".into(), category: "-".into() };
        let writes = vec![
            count_write(&count, Some(3)),
            sum_write(
                &SumKey { community: "c".into(), registry: "r".into(), field: "h".into(), period: "2026-11".into() },
                Some(-2),
            ),
            deadline_write(&(-5, "a/b/c/d".into()), true),
            deadline_write(&(7, "a/b/c/e".into()), true),
        ];
        assert!(writes[2].key < writes[3].key);
        for w in &writes {
            decode_into(&mut views, &w.key, w.value.as_deref().unwrap()).unwrap();
        }
        assert_eq!(views.counts[&count], 3);
        assert_eq!(views.open_by_deadline.iter().next().unwrap().0, -5);
        assert!(decode_into(&mut views, b"x", b"").unwrap_err().to_string().contains("unknown kind"));
    }
}
