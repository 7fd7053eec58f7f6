//! Drawing each chart kind on any plotters backend (SVG for pages, bitmap for PNG).
//! Every chart has a title, its unit on the value axis, axis labels and, where
//! colour carries meaning, a legend that says it in words.

use chrono::NaiveDate;
use plotters::coord::ranged1d::{SegmentValue, SegmentedCoord};
use plotters::coord::types::{RangedCoordf64, RangedCoordusize};
use plotters::coord::{CoordTranslate, Shift};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{Bar, status_colour, status_name};
use super::{Chart, ChartError, Equity, FONT_FAMILY, Kind, Line, Multiples, PALETTE, Stacked, TileMap, tiles};
use crate::kpi::Lang;

pub const MULTIPLES_COLUMNS: usize = 4;

type Area<DB> = DrawingArea<DB, Shift>;
/// Values along x, one band per row along y (row 0 at the bottom).
type Horizontal<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, SegmentedCoord<RangedCoordusize>>>;

fn err<E: std::fmt::Display>(e: E) -> ChartError {
    ChartError::Draw(e.to_string())
}

fn font(size: u32) -> FontDesc<'static> {
    (FONT_FAMILY, size).into_font()
}

fn tr(lang: Lang, vi: &'static str, en: &'static str) -> &'static str {
    match lang {
        Lang::Vi => vi,
        Lang::En => en,
    }
}

/// A number as axis and legend text: thousands grouped, at most two decimals.
pub fn number(v: f64) -> String {
    if v.abs() >= 1000.0 || v.fract() == 0.0 {
        let whole = format!("{:.0}", v.abs());
        let mut grouped = String::new();
        for (i, ch) in whole.chars().enumerate() {
            if i > 0 && (whole.len() - i) % 3 == 0 {
                grouped.push(',');
            }
            grouped.push(ch);
        }
        if v < 0.0 { format!("-{grouped}") } else { grouped }
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// The top of a value axis: a little above the largest value, at least 1.
fn top(values: impl Iterator<Item = f64>) -> f64 {
    values.filter(|v| v.is_finite()).fold(0.0_f64, f64::max).max(1.0) * 1.1
}

fn day(d: NaiveDate) -> f64 {
    f64::from(chrono::Datelike::num_days_from_ce(&d))
}

fn date_label(x: f64, span_days: f64) -> String {
    let Some(d) = NaiveDate::from_num_days_from_ce_opt(x.round() as i32) else { return String::new() };
    if span_days <= 62.0 { d.format("%Y-%m-%d").to_string() } else { d.format("%Y-%m").to_string() }
}

/// A bar filling its band but for a gap on each side, so that neighbours stay apart.
fn bar<X, Y>(from: (X, Y), to: (X, Y), colour: RGBColor, horizontal: bool) -> Rectangle<(X, Y)> {
    let mut r = Rectangle::new([from, to], colour.filled());
    if horizontal {
        r.set_margin(2, 2, 0, 0);
    } else {
        r.set_margin(0, 0, 3, 3);
    }
    r
}

/// The legend, framed, where it hides the least.
fn legend<'a, DB: DrawingBackend + 'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
    at: SeriesLabelPosition,
) -> Result<(), ChartError> {
    chart
        .configure_series_labels()
        .position(at)
        .label_font(font(11))
        .background_style(WHITE.mix(0.9))
        .border_style(RGBColor(180, 180, 180))
        .draw()
        .map_err(err)
}

/// A horizontal bar chart's frame: the title, a band per label (the first at the
/// top), the values' axis with the unit.
fn horizontal<'a, DB: DrawingBackend>(
    root: &'a Area<DB>,
    c: &Chart,
    labels: &[String],
    xmax: f64,
) -> Result<Horizontal<'a, DB>, ChartError> {
    let n = labels.len();
    // Wide enough for the longest label at the 10-pixel label font, within reason.
    let longest = labels.iter().map(|l| l.chars().count()).max().unwrap_or(0) as u32;
    let label_width = (longest * 6 + 12).clamp(60, 300);
    let mut chart = ChartBuilder::on(root)
        .caption(&c.title, font(16))
        .margin(10)
        .x_label_area_size(36)
        .y_label_area_size(label_width)
        .build_cartesian_2d(0.0..xmax, (0..n).into_segmented())
        .map_err(err)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .light_line_style(TRANSPARENT)
        .y_labels(n.max(1))
        .x_labels(6)
        .x_label_formatter(&|v| number(*v))
        .y_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) if *i < n => labels[n - 1 - *i].clone(),
            _ => String::new(),
        })
        .x_desc(c.unit.as_str())
        .label_style(font(10))
        .axis_desc_style(font(12))
        .draw()
        .map_err(err)?;
    Ok(chart)
}

fn legend_box(colour: RGBColor) -> impl Fn((i32, i32)) -> Rectangle<(i32, i32)> {
    move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], colour.filled())
}

pub fn draw<DB: DrawingBackend>(root: &Area<DB>, c: &Chart) -> Result<(), ChartError> {
    root.fill(&WHITE).map_err(err)?;
    match &c.kind {
        Kind::Line(l) => line(root, c, l),
        Kind::Bars(b) => bars(root, c, b),
        Kind::Stacked(s) => stacked(root, c, s),
        Kind::Equity(e) => equity(root, c, e),
        Kind::Multiples(m) => multiples(root, c, m),
        Kind::TileMap(t) => tile_map(root, c, t),
    }
}

fn line<DB: DrawingBackend>(root: &Area<DB>, c: &Chart, l: &Line) -> Result<(), ChartError> {
    let dates = l.series.iter().flat_map(|s| s.points.iter().map(|p| p.0));
    let dates: Vec<f64> = dates.chain(l.target.map(|t| t.0)).chain(l.projection.map(|p| p.0)).map(day).collect();
    let x0 = dates.iter().copied().fold(f64::INFINITY, f64::min);
    let x1 = dates.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let (x0, x1) = if x0.is_finite() { (x0, x1.max(x0 + 1.0)) } else { (0.0, 1.0) };
    let values = l.series.iter().flat_map(|s| s.points.iter().filter_map(|p| p.1));
    // Room above the highest value for the legend in the upper left.
    let ymax = top(values.chain(l.target.map(|t| t.1)).chain(l.projection.map(|p| p.1))) * 1.2;
    let span = x1 - x0;
    let mut chart = ChartBuilder::on(root)
        .caption(&c.title, font(16))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(64)
        .build_cartesian_2d(x0..x1, 0.0..ymax)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_labels(7)
        .x_label_formatter(&|x| date_label(*x, span))
        .y_label_formatter(&|y| number(*y))
        .y_desc(c.unit.as_str())
        .label_style(font(11))
        .axis_desc_style(font(12))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .map_err(err)?;
    for (i, s) in l.series.iter().enumerate() {
        let colour = PALETTE[i % PALETTE.len()];
        let points: Vec<(f64, f64)> = s.points.iter().filter_map(|(d, v)| Some((day(*d), (*v)?))).collect();
        chart
            .draw_series(LineSeries::new(points.clone(), colour.stroke_width(2)))
            .map_err(err)?
            .label(s.name.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], colour.stroke_width(2)));
        chart.draw_series(points.into_iter().map(|p| Circle::new(p, 2, colour.filled()))).map_err(err)?;
    }
    let grey = RGBColor(90, 90, 90);
    if let Some((date, value)) = l.target {
        let label = format!("{} {}: {}", tr(c.lang, "Chỉ tiêu", "Target"), date, number(value));
        chart
            .draw_series(DashedLineSeries::new(vec![(x0, value), (x1, value)], 6, 4, grey.stroke_width(1)))
            .map_err(err)?
            .label(label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], grey.stroke_width(1)));
        chart.draw_series([Cross::new((day(date), value), 5, grey.stroke_width(2))]).map_err(err)?;
    }
    let last = l.series.first().and_then(|s| s.points.iter().rev().find_map(|(d, v)| Some((day(*d), (*v)?))));
    if let (Some((date, value)), Some(from)) = (l.projection, last) {
        let colour = PALETTE[0];
        let label = format!("{}: {}", tr(c.lang, "Dự báo", "Projection"), number(value));
        chart
            .draw_series(DashedLineSeries::new(vec![from, (day(date), value)], 3, 3, colour.stroke_width(2)))
            .map_err(err)?
            .label(label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 5, y), (x + 9, y), (x + 16, y)], colour));
    }
    legend(&mut chart, SeriesLabelPosition::UpperLeft)
}

/// Horizontal bars, one per row in the given order, coloured by target status.
fn bars<DB: DrawingBackend>(root: &Area<DB>, c: &Chart, bars: &[Bar]) -> Result<(), ChartError> {
    let n = bars.len();
    let labels: Vec<String> = bars.iter().map(|b| b.label.clone()).collect();
    let mut chart = horizontal(root, c, &labels, top(bars.iter().filter_map(|b| b.value)))?;
    let statuses = [
        Some(crate::kpi::targets::Status::OnTrack),
        Some(crate::kpi::targets::Status::AtRisk),
        Some(crate::kpi::targets::Status::OffTrack),
        None,
    ];
    let any_status = bars.iter().any(|b| b.status.is_some());
    for status in statuses {
        if !bars.iter().any(|b| b.status == status && b.value.is_some()) {
            continue;
        }
        // Without any target the bars keep the palette's first colour, not "no target" grey.
        let colour = if any_status { status_colour(status) } else { PALETTE[0] };
        let rects = bars.iter().enumerate().filter(|(_, b)| b.status == status).filter_map(|(i, b)| {
            let row = n - 1 - i;
            Some(bar((0.0, SegmentValue::Exact(row)), (b.value?, SegmentValue::Exact(row + 1)), colour, true))
        });
        let series = chart.draw_series(rects).map_err(err)?;
        // A chart without any target has a single colour and needs no legend.
        if any_status {
            series.label(status_name(status, c.lang)).legend(legend_box(colour));
        }
    }
    if any_status {
        legend(&mut chart, SeriesLabelPosition::LowerRight)?;
    }
    Ok(())
}

fn stacked<DB: DrawingBackend>(root: &Area<DB>, c: &Chart, s: &Stacked) -> Result<(), ChartError> {
    let n = s.categories.len();
    let totals: Vec<f64> =
        (0..n).map(|i| s.series.iter().map(|(_, v)| v.get(i).copied().unwrap_or(0.0)).sum()).collect();
    let ymax = top(totals.iter().copied()) * 1.25;
    let mut chart = ChartBuilder::on(root)
        .caption(&c.title, font(16))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(64)
        .build_cartesian_2d((0..n).into_segmented(), 0.0..ymax)
        .map_err(err)?;
    // At most about ten category labels, whatever the number of stacks.
    let step = n.div_ceil(10).max(1);
    chart
        .configure_mesh()
        .disable_x_mesh()
        .light_line_style(TRANSPARENT)
        .x_labels(n.max(1))
        .x_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) if i % step == 0 => s.categories.get(*i).cloned().unwrap_or_default(),
            _ => String::new(),
        })
        .y_label_formatter(&|y| number(*y))
        .y_desc(c.unit.as_str())
        .label_style(font(10))
        .axis_desc_style(font(12))
        .draw()
        .map_err(err)?;
    let mut base = vec![0.0; n];
    for (k, (name, values)) in s.series.iter().enumerate() {
        let colour = PALETTE[k % PALETTE.len()];
        let rects: Vec<_> = (0..n)
            .map(|i| {
                let v = values.get(i).copied().unwrap_or(0.0);
                let r =
                    bar((SegmentValue::Exact(i), base[i]), (SegmentValue::Exact(i + 1), base[i] + v), colour, false);
                base[i] += v;
                r
            })
            .collect();
        chart.draw_series(rects).map_err(err)?.label(name.as_str()).legend(legend_box(colour));
    }
    legend(&mut chart, SeriesLabelPosition::UpperLeft)
}

/// Horizontal bars grouped by dimension (a heading row before each), one colour
/// per dimension, and a dashed line at everyone's rate.
fn equity<DB: DrawingBackend>(root: &Area<DB>, c: &Chart, e: &Equity) -> Result<(), ChartError> {
    // Rows top to bottom: a heading per dimension, then its groups.
    let mut rows: Vec<(String, Option<f64>, Option<usize>)> = Vec::new();
    for (d, (title, groups)) in e.dimensions.iter().enumerate() {
        rows.push((title.clone(), None, None));
        for (g, v) in groups {
            rows.push((format!("  {g}"), *v, Some(d)));
        }
    }
    let n = rows.len();
    let labels: Vec<String> = rows.iter().map(|r| r.0.clone()).collect();
    let mut chart = horizontal(root, c, &labels, top(rows.iter().filter_map(|r| r.1).chain(e.overall)))?;
    for (d, (title, _)) in e.dimensions.iter().enumerate() {
        let colour = PALETTE[d % PALETTE.len()];
        let rects = rows.iter().enumerate().filter(|(_, r)| r.2 == Some(d)).filter_map(|(i, r)| {
            let row = n - 1 - i;
            Some(bar((0.0, SegmentValue::Exact(row)), (r.1?, SegmentValue::Exact(row + 1)), colour, true))
        });
        chart.draw_series(rects).map_err(err)?.label(title.as_str()).legend(legend_box(colour));
    }
    if let Some(all) = e.overall {
        let grey = RGBColor(90, 90, 90);
        let line = vec![(all, SegmentValue::Exact(0)), (all, SegmentValue::Exact(n))];
        chart
            .draw_series(DashedLineSeries::new(line, 5, 4, grey.stroke_width(1)))
            .map_err(err)?
            .label(format!("{}: {}", tr(c.lang, "Chung", "Everyone"), number(all)))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], grey.stroke_width(1)));
    }
    legend(&mut chart, SeriesLabelPosition::LowerRight)
}

/// A grid of small line charts sharing one value scale, so that heights compare.
fn multiples<DB: DrawingBackend>(root: &Area<DB>, c: &Chart, m: &Multiples) -> Result<(), ChartError> {
    let body = root.titled(&c.title, font(16)).map_err(err)?;
    let body = body.split_vertically(18);
    body.0
        .draw_text(
            &format!("{} ({})", c.unit, tr(c.lang, "cùng thang đo", "same scale")),
            &font(11).color(&RGBColor(90, 90, 90)),
            (10, 2),
        )
        .map_err(err)?;
    let rows = m.panels.len().div_ceil(MULTIPLES_COLUMNS).max(1);
    let cells = body.1.split_evenly((rows, MULTIPLES_COLUMNS));
    let ymax = top(m.panels.iter().flat_map(|(_, p)| p.iter().filter_map(|x| x.1)));
    let dates: Vec<f64> = m.panels.iter().flat_map(|(_, p)| p.iter().map(|x| day(x.0))).collect();
    let x0 = dates.iter().copied().fold(f64::INFINITY, f64::min);
    let x1 = dates.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let (x0, x1) = if x0.is_finite() { (x0, x1.max(x0 + 1.0)) } else { (0.0, 1.0) };
    let span = x1 - x0;
    for ((name, points), cell) in m.panels.iter().zip(cells) {
        let mut chart = ChartBuilder::on(&cell)
            .caption(name, font(11))
            .margin(4)
            .x_label_area_size(14)
            .y_label_area_size(34)
            .build_cartesian_2d(x0..x1, 0.0..ymax)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_labels(2)
            .y_labels(3)
            .x_label_formatter(&|x| date_label(*x, span))
            .y_label_formatter(&|y| number(*y))
            .label_style(font(8))
            .light_line_style(TRANSPARENT)
            .draw()
            .map_err(err)?;
        let line: Vec<(f64, f64)> = points.iter().filter_map(|(d, v)| Some((day(*d), (*v)?))).collect();
        chart.draw_series(LineSeries::new(line, PALETTE[0].stroke_width(2))).map_err(err)?;
    }
    Ok(())
}

/// The 34 provinces as tiles shaded by quintile class (light to dark blue, a
/// sequential scheme readable without hue), grey where there is no value.
fn tile_map<DB: DrawingBackend>(root: &Area<DB>, c: &Chart, t: &TileMap) -> Result<(), ChartError> {
    const SHADES: [RGBColor; 5] = [
        RGBColor(222, 235, 247),
        RGBColor(158, 202, 225),
        RGBColor(107, 174, 214),
        RGBColor(49, 130, 189),
        RGBColor(8, 81, 156),
    ];
    let none = RGBColor(210, 210, 210);
    let values: Vec<f64> = t.values.iter().filter_map(|(_, _, v)| *v).collect();
    let classes = tiles::classes(&values);
    let title = font(16).color(&BLACK).pos(Pos::new(HPos::Left, VPos::Top));
    root.draw_text(&c.title, &title, (tiles::LEFT as i32, 10)).map_err(err)?;
    let centred = |size: u32, dark: bool| {
        let colour = if dark { WHITE } else { BLACK };
        font(size).color(&colour).pos(Pos::new(HPos::Center, VPos::Center))
    };
    for (code, row, col, label) in tiles::TILES {
        let value = t.values.iter().find(|(c, _, _)| c == code).and_then(|(_, _, v)| *v);
        let class = value.map(|v| tiles::class_of(&classes, v));
        let fill = class.map_or(none, |k| SHADES[k.min(4)]);
        let (x, y) = tiles::origin(row, col);
        let size = tiles::TILE as i32;
        root.draw(&Rectangle::new([(x, y), (x + size, y + size)], fill.filled())).map_err(err)?;
        let dark = class.is_some_and(|k| k >= 3);
        root.draw_text(label, &centred(12, dark), (x + size / 2, y + size / 2 - 7)).map_err(err)?;
        let shown = value.map_or_else(|| "–".to_string(), compact);
        root.draw_text(&shown, &centred(9, dark), (x + size / 2, y + size / 2 + 9)).map_err(err)?;
    }
    // The legend: one swatch per class with its range, then "no data".
    let x = tiles::LEGEND_X as i32;
    let mut y = tiles::TOP as i32;
    let left = font(11).color(&BLACK).pos(Pos::new(HPos::Left, VPos::Center));
    root.draw_text(&c.unit, &left, (x, y + 6)).map_err(err)?;
    y += 22;
    for (k, (lo, hi)) in classes.iter().enumerate() {
        root.draw(&Rectangle::new([(x, y), (x + 18, y + 14)], SHADES[k.min(4)].filled())).map_err(err)?;
        root.draw_text(&format!("{} – {}", number(*lo), number(*hi)), &left, (x + 26, y + 7)).map_err(err)?;
        y += 20;
    }
    root.draw(&Rectangle::new([(x, y), (x + 18, y + 14)], none.filled())).map_err(err)?;
    root.draw_text(tr(c.lang, "Không có số liệu", "No data"), &left, (x + 26, y + 7)).map_err(err)?;
    // Which label is which province: the key, in grid order.
    y += 34;
    let key = font(10).color(&RGBColor(60, 60, 60)).pos(Pos::new(HPos::Left, VPos::Center));
    for (i, (code, _, _, label)) in tiles::TILES.iter().enumerate() {
        let name = t.values.iter().find(|(c, _, _)| c == code).map_or(*code, |(_, n, _)| n.as_str());
        let (cx, cy) = (x + (i as i32 % 2) * 150, y + (i as i32 / 2) * 15);
        root.draw_text(&format!("{label}  {name}"), &key, (cx, cy)).map_err(err)?;
    }
    Ok(())
}

/// A value short enough for a tile: 12.3k, 1.2M.
fn compact(v: f64) -> String {
    match v.abs() {
        a if a >= 1e6 => format!("{:.1}M", v / 1e6),
        a if a >= 1e4 => format!("{:.0}k", v / 1e3),
        a if a >= 1e3 => format!("{:.1}k", v / 1e3),
        _ => number(v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_as_people_write_them() {
        assert_eq!(number(1234567.0), "1,234,567");
        assert_eq!(number(-1500.0), "-1,500");
        assert_eq!(number(12.345), "12.3");
        assert_eq!(number(0.456), "0.46");
        assert_eq!(number(40.0), "40");
        assert_eq!(compact(12_345.0), "12k");
        assert_eq!(compact(2_340_000.0), "2.3M");
    }
}
