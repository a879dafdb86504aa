//! How view entries are laid out in the store's `views` column family.
//!
//! Keys: a kind byte, then NUL-separated parts (names never hold NUL). Counts and sums
//! are i64 little-endian values; the deadline index has empty values and its key
//! starts with the deadline as a sign-flipped big-endian i64, so a scan is in order.
//! Histograms store one entry per bucket (the bucket number is the last key part);
//! group sums keep the group last, so a group that holds NUL still decodes; open
//! records store `status NUL category NUL deadline` (the deadline in decimal, or
//! empty); the last-seen index is keyed like the deadline index and stores
//! `status NUL category`.

use super::{CountKey, DeadlineKey, GroupSumKey, HistKey, OpenEntry, OpenKey, Seen, SeenKey, SumKey, Views};
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
const HIST: u8 = b'h';
const GROUP_SUM: u8 = b'g';
const OPEN: u8 = b'o';
const SEEN: u8 = b'l';

fn time_key(kind: u8, ms: i64, record: &str) -> Vec<u8> {
    let mut key = vec![kind];
    key.extend_from_slice(&((ms as u64) ^ (1 << 63)).to_be_bytes());
    key.extend_from_slice(record.as_bytes());
    key
}

pub fn hist_write(k: &HistKey, bucket: u16, count: Option<i64>) -> ViewWrite {
    let bucket = bucket.to_string();
    ViewWrite {
        key: key(HIST, &[&k.registry, &k.duration, &k.period, &k.community, &k.category, &bucket]),
        value: count.map(|v| v.to_le_bytes().to_vec()),
    }
}

pub fn group_sum_write(k: &GroupSumKey, value: Option<i64>) -> ViewWrite {
    ViewWrite {
        key: key(GROUP_SUM, &[&k.community, &k.registry, &k.field, &k.period, &k.group]),
        value: value.map(|v| v.to_le_bytes().to_vec()),
    }
}

pub fn open_write(k: &OpenKey, entry: Option<&OpenEntry>) -> ViewWrite {
    let deadline = |e: &OpenEntry| e.deadline_ms.map(|ms| ms.to_string()).unwrap_or_default();
    ViewWrite {
        key: key(OPEN, &[&k.registry, &k.record]),
        value: entry.map(|e| format!("{}\0{}\0{}", e.status, e.category, deadline(e)).into_bytes()),
    }
}

pub fn seen_write(k: &SeenKey, seen: Option<&Seen>) -> ViewWrite {
    ViewWrite {
        key: time_key(SEEN, k.0, &k.1),
        value: seen.map(|s| format!("{}\0{}", s.status, s.category).into_bytes()),
    }
}

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
    ViewWrite { key: time_key(DEADLINE, k.0, &k.1), value: present.then(Vec::new) }
}

/// (ms, record) of a key made by `time_key`.
fn split_time_key(key: &[u8], rest: &[u8]) -> Result<(i64, String)> {
    if rest.len() < 8 {
        return Err(corrupt(key, "time key too short"));
    }
    let (ms, record) = rest.split_at(8);
    let ms = (u64::from_be_bytes(ms.try_into().map_err(|_| corrupt(key, "bad time"))?) ^ (1 << 63)) as i64;
    let record = std::str::from_utf8(record).map_err(|_| corrupt(key, "record not UTF-8"))?;
    Ok((ms, record.to_string()))
}

fn corrupt(key: &[u8], reason: &str) -> Error {
    Error::Corrupt { what: "view entry", key: String::from_utf8_lossy(key).into_owned(), reason: reason.into() }
}

pub fn decode_into(views: &mut Views, key: &[u8], value: &[u8]) -> Result<()> {
    let (&kind, rest) = key.split_first().ok_or_else(|| corrupt(key, "empty key"))?;
    let parts_n = |n: usize| -> Result<Vec<String>> {
        let text = std::str::from_utf8(rest).map_err(|_| corrupt(key, "not UTF-8"))?;
        Ok(text.splitn(n, '\0').map(str::to_string).collect())
    };
    let parts = || parts_n(usize::MAX);
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
            views.open_by_deadline.insert(split_time_key(key, rest)?);
        }
        HIST => {
            let [registry, duration, period, community, category, bucket]: [String; 6] =
                parts()?.try_into().map_err(|_| corrupt(key, "histogram key needs 6 parts"))?;
            let bucket: u16 = bucket.parse().map_err(|_| corrupt(key, "bad histogram bucket"))?;
            let hist_key = HistKey { registry, duration, period, community, category };
            views.durations.entry(hist_key).or_default().add(bucket, number()?);
        }
        GROUP_SUM => {
            let [community, registry, field, period, group]: [String; 5] =
                parts_n(5)?.try_into().map_err(|_| corrupt(key, "group sum key needs 5 parts"))?;
            views.group_sums.insert(GroupSumKey { community, registry, field, period, group }, number()?);
        }
        OPEN => {
            let [registry, record]: [String; 2] =
                parts_n(2)?.try_into().map_err(|_| corrupt(key, "open key needs 2 parts"))?;
            let text = std::str::from_utf8(value).map_err(|_| corrupt(key, "open value not UTF-8"))?;
            let [status, category, deadline]: [&str; 3] = text
                .splitn(3, '\0')
                .collect::<Vec<_>>()
                .try_into()
                .map_err(|_| corrupt(key, "open value needs 3 parts"))?;
            let deadline_ms = match deadline {
                "" => None,
                ms => Some(ms.parse().map_err(|_| corrupt(key, "bad open deadline"))?),
            };
            let entry = OpenEntry { status: status.into(), category: category.into(), deadline_ms };
            views.open.insert(OpenKey { registry, record }, entry);
        }
        SEEN => {
            let text = std::str::from_utf8(value).map_err(|_| corrupt(key, "last-seen value not UTF-8"))?;
            let (status, category) =
                text.split_once('\0').ok_or_else(|| corrupt(key, "last-seen value needs 2 parts"))?;
            let seen = Seen { status: status.to_string(), category: category.to_string() };
            views.last_seen.insert(split_time_key(key, rest)?, seen);
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

    #[test]
    fn new_kinds_round_trip() {
        let mut views = Views::default();
        let hist = HistKey {
            registry: "requests".into(),
            duration: "resolution".into(),
            period: "2026-11-22".into(),
            community: "c".into(),
            category: "safety".into(),
        };
        let group = GroupSumKey {
            community: "c".into(),
            registry: "v".into(),
            field: "hours".into(),
            period: "2026-11".into(),
            group: "队\0一".into(),
        };
        let open = OpenKey { registry: "requests".into(), record: "c/requests/2026-11/r1".into() };
        let entry = OpenEntry { status: "reported".into(), category: "-".into(), deadline_ms: Some(99) };
        let seen = Seen { status: "open".into(), category: "v_station".into() };
        let writes = vec![
            hist_write(&hist, 17, Some(2)),
            group_sum_write(&group, Some(30)),
            open_write(&open, Some(&entry)),
            seen_write(&(i64::MIN, "c/sites/all/s1".into()), Some(&seen)),
        ];
        for w in &writes {
            decode_into(&mut views, &w.key, w.value.as_deref().unwrap()).unwrap();
        }
        assert_eq!(views.durations[&hist].get(17), 2);
        assert_eq!(views.group_sums[&group], 30);
        assert_eq!(views.open[&open], entry);
        assert_eq!(views.last_seen[&(i64::MIN, "c/sites/all/s1".to_string())], seen);
        let no_deadline = OpenEntry { deadline_ms: None, ..entry };
        let write = open_write(&open, Some(&no_deadline));
        decode_into(&mut views, &write.key, write.value.as_deref().unwrap()).unwrap();
        assert_eq!(views.open[&open], no_deadline);
    }
}
