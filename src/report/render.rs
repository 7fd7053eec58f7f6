//! Reports as a self-contained printable HTML page (charts drawn with plotters as
//! inline SVG; no script, font or style sheet from elsewhere) and as an XLSX
//! workbook (one sheet per table, typed cells, and a sheet stating the snapshot).

use std::fmt::Write as _;

use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;
use rust_xlsxwriter::{ExcelDateTime, Format as XlsxFormat, Workbook};

use super::{Cell, Chart, ChartKind, Report, ReportError, Table, tr};

/// A colour-blind-safe palette (Okabe and Ito).
const PALETTE: [RGBColor; 6] = [
    RGBColor(0, 114, 178),
    RGBColor(230, 159, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(86, 180, 233),
    RGBColor(213, 94, 0),
];

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn column(t: &Table, id: &str) -> Option<usize> {
    t.columns.iter().position(|c| c.id == id)
}

fn value(c: &Cell) -> Option<f64> {
    match c {
        Cell::Int(i) => Some(*i as f64),
        Cell::Number(v) => Some(*v),
        _ => None,
    }
}

/// The (series, [(label, value)]) of a chart, in table order.
fn series(t: &Table, chart: &Chart) -> Vec<(String, Vec<(String, Option<f64>)>)> {
    let (Some(x), Some(y)) = (column(t, chart.x), column(t, chart.y)) else { return Vec::new() };
    let by = chart.by.and_then(|b| column(t, b));
    let mut out: Vec<(String, Vec<(String, Option<f64>)>)> = Vec::new();
    for r in &t.rows {
        let key = by.map(|b| r[b].text()).unwrap_or_default();
        let point = (r[x].text(), value(&r[y]));
        match out.iter_mut().find(|(k, _)| *k == key) {
            Some((_, points)) => points.push(point),
            None => out.push((key, vec![point])),
        }
    }
    out
}

/// One chart as SVG text.
fn svg(title: &str, kind: ChartKind, points: &[(String, Option<f64>)]) -> Result<String, String> {
    let n = points.len();
    let max = points.iter().filter_map(|p| p.1).fold(0.0_f64, f64::max).max(1.0) * 1.1;
    let height = match kind {
        ChartKind::Bar => 40 + 18 * n as u32,
        ChartKind::Line => 260,
    };
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (640, height.max(120))).into_drawing_area();
        let e = |e: &dyn std::fmt::Display| e.to_string();
        root.fill(&WHITE).map_err(|x| e(&x))?;
        let mut builder = ChartBuilder::on(&root);
        builder.caption(title, ("sans-serif", 15)).margin(8);
        match kind {
            ChartKind::Bar => {
                let mut chart = builder
                    .x_label_area_size(24)
                    .y_label_area_size(190)
                    .build_cartesian_2d(0.0..max, (0..n).into_segmented())
                    .map_err(|x| e(&x))?;
                chart
                    .configure_mesh()
                    .disable_y_mesh()
                    .y_labels(n.max(1))
                    .y_label_formatter(&|v| match v {
                        SegmentValue::CenterOf(i) => points.get(*i).map(|p| p.0.clone()).unwrap_or_default(),
                        _ => String::new(),
                    })
                    .draw()
                    .map_err(|x| e(&x))?;
                chart
                    .draw_series(points.iter().enumerate().filter_map(|(i, p)| {
                        let v = p.1?;
                        Some(Rectangle::new(
                            [(0.0, SegmentValue::Exact(i)), (v, SegmentValue::Exact(i + 1))],
                            PALETTE[0].filled(),
                        ))
                    }))
                    .map_err(|x| e(&x))?;
            }
            ChartKind::Line => {
                let mut chart = builder
                    .x_label_area_size(30)
                    .y_label_area_size(60)
                    .build_cartesian_2d(0..n.saturating_sub(1).max(1), 0.0..max)
                    .map_err(|x| e(&x))?;
                chart
                    .configure_mesh()
                    .x_labels(n.min(12).max(2))
                    .x_label_formatter(&|i| points.get(*i).map(|p| p.0.clone()).unwrap_or_default())
                    .draw()
                    .map_err(|x| e(&x))?;
                let line: Vec<(usize, f64)> = points.iter().enumerate().filter_map(|(i, p)| Some((i, p.1?))).collect();
                chart.draw_series(LineSeries::new(line.clone(), PALETTE[0].stroke_width(2))).map_err(|x| e(&x))?;
                chart
                    .draw_series(line.into_iter().map(|p| Circle::new(p, 3, PALETTE[0].filled())))
                    .map_err(|x| e(&x))?;
            }
        }
        root.present().map_err(|x| e(&x))?;
    }
    Ok(out)
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
             <title>{}</title><style>\
             body{{font-family:sans-serif;margin:1rem;color:#222}}\
             table{{border-collapse:collapse;margin:.5rem 0 1.5rem;font-size:.85rem}}\
             th,td{{border:1px solid #bbb;padding:.2rem .4rem;text-align:left}}\
             td.n{{text-align:right}}.wrap{{overflow-x:auto;max-width:100%}}\
             svg{{max-width:100%;height:auto}}dl{{font-size:.85rem}}dt{{font-weight:bold}}\
             @media print{{.wrap{{overflow:visible}}h2{{page-break-before:auto}}}}\
             </style></head><body>\n<h1>{}</h1>\n<dl>",
            esc(&self.title),
            esc(&self.title)
        );
        for (k, v) in self.stamp() {
            let _ = write!(h, "<dt>{}</dt><dd>{}</dd>", esc(&k), esc(&v));
        }
        h.push_str("</dl>\n");
        for t in &self.tables {
            let _ = write!(h, "<h2>{}</h2>\n", esc(&t.title));
            if let Some(chart) = &t.chart {
                for (name, points) in series(t, chart) {
                    let title = if name.is_empty() { t.title.clone() } else { name };
                    let drawn =
                        svg(&title, chart.kind, &points).map_err(|e| ReportError::Usage(format!("chart: {e}")))?;
                    // plotters writes an XML prologue-free <svg> element: inline as is.
                    let _ = write!(h, "<figure>{drawn}</figure>\n");
                }
            }
            h.push_str("<div class=\"wrap\"><table><thead><tr>");
            for c in &t.columns {
                let _ = write!(h, "<th>{}</th>", esc(&c.title));
            }
            h.push_str("</tr></thead><tbody>\n");
            for r in &t.rows {
                h.push_str("<tr>");
                for c in r {
                    let class = if value(c).is_some() { " class=\"n\"" } else { "" };
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
