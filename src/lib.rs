//! homedoc: the monitoring-and-evaluation system and core services of Vietnam's
//! "Bác sĩ cho mọi nhà" ("A doctor for every home") telehealth program.
//!
//! The modules follow the flow of data: [`domain`] (the vocabulary), [`store`] (the
//! operational database the services write), [`reference`] (provinces, phases,
//! targets), [`generate`] (the calibrated program simulator), [`ingest`] (scheduled
//! pipelines from the store and the file drops), [`lake`] (the Delta tables),
//! [`rollup`] (day-level rollups kept up to date after ingestion), [`kpi`]
//! (DataFusion SQL over the lake), [`report`] (what each kind of user reads),
//! [`chart`] (plotters charts) and [`dashboard`] (the panels of the web pages).

pub mod app;
pub mod chart;
pub mod clock;
pub mod config;
pub mod dashboard;
pub mod domain;
pub mod generate;
pub mod ingest;
pub mod kpi;
pub mod lake;
pub mod reference;
pub mod report;
pub mod rollup;
pub mod services;
pub mod store;
pub mod web;
