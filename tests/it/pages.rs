//! The dashboard pages over real HTTP, on a copy of the ingested sample: login by
//! form, role scoping of every dashboard (a foreign province is a 403), downloads
//! in every format, PNG charts, station notes with their CSRF check, the
//! definitions page, and nothing fetched from elsewhere.

use std::sync::Arc;

use homedoc::clock::Clock;
use homedoc::kpi::Catalog;
use homedoc::reference::Reference;
use homedoc::services::{Outbox, ServiceSettings, Services, WriteContext};
use homedoc::store::SqlStore;
use homedoc::web::{self, AppState};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, LOCATION, SET_COOKIE};
use tokio::sync::watch;

use crate::api::test_web;
use crate::ingest::{copy_tree, settings, sqlite_url};
use crate::kpi::{sample, scratch};

pub struct PageServer {
    pub base: String,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// The users every page test logs in as: (username, role, scope).
pub const USERS: [(&str, &str, Option<&str>); 5] = [
    ("eva", "evaluator", None),
    ("ada", "admin", None),
    ("don", "donor", Some("kofih-10-provinces")),
    ("man", "provincial_manager", Some("08")),
    ("sta", "station_staff", Some("TYT02-0001")),
];
pub const PASSWORD: &str = "correct horse battery";

impl PageServer {
    /// The server over its own copy of the ingested sample (pages never write to the
    /// lake, but notes and sessions go to the store).
    pub async fn start(name: &str) -> PageServer {
        let dir = scratch(&format!("pages-{name}"));
        copy_tree(&sample().dir, &dir);
        let settings = settings(&dir, &sqlite_url(&dir));
        let clock = Clock::fixed(chrono::DateTime::parse_from_rfc3339("2026-11-02T02:00:00Z").unwrap().to_utc());
        let store = SqlStore::connect(&settings.database_url).await.unwrap().with_clock(clock.clone());
        let services = Services::new(
            Arc::new(store.clone()),
            clock,
            Arc::new(Outbox::new(dir.join(Outbox::FILE))),
            Arc::new(Reference::embedded().unwrap()),
            ServiceSettings::default(),
        );
        for (user, role, scope) in USERS {
            let r = services.add_user(None, user, PASSWORD, role, scope, &WriteContext::new("test")).await.unwrap();
            assert!(r.status < 400, "{}", r.body);
        }
        let catalog = Arc::new(Catalog::embedded().unwrap());
        let analytics = homedoc::web::analytics::Analytics::new(settings.clone(), catalog).unwrap();
        let state = AppState::with_parts(services, store, test_web(), None, Some(Arc::new(analytics)));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, rx) = watch::channel(false);
        let task = tokio::spawn(web::serve(listener, state, rx));
        PageServer { base, stop, task }
    }

    pub async fn shutdown(self) {
        self.stop.send(true).unwrap();
        self.task.await.unwrap().unwrap();
    }

    /// A client logged in by the login form: it holds the session cookie.
    pub async fn login(&self, user: &str) -> Browser {
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let r = http
            .post(format!("{}/login", self.base))
            .form(&[("username", user), ("password", PASSWORD), ("lang", "en")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "login of {user}");
        let cookie = r.headers()[SET_COOKIE].to_str().unwrap().split(';').next().unwrap().to_string();
        assert!(r.headers()[SET_COOKIE].to_str().unwrap().contains("HttpOnly"));
        Browser { http, cookie, base: self.base.clone() }
    }
}

pub struct Browser {
    http: reqwest::Client,
    pub cookie: String,
    base: String,
}

impl Browser {
    pub async fn get(&self, path: &str) -> (StatusCode, String, Vec<u8>) {
        let r = self.http.get(format!("{}{path}", self.base)).header("cookie", &self.cookie).send().await.unwrap();
        let status = r.status();
        let mime = r.headers().get(CONTENT_TYPE).map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
        (status, mime, r.bytes().await.unwrap().to_vec())
    }

    pub async fn page(&self, path: &str) -> (StatusCode, String) {
        let (status, mime, body) = self.get(path).await;
        assert!(mime.starts_with("text/html"), "{path}: {mime}");
        (status, String::from_utf8(body).unwrap())
    }

    async fn post(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.http.post(format!("{}{path}", self.base)).header("cookie", &self.cookie).form(form).send().await.unwrap()
    }
}

/// The CSRF token a page's forms carry.
fn csrf(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("a form with a CSRF token") + 19;
    html[at..].split('"').next().unwrap().to_string()
}

#[tokio::test]
async fn each_role_sees_its_dashboards_and_no_other() {
    let s = PageServer::start("roles").await;
    let anonymous = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let r = anonymous.get(format!("{}/d/national", s.base)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()[LOCATION], "/login");
    let bad = anonymous
        .post(format!("{}/login", s.base))
        .form(&[("username", "eva"), ("password", "wrong password!!")])
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::UNAUTHORIZED);

    let expected: [(&str, &[&str]); 5] = [
        ("eva", &["national", "donor", "province", "station", "quality"]),
        ("ada", &["national", "donor", "province", "station", "quality"]),
        ("don", &["donor"]),
        ("man", &["province", "station"]),
        ("sta", &[]),
    ];
    for (user, may) in expected {
        let b = s.login(user).await;
        let (status, index) = b.page("/?lang=en").await;
        assert_eq!(status, StatusCode::OK);
        for id in ["national", "donor", "province", "station", "quality"] {
            let listed = index.contains(&format!("href=\"/d/{id}?"));
            assert_eq!(listed, may.contains(&id), "{user} and {id} in the index");
            let (status, html) = b.page(&format!("/d/{id}?period=2026-Q3&lang=en")).await;
            if may.contains(&id) {
                assert_eq!(status, StatusCode::OK, "{user} opens {id}: {html}");
                assert!(html.contains("Snapshot") && html.contains("Data last ingested"), "{id}: stamp");
                assert!(!html.contains("class=\"error\""), "{user} {id}: {html}");
            } else {
                assert_eq!(status, StatusCode::FORBIDDEN, "{user} must not open {id}");
            }
        }
    }
    s.shutdown().await;
}

#[tokio::test]
async fn managers_and_donors_stay_inside_their_scope() {
    let s = PageServer::start("scope").await;
    let man = s.login("man").await;
    // Own province in both boundary sets (old 02 and 08 merged into 08).
    assert_eq!(man.page("/d/province?province=08&period=2026-Q3").await.0, StatusCode::OK);
    assert_eq!(man.page("/d/province?boundary=63&province=02&period=2026-Q3").await.0, StatusCode::OK);
    for foreign in ["/d/province?province=01", "/d/province?boundary=63&province=04", "/d/station?station=TYT20-0019"] {
        let (status, html) = man.page(foreign).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{foreign}: {html}");
        assert!(html.contains("outside your"), "{html}");
    }
    let don = s.login("don").await;
    assert_eq!(don.page("/d/donor?project=kofih-10-provinces&period=2026-Q3").await.0, StatusCode::OK);
    assert_eq!(don.page("/d/donor?project=kofih-usaid-17-provinces").await.0, StatusCode::FORBIDDEN);
    // An evaluator picks any province; a bad one is the request's fault.
    let eva = s.login("eva").await;
    assert_eq!(eva.page("/d/province?province=01&period=2026-Q3").await.0, StatusCode::OK);
    assert_eq!(eva.page("/d/province?province=99").await.0, StatusCode::BAD_REQUEST);
    assert_eq!(eva.page("/d/national?period=2026-13").await.0, StatusCode::BAD_REQUEST);
    assert_eq!(eva.page("/d/nope").await.0, StatusCode::NOT_FOUND);
    s.shutdown().await;
}

#[tokio::test]
async fn downloads_and_charts_carry_what_the_page_shows() {
    let s = PageServer::start("downloads").await;
    let eva = s.login("eva").await;
    let q = "?period=2026-Q3&lang=en";
    let (status, html) = eva.page(&format!("/d/national{q}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.matches("<svg").count() >= 6, "a chart per chart panel");
    // The server says where its time went: opening the lake, then each panel.
    let r = eva.http.get(format!("{}/d/national{q}", s.base)).header("cookie", &eva.cookie).send().await.unwrap();
    let timing = r.headers().get("server-timing").unwrap().to_str().unwrap().to_string();
    let names: Vec<&str> = timing.split(", ").map(|m| m.split(";dur=").next().unwrap()).collect();
    assert_eq!(
        names,
        [
            "open",
            "accounts_trend",
            "accounts_map",
            "bookings_by_province",
            "calls_by_purpose",
            "booking_equity",
            "activity_by_province",
            "targets"
        ],
        "{timing}"
    );
    assert!(html.contains("<details><summary>Data table</summary>"));
    // Nothing from elsewhere: no external script, style, font or image.
    for external in ["src=\"http", "href=\"http", "url(http", "<script"] {
        assert!(!html.contains(external), "{external} in the page");
    }
    let (status, mime, csv) = eva.get(&format!("/d/national/download/csv{q}")).await;
    assert_eq!((status, mime.as_str()), (StatusCode::OK, "text/csv; charset=utf-8"));
    let csv = String::from_utf8(csv).unwrap();
    for panel in
        ["accounts_trend", "accounts_map", "bookings_by_province", "calls_by_purpose", "booking_equity", "targets"]
    {
        assert!(csv.lines().any(|l| l.starts_with(&format!("{panel},"))), "{panel} rows in the CSV");
    }
    let (status, mime, xlsx) = eva.get(&format!("/d/national/download/xlsx{q}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(mime.contains("spreadsheetml") && xlsx.starts_with(b"PK"), "{mime}");
    let (status, _, page) = eva.get(&format!("/d/national/download/html{q}")).await;
    assert_eq!(status, StatusCode::OK);
    let page = String::from_utf8(page).unwrap();
    assert!(page.contains("@font-face") && page.contains("<svg"), "self-contained with its charts");
    let (status, mime, png) = eva.get(&format!("/d/national/png/accounts_map{q}")).await;
    assert_eq!((status, mime.as_str()), (StatusCode::OK, "image/png"));
    let info = png::Decoder::new(std::io::Cursor::new(png)).read_info().unwrap().info().clone();
    assert!(info.width >= 360 && info.height > 300);
    let table_only = "/d/donor/png/counts_by_sex?project=kofih-10-provinces&period=2026-Q3";
    assert_eq!(eva.get(table_only).await.0, StatusCode::NOT_FOUND, "a table has no PNG");
    let (status, mime, font) = eva.get("/static/homedoc-sans.ttf").await;
    assert_eq!((status, mime.as_str(), font.len()), (StatusCode::OK, "font/ttf", homedoc::chart::FONT.len()));
    let (status, defs) = eva.page("/definitions?lang=en").await;
    assert_eq!(status, StatusCode::OK);
    for id in Catalog::embedded().unwrap().kpis.keys() {
        assert!(defs.contains(&format!("id=\"{id}\"")), "{id} defined");
    }
    s.shutdown().await;
}

#[tokio::test]
async fn a_manager_annotates_a_flagged_station_and_the_note_shows_beside_it() {
    let s = PageServer::start("notes").await;
    let man = s.login("man").await;
    let path = "/d/province?province=08&period=2026-10&lang=en";
    let (status, html) = man.page(path).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("class=\"note-form\""), "flagged stations take notes");
    let at = html.find("name=\"station\" value=\"").unwrap() + 22;
    let station = html[at..].split('"').next().unwrap().to_string();
    let token = csrf(&html);
    let note = "closed for renovation until March";
    let refused =
        man.post("/notes", &[("csrf", "forged"), ("station", &station), ("note", note), ("back", path)]).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let r = man.post("/notes", &[("csrf", &token), ("station", &station), ("note", note), ("back", path)]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()[LOCATION], path);
    let (_, html) = man.page(path).await;
    assert!(html.contains(note), "the note shows on the page");
    let (_, _, csv) = man.get("/d/province/download/csv?province=08&period=2026-10&lang=en").await;
    assert!(String::from_utf8(csv).unwrap().contains(note), "and in the download");
    // Nobody annotates another province's station, not even by crafting the form.
    let foreign =
        man.post("/notes", &[("csrf", &token), ("station", "TYT20-0019"), ("note", "x"), ("back", path)]).await;
    assert_eq!(foreign.status(), StatusCode::FORBIDDEN);
    let eva = s.login("eva").await;
    let (_, html) = eva.page(path).await;
    assert!(html.contains(note) && !html.contains("class=\"note-form\""), "evaluators read notes, managers write them");
    s.shutdown().await;
}
