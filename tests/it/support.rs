//! Test fixtures: a fresh SQLite file, and a fresh, uniquely named PostgreSQL database
//! that is dropped afterwards. PostgreSQL runs when HOMEDOC_TEST_POSTGRES_URL names a
//! server (CI sets it); otherwise those runs are skipped with a message.

use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};

use homedoc::store::{SqlStore, Store};
use sqlx::Connection;

pub const PG_ENV: &str = "HOMEDOC_TEST_POSTGRES_URL";

/// Runs `scenario` against a new SQLite store and a new PostgreSQL store.
pub async fn on_both_backends<F, Fut>(name: &str, scenario: F)
where
    F: Fn(SqlStore) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("store.db").display());
    let store = SqlStore::connect(&url).await.expect("open SQLite store");
    scenario(store.clone()).await;
    store.close().await;

    let Some(pg) = PgDatabase::create(name).await else {
        // Written past the test harness's capture, so that a skip is always seen.
        use std::io::Write;
        let note = format!("SKIPPED on PostgreSQL: {name} (set {PG_ENV} to run it there too)\n");
        std::io::stderr().write_all(note.as_bytes()).ok();
        return;
    };
    let store = SqlStore::connect(&pg.url).await.expect("open PostgreSQL store");
    scenario(store.clone()).await;
    store.close().await;
    // `pg` drops the database here, and also when the scenario panics.
    drop(pg);
}

pub struct PgDatabase {
    admin_url: String,
    name: String,
    pub url: String,
}

impl PgDatabase {
    /// Creates `homedoc_test_<name>_<pid>_<n>` on the server, or `None` if none is configured.
    pub async fn create(name: &str) -> Option<Self> {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let admin_url = std::env::var(PG_ENV).ok().filter(|u| !u.is_empty())?;
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let db = format!("homedoc_test_{name}_{}_{n}", std::process::id());
        let mut admin = sqlx::PgConnection::connect(&admin_url).await.expect("connect to the PostgreSQL server");
        sqlx::query(&format!("CREATE DATABASE {db}")).execute(&mut admin).await.expect("create test database");
        admin.close().await.ok();
        let base = admin_url.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin_url);
        Some(PgDatabase { url: format!("{base}/{db}"), admin_url, name: db })
    }
}

impl Drop for PgDatabase {
    /// Drops the database on a thread of its own: `Drop` cannot await, and it also
    /// runs while a failed test unwinds, so no test leaves a database behind.
    fn drop(&mut self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                let mut admin = sqlx::PgConnection::connect(&admin_url).await?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut admin).await?;
                Ok::<_, sqlx::Error>(())
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop test database {}: {dropped:?}", self.name);
        }
    }
}

/// The backend's name, for assertion messages.
pub fn backend_name(store: &SqlStore) -> &'static str {
    match store.backend() {
        homedoc::store::Backend::Sqlite => "sqlite",
        homedoc::store::Backend::Postgres => "postgres",
    }
}

/// The Python packages the cross-checks run (another Delta reader, the DuckDB and
/// polars peers, the ADX schema validator), installed with pip on first use when
/// missing, so that `cargo test` on a fresh machine needs no set-up of its own. A
/// failed install fails the test that needed them, with pip's own message.
pub fn python_peers() {
    static READY: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    let ready = READY.get_or_init(|| {
        let present = |modules: &str| {
            std::process::Command::new("python3")
                .args(["-c", &format!("import {modules}")])
                .output()
                .is_ok_and(|o| o.status.success())
        };
        if present("deltalake, duckdb, polars, xmlschema") {
            return Ok(());
        }
        eprintln!("installing the Python peers of the tests with pip (deltalake, duckdb, polars, xmlschema)");
        let out = std::process::Command::new("python3")
            .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check"])
            .args(["deltalake", "pyarrow", "duckdb", "polars", "xmlschema"])
            .output()
            .map_err(|e| format!("python3 -m pip: {e}"))?;
        if out.status.success() { Ok(()) } else { Err(String::from_utf8_lossy(&out.stderr).into_owned()) }
    });
    if let Err(e) = ready {
        panic!("the Python peers could not be installed: {e}");
    }
}
