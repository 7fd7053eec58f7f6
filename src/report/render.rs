//! Reports as a self-contained printable HTML page (charts drawn with plotters as
//! inline SVG; no script, font or style sheet from elsewhere) and as an XLSX
//! workbook (one sheet per table, typed cells, and a sheet stating the snapshot).

use std::fmt::Write as _;

use base64::Engine as _;
use rust_xlsxwriter::{ExcelDateTime, Format as XlsxFormat, Workbook};

use super::{Cell, ChartKind, Report, ReportError, Table, tr};
use crate::chart::{self, Bar, Chart, Kind, Line, Series};

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn column(t: &Table, id: &str) -> Option<usize> {
    t.columns.iter().position(|c| c.id == id)
}

/// The charts of a table: those drawn already (dashboards), or one per value of
/// the spec's `by` column (small multiples of a report), in table order.
fn charts(t: &Table, lang: crate::kpi::Lang) -> Vec<Chart> {
    if !t.figures.is_empty() {
        return t.figures.clone();
    }
    let Some(spec) = &t.chart else { return Vec::new() };
    let (Some(x), Some(y)) = (column(t, spec.x), column(t, spec.y)) else { return Vec::new() };
    let by = spec.by.and_then(|b| column(t, b));
    let mut groups: Vec<(String, Vec<(String, Option<f64>)>)> = Vec::new();
    for r in &t.rows {
        let key = by.map(|b| r[b].text()).unwrap_or_default();
        let point = (r[x].text(), r[y].value());
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, points)) => points.push(point),
            None => groups.push((key, vec![point])),
        }
    }
    let unit = t.columns[y].title.clone();
    groups
        .into_iter()
        .map(|(name, points)| {
            let title = if name.is_empty() { t.title.clone() } else { name };
            let kind = match spec.kind {
                ChartKind::Bar => {
                    Kind::Bars(points.into_iter().map(|(label, value)| Bar { label, value, status: None }).collect())
                }
                ChartKind::Line => {
                    // x is a period label: the line is drawn at each period's first day.
                    let points =
                        points.into_iter().filter_map(|(l, v)| Some((l.parse::<crate::kpi::Period>().ok()?.start, v)));
                    let series = vec![Series { name: title.clone(), points: points.collect() }];
                    Kind::Line(Line { series, ..Line::default() })
                }
            };
            Chart { title, unit: unit.clone(), kind, lang }
        })
        .collect()
}

/// The `@font-face` of the bundled font, inline, so that a saved page renders its
/// charts with the same font anywhere.
fn font_face() -> String {
    let data = base64::engine::general_purpose::STANDARD.encode(chart::FONT);
    format!(
        "@font-face{{font-family:{};src:url(data:font/ttf;base64,{data}) format(\"truetype\")}}",
        chart::FONT_FAMILY
    )
}

impl Report {
    fn stamp(&self) -> Vec<(String, String)> {
        let t = |vi: &str, en: &str| tr(self.lang, vi, en);
        let fresh = self
            .freshness
            .iter()
            .map(|f| format!("{}: {}", f.pipeline, f.last_success.as_deref().unwrap_or("-")))
            .collect::<Vec<_>>()
            .join("; ");
        vec![
            (t("Kỳ báo cáo", "Period"), self.period.to_string()),
            (t("Ảnh chụp dữ liệu", "Snapshot"), self.snapshot.to_string()),
            (t("Lần nạp dữ liệu thành công gần nhất", "Last successful ingestion"), fresh),
        ]
    }

    /// One printable page: the stamp, then each table with its charts.
    pub fn write_html(&self, out: &mut impl std::io::Write) -> Result<(), ReportError> {
        let mut h = String::new();
        let lang = match self.lang {
            crate::kpi::Lang::Vi => "vi",
            crate::kpi::Lang::En => "en",
        };
        let _ = write!(
            h,
            "<!doctype html>\n<html lang=\"{lang}\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>{}</title><style>{}\
             body{{font-family:{},sans-serif;margin:1rem;color:#222}}\
             table{{border-collapse:collapse;margin:.5rem 0 1.5rem;font-size:.85rem}}\
             th,td{{border:1px solid #bbb;padding:.2rem .4rem;text-align:left}}\
             td.n{{text-align:right}}.wrap{{overflow-x:auto;max-width:100%}}\
             svg{{max-width:100%;height:auto}}svg text{{font-family:{},sans-serif}}dl{{font-size:.85rem}}dt{{font-weight:bold}}\
             @media print{{.wrap{{overflow:visible}}h2{{page-break-before:auto}}}}\
             </style></head><body>\n<h1>{}</h1>\n<dl>",
            esc(&self.title),
            font_face(),
            chart::FONT_FAMILY,
            chart::FONT_FAMILY,
            esc(&self.title)
        );
        for (k, v) in self.stamp() {
            let _ = write!(h, "<dt>{}</dt><dd>{}</dd>", esc(&k), esc(&v));
        }
        h.push_str("</dl>\n");
        for t in &self.tables {
            let _ = write!(h, "<h2>{}</h2>\n", esc(&t.title));
            for c in charts(t, self.lang) {
                let drawn = c.svg().map_err(|e| ReportError::Usage(e.to_string()))?;
                // plotters writes an <svg> element without an XML prologue: inline as is.
                let _ = write!(h, "<figure>{drawn}</figure>\n");
            }
            h.push_str("<div class=\"wrap\"><table><thead><tr>");
            for c in &t.columns {
                let _ = write!(h, "<th>{}</th>", esc(&c.title));
            }
            h.push_str("</tr></thead><tbody>\n");
            for r in &t.rows {
                h.push_str("<tr>");
                for c in r {
                    let class = if c.value().is_some() { " class=\"n\"" } else { "" };
                    let _ = write!(h, "<td{class}>{}</td>", esc(&c.text()));
                }
                h.push_str("</tr>\n");
            }
            h.push_str("</tbody></table></div>\n");
        }
        h.push_str("</body></html>\n");
        out.write_all(h.as_bytes())?;
        Ok(())
    }

    /// A workbook: a first sheet with the stamp, then one sheet per table.
    pub fn xlsx(&self) -> Result<Vec<u8>, ReportError> {
        let x = |e: rust_xlsxwriter::XlsxError| ReportError::Usage(format!("xlsx: {e}"));
        let mut wb = Workbook::new();
        let bold = XlsxFormat::new().set_bold();
        let date = XlsxFormat::new().set_num_format("yyyy-mm-dd");
        let decimals = XlsxFormat::new().set_num_format("0.00");
        let ws = wb.add_worksheet();
        ws.set_name("report").map_err(x)?;
        ws.write_string_with_format(0, 0, &self.title, &bold).map_err(x)?;
        for (i, (k, v)) in self.stamp().into_iter().enumerate() {
            ws.write_string_with_format(i as u32 + 1, 0, k, &bold).map_err(x)?;
            ws.write_string(i as u32 + 1, 1, v).map_err(x)?;
        }
        ws.set_column_width(0, 36).map_err(x)?;
        for t in &self.tables {
            let ws = wb.add_worksheet();
            // Sheet names are at most 31 characters.
            ws.set_name(t.id.chars().take(31).collect::<String>()).map_err(x)?;
            for (c, col) in t.columns.iter().enumerate() {
                ws.write_string_with_format(0, c as u16, &col.title, &bold).map_err(x)?;
                ws.set_column_width(c as u16, (col.title.chars().count() as f64 + 2.0).clamp(8.0, 40.0)).map_err(x)?;
            }
            ws.set_freeze_panes(1, 0).map_err(x)?;
            for (r, row) in t.rows.iter().enumerate() {
                let r = r as u32 + 1;
                for (c, cell) in row.iter().enumerate() {
                    let c = c as u16;
                    match cell {
                        Cell::Text(s) => ws.write_string(r, c, s).map(|_| ()),
                        Cell::Int(i) => ws.write_number(r, c, *i as f64).map(|_| ()),
                        Cell::Number(v) => ws.write_number_with_format(r, c, *v, &decimals).map(|_| ()),
                        Cell::Date(d) => {
                            use chrono::Datelike;
                            let dt =
                                ExcelDateTime::from_ymd(d.year() as u16, d.month() as u8, d.day() as u8).map_err(x)?;
                            ws.write_datetime_with_format(r, c, dt, &date).map(|_| ())
                        }
                        Cell::Empty => Ok(()),
                    }
                    .map_err(x)?;
                }
            }
        }
        wb.save_to_buffer().map_err(x)
    }
}
