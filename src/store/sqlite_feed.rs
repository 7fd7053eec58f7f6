//! The change feed of a SQLite store, read with rusqlite on the blocking pool beside
//! the sqlx pool that everything else goes through. Ingestion reads millions of feed
//! rows: sqlx's SQLite driver copies every value of every row on its worker thread and
//! again into its `Any` rows, which cost about four times what SQLite itself spends
//! on a page (profile of the pilot's appointments). The queries and the mapping of a
//! row into its feed struct are [`super::feed`]'s, shared with the PostgreSQL path.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OpenFlags, Row};

use super::StoreError;
use super::feed::{Columns, PAGE_END_SQL};

/// Connections kept open between pages: two pages are read at a time.
const IDLE: usize = 4;

/// Read-only connections to one SQLite file, opened on first use and kept.
#[derive(Debug)]
pub(super) struct SqliteFeed {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl Columns for Row<'_> {
    fn int(&self, i: usize) -> Result<i64, StoreError> {
        Ok(self.get(i)?)
    }
    fn opt_int(&self, i: usize) -> Result<Option<i64>, StoreError> {
        Ok(self.get(i)?)
    }
    fn text(&self, i: usize) -> Result<String, StoreError> {
        Ok(self.get(i)?)
    }
    fn opt_text(&self, i: usize) -> Result<Option<String>, StoreError> {
        Ok(self.get(i)?)
    }
}

impl SqliteFeed {
    pub(super) fn new(path: PathBuf) -> Arc<Self> {
        Arc::new(SqliteFeed { path, idle: Mutex::new(Vec::new()) })
    }

    fn open(&self) -> Result<Connection, StoreError> {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&self.path, flags)?;
        // Feed pages touch pages all over the file: the whole file is memory-mapped (up
        // to 1 TiB; see `.cargo/config.toml` for the build limit), which spares copying
        // each page into SQLite's cache under its mutex. A writer holding its lock long
        // is waited for.
        conn.execute_batch(
            "PRAGMA mmap_size = 1099511627776; PRAGMA cache_size = -32768; PRAGMA busy_timeout = 30000;",
        )?;
        Ok(conn)
    }

    /// Runs `work` on a connection of the pool, on the blocking pool.
    async fn with_conn<T: Send + 'static>(
        self: &Arc<Self>,
        work: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let me = self.clone();
        tokio::task::spawn_blocking(move || {
            let taken = me.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
            let conn = match taken {
                Some(c) => c,
                None => me.open()?,
            };
            let out = work(&conn);
            // A connection whose query failed is dropped rather than reused.
            if out.is_ok() {
                let mut idle = me.idle.lock().unwrap_or_else(|p| p.into_inner());
                if idle.len() < IDLE {
                    idle.push(conn);
                }
            }
            out
        })
        .await
        .map_err(|e| StoreError::Reader(e.to_string()))?
    }

    /// One page of a feed query (`$1` after, `$2` limit), each row mapped by `map`.
    pub(super) async fn page<T, F>(
        self: &Arc<Self>,
        sql: &'static str,
        after: i64,
        limit: u32,
        map: F,
    ) -> Result<Vec<T>, StoreError>
    where
        T: Send + 'static,
        F: Fn(&Row<'_>) -> Result<T, StoreError> + Send + 'static,
    {
        self.with_conn(move |conn| {
            let mut stmt = conn.prepare_cached(sql)?;
            let mut rows = stmt.query((after, i64::from(limit)))?;
            let mut out = Vec::with_capacity(limit.min(1 << 16) as usize);
            while let Some(row) = rows.next()? {
                out.push(map(row)?);
            }
            Ok(out)
        })
        .await
    }

    /// See [`PAGE_END_SQL`].
    pub(super) async fn page_end(
        self: &Arc<Self>,
        entity: &'static str,
        after: i64,
        n: u32,
    ) -> Result<Option<i64>, StoreError> {
        let offset = i64::from(n.max(1)) - 1;
        self.with_conn(move |conn| {
            let mut stmt = conn.prepare_cached(PAGE_END_SQL)?;
            let mut rows = stmt.query((entity, after, offset))?;
            Ok(match rows.next()? {
                Some(row) => Some(row.get(0)?),
                None => None,
            })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reader_maps_more_than_two_gigabytes() {
        // SQLite caps mmap_size at its build limit without a word: a build without
        // `.cargo/config.toml`'s flag would read big stores through its page cache.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("feed.db");
        Connection::open(&path).unwrap().execute_batch("CREATE TABLE t (x INTEGER)").unwrap();
        let conn = SqliteFeed::new(path).open().unwrap();
        let mapped: i64 = conn.query_row("PRAGMA mmap_size", [], |r| r.get(0)).unwrap();
        assert!(mapped > 1 << 31, "mmap_size is {mapped}");
    }
}
