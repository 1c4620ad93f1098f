//! Integration tests: one binary (links once), one module per concern.

mod alert_repeat;
mod bi_tools;
mod clients;
mod comments;
mod compaction;
// A path attribute makes common.rs resolve its own modules (common/*.rs) the
// same way here and in the slt binary, which includes it by path.
#[path = "common.rs"]
mod common;
mod concurrent_writes;
mod crash;
mod dashboard;
mod data_dictionary;
mod dbt;
mod demo_features;
mod durability;
mod errors;
mod ingest;
mod ingest_faults;
mod model_card;
mod models;
mod monitor;
mod monitor_jobs;
mod object_stores;
mod persistence;
mod pg_fidelity;
mod pg_server;
mod pipelines;
mod progress;
mod psql;
mod replicas;
mod rest;
mod rest_batch;
mod security;
mod security_bypass;
mod security_keys;
mod security_writes;
mod sources_http;
mod sources_pg;
mod sources_pg_tls;
mod table_memory;
