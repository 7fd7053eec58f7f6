//! Messages to citizens' phones (login codes, reminders) through an SMS gateway
//! adapter. The default adapter, [`Outbox`], appends each message as a JSON line to
//! a file the operator can read, so the system runs with no gateway at all.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub at: DateTime<Utc>,
    pub phone: String,
    /// `login_code` or `reminder`.
    pub kind: String,
    pub text: String,
}

#[derive(Debug, thiserror::Error)]
#[error("sending a message: {0}")]
pub struct SendError(pub String);

#[async_trait]
pub trait Messenger: Send + Sync {
    async fn send(&self, message: &Message) -> Result<(), SendError>;
}

/// The default adapter: `outbox.jsonl` in the data dir.
#[derive(Debug)]
pub struct Outbox {
    path: PathBuf,
    lock: Mutex<()>,
}

impl Outbox {
    pub const FILE: &'static str = "outbox.jsonl";

    pub fn new(path: impl Into<PathBuf>) -> Self {
        Outbox { path: path.into(), lock: Mutex::new(()) }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every message in an outbox file, oldest first.
    pub fn read(path: &Path) -> std::io::Result<Vec<Message>> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).map_err(std::io::Error::other))
            .collect()
    }
}

#[async_trait]
impl Messenger for Outbox {
    async fn send(&self, message: &Message) -> Result<(), SendError> {
        let line = serde_json::to_string(message).map_err(|e| SendError(e.to_string()))?;
        let _guard = self.lock.lock().map_err(|_| SendError("outbox lock poisoned".into()))?;
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(|e| SendError(format!("{}: {e}", self.path.display())))?;
        writeln!(file, "{line}").map_err(|e| SendError(format!("{}: {e}", self.path.display())))
    }
}
