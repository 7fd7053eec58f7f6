//! One dashboard page (`/d/{id}`): the filters, the snapshot and freshness, each
//! panel's chart with its data table, downloads of the whole view (CSV, XLSX,
//! HTML) and of each chart (PNG), and the provincial managers' station notes.
//!
//! Scope is settled before anything is computed: a provincial manager gets their
//! province (or an old province merged into it) and its stations, a donor their
//! project; anything else is a 403 page.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::html::{self, Nav, esc, page, query, tr};
use super::{Shared, lang_of, nav, principal};
use crate::dashboard::{self, Dashboard, Filters, Panel, Scope, Unit, View};
use crate::domain::BoundarySet;
use crate::kpi::{Engine, Grain, Lang, Period};
use crate::report::{Cell, Column};
use crate::services::{Principal, Role, Scope as Who, ServiceError, WriteContext};
use crate::web::analytics::{Analytics, scoped_province};

pub fn router() -> Router<Shared> {
    Router::new()
        .route("/d/{id}", get(show))
        .route("/d/{id}/download/{format}", get(download))
        .route("/d/{id}/png/{panel}", get(png))
        .route("/notes", post(add_note))
}

/// The filters as the query string gives them (all optional).
#[derive(Debug, Default, Clone, Deserialize)]
pub struct DashQuery {
    period: Option<String>,
    province: Option<String>,
    boundary: Option<String>,
    lang: Option<String>,
    project: Option<String>,
    station: Option<String>,
}

/// A page that could not be made: its status and what to tell the user.
struct Refused(StatusCode, String);

impl From<ServiceError> for Refused {
    fn from(e: ServiceError) -> Self {
        Refused(StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR), e.to_string())
    }
}

impl From<crate::report::ReportError> for Refused {
    fn from(e: crate::report::ReportError) -> Self {
        match e {
            crate::report::ReportError::Usage(m) => Refused(StatusCode::BAD_REQUEST, m),
            crate::report::ReportError::Kpi(crate::kpi::KpiError::Usage(m)) => Refused(StatusCode::BAD_REQUEST, m),
            other => {
                eprintln!("homedoc: dashboard: {other}");
                Refused(StatusCode::INTERNAL_SERVER_ERROR, "the figures could not be computed".into())
            }
        }
    }
}

/// Everything a dashboard request resolves to.
struct Request<'a> {
    a: &'a Analytics,
    d: &'a Dashboard,
    p: Principal,
    engine: Arc<Engine>,
    f: Filters,
    /// How long opening the lake at its snapshot took.
    opened_in: std::time::Duration,
}

fn default_period(st: &Shared) -> Period {
    // The last complete month: the current one is still filling up.
    let today = st.services.now().with_timezone(&st.services.settings.timezone).date_naive();
    Grain::Month.containing(today).previous()
}

async fn resolve<'a>(st: &'a Shared, headers: &HeaderMap, id: &str, q: &DashQuery) -> Result<Request<'a>, Response> {
    let lang = lang_of(q.lang.as_deref());
    let Some(p) = principal(st, headers).await else { return Err(Redirect::to("/login").into_response()) };
    let refuse = |r: Refused, p: &Principal| html::error_page(r.0, &nav(st, Some(p), lang), &r.1);
    let Some(a) = st.analytics.as_deref() else {
        return Err(refuse(Refused(StatusCode::SERVICE_UNAVAILABLE, "the dashboards are not configured".into()), &p));
    };
    let Some(d) = a.dashboards.iter().find(|d| d.id == id) else {
        return Err(refuse(Refused(StatusCode::NOT_FOUND, format!("no dashboard {id:?}")), &p));
    };
    if !d.visible_to(p.role) {
        let r = Refused(StatusCode::FORBIDDEN, format!("a {} may not open the {} dashboard", p.role, d.id));
        audit_denied(st, &p, &format!("GET /d/{id}")).await;
        return Err(refuse(r, &p));
    }
    let started = std::time::Instant::now();
    let engine = match a.engine(None).await {
        Ok(e) => e,
        Err(e) => return Err(refuse(e.into(), &p)),
    };
    match filters(st, a, d, &p, &engine, q) {
        Ok(f) => Ok(Request { a, d, p, engine, f, opened_in: started.elapsed() }),
        Err(r) => {
            if r.0 == StatusCode::FORBIDDEN {
                audit_denied(st, &p, &format!("GET /d/{id}")).await;
            }
            Err(refuse(r, &p))
        }
    }
}

async fn audit_denied(st: &Shared, p: &Principal, action: &str) {
    let mut entry = st.services.audit_entry(crate::services::Caller::Principal(p), action, None);
    entry.outcome = "denied".into();
    entry.status = 403;
    if let Err(e) = st.services.writer.audit(entry).await {
        eprintln!("homedoc: could not audit a denied page: {e}");
    }
}

/// The filters of a request, narrowed to what the principal may see.
fn filters(
    st: &Shared,
    a: &Analytics,
    d: &Dashboard,
    p: &Principal,
    engine: &Engine,
    q: &DashQuery,
) -> Result<Filters, Refused> {
    let bad = |m: String| Refused(StatusCode::BAD_REQUEST, m);
    let boundary = match q.boundary.as_deref().filter(|b| !b.is_empty()) {
        None => BoundarySet::P34,
        Some(b) => BoundarySet::parse(b).map_err(|e| bad(e.to_string()))?,
    };
    let period = match q.period.as_deref().map(str::trim).filter(|p| !p.is_empty()) {
        None => default_period(st),
        Some(text) => text.parse::<Period>().map_err(|e| bad(e.to_string()))?,
    };
    let reference = &st.services.reference;
    let asked = |v: &Option<String>| v.clone().filter(|s| !s.trim().is_empty());
    let mut f = Filters {
        period,
        boundary,
        lang: lang_of(q.lang.as_deref()),
        province: None,
        project: None,
        station: None,
        targets: a.settings.targets,
        uptake: a.catalog.uptake,
        suppression: a.settings.suppression,
        audience: crate::web::analytics::audience(p.role),
    };
    match d.scope {
        Scope::National | Scope::Quality => {}
        Scope::Province => {
            let own_old = |own: &str| {
                reference
                    .provinces_63
                    .iter()
                    .map(|pr| pr.key.code)
                    .find(|c| reference.crosswalk.new_of(*c).is_some_and(|n| n.to_string() == own))
                    .map(|c| c.to_string())
            };
            let wanted = match (&p.scope, asked(&q.province), boundary) {
                (Who::Province34(own), None, BoundarySet::P63) => own_old(own),
                (_, None, _) if !matches!(p.scope, Who::Province34(_)) => first_province(st, boundary),
                (_, w, _) => w,
            };
            f.province = scoped_province(st, p, boundary, wanted)?;
        }
        Scope::Station => {
            let code = match asked(&q.station) {
                Some(c) => c,
                // The first station of the manager's province, or of the country.
                None => {
                    let own = match &p.scope {
                        Who::Province34(own) => Some(own.as_str()),
                        _ => None,
                    };
                    let stations = engine.stations(BoundarySet::P34).filter(|s| own.is_none_or(|o| s.province == o));
                    stations
                        .map(|s| s.code)
                        .min()
                        .map(str::to_string)
                        .ok_or_else(|| bad("no station to show".into()))?
                }
            };
            let province34 = dashboard::station_province(engine, BoundarySet::P34, &code)
                .ok_or_else(|| bad(format!("{code:?} is not a commune health station")))?;
            if let Who::Province34(own) = &p.scope {
                if province34 != *own {
                    return Err(Refused(StatusCode::FORBIDDEN, format!("station {code} is outside your province")));
                }
            }
            f.station = Some(code);
        }
        Scope::Project => {
            f.project = match (&p.scope, asked(&q.project)) {
                (Who::Project(own), None) => Some(own.clone()),
                (Who::Project(own), Some(w)) if w != *own => {
                    return Err(Refused(StatusCode::FORBIDDEN, format!("project {w} is outside your scope")));
                }
                (_, Some(w)) => Some(w),
                (_, None) => reference.projects.first().map(|pr| pr.id.clone()),
            };
        }
    }
    Ok(f)
}

fn first_province(st: &Shared, set: BoundarySet) -> Option<String> {
    let list = match set {
        BoundarySet::P34 => &st.services.reference.provinces_34,
        BoundarySet::P63 => &st.services.reference.provinces_63,
    };
    list.iter().map(|p| p.key.code.to_string()).min()
}

fn lang_code(lang: Lang) -> &'static str {
    match lang {
        Lang::Vi => "vi",
        Lang::En => "en",
    }
}

/// The query string that gives the same view again.
fn same_view(f: &Filters) -> Vec<(&'static str, String)> {
    vec![
        ("period", f.period.to_string()),
        ("boundary", f.boundary.to_string()),
        ("lang", lang_code(f.lang).to_string()),
        ("province", f.province.clone().unwrap_or_default()),
        ("project", f.project.clone().unwrap_or_default()),
        ("station", f.station.clone().unwrap_or_default()),
    ]
}

async fn show(
    State(st): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<DashQuery>,
) -> Response {
    let r = match resolve(&st, &headers, &id, &q).await {
        Ok(r) => r,
        Err(response) => return response,
    };
    let view = match view_of(&st, &r, r.d).await {
        Ok(v) => v,
        Err(response) => return response,
    };
    let nav = nav(&st, Some(&r.p), r.f.lang);
    let mut response = html::html(StatusCode::OK, page(&view.title, &nav, &render(&st, &r, &view, &nav)));
    if let Ok(v) = header::HeaderValue::from_str(&server_timing(&r, &view)) {
        response.headers_mut().insert("server-timing", v);
    }
    response
}

/// Where the server's time went (the Server-Timing header browsers' developer tools
/// show): opening the lake (or checking that the kept engine is current), then each
/// panel in order. Panel ids are config ids, so
/// they are valid header tokens.
fn server_timing(r: &Request<'_>, view: &View) -> String {
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
    std::iter::once(format!("open;dur={:.1}", ms(r.opened_in)))
        .chain(view.panels.iter().map(|p| format!("{};dur={:.1}", p.id, ms(p.elapsed))))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The view of `d` (the request's dashboard, or a part of it), with the stations'
/// notes, or the error page to answer instead.
async fn view_of(st: &Shared, r: &Request<'_>, d: &Dashboard) -> Result<View, Response> {
    let mut view = dashboard::build(&r.engine, d, &r.f).await.map_err(|e| {
        let e: Refused = e.into();
        html::error_page(e.0, &nav(st, Some(&r.p), r.f.lang), &e.1)
    })?;
    if let Err(e) = add_notes(st, &mut view).await {
        eprintln!("homedoc: station notes: {e}");
    }
    Ok(view)
}

/// Puts each flagged station's latest note beside its flags (a column of the
/// low-uptake table, so that downloads carry it too).
async fn add_notes(st: &Shared, view: &mut View) -> Result<(), ServiceError> {
    let Some(panel) = view.panels.iter_mut().find(|p| p.table.columns.first().is_some_and(|c| c.id == "station"))
    else {
        return Ok(());
    };
    if !panel.table.columns.iter().any(|c| c.id == "reason") {
        return Ok(());
    }
    let notes = st.services.station_notes().await?;
    panel
        .table
        .columns
        .push(Column { id: "note".into(), title: tr(view.lang, "Ghi chú của tỉnh", "Province note") });
    for row in &mut panel.table.rows {
        let code = row[0].text();
        let note = notes.iter().find(|n| n.station == code);
        row.push(note.map_or(Cell::Empty, |n| Cell::Text(format!("{} ({})", n.body, n.created_at.date_naive()))));
    }
    Ok(())
}

fn render(st: &Shared, r: &Request<'_>, view: &View, nav: &Nav<'_>) -> String {
    let (f, lang) = (&r.f, r.f.lang);
    let t = |vi: &str, en: &str| tr(lang, vi, en);
    let mut h = String::new();
    let heading = match &view.subject {
        Some(s) => format!("{} · {s}", view.title),
        None => view.title.clone(),
    };
    let _ = write!(h, "<h1>{}</h1><p class=\"lead\">{}</p>", esc(&heading), esc(r.d.description.get(lang)));
    h.push_str(&filters_form(st, r, nav));
    // What the figures were read from: the snapshot and each pipeline's last success.
    let freshest = view.freshness.iter().filter_map(|x| x.last_success.clone()).max().unwrap_or_else(|| "-".into());
    let _ = write!(
        h,
        "<dl class=\"stamp\"><dt>{}</dt><dd>{}</dd><dt>{}</dt><dd>{}</dd>\
         <dt>{}</dt><dd><details><summary>{}</summary>{}</details></dd></dl>",
        esc(&t("Kỳ báo cáo", "Period")),
        esc(&view.period.to_string()),
        esc(&t("Dữ liệu nạp thành công gần nhất", "Data last ingested")),
        esc(&freshest),
        esc(&t("Ảnh chụp dữ liệu", "Snapshot")),
        esc(&t("Phiên bản các bảng", "Table versions")),
        esc(&view.snapshot.to_string()),
    );
    if let Some(k) = f.k() {
        let _ = write!(
            h,
            "<p class=\"suppression\">{}</p>",
            esc(&t(
                &format!("Số đếm từ 1 đến {} được ẩn (kèm các ô có thể suy ra chúng); ô trống là ô bị ẩn.", k - 1),
                &format!(
                    "Counts from 1 to {} are hidden (with the cells that would give them away); an empty cell is a hidden one.",
                    k - 1
                ),
            ))
        );
    }
    let qs = query(&same_view(f));
    let _ = write!(h, "<p class=\"downloads\">{}: ", esc(&t("Tải xuống", "Download")));
    for fmt in ["csv", "xlsx", "html"] {
        let _ = write!(h, "<a href=\"/d/{}/download/{fmt}?{}\">{}</a>", esc(&r.d.id), esc(&qs), fmt.to_uppercase());
    }
    h.push_str("</p><div class=\"panels\">");
    let station_page = r.a.dashboards.iter().any(|d| d.id == "station" && d.visible_to(r.p.role));
    for (panel, cfg) in view.panels.iter().zip(&r.d.panels) {
        let _ = write!(h, "<section class=\"panel\" id=\"{}\"><h2>{}</h2>", esc(&panel.id), esc(&panel.title));
        if let Some(chart) = &panel.chart {
            match chart.svg() {
                Ok(svg) => {
                    let _ = write!(h, "<figure>{svg}</figure>");
                    let _ = write!(
                        h,
                        "<p class=\"downloads\"><a href=\"/d/{}/png/{}?{}\">PNG</a></p>",
                        esc(&r.d.id),
                        esc(&panel.id),
                        esc(&qs)
                    );
                }
                Err(e) => {
                    let _ = write!(h, "<div class=\"error\">{}</div>", esc(&e.to_string()));
                }
            }
        }
        let station_col = panel.table.columns.iter().position(|c| {
            c.id == "station" || (c.id == "unit" && matches!(cfg, Panel::Bars { by: Unit::Station, .. }))
        });
        let link = |i: usize, row: &[Cell]| -> Option<String> {
            if !station_page || Some(i) != station_col {
                return None;
            }
            let mut pairs = same_view(f);
            pairs.retain(|(k, _)| *k != "station" && *k != "province");
            pairs.push(("station", row[i].text()));
            Some(format!("/d/station?{}", query(&pairs)))
        };
        let notes = panel.table.columns.iter().any(|c| c.id == "note") && r.p.role == Role::ProvincialManager;
        let form = |row: &[Cell]| -> String {
            if !notes {
                return String::new();
            }
            note_form(&r.p, &row[0].text(), &format!("/d/{}?{qs}", r.d.id), lang)
        };
        let table = html::table(&panel.table, &link, &form);
        // Table-only panels show their table; charts keep theirs one click away.
        if panel.chart.is_some() {
            let _ = write!(h, "<details><summary>{}</summary>{table}</details>", esc(&t("Bảng số liệu", "Data table")));
        } else {
            h.push_str(&table);
        }
        h.push_str("</section>");
    }
    h.push_str("</div>");
    h
}

fn note_form(p: &Principal, station: &str, back: &str, lang: Lang) -> String {
    format!(
        "<form class=\"note-form\" method=\"post\" action=\"/notes\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{}\"><input type=\"hidden\" name=\"station\" value=\"{}\">\
         <input type=\"hidden\" name=\"back\" value=\"{}\">\
         <input type=\"text\" name=\"note\" maxlength=\"500\" required aria-label=\"{}\" placeholder=\"{}\">\
         <button type=\"submit\">{}</button></form>",
        esc(&p.csrf),
        esc(station),
        esc(back),
        esc(&tr(lang, "Ghi chú cho trạm", "Note on the station")),
        esc(&tr(lang, "Ví dụ: đóng cửa sửa chữa đến tháng 3", "e.g. closed for renovation until March")),
        esc(&tr(lang, "Lưu", "Save")),
    )
}

fn filters_form(st: &Shared, r: &Request<'_>, _nav: &Nav<'_>) -> String {
    let (f, lang) = (&r.f, r.f.lang);
    let t = |vi: &str, en: &str| tr(lang, vi, en);
    let reference = &st.services.reference;
    let mut h = format!("<form class=\"filters\" method=\"get\" action=\"/d/{}\">", esc(&r.d.id));
    let _ = write!(
        h,
        "<label>{}<input name=\"period\" value=\"{}\" placeholder=\"2026-Q3, 2026-07, FY2026\"></label>",
        esc(&t("Kỳ", "Period")),
        esc(&f.period.to_string())
    );
    let select = |name: &str, label: &str, options: &[(String, String)], chosen: &str| {
        let mut s = format!("<label>{}<select name=\"{name}\">", esc(label));
        for (v, text) in options {
            let sel = if v == chosen { " selected" } else { "" };
            let _ = write!(s, "<option value=\"{}\"{sel}>{}</option>", esc(v), esc(text));
        }
        s.push_str("</select></label>");
        s
    };
    let sets = [
        ("34".to_string(), t("34 tỉnh (sau sáp nhập)", "34 provinces (merged)")),
        ("63".to_string(), t("63 tỉnh (trước 2025)", "63 provinces (before 2025)")),
    ];
    h.push_str(&select("boundary", &t("Đơn vị hành chính", "Boundary set"), &sets, &f.boundary.to_string()));
    if r.d.scope == Scope::Province {
        let list = match f.boundary {
            BoundarySet::P34 => &reference.provinces_34,
            BoundarySet::P63 => &reference.provinces_63,
        };
        let mine = |code: &str| match (&r.p.scope, f.boundary) {
            (Who::Province34(own), BoundarySet::P34) => code == own,
            (Who::Province34(own), BoundarySet::P63) => crate::domain::ProvinceCode::parse(code)
                .ok()
                .and_then(|c| reference.crosswalk.new_of(c))
                .is_some_and(|n| n.to_string() == *own),
            _ => true,
        };
        let options: Vec<(String, String)> =
            list.iter().map(|p| (p.key.code.to_string(), p.name_vi.clone())).filter(|(c, _)| mine(c)).collect();
        h.push_str(&select("province", &t("Tỉnh", "Province"), &options, f.province.as_deref().unwrap_or_default()));
    }
    if r.d.scope == Scope::Station {
        let province = f.station.as_deref().and_then(|s| dashboard::station_province(&r.engine, BoundarySet::P34, s));
        let mut options: Vec<(String, String)> = r
            .engine
            .stations(BoundarySet::P34)
            .filter(|s| Some(s.province) == province.as_deref())
            .map(|s| (s.code.to_string(), format!("{} ({})", s.name, s.code)))
            .collect();
        options.sort();
        h.push_str(&select("station", &t("Trạm y tế", "Station"), &options, f.station.as_deref().unwrap_or_default()));
    }
    if r.d.scope == Scope::Project && !matches!(r.p.scope, Who::Project(_)) {
        let options: Vec<(String, String)> = reference
            .projects
            .iter()
            .map(|p| (p.id.clone(), if lang == Lang::En { p.name_en.clone() } else { p.name_vi.clone() }))
            .collect();
        h.push_str(&select("project", &t("Dự án", "Project"), &options, f.project.as_deref().unwrap_or_default()));
    }
    let langs = [("vi".to_string(), "Tiếng Việt".to_string()), ("en".to_string(), "English".to_string())];
    h.push_str(&select("lang", &t("Ngôn ngữ", "Language"), &langs, lang_code(lang)));
    let _ = write!(h, "<button class=\"primary\" type=\"submit\">{}</button></form>", esc(&t("Xem", "Show")));
    h
}

async fn download(
    State(st): State<Shared>,
    headers: HeaderMap,
    Path((id, format)): Path<(String, String)>,
    Query(q): Query<DashQuery>,
) -> Response {
    let r = match resolve(&st, &headers, &id, &q).await {
        Ok(r) => r,
        Err(response) => return response,
    };
    let nav = nav(&st, Some(&r.p), r.f.lang);
    if !["csv", "json", "html", "xlsx"].contains(&format.as_str()) {
        let m = format!("no download format {format:?} (csv, xlsx, html, json)");
        return html::error_page(StatusCode::NOT_FOUND, &nav, &m);
    }
    let view = match view_of(&st, &r, r.d).await {
        Ok(v) => v,
        Err(response) => return response,
    };
    let report = view.report();
    let stem = format!("{}-{}", r.d.id, r.f.period.to_string().replace("..", "_"));
    let written = match format.as_str() {
        "csv" => {
            let mut out = Vec::new();
            report.write_csv(&mut out).map(|_| (out, "text/csv; charset=utf-8"))
        }
        "json" => {
            let mut out = Vec::new();
            report.write_json(&mut out).map(|_| (out, "application/json"))
        }
        "html" => {
            let mut out = Vec::new();
            report.write_html(&mut out).map(|_| (out, "text/html; charset=utf-8"))
        }
        _ => report.xlsx().map(|b| (b, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")),
    };
    let (bytes, mime) = match written {
        Ok(w) => w,
        Err(e) => return html::error_page(StatusCode::INTERNAL_SERVER_ERROR, &nav, &e.to_string()),
    };
    let disposition = format!("attachment; filename=\"{stem}.{format}\"");
    ([(header::CONTENT_TYPE, mime.to_string()), (header::CONTENT_DISPOSITION, disposition)], bytes).into_response()
}

async fn png(
    State(st): State<Shared>,
    headers: HeaderMap,
    Path((id, panel)): Path<(String, String)>,
    Query(q): Query<DashQuery>,
) -> Response {
    let r = match resolve(&st, &headers, &id, &q).await {
        Ok(r) => r,
        Err(response) => return response,
    };
    let nav = nav(&st, Some(&r.p), r.f.lang);
    // Only the one panel is computed.
    let Some(cfg) = r.d.panels.iter().find(|p| p.id() == panel) else {
        return html::error_page(StatusCode::NOT_FOUND, &nav, &format!("no panel {panel:?}"));
    };
    let one = Dashboard { panels: vec![cfg.clone()], ..r.d.clone() };
    let view = match view_of(&st, &r, &one).await {
        Ok(v) => v,
        Err(response) => return response,
    };
    let Some(chart) = view.panels.first().and_then(|p| p.chart.as_ref()) else {
        return html::error_page(StatusCode::NOT_FOUND, &nav, "this panel is a table, not a chart");
    };
    match chart.png() {
        Ok(bytes) => ([(header::CONTENT_TYPE, "image/png")], bytes).into_response(),
        Err(e) => html::error_page(StatusCode::INTERNAL_SERVER_ERROR, &nav, &e.to_string()),
    }
}

#[derive(Debug, Deserialize)]
struct NoteForm {
    csrf: String,
    station: String,
    note: String,
    back: String,
}

async fn add_note(State(st): State<Shared>, headers: HeaderMap, Form(n): Form<NoteForm>) -> Response {
    let Some(p) = principal(&st, &headers).await else { return Redirect::to("/login").into_response() };
    let lang = if n.back.contains("lang=en") { Lang::En } else { Lang::Vi };
    let nav = nav(&st, Some(&p), lang);
    if n.csrf != p.csrf {
        return html::error_page(StatusCode::FORBIDDEN, &nav, "wrong form token");
    }
    let ctx = WriteContext { action: "POST /notes".into(), idempotency: None };
    if let Err(e) = st.services.annotate_station(&p, &n.station, &n.note, &ctx).await {
        let r: Refused = e.into();
        return html::error_page(r.0, &nav, &r.1);
    }
    // Back to the page the note was written on, never elsewhere.
    let back = if n.back.starts_with("/d/") && !n.back.contains("//") { n.back } else { "/".into() };
    Redirect::to(&back).into_response()
}

#[cfg(test)]
mod tests {
    use chrono::Datelike;

    use super::*;

    #[test]
    fn the_default_period_is_a_whole_month() {
        let p = Grain::Month.containing(chrono::NaiveDate::from_ymd_opt(2026, 11, 27).unwrap()).previous();
        assert_eq!(p.to_string(), "2026-10");
        assert_eq!(p.start.day(), 1);
    }
}
