//! /metrics in the Prometheus text format: requests and latencies per route, the
//! database pool, and the group commit (bookings per commit, i.e. per WAL sync on
//! SQLite with synchronous=FULL).

use std::sync::atomic::Ordering;

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};

use crate::services::WriterStats;

pub struct Metrics {
    registry: Registry,
    pub requests: IntCounterVec,
    pub latency: HistogramVec,
    pool: IntGaugeVec,
    commits: IntGauge,
    writes: IntGauge,
    bookings: IntGauge,
    failed_commits: IntGauge,
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new_custom(Some("homedoc".into()), None).expect("valid registry");
        let requests = IntCounterVec::new(
            Opts::new("http_requests_total", "HTTP requests by route, method and status"),
            &["method", "route", "status"],
        )
        .expect("valid metric");
        let latency = HistogramVec::new(
            HistogramOpts::new("http_request_duration_seconds", "HTTP request latency by route")
                .buckets(vec![0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5]),
            &["method", "route"],
        )
        .expect("valid metric");
        let pool = IntGaugeVec::new(Opts::new("db_pool_connections", "Database pool connections by state"), &["state"])
            .expect("valid metric");
        let gauge = |name: &str, help: &str| IntGauge::new(name, help).expect("valid metric");
        let commits = gauge("write_commits", "Group commits (one WAL sync each on SQLite with synchronous=FULL)");
        let writes = gauge("write_jobs", "Writes committed or refused through the group commit");
        let bookings = gauge("bookings_committed", "New appointments committed");
        let failed_commits = gauge("write_failed_commits", "Group commits that failed (all their writes answered 503)");
        for c in [&commits, &writes, &bookings, &failed_commits] {
            registry.register(Box::new(c.clone())).expect("unique metric");
        }
        registry.register(Box::new(requests.clone())).expect("unique metric");
        registry.register(Box::new(latency.clone())).expect("unique metric");
        registry.register(Box::new(pool.clone())).expect("unique metric");
        Metrics { registry, requests, latency, pool, commits, writes, bookings, failed_commits }
    }

    /// The text exposition, with the gauges read now.
    pub fn render(&self, pool_size: u32, pool_idle: usize, writer: &WriterStats) -> String {
        self.pool.with_label_values(&["open"]).set(i64::from(pool_size));
        self.pool.with_label_values(&["idle"]).set(pool_idle as i64);
        self.pool.with_label_values(&["in_use"]).set(i64::from(pool_size) - pool_idle as i64);
        let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed) as i64;
        self.commits.set(load(&writer.commits));
        self.writes.set(load(&writer.jobs));
        self.bookings.set(load(&writer.bookings));
        self.failed_commits.set(load(&writer.failed_commits));
        let mut out = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}
