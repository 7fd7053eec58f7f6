//! One run of a pipeline at a time across processes: an exclusive lock on a file in
//! the data dir. The operating system drops the lock when its holder exits, however
//! it exits, so a killed process never leaves a pipeline locked.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

use super::IngestError;

pub struct PipelineLock {
    _file: File,
}

fn open(data_dir: &Path, id: &str) -> Result<File, IngestError> {
    let dir: PathBuf = data_dir.join("locks");
    std::fs::create_dir_all(&dir).map_err(|e| IngestError::Io(dir.clone(), e))?;
    let path = dir.join(format!("{id}.lock"));
    OpenOptions::new().create(true).truncate(false).write(true).open(&path).map_err(|e| IngestError::Io(path, e))
}

impl PipelineLock {
    /// The lock, or `Locked` if another process holds it.
    pub fn try_acquire(data_dir: &Path, id: &str) -> Result<Self, IngestError> {
        let file = open(data_dir, id)?;
        match file.try_lock() {
            Ok(()) => Ok(PipelineLock { _file: file }),
            Err(TryLockError::WouldBlock) => Err(IngestError::Locked(id.to_string())),
            Err(TryLockError::Error(e)) => Err(IngestError::Io(data_dir.join("locks"), e)),
        }
    }

    /// The lock, waiting for another holder to finish.
    pub async fn acquire(data_dir: &Path, id: &str) -> Result<Self, IngestError> {
        let file = open(data_dir, id)?;
        let dir = data_dir.join("locks");
        tokio::task::spawn_blocking(move || file.lock().map(|()| PipelineLock { _file: file }))
            .await
            .expect("the lock task does not panic")
            .map_err(|e| IngestError::Io(dir, e))
    }
}
