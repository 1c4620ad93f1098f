//! VOIDX: a SQL-first machine-learning analytics server.
//!
//! Layers, in the direction data flows (see docs/architecture.md):
//! `storage` (Delta tables + persistent catalog) → `ingest` (sources and
//! validated loads) → `engine` (SQL over DataFusion) → `model` (training,
//! registry, serving functions) → `monitor` (drift, alerts, jobs) → `serve`
//! (pgwire and HTTP front ends). `demo` writes the
//! demo data set; `config` is the one configuration tree; `progress`
//! carries notes of long work from any layer to the front end that ran it.

pub mod app;
pub mod cli;
pub mod config;
pub mod demo;
pub mod engine;
pub mod error;
pub mod failpoint;
pub mod ingest;
pub mod model;
pub mod monitor;
pub mod policy;
pub mod progress;
pub mod serve;
pub mod storage;

#[cfg(test)]
mod props;
