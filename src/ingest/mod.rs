//! Ingestion layer: sources as external tables and `ingest(...)`, which
//! loads a source query into a Delta table with validation, quarantine,
//! watermarks and a run record (`voidx.ingest_runs`).
//!
//! Every source location is checked by [`crate::policy`].
//! * [`sources`] — `STORED AS REST / HTML / POSTGRES` table factories, and
//!   the file formats (CSV, PARQUET, JSON) wrapped with the allowlist and
//!   object-store credentials.
//! * [`load`] — the `ingest` table function.
//!
//! Nothing here reaches the engine: `ingest` runs its source query in the
//! session that calls it and creates tables through
//! [`crate::storage::relations`].

pub mod load;
pub mod sources;

use std::sync::Arc;

use datafusion::prelude::SessionContext;
use voidx_udfs::SqlFunction;

use crate::error::Result;
use crate::policy::Policy;
use crate::storage::catalog::Catalog;
use crate::storage::provider::Resolver;
use crate::storage::system::SystemSchema;

/// Registers the source factories (`STORED AS REST / HTML / POSTGRES` and
/// the checked file formats) on `ctx`.
pub fn register_sources(ctx: &SessionContext, policy: &Arc<Policy>) -> Result<()> {
    sources::register(ctx, policy)
}

/// The ingestion functions (`ingest`), with their documentation.
pub async fn functions(
    catalog: &Arc<Catalog>,
    resolver: &Arc<Resolver>,
    system: &SystemSchema,
    policy: &Arc<Policy>,
) -> Result<Vec<SqlFunction>> {
    let function = load::IngestFunction::open(catalog, resolver, system, policy).await?;
    Ok(vec![SqlFunction::table(function)])
}
