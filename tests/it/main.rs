//! Integration tests: one binary (links once), one module per concern.

mod clients;
mod common;
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
mod security;
mod security_bypass;
mod security_keys;
mod security_writes;
mod sources_http;
mod sources_pg;
mod sources_pg_tls;
