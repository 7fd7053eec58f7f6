//! The web pages at `/`: server-rendered HTML that works with no internet (the
//! style sheet and the font are served from here; no script at all). A login page,
//! then the dashboards the user's role may open, each scoped as the API scopes its
//! reports; the indicator definitions; downloads of what a dashboard shows.
//!
//! Pages authenticate from the session cookie themselves (they are not API routes
//! and do not pass the API's policy table); unsafe methods check the form's CSRF
//! token against the session's.

mod dash;
mod html;

use std::net::SocketAddr;

use axum::Router;
use axum::extract::{ConnectInfo, Form, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use std::fmt::Write as _;

use super::guard::{cookie_token, session_cookie};
use super::{SESSION_COOKIE, Shared};
use crate::kpi::Lang;
use crate::services::{Principal, ServiceError, WriteContext};
use html::{Nav, esc, page, tr};

pub fn router() -> Router<Shared> {
    Router::new()
        .route("/", get(index))
        .route("/login", get(login_form).post(login))
        .route("/logout", post(logout))
        .route("/definitions", get(definitions))
        .route("/static/homedoc.css", get(css))
        .route("/static/homedoc-sans.ttf", get(font))
        .merge(dash::router())
}

/// The page language: `?lang=` when given, else Vietnamese.
#[derive(Debug, Default, Deserialize)]
pub struct LangQuery {
    lang: Option<String>,
}

pub fn lang_of(s: Option<&str>) -> Lang {
    match s {
        Some("en") => Lang::En,
        _ => Lang::Vi,
    }
}

/// The logged-in principal of a page request, or `None`.
pub async fn principal(st: &Shared, headers: &HeaderMap) -> Option<Principal> {
    let token = cookie_token(headers)?;
    st.services.authenticate(&token, true).await.ok().flatten()
}

/// The dashboards a principal may open, as (id, title) in the page language.
pub fn visible(st: &Shared, p: &Principal, lang: Lang) -> Vec<(String, String)> {
    let Some(a) = st.analytics.as_deref() else { return Vec::new() };
    a.dashboards
        .iter()
        .filter(|d| d.visible_to(p.role))
        .map(|d| (d.id.clone(), d.title.get(lang).to_string()))
        .collect()
}

pub fn nav<'a>(st: &Shared, p: Option<&'a Principal>, lang: Lang) -> Nav<'a> {
    Nav { principal: p, dashboards: p.map(|p| visible(st, p, lang)).unwrap_or_default(), lang }
}

fn to_login() -> Response {
    Redirect::to("/login").into_response()
}

async fn index(State(st): State<Shared>, headers: HeaderMap, Query(q): Query<LangQuery>) -> Response {
    let lang = lang_of(q.lang.as_deref());
    let Some(p) = principal(&st, &headers).await else { return to_login() };
    let nav = nav(&st, Some(&p), lang);
    let mut body = format!("<h1>{}</h1>", esc(&tr(lang, "Bảng điều khiển", "Dashboards")));
    let Some(a) = st.analytics.as_deref() else {
        return html::error_page(StatusCode::SERVICE_UNAVAILABLE, &nav, "the dashboards are not configured");
    };
    let mine: Vec<_> = a.dashboards.iter().filter(|d| d.visible_to(p.role)).collect();
    if mine.is_empty() {
        let _ = write!(
            body,
            "<p>{}</p>",
            esc(&tr(lang, "Vai trò của bạn không có bảng điều khiển nào.", "Your role has no dashboards."))
        );
    }
    body.push_str("<ul class=\"cards\">");
    for d in mine {
        let _ = write!(
            body,
            "<li><a href=\"/d/{}?lang={}\"><strong>{}</strong></a><br>{}</li>",
            esc(&d.id),
            if lang == Lang::En { "en" } else { "vi" },
            esc(d.title.get(lang)),
            esc(d.description.get(lang))
        );
    }
    body.push_str("</ul>");
    html::html(StatusCode::OK, page(&tr(lang, "Bảng điều khiển", "Dashboards"), &nav, &body))
}

fn login_page(lang: Lang, message: Option<&str>, status: StatusCode) -> Response {
    let nav = Nav { principal: None, dashboards: Vec::new(), lang };
    let mut body = String::from("<div class=\"login\">");
    let _ = write!(body, "<h1>{}</h1>", esc(&tr(lang, "Đăng nhập", "Log in")));
    if let Some(m) = message {
        let _ = write!(body, "<div class=\"error\" role=\"alert\">{}</div>", esc(m));
    }
    let _ = write!(
        body,
        "<form method=\"post\" action=\"/login\">\
         <input type=\"hidden\" name=\"lang\" value=\"{}\">\
         <label>{}<input name=\"username\" autocomplete=\"username\" required></label>\
         <label>{}<input name=\"password\" type=\"password\" autocomplete=\"current-password\" required></label>\
         <button class=\"primary\" type=\"submit\">{}</button></form></div>",
        if lang == Lang::En { "en" } else { "vi" },
        esc(&tr(lang, "Tên đăng nhập", "Username")),
        esc(&tr(lang, "Mật khẩu", "Password")),
        esc(&tr(lang, "Đăng nhập", "Log in"))
    );
    html::html(status, page(&tr(lang, "Đăng nhập", "Log in"), &nav, &body))
}

async fn login_form(Query(q): Query<LangQuery>) -> Response {
    login_page(lang_of(q.lang.as_deref()), None, StatusCode::OK)
}

#[derive(Debug, Deserialize)]
struct LoginForm {
    username: String,
    password: String,
    lang: Option<String>,
}

/// The client's address as the API's guard reads it: the trusted proxy's header
/// when one is configured, else the connection's peer.
fn client_addr(st: &Shared, headers: &HeaderMap, peer: SocketAddr) -> String {
    let forwarded = st.web.trusted_proxy_header.as_ref().and_then(|h| headers.get(h)).and_then(|v| v.to_str().ok());
    match forwarded.and_then(|v| v.rsplit(',').next()).map(str::trim).filter(|a| !a.is_empty()) {
        Some(a) => a.to_string(),
        None => peer.ip().to_string(),
    }
}

async fn login(
    State(st): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Response {
    let lang = lang_of(f.lang.as_deref());
    if let Err(e) = st.limits.check(&f.username, &client_addr(&st, &headers, peer)) {
        return login_page(lang, Some(&e.to_string()), StatusCode::TOO_MANY_REQUESTS);
    }
    let ctx = WriteContext { action: "POST /login".into(), idempotency: None };
    let reply = match st.services.login_staff(&f.username, &f.password, &ctx).await {
        Ok(r) => r,
        Err(ServiceError::Unauthenticated) => {
            let m = tr(lang, "Sai tên đăng nhập hoặc mật khẩu.", "Wrong username or password.");
            return login_page(lang, Some(&m), StatusCode::UNAUTHORIZED);
        }
        Err(e) => {
            let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return login_page(lang, Some(&e.to_string()), status);
        }
    };
    let Some(token) = reply.body.get("token").and_then(|t| t.as_str()) else {
        return login_page(lang, Some("no session"), StatusCode::INTERNAL_SERVER_ERROR);
    };
    let target = format!("/?lang={}", if lang == Lang::En { "en" } else { "vi" });
    let mut response = Redirect::to(&target).into_response();
    if let Some(v) = session_cookie(&st, token) {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    response
}

#[derive(Debug, Deserialize)]
struct CsrfForm {
    csrf: String,
}

async fn logout(State(st): State<Shared>, headers: HeaderMap, Form(f): Form<CsrfForm>) -> Response {
    let (Some(p), Some(token)) = (principal(&st, &headers).await, cookie_token(&headers)) else { return to_login() };
    if f.csrf != p.csrf {
        return html::error_page(StatusCode::FORBIDDEN, &nav(&st, Some(&p), Lang::Vi), "wrong form token");
    }
    let ctx = WriteContext { action: "POST /logout".into(), idempotency: None };
    let _ = st.services.logout(&p, &token, &ctx).await;
    let mut response = to_login();
    let gone = format!("{SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0");
    if let Ok(v) = HeaderValue::from_str(&gone) {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    response
}

/// Every KPI's metadata: the definitions page.
async fn definitions(State(st): State<Shared>, headers: HeaderMap, Query(q): Query<LangQuery>) -> Response {
    let lang = lang_of(q.lang.as_deref());
    let Some(p) = principal(&st, &headers).await else { return to_login() };
    let nav = nav(&st, Some(&p), lang);
    let Some(a) = st.analytics.as_deref() else {
        return html::error_page(StatusCode::SERVICE_UNAVAILABLE, &nav, "the KPIs are not configured");
    };
    let t = |vi: &str, en: &str| tr(lang, vi, en);
    let mut body = format!("<h1>{}</h1><dl class=\"defs\">", esc(&t("Định nghĩa chỉ số", "Indicator definitions")));
    for k in a.catalog.kpis.values() {
        let m = &k.meta;
        let _ = write!(
            body,
            "<dt id=\"{}\">{} <small>({})</small></dt><dd>{}",
            esc(&k.id),
            esc(m.title.get(lang)),
            esc(&k.id),
            esc(m.definition.get(lang))
        );
        if let (Some(n), Some(d)) = (&m.numerator, &m.denominator) {
            let _ = write!(
                body,
                "<br>{}: {}<br>{}: {}",
                esc(&t("Tử số", "Numerator")),
                esc(n.get(lang)),
                esc(&t("Mẫu số", "Denominator")),
                esc(d.get(lang))
            );
        }
        let unit = serde_json::to_value(m.unit).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
        let better = if m.higher_is_better {
            t("cao hơn là tốt hơn", "higher is better")
        } else {
            t("thấp hơn là tốt hơn", "lower is better")
        };
        let groups: Vec<&str> = m.disaggregations.iter().map(|d| d.as_str()).collect();
        let _ = write!(
            body,
            "<br>{}: {} · {} · {}: {}</dd>",
            esc(&t("Đơn vị", "Unit")),
            esc(&unit),
            esc(&better),
            esc(&t("Phân tổ", "Disaggregations")),
            esc(&groups.join(", "))
        );
    }
    body.push_str("</dl>");
    html::html(StatusCode::OK, page(&t("Định nghĩa chỉ số", "Indicator definitions"), &nav, &body))
}

async fn css() -> Response {
    let css = include_str!("../../../assets/web/homedoc.css");
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "max-age=3600")], css).into_response()
}

async fn font() -> Response {
    ([(header::CONTENT_TYPE, "font/ttf"), (header::CACHE_CONTROL, "max-age=86400")], crate::chart::FONT).into_response()
}
