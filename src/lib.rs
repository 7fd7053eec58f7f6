//! homedoc: the monitoring-and-evaluation system and core services of Vietnam's
//! "Bác sĩ cho mọi nhà" ("A doctor for every home") telehealth program.
//!
//! The modules follow the flow of data: [`domain`] (the vocabulary), [`store`] (the
//! operational database the services write), [`reference`] (provinces, phases,
//! targets), [`generate`] (the calibrated program simulator), [`ingest`] (scheduled
//! pipelines from the store and the file drops) and [`lake`] (the Delta tables).

pub mod app;
pub mod clock;
pub mod config;
pub mod domain;
pub mod generate;
pub mod ingest;
pub mod lake;
pub mod reference;
pub mod services;
pub mod store;
pub mod web;
