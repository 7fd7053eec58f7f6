//! The pages in a real browser: headless Chromium, driven through chromedriver,
//! logs in as each role by the form, opens every dashboard the role may see at a
//! 360-pixel-wide window, and checks that the browser logged no error, that no
//! image is broken, that the bundled font loaded and that nothing scrolls
//! sideways; a foreign province shows the 403 page. Screenshots go to
//! `target/tmp/screenshots/`.
//!
//! Without chromedriver on the PATH the test says so and passes, unless
//! `HOMEDOC_BROWSER_TESTS=required` (CI sets it, and `.ci/run` installs Chromium).

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use crate::pages::{PASSWORD, PageServer};

/// chromedriver's log endpoint (not in the W3C protocol, so not in fantoccini).
#[derive(Debug)]
struct BrowserLog;

impl fantoccini::wd::WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(&self, base: &url::Url, session: Option<&str>) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/se/log", session.unwrap_or_default()))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(json!({ "type": "browser" }).to_string()))
    }
}

/// chromedriver, started in a process group of its own: the Chromium processes it
/// starts join that group, so ending the group on drop (a failed assertion
/// included) leaves no browser running after the test.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let group = format!("-{}", self.0.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).stderr(Stdio::null()).status();
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?.to_str()?.split(':').map(|d| PathBuf::from(d).join(name)).find(|p| p.is_file())
}

/// chromedriver on a free port, ready; `None` (with a message) when not installed.
async fn driver() -> Option<(Driver, String)> {
    let Some(path) = on_path("chromedriver") else {
        let required = std::env::var("HOMEDOC_BROWSER_TESTS").is_ok_and(|v| v == "required");
        assert!(!required, "HOMEDOC_BROWSER_TESTS=required but chromedriver is not on the PATH");
        eprintln!("SKIPPED browser test: no chromedriver on the PATH (apt install chromium chromium-driver)");
        return None;
    };
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new(path)
        .arg(format!("--port={port}"))
        .process_group(0)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let driver = Driver(child);
    let url = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    while reqwest::get(format!("{url}/status")).await.is_err() {
        assert!(started.elapsed() < Duration::from_secs(30), "chromedriver did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Some((driver, url))
}

async fn browser(webdriver: &str) -> Client {
    let mut caps = serde_json::Map::new();
    let args = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-dev-shm-usage",
        "--window-size=360,800",
    ];
    // A phone's viewport: headless Chromium will not make a window narrower than 500 pixels.
    let phone = json!({ "deviceMetrics": { "width": 360, "height": 800, "pixelRatio": 1.0 } });
    caps.insert("goog:chromeOptions".into(), json!({ "args": args, "mobileEmulation": phone }));
    caps.insert("goog:loggingPrefs".into(), json!({ "browser": "ALL" }));
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector).capabilities(caps).connect(webdriver).await.expect("a Chromium session")
}

/// The browser's log entries at level SEVERE since the last call.
async fn errors(c: &Client) -> Vec<String> {
    let log = c.issue_cmd(BrowserLog).await.expect("chromedriver's browser log");
    let entries = log.as_array().cloned().unwrap_or_default();
    entries.iter().filter(|e| e["level"] == "SEVERE").map(|e| e["message"].to_string()).collect()
}

fn screenshots() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// What a page must be: no error logged, no broken image, the font loaded, the
/// charts drawn, nothing wider than the window.
async fn check_page(c: &Client, what: &str) {
    let state = c
        .execute_async(
            "const done = arguments[arguments.length - 1];
             document.fonts.ready.then(() => done({
               width: document.documentElement.scrollWidth,
               window: window.innerWidth,
               broken: Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0).length,
               font: document.fonts.check('12px homedoc-sans'),
               charts: document.querySelectorAll('figure svg').length,
               errors: document.querySelectorAll('.error').length,
             }));",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(state["window"], 360, "{what}: the viewport of a 360-pixel phone");
    assert!(state["width"].as_u64() <= state["window"].as_u64(), "{what}: scrolls sideways: {state}");
    assert_eq!(state["broken"], 0, "{what}: broken images");
    assert_eq!(state["font"], true, "{what}: the bundled font did not load");
    assert_eq!(state["errors"], 0, "{what}: an error box");
    let logged = errors(c).await;
    assert!(logged.is_empty(), "{what}: console errors: {logged:?}");
}

async fn login(c: &Client, base: &str, user: &str) {
    c.goto(&format!("{base}/login?lang=en")).await.unwrap();
    c.find(Locator::Css("input[name=username]")).await.unwrap().send_keys(user).await.unwrap();
    c.find(Locator::Css("input[name=password]")).await.unwrap().send_keys(PASSWORD).await.unwrap();
    c.find(Locator::Css("button[type=submit]")).await.unwrap().click().await.unwrap();
    let started = Instant::now();
    while c.current_url().await.unwrap().path() != "/" {
        assert!(started.elapsed() < Duration::from_secs(20), "{user} did not land on the index");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn each_role_browses_its_dashboards_in_chromium() {
    let Some((_driver, webdriver)) = driver().await else { return };
    let s = PageServer::start("browser").await;
    let shots = screenshots();
    for user in ["eva", "don", "man", "sta"] {
        let c = browser(&webdriver).await;
        login(&c, &s.base, user).await;
        check_page(&c, &format!("{user}: index")).await;
        let mut links = Vec::new();
        for a in c.find_all(Locator::Css(".cards a")).await.unwrap() {
            links.push(a.attr("href").await.unwrap().unwrap());
        }
        assert_eq!(links.is_empty(), user == "sta", "{user}: {links:?}");
        for href in links {
            let id = href.trim_start_matches("/d/").split('?').next().unwrap().to_string();
            c.goto(&format!("{}{href}&period=2026-Q3", s.base)).await.unwrap();
            let h1 = c.find(Locator::Css("h1")).await.unwrap().text().await.unwrap();
            assert!(!h1.is_empty() && !h1.contains("Not allowed"), "{user} {id}: {h1}");
            check_page(&c, &format!("{user}: {id}")).await;
            let png = c.screenshot().await.unwrap();
            std::fs::write(shots.join(format!("{user}-{id}.png")), png).unwrap();
        }
        if user == "man" {
            c.goto(&format!("{}/d/province?province=01&lang=en", s.base)).await.unwrap();
            let h1 = c.find(Locator::Css("h1")).await.unwrap().text().await.unwrap();
            assert_eq!(h1, "Not allowed", "a foreign province");
            // The 403 is an answer, not a broken page: nothing else is logged.
            let logged = errors(&c).await;
            assert!(logged.iter().all(|e| e.contains("403")), "{logged:?}");
        }
        c.close().await.unwrap();
    }
    let state: Value = json!(std::fs::read_dir(&shots).unwrap().count());
    assert!(state.as_u64().unwrap() >= 8, "screenshots saved");
    s.shutdown().await;
}
