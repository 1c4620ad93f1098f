//! A table whose rows are produced by an async function when the query
//! runs (not when it is planned): system tables and table functions such as
//! `table_history` or `optimize` use it, so `EXPLAIN` never does the work.
//! The work runs with the statement's [`crate::progress`], so what it
//! notes reaches the client that asked.

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use async_trait::async_trait;
use datafusion::catalog::streaming::StreamingTable;
use datafusion::catalog::{Session, TableProvider};
use datafusion::error::Result;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::{Expr, TableType};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::PartitionStream;
use futures::TryStreamExt;
use futures::future::BoxFuture;

pub type Produce = Arc<dyn Fn() -> BoxFuture<'static, Result<Vec<RecordBatch>>> + Send + Sync>;

#[derive(Debug)]
pub struct LazyTable {
    inner: StreamingTable,
}

struct LazyPartition {
    schema: SchemaRef,
    produce: Produce,
}

impl std::fmt::Debug for LazyPartition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LazyPartition")
            .field("schema", &self.schema)
            .finish()
    }
}

impl PartitionStream for LazyPartition {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let produce = Arc::clone(&self.produce);
        // Taken now: the stream may be polled on another task.
        let progress = crate::progress::current();
        let batches =
            futures::stream::once(async move { crate::progress::scope(progress, produce()).await })
                .map_ok(|batches| futures::stream::iter(batches.into_iter().map(Ok)))
                .try_flatten();
        Box::pin(RecordBatchStreamAdapter::new(
            Arc::clone(&self.schema),
            batches,
        ))
    }
}

impl LazyTable {
    pub fn try_new(schema: SchemaRef, produce: Produce) -> Result<Arc<dyn TableProvider>> {
        let partition = Arc::new(LazyPartition {
            schema: Arc::clone(&schema),
            produce,
        });
        Ok(Arc::new(LazyTable {
            inner: StreamingTable::try_new(schema, vec![partition])?,
        }))
    }
}

#[async_trait]
impl TableProvider for LazyTable {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.inner.scan(state, projection, filters, limit).await
    }
}
