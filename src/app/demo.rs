//! `homedoc demo`: from nothing to a running system in one command. Into a fresh
//! data dir it generates the pilot history, ingests it (the rollups follow), creates
//! one user per role, prints their logins, then serves the API, the scheduler and
//! the dashboards. Run again on the same data dir, it skips straight to serving and
//! prints the same logins (kept in the data dir, readable by its owner only).

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Instant;

use super::{AppError, open_store};
use crate::clock::Clock;
use crate::config::Settings;
use crate::generate::{Options, Scale};
use crate::services::{Role, WriteContext};
use crate::store::Store;

/// Written last: its presence means the data dir holds a finished demo.
pub const LOGINS_FILE: &str = "demo-logins.txt";

/// The default address of the demo.
pub const DEFAULT_BIND: &str = "127.0.0.1:8080";

pub struct DemoOptions {
    pub scale: Scale,
    pub seed: u64,
    pub bind: SocketAddr,
    pub quiet: bool,
}

/// Refuses a data dir that holds something other than an earlier demo: the demo
/// never overwrites anyone's data.
fn fresh_or_demo(settings: &Settings) -> Result<bool, AppError> {
    let dir = &settings.data_dir;
    if dir.join(LOGINS_FILE).exists() {
        return Ok(true);
    }
    let used = std::fs::read_dir(dir).map(|mut e| e.next().is_some()).unwrap_or(false);
    if used {
        return Err(AppError::Usage(format!(
            "{} is not empty and holds no finished demo: give --data-dir an empty or new folder",
            dir.display()
        )));
    }
    Ok(false)
}

pub async fn demo(settings: &Settings, o: &DemoOptions, out: &mut impl Write) -> Result<(), AppError> {
    let started = Instant::now();
    if !fresh_or_demo(settings)? {
        writeln!(out, "homedoc demo: building a {} demo in {}", o.scale.as_str(), settings.data_dir.display())?;
        writeln!(out, "[1/4] generating the program history")?;
        let opts = Options { scale: o.scale, seed: o.seed, until: Options::default_until() };
        super::generate(settings, &opts, o.quiet, out).await?;
        writeln!(out, "[2/4] ingesting it into the lake (rollups follow)")?;
        super::ingest::ingest(settings, &[], o.quiet, false, out).await?;
        writeln!(out, "[3/4] creating one user per role")?;
        let logins = create_users(settings).await?;
        write_private(&settings.data_dir.join(LOGINS_FILE), &logins)?;
        writeln!(out, "ready in {:.0} s", started.elapsed().as_secs_f64())?;
    } else {
        writeln!(out, "homedoc demo: reusing the demo in {}", settings.data_dir.display())?;
    }
    let logins = std::fs::read_to_string(settings.data_dir.join(LOGINS_FILE))?;
    writeln!(out, "[4/4] logins (username  password  role  scope):\n{logins}")?;
    writeln!(out, "open http://{}/ in a browser; Ctrl-C stops the demo", o.bind)?;
    out.flush()?;
    super::serve(settings, Some(o.bind), out).await
}

fn write_private(path: &Path, text: &str) -> Result<(), AppError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)?.write_all(text.as_bytes())?;
    Ok(())
}

/// One user per staff role, scoped to places that exist in the generated history:
/// the first commune station, its province, the first upper-level facility, the
/// first project. Passwords are random.
async fn create_users(settings: &Settings) -> Result<String, AppError> {
    let clock = Clock::system();
    let store = open_store(settings).await?.with_clock(clock.clone());
    let services = super::serve::services(settings, store.clone(), clock)?;
    let mut codes = store.facility_codes().await?;
    codes.sort();
    let (mut station, mut hospital) = (None, None);
    for code in &codes {
        let Some(f) = store.facility(code).await? else { continue };
        match f.level.as_str() {
            "commune_station" if station.is_none() => station = Some(f),
            "commune_station" => {}
            _ if hospital.is_none() => hospital = Some(f),
            _ => {}
        }
        if station.is_some() && hospital.is_some() {
            break;
        }
    }
    let station = station.ok_or_else(|| AppError::Usage("the generated store has no commune station".into()))?;
    let hospital = hospital.ok_or_else(|| AppError::Usage("the generated store has no upper-level facility".into()))?;
    let project = services.reference.projects.first().map(|p| p.id.clone());
    let users: [(&str, Role, Option<String>); 6] = [
        ("evaluator", Role::Evaluator, None),
        ("admin", Role::Admin, None),
        ("donor", Role::Donor, project),
        ("manager", Role::ProvincialManager, Some(station.province_34.clone())),
        ("station", Role::StationStaff, Some(station.code.clone())),
        ("doctor", Role::UpperDoctor, Some(hospital.code.clone())),
    ];
    let mut lines = String::new();
    for (name, role, scope) in users {
        let password = crate::services::auth::new_token()[..16].to_string();
        let ctx = WriteContext::new("demo user add");
        let reply = services.add_user(None, name, &password, role.as_str(), scope.as_deref(), &ctx).await?;
        if reply.status >= 400 {
            return Err(AppError::Usage(format!("creating the demo user {name}: {}", reply.body)));
        }
        lines.push_str(&format!("{name:<10}{password}  {:<19}{}\n", role.as_str(), scope.unwrap_or_default()));
    }
    drop(services);
    store.close().await;
    Ok(lines)
}
