//! Integration tests: one binary (links once), one module per concern.

mod clients;
mod common;
mod errors;
mod models;
mod monitor;
mod persistence;
mod psql;
mod rest;
mod slt;
