//! Ingestion layer: sources as external tables and `ingest(...)`, which
//! loads a source query into a Delta table with validation, quarantine,
//! watermarks and a run record (`voidx.ingest_runs`).
//!
//! * [`policy`] — the allowlist every source location is checked against.
//! * [`sources`] — `STORED AS REST / HTML / POSTGRES` table factories, and
//!   the file formats (CSV, PARQUET, JSON) wrapped with the allowlist and
//!   object-store credentials.
//! * [`load`] — the `ingest` table function.

pub mod load;
pub mod policy;
pub mod sources;

use std::sync::Arc;

use datafusion::prelude::SessionContext;
use voidx_udfs::SqlDoc;

use crate::error::Result;
use crate::storage::provider::Resolver;
use crate::storage::system::SystemSchema;
use policy::Policy;

pub fn docs() -> Vec<SqlDoc> {
    vec![load::IngestFunction::DOC]
}

/// Registers the source factories and `ingest` on `ctx`.
pub async fn register(
    ctx: &SessionContext,
    resolver: &Arc<Resolver>,
    system: &SystemSchema,
    policy: &Arc<Policy>,
) -> Result<()> {
    sources::register(ctx, policy)?;
    let function = load::IngestFunction::open(resolver, system, policy).await?;
    ctx.register_udtf("ingest", Arc::new(function));
    Ok(())
}
