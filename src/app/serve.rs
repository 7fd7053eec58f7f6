//! `homedoc serve` and `homedoc user ...`: the core services over HTTP, and the
//! administration of staff users from the command line.

use std::io::{BufRead, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;

use super::{AppError, open_store, redact, reference};
use crate::clock::Clock;
use crate::config::Settings;
use crate::ingest::Ingest;
use crate::services::{Outbox, ServiceSettings, Services, WriteContext};
use crate::store::SqlStore;
use crate::web::analytics::Analytics;
use crate::web::{self, AppState, LimitSettings, WebSettings};

/// Builds the services over an open store with the settings' choices.
pub fn services(settings: &Settings, store: SqlStore, clock: Clock) -> Result<Services, AppError> {
    let reference = Arc::new(reference(settings)?);
    std::fs::create_dir_all(&settings.data_dir)?;
    let outbox = Arc::new(Outbox::new(settings.data_dir.join(Outbox::FILE)));
    let service_settings = ServiceSettings {
        noshow_grace: Duration::from_secs(u64::from(settings.services.noshow_grace_minutes) * 60),
        timezone: settings.timezone,
        ..ServiceSettings::default()
    };
    Ok(Services::new(Arc::new(store), clock, outbox, reference, service_settings))
}

pub fn web_settings(settings: &Settings) -> WebSettings {
    let s = &settings.services;
    WebSettings {
        trusted_proxy_header: s.trusted_proxy_header.as_deref().and_then(|h| h.parse().ok()),
        limits: LimitSettings {
            per_account_per_minute: s.login_limit_per_account,
            per_address_per_minute: s.login_limit_per_address,
        },
        secure_cookies: s.secure_cookies,
        ..WebSettings::default()
    }
}

/// `homedoc serve`: prints the address it listens on, serves until SIGTERM or
/// Ctrl-C, then finishes the requests in flight and exits.
pub async fn serve(settings: &Settings, bind: Option<SocketAddr>, out: &mut impl Write) -> Result<(), AppError> {
    let clock = Clock::from_env(settings.timezone)?;
    let store = open_store(settings).await?.with_clock(clock.clone());
    let services = services(settings, store.clone(), clock.clone())?;
    // The scheduler runs beside the services when the pipelines load; when they do
    // not (say a drop folder is missing), the services still start and say why.
    let (ingest, not_scheduled) = match super::ingest::load_pipelines(settings) {
        Ok(pipelines) => (Some(Arc::new(Ingest::new(settings, Arc::new(store.clone()), pipelines, clock)?)), None),
        Err(e) => (None, Some(e)),
    };
    // The KPI routes answer 503 if the SQL folder does not load; `check` says why.
    let analytics = super::kpi::catalog(settings)
        .map_err(|e| e.to_string())
        .and_then(|catalog| Analytics::new(settings.clone(), Arc::new(catalog)))
        .map(Arc::new)
        .map_err(|e| eprintln!("homedoc: not serving KPIs and dashboards: {e}"))
        .ok();
    let state = AppState::with_parts(services, store.clone(), web_settings(settings), ingest.clone(), analytics);
    let listener = TcpListener::bind(bind.unwrap_or(settings.bind)).await?;
    writeln!(out, "homedoc: listening on http://{}", listener.local_addr()?)?;
    writeln!(
        out,
        "homedoc: store {}, outbox {}",
        redact(&settings.database_url),
        settings.data_dir.join(Outbox::FILE).display()
    )?;
    if let Some(e) = not_scheduled {
        writeln!(out, "homedoc: not scheduling ingestion: {e}")?;
    }
    out.flush()?;
    let (stop_tx, stop) = watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        eprintln!("homedoc: stopping: finishing the requests in flight");
        let _ = stop_tx.send(true);
    });
    let follower = ingest.as_ref().map(|i| super::rollup::follow(settings.clone(), i.committed(), stop.clone()));
    let scheduler = ingest.map(|i| tokio::spawn(crate::ingest::schedule::run(i, stop.clone())));
    web::serve(listener, state, stop).await?;
    if let Some(s) = scheduler {
        // A run in progress finishes its commit first; the lake never sees half a run anyway.
        let _ = s.await;
    }
    if let Some(f) = follower {
        let _ = f.await;
    }
    store.close().await;
    Ok(())
}

pub(super) async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// What `homedoc user` does.
#[derive(Debug, Clone)]
pub enum UserCommand {
    Add { username: String, role: String, scope: Option<String> },
    Disable { username: String },
    Enable { username: String },
    Reset { username: String },
}

/// The environment variable a script can set instead of typing the password.
pub const PASSWORD_ENV: &str = "HOMEDOC_PASSWORD";

fn read_password(out: &mut impl Write) -> Result<String, AppError> {
    if let Ok(p) = std::env::var(PASSWORD_ENV) {
        return Ok(p);
    }
    write!(out, "password (at least 12 characters), then Enter: ")?;
    out.flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

/// `homedoc user add|disable|enable|reset`.
pub async fn user(settings: &Settings, command: UserCommand, out: &mut impl Write) -> Result<(), AppError> {
    let clock = Clock::from_env(settings.timezone)?;
    let store = open_store(settings).await?.with_clock(clock.clone());
    let services = services(settings, store.clone(), clock)?;
    let result = match command {
        UserCommand::Add { username, role, scope } => {
            // Refuse a wrong role or scope before asking for a password.
            let parsed = crate::services::Role::parse(&role).map_err(crate::services::ServiceError::from)?;
            crate::services::Scope::for_user(parsed, scope.as_deref()).map_err(crate::services::ServiceError::from)?;
            let password = read_password(out)?;
            let ctx = WriteContext::new("cli user add");
            services.add_user(None, &username, &password, &role, scope.as_deref(), &ctx).await
        }
        UserCommand::Disable { username } => {
            services.change_user(None, &username, Some(true), None, &WriteContext::new("cli user disable")).await
        }
        UserCommand::Enable { username } => {
            services.change_user(None, &username, Some(false), None, &WriteContext::new("cli user enable")).await
        }
        UserCommand::Reset { username } => {
            let password = read_password(out)?;
            services.change_user(None, &username, None, Some(&password), &WriteContext::new("cli user reset")).await
        }
    };
    let reply = result?;
    if reply.status >= 400 {
        return Err(AppError::Usage(reply.body.to_string()));
    }
    writeln!(out, "{}", reply.body)?;
    drop(services);
    store.close().await;
    Ok(())
}
