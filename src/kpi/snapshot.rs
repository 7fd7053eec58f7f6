//! A snapshot of the lake: the Delta version of every table a report read. Written
//! `accounts@12,appointments@40,...`; a table missing from it did not exist yet.
//! Reading `--as-of` a snapshot gives the same rows whatever was committed since.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot(pub BTreeMap<String, u64>);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("snapshot {text:?}: {message} (expected table@version,table@version,...)")]
pub struct SnapshotError {
    pub text: String,
    pub message: String,
}

impl fmt::Display for Snapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.0.iter().map(|(t, v)| format!("{t}@{v}")).collect();
        f.write_str(&parts.join(","))
    }
}

impl FromStr for Snapshot {
    type Err = SnapshotError;
    fn from_str(text: &str) -> Result<Self, SnapshotError> {
        let err = |message: String| SnapshotError { text: text.to_string(), message };
        let mut out = BTreeMap::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (table, version) = part.split_once('@').ok_or_else(|| err(format!("{part:?} has no @")))?;
            if crate::lake::schema::table(table).is_none() {
                return Err(err(format!("{table:?} is not a lake table")));
            }
            let version = version.parse().map_err(|_| err(format!("{version:?} is not a version number")))?;
            if out.insert(table.to_string(), version).is_some() {
                return Err(err(format!("{table} appears twice")));
            }
        }
        Ok(Snapshot(out))
    }
}

impl serde::Serialize for Snapshot {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_prints_and_parses_back() {
        let s: Snapshot = "appointments@40, accounts@12".parse().unwrap();
        assert_eq!(s.to_string(), "accounts@12,appointments@40");
        assert_eq!(s.to_string().parse::<Snapshot>().unwrap(), s);
        for bad in ["accounts", "nosuch@1", "accounts@x", "accounts@1,accounts@2"] {
            assert!(bad.parse::<Snapshot>().is_err(), "{bad}");
        }
    }
}
