//! The one integration-test binary (each extra binary would link everything again).

mod api;
mod browser;
mod cli;
mod dashboards;
mod domain;
mod generate;
mod ingest;
mod kpi;
mod pages;
mod pilot;
mod reference;
mod reports;
mod rollups;
mod slt;
mod small_cells;
mod store;
mod support;
