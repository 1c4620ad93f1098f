//! `ingest(target, query [, options_json])`: loads the rows of a source
//! query into a Delta table.

use std::sync::Arc;

use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::error::Result;
use voidx_udfs::SqlDoc;

use super::policy::Policy;
use crate::error::VoidxError;
use crate::storage::provider::Resolver;
use crate::storage::system::SystemSchema;

#[derive(Debug)]
pub struct IngestFunction {
    resolver: Arc<Resolver>,
    policy: Arc<Policy>,
}

impl IngestFunction {
    pub const DOC: SqlDoc = SqlDoc {
        name: "ingest",
        kind: "table",
        syntax: "ingest(target, query [, options_json])",
        description: "Loads the rows of `query` into the Delta table `target`.",
        arguments: &[],
        example: "SELECT * FROM ingest('raw.orders', 'SELECT * FROM orders_api', '{\"mode\": \"append\"}');",
    };

    pub async fn open(
        resolver: &Arc<Resolver>,
        _system: &SystemSchema,
        policy: &Arc<Policy>,
    ) -> crate::error::Result<IngestFunction> {
        Ok(IngestFunction {
            resolver: Arc::clone(resolver),
            policy: Arc::clone(policy),
        })
    }
}

impl TableFunctionImpl for IngestFunction {
    fn call_with_args(&self, _args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let _ = (&self.resolver, &self.policy);
        Err(VoidxError::Unsupported("ingest is not built yet".into()).into())
    }
}
