//! The `homedoc` binary as a user runs it: help, check, generate, feed; and the
//! settings and clock it runs with.

use std::process::Command;

use chrono::TimeZone;
use homedoc::clock::{Clock, parse_instant};
use homedoc::config::{FileConfig, Settings};

pub fn homedoc(dir: &std::path::Path, args: &[&str]) -> (bool, String, String) {
    homedoc_with(dir, args, &[])
}

/// Runs the binary on `dir` with only the given HOMEDOC_* variables set.
pub fn homedoc_with(dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_homedoc"));
    cmd.arg("--data-dir").arg(dir).args(args);
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("HOMEDOC_")) {
        cmd.env_remove(k);
    }
    let out = cmd.envs(env.iter().copied()).output().expect("run homedoc");
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

#[test]
fn help_lists_every_command_with_its_purpose() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, out, _) = homedoc(dir.path(), &["--help"]);
    assert!(ok);
    for line in ["check ", "generate ", "db ", "feed "] {
        let l = out.lines().find(|l| l.trim_start().starts_with(line)).unwrap_or_else(|| panic!("{line} in {out}"));
        assert!(l.split_whitespace().count() > 3, "{l} has a purpose");
    }
}

#[test]
fn check_reports_every_problem_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    // The drop folders the pipelines read are missing: both reported in one run.
    let (ok, _, err) = homedoc(dir.path(), &["check"]);
    assert!(!ok);
    assert!(
        err.contains("drops/telemedicine: no such folder") && err.contains("drops/training: no such folder"),
        "{err}"
    );
    for d in ["drops/telemedicine", "drops/training"] {
        std::fs::create_dir_all(dir.path().join(d)).unwrap();
    }
    let (ok, out, _) = homedoc(dir.path(), &["check"]);
    assert!(ok, "{out}");
    assert!(out.contains("reference data (built-in): ok"), "{out}");
    assert!(out.contains("pipelines (built-in): ok: facilities, accounts"), "{out}");

    let reference = dir.path().join("ref");
    std::fs::create_dir(&reference).unwrap();
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data-samples/reference");
    for e in std::fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), reference.join(e.file_name())).unwrap();
    }
    let targets = reference.join("targets.csv");
    let text = std::fs::read_to_string(&targets).unwrap();
    std::fs::write(
        &targets,
        text.replace("accounts_registered,national", "accounts,national")
            .replace("project,kofih-10", "project,kofih-11"),
    )
    .unwrap();
    std::fs::write(dir.path().join("homedoc.toml"), format!("reference_dir = {:?}\n", reference)).unwrap();
    let (ok, _, err) = homedoc(dir.path(), &["check"]);
    assert!(!ok);
    assert!(err.contains("targets.csv:2: indicator") && err.contains("targets.csv:7: scope_id"), "{err}");

    std::fs::write(dir.path().join("homedoc.toml"), "databse_url = \"sqlite://x.db\"\n").unwrap();
    let (ok, _, err) = homedoc(dir.path(), &["check"]);
    assert!(!ok);
    assert!(err.contains("unknown field `databse_url`"), "{err}");
}

#[test]
fn generate_then_read_the_feed() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, out, err) =
        homedoc(dir.path(), &["generate", "--scale", "sample", "--seed", "3", "--until", "2021-06-30", "--quiet"]);
    assert!(ok, "{err}");
    assert!(out.contains("rows/s") && out.contains("ground truth"), "{out}");
    assert!(dir.path().join("homedoc.db").exists() && dir.path().join("ground_truth.json").exists());
    let (ok, _, err) = homedoc(dir.path(), &["generate", "--scale", "sample", "--quiet"]);
    assert!(!ok && err.contains("already holds data"), "{err}");
    let (ok, out, err) = homedoc(dir.path(), &["feed", "--entity", "appointment", "--limit", "5"]);
    assert!(ok, "{err}");
    let rows: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(rows.len(), 5);
    assert!(rows.iter().all(|r| r["entity"] == "appointment"));
    let (ok, _, err) = homedoc(dir.path(), &["feed", "--entity", "appointments"]);
    assert!(!ok && err.contains("entity: unknown code"), "{err}");
    let (ok, out, _) = homedoc(
        dir.path(),
        &["generate", "--scale", "sample", "--seed", "3", "--until", "2021-06-30", "--quiet", "--force"],
    );
    assert!(ok && out.contains("rows/s"));
}

#[test]
fn settings_default_to_the_data_dir_and_take_overrides() {
    let dir = tempfile::tempdir().unwrap();
    let s = Settings::resolve(dir.path(), FileConfig::default(), |_| None).unwrap();
    assert!(s.database_url.starts_with("sqlite://") && s.database_url.ends_with("homedoc.db"));
    assert_eq!(s.timezone, chrono_tz::Asia::Ho_Chi_Minh);
    assert_eq!(s.bind.to_string(), "127.0.0.1:8080");
    let file: FileConfig = toml::from_str("bind = \"0.0.0.0:9000\"\ntimezone = \"UTC\"").unwrap();
    let env = |k: &str| (k == "HOMEDOC_BIND").then(|| "127.0.0.1:7000".to_string());
    let s = Settings::resolve(dir.path(), file, env).unwrap();
    assert_eq!((s.bind.to_string().as_str(), s.timezone), ("127.0.0.1:7000", chrono_tz::UTC));
    let bad: FileConfig = toml::from_str("timezone = \"Mars/Olympus\"").unwrap();
    assert!(Settings::resolve(dir.path(), bad, |_| None).unwrap_err().to_string().contains("timezone"));

    // The key is made once, kept private, and read back the same.
    let key = s.pseudonymisation_key().unwrap();
    assert_eq!(s.pseudonymisation_key().unwrap(), key);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("pseudonym.key")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[test]
fn the_clock_can_be_fixed_and_moved() {
    let tz = chrono_tz::Asia::Ho_Chi_Minh;
    let at = parse_instant("2026-10-31", tz).unwrap();
    assert_eq!(at, chrono::Utc.with_ymd_and_hms(2026, 10, 30, 17, 0, 0).unwrap());
    assert!(parse_instant("31/10/2026", tz).is_err());
    let clock = Clock::fixed(at);
    clock.advance(chrono::Duration::hours(2));
    assert_eq!(clock.now(), at + chrono::Duration::hours(2));
    assert_eq!(clock.today(tz).to_string(), "2026-10-31");
    assert!(!Clock::system().is_fixed());
}

/// Where stderr is no terminal (here a pipe, in production a log) the rollup refresh
/// says each step on a line of its own, since its spinner draws nothing there.
#[test]
fn a_rollup_refresh_into_a_log_shows_its_steps() {
    let dir = tempfile::tempdir().unwrap();
    crate::ingest::copy_tree(&crate::ingest::repo().join("data-samples/sample"), dir.path());
    let (ok, out, err) = homedoc(dir.path(), &["ingest", "--quiet", "--no-rollups"]);
    assert!(ok && !out.contains("month(s) recomputed"), "{out}{err}");
    let (ok, out, err) = homedoc(dir.path(), &["lake", "rollup"]);
    assert!(ok, "{out}{err}");
    let steps: Vec<&str> = err.lines().filter(|l| l.starts_with("homedoc: rollups: ")).collect();
    assert!(steps.iter().any(|l| l.contains("appointment_daily: ")), "{err}");
    let (ok, _, err) = homedoc(dir.path(), &["lake", "rollup", "--quiet"]);
    assert!(ok && !err.contains("homedoc: rollups: "), "--quiet says nothing: {err}");
}

#[test]
fn ingest_then_list_the_pipelines() {
    let dir = tempfile::tempdir().unwrap();
    crate::ingest::copy_tree(&crate::ingest::repo().join("data-samples/sample"), dir.path());
    let (ok, out, err) = homedoc(dir.path(), &["ingest", "--quiet"]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("telemedicine: run 1 committed:") && out.contains("quarantined"), "{out}");
    assert!(out.contains("appointment_daily: ") && out.contains("month(s) recomputed"), "{out}");
    let (ok, out, err) = homedoc(dir.path(), &["ingest", "--quiet", "appointments"]);
    let mut lines = out.lines();
    assert!(ok && lines.next() == Some("appointments: nothing new"), "{out}{err}");
    // Nothing new: the rollups have nothing to do either.
    assert!(lines.all(|l| l.ends_with(": up to date")), "{out}");
    let (ok, out, err) = homedoc(dir.path(), &["pipelines"]);
    assert!(ok, "{err}");
    let line = out.lines().find(|l| l.starts_with("training ")).unwrap_or_else(|| panic!("{out}"));
    assert!(line.contains("succeeded") && line.contains("20 * * * *"), "{line}");
    let (ok, _, err) = homedoc(dir.path(), &["ingest", "nosuch"]);
    assert!(!ok && err.contains("no pipeline \"nosuch\""), "{err}");
    let (ok, out, err) = homedoc(dir.path(), &["lake", "vacuum", "--dry-run"]);
    assert!(ok && out.contains("accounts: would remove 0 files"), "{out}{err}");
}
