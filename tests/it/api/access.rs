//! Who may call what: the role-by-scope matrix over the router's own route table,
//! the OpenAPI document, CSRF for cookie sessions and rate limits.

use std::collections::BTreeSet;

use homedoc::web::policy::POLICIES;
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::*;
use crate::support::{backend_name, on_both_backends};

const ROLES: [&str; 8] =
    ["anonymous", "citizen", "station_staff", "upper_doctor", "provincial_manager", "evaluator", "donor", "admin"];

/// What the test expects of each route, written independently of the server's policy
/// table: the roles allowed, and whether a foreign resource is refused to them
/// (evaluators and admins, being national, are never refused for scope).
const EXPECT: &[(&str, &str, &[&str], bool)] = &[
    ("GET", "/api/v1/openapi.json", &ROLES, false),
    ("POST", "/api/v1/accounts", &ROLES, false),
    ("POST", "/api/v1/auth/code", &ROLES, false),
    ("POST", "/api/v1/auth/citizen", &ROLES, false),
    ("POST", "/api/v1/auth/staff", &ROLES, false),
    (
        "POST",
        "/api/v1/auth/logout",
        &["citizen", "station_staff", "upper_doctor", "provincial_manager", "evaluator", "donor", "admin"],
        false,
    ),
    ("GET", "/api/v1/me", &["citizen"], false),
    ("PATCH", "/api/v1/me", &["citizen"], false),
    ("GET", "/api/v1/me/export", &["citizen"], false),
    ("POST", "/api/v1/me/withdraw", &["citizen"], false),
    ("GET", "/api/v1/me/appointments", &["citizen"], false),
    ("GET", "/api/v1/stations", &ROLES, false),
    ("GET", "/api/v1/stations/{code}/slots", &ROLES, false),
    ("POST", "/api/v1/stations/{code}/slots", &["station_staff"], true),
    ("GET", "/api/v1/stations/{code}/worklist", &["station_staff"], true),
    ("POST", "/api/v1/appointments", &["citizen"], false),
    ("POST", "/api/v1/appointments/{id}/cancel", &["citizen", "station_staff"], true),
    ("POST", "/api/v1/appointments/{id}/reschedule", &["citizen"], true),
    ("POST", "/api/v1/appointments/{id}/status", &["station_staff"], true),
    ("POST", "/api/v1/calls", &["station_staff"], false),
    ("POST", "/api/v1/calls/{id}/close", &["station_staff", "upper_doctor"], true),
    ("GET", "/api/v1/facilities/{code}/calls", &["upper_doctor"], true),
    ("GET", "/api/v1/provinces/{set}/{code}/summary", &["provincial_manager", "evaluator", "donor", "admin"], true),
    ("GET", "/api/v1/projects/{id}/summary", &["evaluator", "donor", "admin"], true),
    ("POST", "/api/v1/users", &["admin"], false),
    ("POST", "/api/v1/users/{username}/disable", &["admin"], false),
    ("POST", "/api/v1/users/{username}/enable", &["admin"], false),
    ("POST", "/api/v1/users/{username}/reset", &["admin"], false),
    ("GET", "/api/v1/audit", &["admin"], false),
    ("GET", "/api/v1/kpi/{id}", &["provincial_manager", "evaluator", "admin"], true),
    ("GET", "/api/v1/reports/{name}", &["provincial_manager", "evaluator", "donor", "admin"], true),
    ("GET", "/api/v1/pipelines", &["evaluator", "admin"], false),
];

/// Every (method, route) of the router, from the OpenAPI document it generates.
fn router_routes(doc: &utoipa::openapi::OpenApi) -> BTreeSet<(String, String)> {
    let json = serde_json::to_value(doc).unwrap();
    let mut routes = BTreeSet::new();
    for (path, item) in json["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if ["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                routes.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    routes
}

struct Fixture {
    tokens: Vec<(String, Option<String>)>,
    appt_a: i64,
    appt_b: i64,
    slot_a: i64,
    slot_b: i64,
    call_a: i64,
    call_b: i64,
}

async fn fixture(srv: &Server) -> Fixture {
    let staff_a = srv.staff("staff.a", "station_staff", Some(STATION_A)).await;
    let staff_b = srv.staff("staff.b", "station_staff", Some(STATION_B)).await;
    let (_, citizen_a) = srv.citizen("0915000001", STATION_A).await;
    let (_, citizen_b) = srv.citizen("0915000002", STATION_B).await;
    let slot_a = srv.slot(&staff_a, STATION_A, tomorrow_at(9), 50).await;
    let slot_b = srv.slot(&staff_b, STATION_B, tomorrow_at(9), 50).await;
    let appt_a = srv.book(&citizen_a, slot_a).await.1["id"].as_i64().unwrap();
    let appt_b = srv.book(&citizen_b, slot_b).await.1["id"].as_i64().unwrap();
    let call = |staff: String, to: &'static str| async move {
        let (s, b) = srv.post("/api/v1/calls", Some(&staff), json!({ "to": to, "purpose": "meeting" })).await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        b["id"].as_i64().unwrap()
    };
    let call_a = call(staff_a.clone(), CENTRE_A).await;
    let call_b = call(staff_b, CENTRE_B).await;
    srv.staff("target.user", "evaluator", None).await;
    let tokens = vec![
        ("anonymous".to_string(), None),
        ("citizen".to_string(), Some(citizen_a)),
        ("station_staff".to_string(), Some(staff_a)),
        ("upper_doctor".to_string(), Some(srv.staff("doctor.a", "upper_doctor", Some(CENTRE_A)).await)),
        ("provincial_manager".to_string(), Some(srv.staff("manager.08", "provincial_manager", Some("08")).await)),
        ("evaluator".to_string(), Some(srv.staff("evaluator", "evaluator", None).await)),
        ("donor".to_string(), Some(srv.staff("donor.pilot", "donor", Some("undp-pilot")).await)),
        ("admin".to_string(), Some(srv.staff("admin", "admin", None).await)),
    ];
    Fixture { tokens, appt_a, appt_b, slot_a, slot_b, call_a, call_b }
}

/// A fresh session for routes that end the caller's session or account.
async fn fresh_token(srv: &Server, role: &str, n: usize) -> Option<String> {
    let login = |user: &'static str| async move {
        let (_, b) = srv
            .post("/api/v1/auth/staff", None, json!({ "username": user, "password": format!("{user}-long-password") }))
            .await;
        b["token"].as_str().map(str::to_string)
    };
    match role {
        "anonymous" => None,
        "citizen" => Some(srv.citizen(&format!("0916{n:06}"), STATION_A).await.1),
        "station_staff" => login("staff.a").await,
        "upper_doctor" => login("doctor.a").await,
        "provincial_manager" => login("manager.08").await,
        "evaluator" => login("evaluator").await,
        "donor" => login("donor.pilot").await,
        "admin" => login("admin").await,
        _ => unreachable!(),
    }
}

/// The concrete request for a route, on the caller's own side or the foreign one.
async fn request(
    srv: &Server,
    fx: &Fixture,
    method: &str,
    route: &str,
    own: bool,
    n: usize,
    role: &str,
) -> (String, Option<Value>) {
    let pick = |a: &str, b: &str| if own { a.to_string() } else { b.to_string() };
    let appt = if own { fx.appt_a } else { fx.appt_b };
    let body = |v: Value| Some(v);
    match (method, route) {
        ("GET", "/api/v1/openapi.json") => (route.into(), None),
        ("POST", "/api/v1/accounts") => (
            route.into(),
            body(json!({ "phone": format!("0917{n:06}"), "name": "Lò Văn Sáng", "sex": "male", "birth_year": 1980,
                         "home_station": STATION_A, "consent": true })),
        ),
        ("POST", "/api/v1/auth/code") => (route.into(), body(json!({ "phone": "0915000001" }))),
        ("POST", "/api/v1/auth/citizen") => {
            srv.post("/api/v1/auth/code", None, json!({ "phone": "0915000002" })).await;
            let code = srv.last_code("0915000002");
            (route.into(), body(json!({ "phone": "0915000002", "code": code })))
        }
        ("POST", "/api/v1/auth/staff") => {
            (route.into(), body(json!({ "username": "target.user", "password": "target.user-long-password" })))
        }
        ("POST", "/api/v1/auth/logout") | ("POST", "/api/v1/me/withdraw") => (route.into(), body(json!({}))),
        ("GET", "/api/v1/me" | "/api/v1/me/export" | "/api/v1/me/appointments") => (route.into(), None),
        ("PATCH", "/api/v1/me") => (route.into(), body(json!({ "name": "Lò Thị Sáng" }))),
        ("GET", "/api/v1/stations") => ("/api/v1/stations?set=63&province=02".into(), None),
        ("GET", "/api/v1/stations/{code}/slots") => {
            (format!("/api/v1/stations/{}/slots", pick(STATION_A, STATION_B)), None)
        }
        ("POST", "/api/v1/stations/{code}/slots") => (
            format!("/api/v1/stations/{}/slots", pick(STATION_A, STATION_B)),
            body(json!({ "start": tomorrow_at(14), "duration_min": 20, "capacity": 3 })),
        ),
        ("GET", "/api/v1/stations/{code}/worklist") => {
            (format!("/api/v1/stations/{}/worklist", pick(STATION_A, STATION_B)), None)
        }
        ("POST", "/api/v1/appointments") => {
            let slot = if own { fx.slot_a } else { fx.slot_b };
            // A citizen may already hold this slot: a 409, which is not a refusal of access.
            (route.into(), body(json!({ "slot_id": slot, "reason": "other" })))
        }
        ("POST", "/api/v1/appointments/{id}/cancel") => {
            (format!("/api/v1/appointments/{appt}/cancel"), body(json!({})))
        }
        ("POST", "/api/v1/appointments/{id}/reschedule") => {
            (format!("/api/v1/appointments/{appt}/reschedule"), body(json!({ "slot_id": fx.slot_a })))
        }
        ("POST", "/api/v1/appointments/{id}/status") => {
            (format!("/api/v1/appointments/{appt}/status"), body(json!({ "status": "arrived" })))
        }
        ("POST", "/api/v1/calls") => {
            (route.into(), body(json!({ "to": pick(CENTRE_A, CENTRE_B), "purpose": "training" })))
        }
        ("POST", "/api/v1/calls/{id}/close") => {
            (format!("/api/v1/calls/{}/close", if own { fx.call_a } else { fx.call_b }), body(json!({})))
        }
        ("GET", "/api/v1/facilities/{code}/calls") => {
            (format!("/api/v1/facilities/{}/calls", pick(CENTRE_A, CENTRE_B)), None)
        }
        ("GET", "/api/v1/provinces/{set}/{code}/summary") => {
            (format!("/api/v1/provinces/63/{}/summary", pick("02", "04")), None)
        }
        ("GET", "/api/v1/projects/{id}/summary") => {
            (format!("/api/v1/projects/{}/summary", pick("undp-pilot", "kofih-10-provinces")), None)
        }
        ("POST", "/api/v1/users") => (
            route.into(),
            body(
                json!({ "username": format!("new.user.{n}"), "password": "a-long-enough-password", "role": "evaluator" }),
            ),
        ),
        ("POST", "/api/v1/users/{username}/disable" | "/api/v1/users/{username}/enable") => {
            (route.replace("{username}", "target.user"), body(json!({})))
        }
        ("POST", "/api/v1/users/{username}/reset") => {
            (route.replace("{username}", "target.user"), body(json!({ "password": "target.user-long-password" })))
        }
        ("GET", "/api/v1/audit" | "/api/v1/pipelines") => (route.into(), None),
        ("GET", "/api/v1/kpi/{id}") => {
            (format!("/api/v1/kpi/appointments_booked?period=2026-Q3&by=station&province={}", pick("08", "04")), None)
        }
        // Each role asks for the report that is theirs, in its own scope or another's.
        ("GET", "/api/v1/reports/{name}") => match role {
            "donor" => (
                format!(
                    "/api/v1/reports/donor-results?period=2026-Q3&project={}",
                    pick("undp-pilot", "kofih-10-provinces")
                ),
                None,
            ),
            "provincial_manager" => {
                (format!("/api/v1/reports/province-stations?period=2026-Q3&province={}", pick("08", "04")), None)
            }
            _ => ("/api/v1/reports/national-scorecard?period=2026-Q3".into(), None),
        },
        _ => panic!("{method} {route} is in the router but missing from the access matrix"),
    }
}

#[tokio::test]
async fn every_route_by_every_role_in_own_and_foreign_scope() {
    on_both_backends("api_matrix", |store| async move {
        let be = backend_name(&store);
        let srv = Server::start(store).await;
        let (_, doc) = homedoc::web::api();
        let mut routes = router_routes(&doc);
        routes.insert(("GET".into(), "/api/v1/openapi.json".into()));
        let expected: BTreeSet<_> = EXPECT.iter().map(|(m, r, _, _)| (m.to_string(), r.to_string())).collect();
        assert_eq!(routes, expected, "{be}: the router's routes and the test's matrix differ");
        let policies: BTreeSet<_> = POLICIES.iter().map(|(m, r, _)| (m.to_string(), r.to_string())).collect();
        assert_eq!(routes, policies, "{be}: the router's routes and the policy table differ");

        let fx = fixture(&srv).await;
        let mut n = 0;
        let mut calls = 0;
        for (method, route, allowed, scoped) in EXPECT {
            for (role, token) in &fx.tokens {
                for own in [true, false] {
                    n += 1;
                    let fresh = matches!(*route, "/api/v1/auth/logout" | "/api/v1/me/withdraw");
                    let token = if fresh { fresh_token(&srv, role, n).await } else { token.clone() };
                    let (path, body) = request(&srv, &fx, method, route, own, n, role).await;
                    let (status, answer) = srv.call(method, &path, token.as_deref(), body).await;
                    calls += 1;
                    let what = format!(
                        "{be}: {role} {method} {path} ({}): {status} {answer}",
                        if own { "own" } else { "foreign" }
                    );
                    let national = matches!(role.as_str(), "evaluator" | "admin");
                    if !allowed.contains(&role.as_str()) {
                        let want = if role == "anonymous" { StatusCode::UNAUTHORIZED } else { StatusCode::FORBIDDEN };
                        assert_eq!(status, want, "{what}");
                    } else if !own && *scoped && !national {
                        assert_eq!(status, StatusCode::FORBIDDEN, "{what}");
                    } else {
                        assert!(![401, 403, 404, 405].contains(&status.as_u16()) && status.as_u16() < 500, "{what}");
                    }
                }
            }
        }
        assert_eq!(calls, EXPECT.len() * ROLES.len() * 2, "{be}");
        srv.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn the_openapi_document_describes_every_route() {
    on_both_backends("api_openapi", |store| async move {
        let srv = Server::start(store).await;
        let (s, doc) = srv.get("/api/v1/openapi.json", None).await;
        assert_eq!(s, StatusCode::OK);
        assert!(doc["openapi"].as_str().unwrap().starts_with("3."), "{doc}");
        let paths = doc["paths"].as_object().unwrap();
        for (method, route, _) in POLICIES {
            if *route == "/api/v1/openapi.json" {
                continue;
            }
            let op = &paths[*route][method.to_lowercase()];
            assert!(op.is_object(), "{method} {route} missing from the served document");
        }
        assert!(doc["components"]["schemas"]["Registration"].is_object(), "request schemas come from the code");
        srv.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn cookie_sessions_need_the_csrf_token() {
    on_both_backends("api_csrf", |store| async move {
        let srv = Server::start(store).await;
        let staff = srv.staff("staff.a", "station_staff", Some(STATION_A)).await;
        let resp = srv
            .http
            .post(srv.url("/api/v1/auth/staff"))
            .json(&json!({ "username": "staff.a", "password": "staff.a-long-password" }))
            .send()
            .await
            .unwrap();
        let cookie = resp.headers()[reqwest::header::SET_COOKIE].to_str().unwrap().to_string();
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
        let session = cookie.split(';').next().unwrap().to_string();
        let csrf = resp.json::<Value>().await.unwrap()["csrf"].as_str().unwrap().to_string();
        let publish = |csrf: Option<String>| {
            let mut r = srv
                .http
                .post(srv.url(&format!("/api/v1/stations/{STATION_A}/slots")))
                .header(reqwest::header::COOKIE, session.clone())
                .json(&json!({ "start": tomorrow_at(9), "duration_min": 30, "capacity": 2 }));
            if let Some(c) = csrf {
                r = r.header("X-CSRF-Token", c);
            }
            r.send()
        };
        assert_eq!(publish(None).await.unwrap().status(), StatusCode::FORBIDDEN);
        assert_eq!(publish(Some("wrong".into())).await.unwrap().status(), StatusCode::FORBIDDEN);
        assert_eq!(publish(Some(csrf)).await.unwrap().status(), StatusCode::CREATED);
        // Reads with the cookie need no token; bearer tokens never do.
        let worklist = srv
            .http
            .get(srv.url(&format!("/api/v1/stations/{STATION_A}/worklist")))
            .header(reqwest::header::COOKIE, session.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(worklist.status(), StatusCode::OK);
        let _ = srv.slot(&staff, STATION_A, tomorrow_at(10), 2).await;
        srv.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn logins_are_rate_limited_per_account_and_per_trusted_client_address() {
    on_both_backends("api_rate_limit", |store| async move {
        let web = WebSettings {
            limits: LimitSettings { per_account_per_minute: 3, per_address_per_minute: 5 },
            trusted_proxy_header: Some("x-forwarded-for".parse().unwrap()),
            ..test_web()
        };
        let srv = Server::start_with(store, web).await;
        let attempt = |user: &str, addr: &str| {
            srv.http
                .post(srv.url("/api/v1/auth/staff"))
                .header("X-Forwarded-For", format!("10.9.9.9, {addr}"))
                .json(&json!({ "username": user, "password": "wrong-password-123" }))
                .send()
        };
        for _ in 0..3 {
            assert_eq!(attempt("someone", "10.0.0.1").await.unwrap().status(), StatusCode::UNAUTHORIZED);
        }
        let limited = attempt("someone", "10.0.0.2").await.unwrap();
        assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS, "per account, whatever the address");
        assert!(limited.headers().contains_key(reqwest::header::RETRY_AFTER));
        // Per address: the last address of the trusted header counts, not the first.
        for i in 0..5 {
            let s = attempt(&format!("user{i}"), "10.0.0.3").await.unwrap().status();
            assert_eq!(s, StatusCode::UNAUTHORIZED);
        }
        assert_eq!(attempt("user9", "10.0.0.3").await.unwrap().status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(attempt("user9", "10.0.0.4").await.unwrap().status(), StatusCode::UNAUTHORIZED);
        srv.shutdown().await;
    })
    .await;
}
