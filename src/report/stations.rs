//! `province-stations`, for provincial managers: every live station of one province
//! ranked by uptake over the weeks up to the end of the period (the league table),
//! and the low-uptake list, one row per station and reason.
//!
//! For an audience with a suppression k (provincial managers) a station's small
//! booking or video-call count is hidden, with what is computed from it (the rate,
//! its ratio to the median, the trend), and partners among the other stations so
//! that the province's total for the window, which another request returns, does
//! not give it away. The rank and the flags stay: they are what the table is for,
//! and a rank only bounds a hidden rate between its neighbours'.

use super::suppress::{self, Grid, Margins};
use super::{Cell, ChartKind, Report, ReportError, Table, freshness, tr};
use crate::domain::BoundarySet;
use crate::kpi::uptake::{Reason, UptakeThresholds, Windows};
use crate::kpi::{Engine, Lang, Period};

pub struct Options {
    pub period: Period,
    pub province: String,
    pub boundary: BoundarySet,
    pub lang: Lang,
    pub thresholds: UptakeThresholds,
    /// The audience's suppression k, if it has one.
    pub k: Option<u32>,
}

/// Which stations' counts `k` hides, for one count of every station.
fn hidden(counts: impl Iterator<Item = f64>, k: Option<u32>) -> Vec<bool> {
    let cells: Vec<Vec<f64>> = counts.map(|v| vec![v]).collect();
    let Some(k) = k.filter(|_| !cells.is_empty()) else { return vec![false; cells.len()] };
    let n = cells.len();
    let s = suppress::suppress_with(&Grid::from_cells(cells), k, Margins::Published);
    (0..n).map(|r| s.is_hidden((r, 0))).collect()
}

/// A reason in words, with the threshold that raised it.
fn reason_text(r: Reason, t: &UptakeThresholds, lang: Lang) -> String {
    let pct = |v: f64| format!("{:.0}%", 100.0 * v);
    match r {
        Reason::NoBookings => tr(
            lang,
            &format!("Không có lượt đặt lịch trong {} tuần gần nhất", t.no_bookings_weeks),
            &format!("No bookings in the last {} weeks", t.no_bookings_weeks),
        ),
        Reason::LowRate => tr(
            lang,
            &format!("Lượt đặt lịch/1.000 dân thấp hơn {} trung vị của tỉnh", pct(t.low_rate_ratio)),
            &format!("Bookings per 1,000 population at most {} of the province median", pct(t.low_rate_ratio)),
        ),
        Reason::FallingTrend => tr(
            lang,
            &format!("Xu hướng giảm: so với nửa năm trước, thấp hơn {} mức chung của tỉnh", pct(t.falling_ratio)),
            &format!("Falling: against half a year earlier, at most {} of the province's change", pct(t.falling_ratio)),
        ),
        Reason::NoTrainedWorker => tr(lang, "Không có cán bộ được đào tạo", "No trained worker"),
        Reason::NoVideoCalls => tr(lang, "Không có cuộc gọi video trong kỳ", "No video call in the window"),
    }
}

pub async fn build(engine: &Engine, o: &Options) -> Result<Report, ReportError> {
    let lang = o.lang;
    let t = |vi: &str, en: &str| tr(lang, vi, en);
    let name = engine.province_name(o.boundary, &o.province).ok_or_else(|| {
        ReportError::Usage(format!("province {:?} is not a province code of the {} set", o.province, o.boundary))
    })?;
    let stations = engine.low_uptake(o.period.end, o.boundary, Some(&o.province), &o.thresholds).await?;
    let w = Windows::new(o.period.end, &o.thresholds);

    let mut league = Table::new(
        "league",
        t(&format!("Xếp hạng trạm y tế, {}", w.window), &format!("Station league table, {}", w.window)),
        &[
            ("rank", t("Hạng", "Rank")),
            ("station", t("Mã trạm", "Station code")),
            ("station_name", t("Trạm y tế", "Station")),
            ("go_live", t("Ngày triển khai", "Go-live")),
            ("catchment", t("Dân số địa bàn", "Catchment population")),
            ("bookings", t("Lượt đặt lịch", "Bookings")),
            ("bookings_per_1000", t("Đặt lịch/1.000 dân", "Bookings per 1,000 population")),
            ("vs_province_median", t("So với trung vị tỉnh", "Against province median")),
            ("trend_vs_province", t("Xu hướng so với tỉnh", "Trend against province")),
            ("video_calls", t("Cuộc gọi video", "Video calls")),
            ("trained_worker", t("Có cán bộ được đào tạo", "Trained worker")),
            ("flags", t("Cảnh báo", "Flags")),
            ("suppressed", t("Ẩn (số nhỏ)", "Suppressed (small count)")),
        ],
    )
    .with_chart(ChartKind::Bar, None, "station_name", "bookings_per_1000");
    let mut flagged = Table::new(
        "low_uptake",
        t("Trạm có mức sử dụng thấp", "Low-uptake stations"),
        &[
            ("station", t("Mã trạm", "Station code")),
            ("station_name", t("Trạm y tế", "Station")),
            ("reason", t("Mã lý do", "Reason code")),
            ("reason_text", t("Lý do", "Reason")),
        ],
    );
    let yes_no = |b: bool| Cell::Text(if b { t("có", "yes") } else { t("không", "no") });
    let hidden_bookings = hidden(stations.iter().map(|s| s.bookings), o.k);
    let hidden_calls = hidden(stations.iter().map(|s| s.video_calls), o.k);
    for ((s, &no_bookings), &no_calls) in stations.iter().zip(&hidden_bookings).zip(&hidden_calls) {
        let flags = s.reasons.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(" ");
        let unless = |hide: bool, cell: Cell| if hide { Cell::Empty } else { cell };
        let what = [(no_bookings, "bookings"), (no_calls, "video_calls")];
        league.rows.push(vec![
            Cell::Int(s.rank as i64),
            Cell::Text(s.station.clone()),
            Cell::Text(s.name.clone()),
            s.go_live.map_or(Cell::Empty, Cell::Date),
            s.catchment.map_or(Cell::Empty, Cell::Int),
            unless(no_bookings, Cell::count(s.bookings)),
            unless(no_bookings, Cell::number(s.rate)),
            unless(no_bookings, Cell::number(s.rate_vs_median)),
            unless(no_bookings, Cell::number(s.trend_vs_median)),
            unless(no_calls, Cell::count(s.video_calls)),
            yes_no(s.trained),
            Cell::Text(if s.judged { flags } else { t("mới triển khai", "recently live") }),
            Cell::Text(what.iter().filter(|w| w.0).map(|w| w.1).collect::<Vec<_>>().join(" ")),
        ]);
    }
    // Most reasons first, so that the worst cases lead the list.
    let mut worst: Vec<_> = stations.iter().filter(|s| !s.reasons.is_empty()).collect();
    worst.sort_by(|a, b| b.reasons.len().cmp(&a.reasons.len()).then(a.rank.cmp(&b.rank).reverse()));
    for s in worst {
        for r in &s.reasons {
            flagged.rows.push(vec![
                Cell::Text(s.station.clone()),
                Cell::Text(s.name.clone()),
                Cell::Text(r.as_str().into()),
                Cell::Text(reason_text(*r, &o.thresholds, lang)),
            ]);
        }
    }
    Ok(Report {
        name: "province-stations".into(),
        title: t(&format!("Trạm y tế của {name}"), &format!("Stations of {name}")),
        period: o.period.clone(),
        lang,
        snapshot: engine.snapshot().clone(),
        freshness: freshness(engine).await?,
        tables: vec![league, flagged],
    })
}
