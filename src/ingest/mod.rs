//! Ingestion: the jobs of `pipelines/*.toml` that pull the store's change feed, the
//! external file drops and the reference data into the lake.
//!
//! Every row read is either accepted (pseudonymised, typed) or quarantined with its
//! reason; a run's rows, its quarantined rows and its record in the run history are
//! committed with Delta transaction ids so that a run cut off anywhere is finished,
//! exactly once, by the next one (see [`run`]).

pub mod check;
pub mod config;
pub mod drops;
pub mod failpoint;
pub mod feed;
pub mod history;
pub mod lock;
pub mod pseudo;
pub mod reference;
pub mod run;
pub mod schedule;
pub mod status;

use std::path::PathBuf;

pub use config::{Pipeline, Source};
pub use run::{Ingest, RunOutcome, RunReport};

/// A set of codes or keys that every incoming row is looked up in (facilities, a drop's
/// keys): hashed with foldhash, since SipHash was a tenth of a drop run's CPU.
pub type StrSet = std::collections::HashSet<String, foldhash::fast::RandomState>;

use crate::domain::codes::code_enum;

code_enum! {
    /// Why a row was quarantined.
    Reason, field = "reason" {
        BadType = "bad_type",
        BadDate = "bad_date",
        MissingField = "missing_field",
        OutOfRange = "out_of_range",
        UnknownFacility = "unknown_facility",
        TimeOrder = "time_order",
        Duplicate = "duplicate",
        InvalidUtf8 = "invalid_utf8",
        BrokenQuoting = "broken_quoting",
        BrokenJson = "broken_json",
        WrongColumnCount = "wrong_column_count",
        DanglingChange = "dangling_change",
    }
}

/// A row refused by validation, as the quarantine table keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct Quarantined {
    /// The file name, or `feed:<entity>`.
    pub source: String,
    /// `line N` in a file, `seq N` in the feed.
    pub location: String,
    pub reason: Reason,
    pub detail: String,
    /// The source text, with personal fields masked.
    pub raw: String,
}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("pipelines:\n  {}", .0.join("\n  "))]
    Config(Vec<String>),
    #[error("no pipeline {0:?} (see `homedoc pipelines`)")]
    UnknownPipeline(String),
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
    #[error(transparent)]
    Lake(#[from] crate::lake::LakeError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Reference(#[from] crate::reference::ReferenceErrors),
    #[error("{0}")]
    Source(String),
    #[error(
        "{pipeline}: {quarantined} of {read} rows ({share:.1}%) failed validation, above the pipeline's threshold of \
         {threshold:.1}%; nothing was committed (first reasons: {reasons})"
    )]
    Threshold { pipeline: String, read: u64, quarantined: u64, share: f64, threshold: f64, reasons: String },
    #[error("{pipeline}: {}; a file already ingested must not change: restore it or move it out of the folder", .files.join("; "))]
    ChangedFiles { pipeline: String, files: Vec<String> },
    #[error("{0}: another process is running this pipeline")]
    Locked(String),
}
