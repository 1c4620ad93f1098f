//! `deploy(model, version)` and `rollback(model)`: move production between
//! versions. Every move is an event in `voidx.deployments`; stages in
//! `voidx.models` follow from that log.
//!
//! ```sql
//! SELECT * FROM deploy('revenue_predictor', 3);
//! SELECT * FROM rollback('revenue_predictor');
//! ```

use std::sync::Arc;

use arrow::array::{Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::error::Result;
use futures::FutureExt;
use voidx_udfs::{Documented, SqlDoc};

use super::registry::{Registry, check_name};
use crate::error::VoidxError;
use crate::storage::functions::{literal_int, literal_str};
use crate::storage::lazy::LazyTable;

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("name", DataType::Utf8, false),
        Field::new("production_version", DataType::Int64, true),
        Field::new("previous_version", DataType::Int64, true),
    ]))
}

fn answer(name: &str, now: Option<i64>, previous: Option<i64>) -> Result<Vec<RecordBatch>> {
    Ok(vec![RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(StringArray::from(vec![name.to_string()])),
            Arc::new(Int64Array::from(vec![now])),
            Arc::new(Int64Array::from(vec![previous])),
        ],
    )?])
}

#[derive(Debug)]
pub struct Deploy(pub Arc<Registry>);

impl Documented for Deploy {
    const DOC: SqlDoc = SqlDoc {
        name: "deploy",
        kind: "table",
        syntax: "deploy(model, version)",
        description: "Makes `version` the production version of `model` (what predict('model', …) serves) and archives the previous one. Returns the new and previous production versions. Deploying the current production version changes nothing, except that it ends an A/B split (ab_split).",
        arguments: &[
            ("model", "model name"),
            ("version", "a version from voidx.models"),
        ],
        example: "SELECT * FROM deploy('revenue_predictor', 3);",
    };
}

impl TableFunctionImpl for Deploy {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let name = literal_str(args.exprs(), 0, "deploy", "the model name")?;
        check_name(&name)?;
        let version = literal_int(args.exprs(), 1, "deploy", "the version number")?
            .ok_or_else(|| VoidxError::InvalidArgument("deploy takes (model, version)".into()))?;
        let registry = Arc::clone(&self.0);
        LazyTable::try_new(
            schema(),
            Arc::new(move || {
                let (registry, name) = (Arc::clone(&registry), name.clone());
                async move {
                    let previous = registry.deploy(&name, version).await?;
                    answer(&name, Some(version), previous)
                }
                .boxed()
            }),
        )
    }
}

#[derive(Debug)]
pub struct Rollback(pub Arc<Registry>);

impl Documented for Rollback {
    const DOC: SqlDoc = SqlDoc {
        name: "rollback",
        kind: "table",
        syntax: "rollback(model)",
        description: "Undoes the latest deployment of `model`: production goes back to the version that was production before it (repeat to go further back). Returns the new production version (NULL when none is left) and the version rolled back from.",
        arguments: &[("model", "model name")],
        example: "SELECT * FROM rollback('revenue_predictor');",
    };
}

impl TableFunctionImpl for Rollback {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let name = literal_str(args.exprs(), 0, "rollback", "the model name")?;
        check_name(&name)?;
        let registry = Arc::clone(&self.0);
        LazyTable::try_new(
            schema(),
            Arc::new(move || {
                let (registry, name) = (Arc::clone(&registry), name.clone());
                async move {
                    let (undone, now) = registry.rollback(&name).await?;
                    answer(&name, now, Some(undone))
                }
                .boxed()
            }),
        )
    }
}

#[derive(Debug)]
pub struct AbSplit(pub Arc<Registry>);

impl Documented for AbSplit {
    const DOC: SqlDoc = SqlDoc {
        name: "ab_split",
        kind: "table",
        syntax: "ab_split(model, shares_json)",
        description: "Splits the REST traffic of `model` between versions, e.g. 90 % to version 3 and 10 % to version 4. Requests are routed by a stable hash of their customer_id, so a customer always sees the same version (sticky); requests without a customer_id go to production. Shares must sum to 1. The next deploy or rollback ends the split (all traffic to production). Shares show in voidx.models.traffic_share; SQL predict('model', …) keeps serving production (pin a version with 'model@4').",
        arguments: &[
            ("model", "model name"),
            (
                "shares_json",
                "JSON object version → share, e.g. '{\"3\": 0.9, \"4\": 0.1}'",
            ),
        ],
        example: "SELECT * FROM ab_split('revenue_predictor', '{\"1\": 0.9, \"2\": 0.1}');",
    };
}

fn split_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("name", DataType::Utf8, false),
        Field::new("version", DataType::Int64, false),
        Field::new("traffic_share", DataType::Float64, false),
    ]))
}

impl TableFunctionImpl for AbSplit {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let name = literal_str(args.exprs(), 0, "ab_split", "the model name")?;
        check_name(&name)?;
        let text = literal_str(args.exprs(), 1, "ab_split", "the shares as JSON text")?;
        let parsed: std::collections::BTreeMap<String, f64> =
            serde_json::from_str(&text).map_err(|e| {
                VoidxError::InvalidArgument(format!(
                    "ab_split shares: {e}. Help: '{{\"3\": 0.9, \"4\": 0.1}}' (version → share)"
                ))
            })?;
        let shares = parsed
            .iter()
            .map(|(v, s)| {
                v.trim().parse::<i64>().map(|v| (v, *s)).map_err(|_| {
                    VoidxError::InvalidArgument(format!(
                        "ab_split shares: '{v}' is not a version number"
                    ))
                })
            })
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let registry = Arc::clone(&self.0);
        LazyTable::try_new(
            split_schema(),
            Arc::new(move || {
                let (registry, name, shares) =
                    (Arc::clone(&registry), name.clone(), shares.clone());
                async move {
                    registry.split(&name, shares.clone()).await?;
                    let versions: Vec<i64> = shares.iter().map(|(v, _)| *v).collect();
                    let values: Vec<f64> = shares.iter().map(|(_, s)| *s).collect();
                    Ok(vec![RecordBatch::try_new(
                        split_schema(),
                        vec![
                            Arc::new(StringArray::from(vec![name.clone(); versions.len()])),
                            Arc::new(Int64Array::from(versions)),
                            Arc::new(arrow::array::Float64Array::from(values)),
                        ],
                    )?])
                }
                .boxed()
            }),
        )
    }
}
