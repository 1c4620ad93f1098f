//! `data_dictionary([schema, …])`: the data dictionary of [`super::render`]
//! as a table function of one row, `(markdown)`. Schema names are checked
//! when the call is planned; the page is made when the query runs.
//!
//! ```sql
//! SELECT markdown FROM data_dictionary('shop', 'features');
//! ```

use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl, TableProvider};
use futures::FutureExt;
use voidx_udfs::{Documented, SqlDoc};

use super::{ModelUses, render, wanted};
use crate::storage::functions::literal_str;
use crate::storage::lazy::LazyTable;
use crate::storage::provider::Resolver;
use crate::storage::system::SystemSchema;

/// `data_dictionary([schema, …])`: one row, the dictionary as markdown.
#[derive(Debug)]
pub struct DataDictionary {
    pub resolver: Arc<Resolver>,
    pub system: Arc<SystemSchema>,
    pub models: Arc<dyn ModelUses>,
}

impl Documented for DataDictionary {
    const DOC: SqlDoc = SqlDoc {
        name: "data_dictionary",
        kind: "table",
        syntax: "data_dictionary([schema, ...])",
        description: "The data dictionary generated from the catalog: one row `(markdown)` describing every relation of the schemas named (every schema when none is), each with its `COMMENT ON` text, kind (table, view, feature view — a view in `features` —, external table), rows (Delta tables), columns with their PostgreSQL type, NOT NULL, comment and — for relations a model was trained on — which feature or target each column is, CHECK constraints, the view's or source's SQL (secrets masked) and the models that read it. The system tables of `voidx` get a short list, or full tables when `voidx` is named. Every login may read every relation, so every login sees the same dictionary; temporary tables are not in the catalog and not listed. Also served as `GET /v1/docs/data-dictionary` and `voidx docs data-dictionary`; docs/data-dictionary.md is this output for `serve --demo`.",
        arguments: &[(
            "schema",
            "a schema to describe (optional, repeatable); 'voidx' describes the system tables",
        )],
        example: "SELECT markdown FROM data_dictionary('shop');",
    };
}

fn dictionary_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![Field::new(
        "markdown",
        DataType::Utf8,
        false,
    )]))
}

impl TableFunctionImpl for DataDictionary {
    fn call_with_args(
        &self,
        args: TableFunctionArgs,
    ) -> datafusion::error::Result<Arc<dyn TableProvider>> {
        let exprs = args.exprs();
        let schemas = (0..exprs.len())
            .map(|i| literal_str(exprs, i, "data_dictionary", "a schema name"))
            .collect::<datafusion::error::Result<Vec<String>>>()?;
        // Checked when planned, so a misspelt schema fails before any work.
        wanted(&self.resolver.catalog, &schemas)?;
        let (resolver, system, models) = (
            Arc::clone(&self.resolver),
            Arc::clone(&self.system),
            Arc::clone(&self.models),
        );
        LazyTable::try_new(
            dictionary_schema(),
            Arc::new(move || {
                let (resolver, system, models, schemas) = (
                    Arc::clone(&resolver),
                    Arc::clone(&system),
                    Arc::clone(&models),
                    schemas.clone(),
                );
                async move {
                    let markdown =
                        render(&resolver, &system, &models.model_uses(), &schemas).await?;
                    let column: ArrayRef = Arc::new(StringArray::from(vec![markdown]));
                    Ok(vec![RecordBatch::try_new(
                        dictionary_schema(),
                        vec![column],
                    )?])
                }
                .boxed()
            }),
        )
    }
}
