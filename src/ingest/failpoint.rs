//! Named stages where a test can stop an ingestion run dead, to check that the next
//! run repairs whatever was left half done. `HOMEDOC_FAILPOINT=<stage>` makes the
//! process announce the stage on stderr when it first reaches it and then wait to be
//! killed (the tests send SIGKILL, so nothing gets to clean up). Unset, a fail point
//! costs one comparison.

use std::sync::OnceLock;

/// After the run's Parquet files are written, before anything is committed.
pub const FILES_WRITTEN: &str = "files_written";
/// After the run is planned in the history, before the data table commit.
pub const BEFORE_COMMIT: &str = "before_commit";
/// Right after the data table commit.
pub const AFTER_COMMIT: &str = "after_commit";
/// After the quarantine table commit, before the run is marked done.
pub const BETWEEN_TABLES: &str = "between_tables";

/// In a rollup refresh, after the state table commit, before the rollup commit.
pub const ROLLUP_BETWEEN_TABLES: &str = "rollup_between_tables";
/// In a rollup refresh, after the daily rollup commit, before the monthly one.
pub const ROLLUP_BEFORE_MONTHLY: &str = "rollup_before_monthly";
/// In a rollup refresh, after the monthly rollup commit, before the yearly one.
pub const ROLLUP_BEFORE_YEARLY: &str = "rollup_before_yearly";

pub const STAGES: [&str; 4] = [FILES_WRITTEN, BEFORE_COMMIT, AFTER_COMMIT, BETWEEN_TABLES];

static ARMED: OnceLock<Option<String>> = OnceLock::new();

pub fn hit(stage: &str) {
    let armed = ARMED.get_or_init(|| std::env::var("HOMEDOC_FAILPOINT").ok().filter(|s| !s.is_empty()));
    if armed.as_deref() == Some(stage) {
        eprintln!("homedoc: failpoint {stage} reached");
        loop {
            std::thread::sleep(std::time::Duration::from_secs(3600));
        }
    }
}
