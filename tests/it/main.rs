//! Integration tests: one binary (links once), one module per concern.

mod alert_repeat;
mod clients;
mod common;
mod crash;
mod dbt;
mod durability;
mod errors;
mod ingest;
mod ingest_faults;
mod models;
mod monitor;
mod monitor_jobs;
mod persistence;
mod pg_server;
mod pipelines;
mod psql;
mod rest;
mod rest_batch;
mod security;
mod security_bypass;
mod security_keys;
mod security_writes;
mod sources_http;
mod sources_pg;
mod sources_pg_tls;
