//! The pieces every page is made of: escaping, the page frame (header with the
//! dashboards the user may open, language links, logout), tables, and the page
//! texts in both languages.

use std::fmt::Write as _;

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::kpi::Lang;
use crate::report::{Cell, Table};
use crate::services::Principal;

pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

/// A text in the page's language.
pub fn tr(lang: Lang, vi: &str, en: &str) -> String {
    crate::report::tr(lang, vi, en)
}

/// A query string from pairs, values encoded.
pub fn query(pairs: &[(&str, String)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        if !v.is_empty() {
            s.append_pair(k, v);
        }
    }
    s.finish()
}

/// Links in the header: the dashboards the principal may open, the definitions.
pub struct Nav<'a> {
    pub principal: Option<&'a Principal>,
    pub dashboards: Vec<(String, String)>,
    pub lang: Lang,
}

/// The whole page around `body`.
pub fn page(title: &str, nav: &Nav<'_>, body: &str) -> String {
    let lang = nav.lang;
    let code = match lang {
        Lang::Vi => "vi",
        Lang::En => "en",
    };
    let mut h = String::with_capacity(body.len() + 2048);
    let _ = write!(
        h,
        "<!doctype html>\n<html lang=\"{code}\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} · homedoc</title><link rel=\"stylesheet\" href=\"/static/homedoc.css\">\
         <link rel=\"icon\" href=\"data:,\"></head><body>\n<header class=\"top\"><a class=\"brand\" href=\"/?lang={code}\">{}</a>",
        esc(title),
        esc(&tr(lang, "Bác sĩ cho mọi nhà", "A doctor for every home"))
    );
    if let Some(p) = nav.principal {
        for (id, t) in &nav.dashboards {
            let _ = write!(h, "<a href=\"/d/{}?lang={code}\">{}</a>", esc(id), esc(t));
        }
        let _ = write!(
            h,
            "<a href=\"/definitions?lang={code}\">{}</a>",
            esc(&tr(lang, "Định nghĩa chỉ số", "Definitions"))
        );
        let _ = write!(
            h,
            "<form method=\"post\" action=\"/logout\"><input type=\"hidden\" name=\"csrf\" value=\"{}\">\
             <button type=\"submit\">{}</button></form>",
            esc(&p.csrf),
            esc(&tr(lang, "Đăng xuất", "Log out"))
        );
    }
    let other = match lang {
        Lang::Vi => ("en", "English"),
        Lang::En => ("vi", "Tiếng Việt"),
    };
    let _ = write!(h, "<a href=\"?lang={}\" data-lang=\"{}\">{}</a>", other.0, other.0, other.1);
    h.push_str("</header>\n<main>\n");
    h.push_str(body);
    h.push_str("\n</main></body></html>\n");
    h
}

pub fn html(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8"), (header::CACHE_CONTROL, "no-store")], body)
        .into_response()
}

/// A page that says what went wrong, with the status it goes with.
pub fn error_page(status: StatusCode, nav: &Nav<'_>, message: &str) -> Response {
    let title = match status {
        StatusCode::FORBIDDEN => tr(nav.lang, "Không được phép", "Not allowed"),
        StatusCode::NOT_FOUND => tr(nav.lang, "Không tìm thấy", "Not found"),
        StatusCode::BAD_REQUEST => tr(nav.lang, "Yêu cầu không hợp lệ", "Bad request"),
        _ => tr(nav.lang, "Lỗi", "Error"),
    };
    let body = format!("<h1>{}</h1><div class=\"error\">{}</div>", esc(&title), esc(message));
    html(status, page(&title, nav, &body))
}

/// A table with numbers right-aligned; `link` may turn a cell into a link.
pub fn table(t: &Table, link: &dyn Fn(usize, &[Cell]) -> Option<String>, extra: &dyn Fn(&[Cell]) -> String) -> String {
    let mut h = String::from("<div class=\"wrap\"><table><thead><tr>");
    for c in &t.columns {
        let _ = write!(h, "<th>{}</th>", esc(&c.title));
    }
    h.push_str("</tr></thead><tbody>");
    for r in &t.rows {
        h.push_str("<tr>");
        for (i, c) in r.iter().enumerate() {
            let class = if c.value().is_some() { " class=\"n\"" } else { "" };
            let text = esc(&c.text());
            match link(i, r) {
                Some(href) => {
                    let _ = write!(h, "<td{class}><a href=\"{}\">{text}</a>", esc(&href));
                }
                None => {
                    let _ = write!(h, "<td{class}>{text}");
                }
            }
            if i + 1 == r.len() {
                h.push_str(&extra(r));
            }
            h.push_str("</td>");
        }
        h.push_str("</tr>");
    }
    h.push_str("</tbody></table></div>");
    h
}
