//! The HTTP side of the core services (`homedoc serve`): the /api/v1 JSON API with
//! its OpenAPI document, the dashboard pages at / ([`pages`]), /healthz and /metrics. Requests pass the [`guard`] (auth,
//! deny-by-default roles, CSRF, idempotency, audit of denials, metrics) before their
//! handler in [`routes`].

pub mod analytics;
mod error;
mod extract;
pub mod guard;
mod limits;
mod metrics;
mod pages;
pub mod policy;
mod routes;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderName, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use sqlx::Row;
use tokio::net::TcpListener;
use tokio::sync::watch;

pub use error::ApiError;
pub use limits::LimitSettings;

use crate::services::Services;
use crate::store::{Backend, SqlStore, Store};

/// The cookie that carries a browser's session token.
pub const SESSION_COOKIE: &str = "homedoc_session";

/// Settings of the HTTP layer.
#[derive(Debug, Clone)]
pub struct WebSettings {
    /// The header a trusted reverse proxy sets to the client's address; without one
    /// the peer address of the connection is used and forwarding headers are ignored.
    pub trusted_proxy_header: Option<HeaderName>,
    pub body_limit: usize,
    pub limits: LimitSettings,
    /// Mark the session cookie `Secure` (behind HTTPS).
    pub secure_cookies: bool,
    /// How often the background work (no-shows, reminders, key pruning) runs.
    pub background_every: Duration,
}

impl Default for WebSettings {
    fn default() -> Self {
        WebSettings {
            trusted_proxy_header: None,
            body_limit: 64 * 1024,
            limits: LimitSettings::default(),
            secure_cookies: false,
            background_every: Duration::from_secs(60),
        }
    }
}

pub struct AppState {
    pub services: Services,
    /// The concrete store, for the pool figures and PRAGMA readings of /metrics and /healthz.
    pub sql: SqlStore,
    pub web: WebSettings,
    /// Ingestion, for `/api/v1/pipelines`; `None` when `serve` runs without pipelines.
    pub ingest: Option<Arc<crate::ingest::Ingest>>,
    /// The KPI engine and reports, for `/api/v1/kpi` and `/api/v1/reports`; `None`
    /// answers them 503.
    pub analytics: Option<Arc<analytics::Analytics>>,
    metrics: metrics::Metrics,
    limits: limits::Limits,
    inflight: guard::InFlight,
}

pub type Shared = Arc<AppState>;

impl AppState {
    pub fn new(services: Services, sql: SqlStore, web: WebSettings) -> Shared {
        Self::with_ingest(services, sql, web, None)
    }

    pub fn with_ingest(
        services: Services,
        sql: SqlStore,
        web: WebSettings,
        ingest: Option<Arc<crate::ingest::Ingest>>,
    ) -> Shared {
        Self::with_parts(services, sql, web, ingest, None)
    }

    pub fn with_parts(
        services: Services,
        sql: SqlStore,
        web: WebSettings,
        ingest: Option<Arc<crate::ingest::Ingest>>,
        analytics: Option<Arc<analytics::Analytics>>,
    ) -> Shared {
        Arc::new(AppState {
            services,
            sql,
            ingest,
            analytics,
            limits: limits::Limits::new(web.limits),
            web,
            metrics: metrics::Metrics::new(),
            inflight: guard::InFlight::default(),
        })
    }
}

/// The API's router and its OpenAPI document, both from the same route table.
pub fn api() -> (Router<Shared>, utoipa::openapi::OpenApi) {
    let (router, mut doc) = routes::router().split_for_parts();
    doc.info.title = "homedoc core services".into();
    doc.info.description = Some("Accounts, booking and teleconsult calls of the 'Bác sĩ cho mọi nhà' program".into());
    (router, doc)
}

/// The whole application.
pub fn app(state: Shared) -> Router {
    let (api, doc) = api();
    let doc = Arc::new(doc);
    let api = api
        .route("/api/v1/openapi.json", get(move || async move { Json(doc.as_ref().clone()) }))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), guard::guard));
    Router::new()
        .merge(api)
        .merge(pages::router())
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .fallback(|| async { error::error_response(StatusCode::NOT_FOUND, "not_found", "no such route") })
        .method_not_allowed_fallback(|| async {
            error::error_response(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this route does not take that method",
            )
        })
        .layer(DefaultBodyLimit::max(state.web.body_limit))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(|_| {
            error::error_response(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error")
        }))
        .with_state(state)
}

/// The SQLite `PRAGMA synchronous` of a pooled connection (2 = FULL), if on SQLite.
pub async fn sqlite_synchronous(sql: &SqlStore) -> Option<i64> {
    if sql.backend() != Backend::Sqlite {
        return None;
    }
    let row = sqlx::query("PRAGMA synchronous").fetch_one(sql.pool()).await.ok()?;
    row.try_get::<i64, _>(0).ok()
}

async fn healthz(State(st): State<Shared>) -> Response {
    match sqlx::query("SELECT 1").execute(st.sql.pool()).await {
        Ok(_) => {
            let backend = match st.sql.backend() {
                Backend::Sqlite => "sqlite",
                Backend::Postgres => "postgres",
            };
            let sync = sqlite_synchronous(&st.sql).await;
            Json(serde_json::json!({ "status": "ok", "backend": backend, "sqlite_synchronous": sync })).into_response()
        }
        Err(_) => error::error_response(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "the database does not answer"),
    }
}

async fn metrics(State(st): State<Shared>) -> Response {
    let pool = st.sql.pool();
    let text = st.metrics.render(pool.size(), pool.num_idle(), &st.services.writer.stats);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

/// Serves until `stop` turns true, then stops accepting, finishes the requests in
/// flight and the writes queued, and returns.
pub async fn serve(listener: TcpListener, state: Shared, mut stop: watch::Receiver<bool>) -> std::io::Result<()> {
    let services = state.services.clone();
    let background = {
        let every = state.web.background_every;
        let stop = stop.clone();
        tokio::spawn(async move { services.run_background(every, stop).await })
    };
    let app = app(state).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = stop.wait_for(|s| *s).await;
        })
        .await?;
    let _ = background.await;
    Ok(())
}
