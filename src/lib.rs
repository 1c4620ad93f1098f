//! VOIDX: a SQL-first machine-learning analytics server.
//!
//! Layers, in the direction data flows (see docs/architecture.md):
//! `storage` (Delta tables + persistent catalog) → `engine` (SQL over
//! DataFusion) → `serve` (pgwire and HTTP front ends). `demo` writes the
//! demo data set; `config` is the one configuration tree.

pub mod cli;
pub mod config;
pub mod demo;
pub mod engine;
pub mod error;
pub mod model;
pub mod serve;
pub mod storage;
