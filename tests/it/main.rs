//! The one integration-test binary (each extra binary would link everything again).

mod api;
mod cli;
mod domain;
mod generate;
mod ingest;
mod kpi;
mod pilot;
mod reference;
mod reports;
mod rollups;
mod slt;
mod store;
mod support;
