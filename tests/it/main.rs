//! The one integration-test binary (each extra binary would link everything again).

mod api;
mod cli;
mod domain;
mod generate;
mod ingest;
mod reference;
mod store;
mod support;
