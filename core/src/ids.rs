//! Names of nodes, documents and records.
//!
//! `DocId = <owner>/<registry>/<shard>`: the owner is the community whose records the
//! document holds, the shard is `YYYY-MM`, `YYYY` or `all` by the registry's rule. A
//! record is addressed by its document and its id, written `<doc>/<id>`.

use crate::error::{Error, Result};
use std::fmt;

/// Bounds on names, so that keys on disk and on the wire stay small.
pub const NAME_BYTES_MAX: usize = 64;

fn check_name(what: &'static str, input: &str) -> Result<()> {
    let bad = |reason| Error::BadId { what, input: input.to_string(), reason };
    if input.is_empty() {
        return Err(bad("empty"));
    }
    if input.len() > NAME_BYTES_MAX {
        return Err(bad("longer than 64 bytes"));
    }
    if !input.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.') {
        return Err(bad("only ASCII letters, digits, '-', '_' and '.' are allowed"));
    }
    Ok(())
}

/// Checks a document owner (a community, a street or the district) by itself.
pub fn check_owner(owner: &str) -> Result<()> {
    check_name("document owner", owner)
}

/// A node's id: a community, a street or the district. Also its Automerge actor.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId(String);

impl NodeId {
    pub fn new(id: &str) -> Result<Self> {
        check_name("node id", id)?;
        Ok(Self(id.to_string()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DocId {
    pub owner: String,
    pub registry: String,
    pub shard: String,
}

impl DocId {
    pub fn new(owner: &str, registry: &str, shard: &str) -> Result<Self> {
        check_name("document owner", owner)?;
        check_name("registry name", registry)?;
        check_name("shard", shard)?;
        Ok(Self { owner: owner.into(), registry: registry.into(), shard: shard.into() })
    }

    pub fn parse(input: &str) -> Result<Self> {
        let mut parts = input.split('/');
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(o), Some(r), Some(s), None) => Self::new(o, r, s),
            _ => Err(Error::BadId {
                what: "document id",
                input: input.into(),
                reason: "expected <owner>/<registry>/<shard>",
            }),
        }
    }
}

impl fmt::Display for DocId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.owner, self.registry, self.shard)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RecordKey {
    pub doc: DocId,
    pub id: String,
}

impl RecordKey {
    pub fn new(doc: DocId, id: &str) -> Result<Self> {
        check_name("record id", id)?;
        Ok(Self { doc, id: id.into() })
    }

    /// Parses `<owner>/<registry>/<shard>/<id>`.
    pub fn parse(input: &str) -> Result<Self> {
        match input.rsplit_once('/') {
            Some((doc, id)) => Self::new(DocId::parse(doc)?, id),
            None => Err(Error::BadId {
                what: "record key",
                input: input.into(),
                reason: "expected <owner>/<registry>/<shard>/<id>",
            }),
        }
    }
}

impl fmt::Display for RecordKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.doc, self.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_keys_round_trip_and_bad_ones_say_why() {
        let key = RecordKey::parse("lg-pingdi/requests/2026-11/r1.lg-pingdi").unwrap();
        assert_eq!(key.doc.registry, "requests");
        assert_eq!(key.to_string(), "lg-pingdi/requests/2026-11/r1.lg-pingdi");
        let err = RecordKey::parse("lg-pingdi/requests/r1").unwrap_err().to_string();
        assert!(err.contains("expected <owner>/<registry>/<shard>"), "{err}");
        let err = DocId::new("平地", "requests", "all").unwrap_err().to_string();
        assert!(err.contains("document owner") && err.contains("ASCII"), "{err}");
    }
}
