//! A feed's pending changes sorted into the birth months they belong to, on their way
//! to the merge. A refresh reads its pending changes once, in one stream, and merges
//! each birth month once: a first build over years of history would otherwise either
//! hold every change in memory or rewrite the same months once per slice of the feed
//! (at national scale each slice of 2 M changes touched 9 to 12 months, and the state
//! files written grew to ten times the state).
//!
//! Changes are held in memory up to a budget; past it every held month is appended to
//! that month's Arrow IPC file in the scratch directory (LZ4-compressed) and memory
//! starts again from nothing. A month is read back whole, files first, when it is
//! merged.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::compute::concat_batches;
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::ipc::CompressionType;
use datafusion::arrow::ipc::reader::FileReader;
use datafusion::arrow::ipc::writer::{FileWriter, IpcWriteOptions};

/// Where a refresh may spill and how much it holds in memory before it does.
#[derive(Debug, Clone)]
pub struct Spill {
    /// A directory of the refresh's own: emptied when a refresh starts (one refresh
    /// runs at a time per data dir), so a killed run's files do not pile up.
    pub dir: PathBuf,
    /// Bytes of Arrow data held before the held months are written out.
    pub budget: usize,
}

impl Spill {
    /// 256 MiB held: a day's changes never reach the disk, a national backlog is
    /// spilled in slices of about a million rows.
    pub const DEFAULT_BUDGET: usize = 256 << 20;

    pub fn in_dir(dir: impl Into<PathBuf>) -> Self {
        Spill { dir: dir.into(), budget: Self::DEFAULT_BUDGET }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SpillError {
    #[error("spill file {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("spill file {path}: {source}")]
    Arrow { path: PathBuf, source: ArrowError },
}

/// Changes by birth month, filled from the feed stream.
pub struct Buckets {
    dir: PathBuf,
    budget: usize,
    held: BTreeMap<String, Vec<RecordBatch>>,
    held_bytes: usize,
    files: BTreeMap<String, FileWriter<BufWriter<File>>>,
    spilled_rows: u64,
}

impl Buckets {
    /// Buckets spilling into `spill.dir/name`, emptied first.
    pub fn new(spill: &Spill, name: &str) -> Result<Self, SpillError> {
        let dir = spill.dir.join(name);
        let io = |source| SpillError::Io { path: dir.clone(), source };
        match std::fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(e)),
            _ => {}
        }
        Ok(Buckets {
            dir,
            budget: spill.budget,
            held: BTreeMap::new(),
            held_bytes: 0,
            files: BTreeMap::new(),
            spilled_rows: 0,
        })
    }

    /// Holds one stream batch split by month; `bytes` is the memory of the batch the
    /// parts are slices of (they keep all of it alive until they are spilled).
    pub fn push(&mut self, parts: Vec<(String, RecordBatch)>, bytes: usize) -> Result<(), SpillError> {
        for (month, batch) in parts {
            self.held.entry(month).or_default().push(batch);
        }
        self.held_bytes += bytes;
        if self.held_bytes > self.budget { self.spill() } else { Ok(()) }
    }

    /// Appends every held month to its file, one IPC batch per month (the stream's
    /// batches are split by month into slivers of a few hundred rows).
    fn spill(&mut self) -> Result<(), SpillError> {
        for (month, batches) in std::mem::take(&mut self.held) {
            let path = self.dir.join(format!("{month}.arrow"));
            let arrow = |source| SpillError::Arrow { path: path.clone(), source };
            let batch = concat_batches(&batches[0].schema(), &batches).map_err(arrow)?;
            if !self.files.contains_key(&month) {
                std::fs::create_dir_all(&self.dir)
                    .map_err(|source| SpillError::Io { path: self.dir.clone(), source })?;
                let file = File::create(&path).map_err(|source| SpillError::Io { path: path.clone(), source })?;
                let options = IpcWriteOptions::default().try_with_compression(Some(CompressionType::LZ4_FRAME));
                let writer =
                    FileWriter::try_new_with_options(BufWriter::new(file), &batch.schema(), options.map_err(arrow)?)
                        .map_err(arrow)?;
                self.files.insert(month.clone(), writer);
            }
            self.files.get_mut(&month).expect("inserted").write(&batch).map_err(arrow)?;
            self.spilled_rows += batch.num_rows() as u64;
        }
        self.held_bytes = 0;
        Ok(())
    }

    /// Closes the files: the months can now be read back.
    pub fn seal(mut self) -> Result<Sealed, SpillError> {
        let mut files = BTreeMap::new();
        for (month, mut writer) in std::mem::take(&mut self.files) {
            let path = self.dir.join(format!("{month}.arrow"));
            writer.finish().map_err(|source| SpillError::Arrow { path: path.clone(), source })?;
            files.insert(month, path);
        }
        Ok(Sealed {
            dir: std::mem::take(&mut self.dir),
            held: std::mem::take(&mut self.held),
            files,
            spilled_rows: self.spilled_rows,
        })
    }
}

impl Drop for Buckets {
    fn drop(&mut self) {
        remove(&self.dir);
    }
}

/// Months ready to merge, each read back once.
pub struct Sealed {
    dir: PathBuf,
    held: BTreeMap<String, Vec<RecordBatch>>,
    files: BTreeMap<String, PathBuf>,
    pub spilled_rows: u64,
}

impl Sealed {
    pub fn months(&self) -> BTreeSet<String> {
        self.held.keys().chain(self.files.keys()).cloned().collect()
    }

    /// A month's changes (its file is deleted once read).
    pub fn take(&mut self, month: &str) -> Result<Vec<RecordBatch>, SpillError> {
        let mut out = Vec::new();
        if let Some(path) = self.files.remove(month) {
            let arrow = |source| SpillError::Arrow { path: path.clone(), source };
            let file = File::open(&path).map_err(|source| SpillError::Io { path: path.clone(), source })?;
            for batch in FileReader::try_new(BufReader::new(file), None).map_err(arrow)? {
                out.push(batch.map_err(arrow)?);
            }
            std::fs::remove_file(&path).map_err(|source| SpillError::Io { path: path.clone(), source })?;
        }
        out.extend(self.held.remove(month).unwrap_or_default());
        Ok(out)
    }
}

impl Drop for Sealed {
    fn drop(&mut self) {
        remove(&self.dir);
    }
}

/// Best effort: a directory left behind is emptied by the next refresh.
fn remove(dir: &Path) {
    if !dir.as_os_str().is_empty() {
        let _ = std::fs::remove_dir_all(dir);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{AsArray, Int64Array};
    use datafusion::arrow::datatypes::{DataType, Field, Int64Type, Schema};

    use super::*;

    fn batch(values: &[i64]) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![Field::new("v", DataType::Int64, false)]));
        RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(values.to_vec()))]).unwrap()
    }

    fn values(batches: &[RecordBatch]) -> Vec<i64> {
        batches.iter().flat_map(|b| b.column(0).as_primitive::<Int64Type>().values().to_vec()).collect()
    }

    #[test]
    fn months_come_back_whole_and_in_order_whether_spilled_or_held() {
        let root = std::env::temp_dir().join(format!("homedoc-spill-test-{}", std::process::id()));
        // A budget of one byte: every push spills.
        let mut buckets = Buckets::new(&Spill { dir: root.clone(), budget: 1 }, "t").unwrap();
        let push = |b: &mut Buckets, parts: &[(&str, &[i64])]| {
            b.push(parts.iter().map(|(m, v)| (m.to_string(), batch(v))).collect(), 8).unwrap()
        };
        push(&mut buckets, &[("2024-01", &[1, 2]), ("2024-02", &[3])]);
        push(&mut buckets, &[("2024-01", &[4])]);
        buckets.budget = usize::MAX;
        push(&mut buckets, &[("2024-01", &[5]), ("2024-03", &[6])]);
        let mut sealed = buckets.seal().unwrap();
        assert_eq!(sealed.spilled_rows, 4);
        assert_eq!(sealed.months().into_iter().collect::<Vec<_>>(), ["2024-01", "2024-02", "2024-03"]);
        assert_eq!(values(&sealed.take("2024-01").unwrap()), [1, 2, 4, 5]);
        assert!(!root.join("t/2024-01.arrow").exists(), "a month read back leaves no file");
        assert_eq!(values(&sealed.take("2024-02").unwrap()), [3]);
        assert_eq!(values(&sealed.take("2024-03").unwrap()), [6]);
        assert!(sealed.take("2024-01").unwrap().is_empty());
        drop(sealed);
        assert!(!root.join("t").exists(), "the refresh's directory goes with it");
        let _ = std::fs::remove_dir_all(root);
    }
}
