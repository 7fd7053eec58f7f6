//! Charts drawn with plotters: what each chart kind shows ([`Chart`], plain data, no
//! engine) and how it is drawn, as SVG for pages and as PNG for exports. Text is
//! laid out with the font compiled into the binary (DejaVu Sans cut to Latin and
//! Vietnamese), so that a chart is the same bytes on every machine; pages serve the
//! same font to the browser under [`FONT_FAMILY`].

mod draw;
pub mod tiles;

use std::sync::Once;

use chrono::NaiveDate;
use plotters::prelude::*;

use crate::kpi::Lang;
use crate::kpi::targets::Status;

/// The font file, served to browsers at `/static/homedoc-sans.ttf`.
pub const FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans-vi.ttf");
/// The family name charts write and pages declare with `@font-face`.
pub const FONT_FAMILY: &str = "homedoc-sans";

#[derive(Debug, thiserror::Error)]
pub enum ChartError {
    #[error("drawing a chart: {0}")]
    Draw(String),
    #[error("encoding a PNG: {0}")]
    Png(String),
}

/// One line of a line chart: a value per date (the start of its period).
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub name: String,
    pub points: Vec<(NaiveDate, Option<f64>)>,
}

/// A series over time, with the target (value and date) and the projection from
/// the last actual value to the target date, where the KPI has a target.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Line {
    pub series: Vec<Series>,
    pub target: Option<(NaiveDate, f64)>,
    pub projection: Option<(NaiveDate, f64)>,
}

/// One bar, coloured by its target status when it has one.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    pub label: String,
    pub value: Option<f64>,
    pub status: Option<Status>,
}

/// Bars split into parts: one stack per category (a month, a province), one part
/// per series (a call purpose).
#[derive(Debug, Clone, PartialEq)]
pub struct Stacked {
    pub categories: Vec<String>,
    /// (series name, one value per category).
    pub series: Vec<(String, Vec<f64>)>,
}

/// The same rate for the groups of each dimension (sex, age band, ethnic minority),
/// beside the rate of everyone.
#[derive(Debug, Clone, PartialEq)]
pub struct Equity {
    /// (dimension title, [(group, value)]).
    pub dimensions: Vec<(String, Vec<(String, Option<f64>)>)>,
    pub overall: Option<f64>,
}

/// One small line chart per unit (a province, a station), on a shared scale.
#[derive(Debug, Clone, PartialEq)]
pub struct Multiples {
    pub panels: Vec<(String, Vec<(NaiveDate, Option<f64>)>)>,
}

/// A value per province of the 34 set, drawn on the tile grid.
#[derive(Debug, Clone, PartialEq)]
pub struct TileMap {
    /// (34-set province code, province name, value).
    pub values: Vec<(String, String, Option<f64>)>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    Line(Line),
    Bars(Vec<Bar>),
    Stacked(Stacked),
    Equity(Equity),
    Multiples(Multiples),
    TileMap(TileMap),
}

/// A chart: its title, the unit of its values (the axis label) and its data.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    pub title: String,
    pub unit: String,
    pub kind: Kind,
    pub lang: Lang,
}

/// A colour-blind-safe palette (Okabe and Ito), for series.
pub const PALETTE: [RGBColor; 7] = [
    RGBColor(0, 114, 178),
    RGBColor(230, 159, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(86, 180, 233),
    RGBColor(213, 94, 0),
    RGBColor(240, 228, 66),
];

/// Target status colours from the same palette: green, orange, vermillion; grey
/// where there is no target. Legends name them, so colour is never the only cue.
pub fn status_colour(s: Option<Status>) -> RGBColor {
    match s {
        Some(Status::OnTrack) => RGBColor(0, 158, 115),
        Some(Status::AtRisk) => RGBColor(230, 159, 0),
        Some(Status::OffTrack) => RGBColor(213, 94, 0),
        None => RGBColor(160, 160, 160),
    }
}

/// The name of a status in the chart's language.
pub fn status_name(s: Option<Status>, lang: Lang) -> &'static str {
    match (s, lang) {
        (Some(Status::OnTrack), Lang::Vi) => "Đúng tiến độ",
        (Some(Status::OnTrack), Lang::En) => "On track",
        (Some(Status::AtRisk), Lang::Vi) => "Có nguy cơ",
        (Some(Status::AtRisk), Lang::En) => "At risk",
        (Some(Status::OffTrack), Lang::Vi) => "Chậm tiến độ",
        (Some(Status::OffTrack), Lang::En) => "Off track",
        (None, Lang::Vi) => "Không có chỉ tiêu",
        (None, Lang::En) => "No target",
    }
}

fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Also under the name plotters' defaults ask for, so that nothing falls back
        // to a font of the machine.
        for name in [FONT_FAMILY, "sans-serif"] {
            for style in [FontStyle::Normal, FontStyle::Bold] {
                if plotters::style::register_font(name, style, FONT).is_err() {
                    panic!("the bundled font does not parse");
                }
            }
        }
    });
}

impl Chart {
    /// The chart's pixel size: what its kind and data need at a 640-pixel width.
    pub fn size(&self) -> (u32, u32) {
        match &self.kind {
            Kind::Line(_) => (640, 300),
            Kind::Bars(bars) => (640, 70 + 16 * bars.len().max(3) as u32),
            Kind::Stacked(_) => (640, 320),
            Kind::Equity(e) => {
                let rows: usize = e.dimensions.iter().map(|(_, g)| g.len() + 1).sum();
                (640, 80 + 18 * rows.max(3) as u32)
            }
            Kind::Multiples(m) => {
                let rows = m.panels.len().div_ceil(draw::MULTIPLES_COLUMNS).max(1) as u32;
                (640, 40 + 110 * rows)
            }
            Kind::TileMap(_) => tiles::size(),
        }
    }

    /// The chart as an SVG element (no XML prologue), to inline in a page.
    pub fn svg(&self) -> Result<String, ChartError> {
        register_font();
        let mut out = String::new();
        {
            let root = SVGBackend::with_string(&mut out, self.size()).into_drawing_area();
            draw::draw(&root, self)?;
            root.present().map_err(|e| ChartError::Draw(e.to_string()))?;
        }
        Ok(out)
    }

    /// The chart as a PNG image.
    pub fn png(&self) -> Result<Vec<u8>, ChartError> {
        register_font();
        let (w, h) = self.size();
        let mut pixels = vec![0u8; (w * h * 3) as usize];
        {
            let root = BitMapBackend::with_buffer(&mut pixels, (w, h)).into_drawing_area();
            draw::draw(&root, self)?;
            root.present().map_err(|e| ChartError::Draw(e.to_string()))?;
        }
        let mut out = Vec::new();
        let mut encoder = png::Encoder::new(&mut out, w, h);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let png_err = |e: png::EncodingError| ChartError::Png(e.to_string());
        let mut writer = encoder.write_header().map_err(png_err)?;
        writer.write_image_data(&pixels).map_err(png_err)?;
        writer.finish().map_err(png_err)?;
        Ok(out)
    }
}
