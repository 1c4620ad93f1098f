//! `MERGE INTO` a managed table, planned by DataFusion and executed by
//! Delta's merge (one commit): the planned source rows become the merge
//! source, the `ON` condition and every `WHEN` clause are handed over with
//! their columns re-qualified as `target.` / `source.`. `UPDATE … FROM` and
//! `DELETE … USING` reach this too ([`crate::engine`] rewrites them to MERGE).
//!
//! ```sql
//! MERGE INTO dbt.orders AS t USING orders__dbt_tmp AS s ON t.id = s.id
//! WHEN MATCHED THEN UPDATE SET amount = s.amount
//! WHEN NOT MATCHED THEN INSERT (id, amount) VALUES (s.id, s.amount);
//! ```

use std::sync::Arc;

use datafusion::catalog::MemTable;
use datafusion::catalog::Session;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Column, DFSchemaRef, TableReference};
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::Expr;
use datafusion::logical_expr::dml::{MergeIntoAction, MergeIntoClause, MergeIntoClauseKind};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionContext;
use deltalake::DeltaTable;

const TARGET: &str = "target";
const SOURCE: &str = "source";

/// Merges `source` into `table`; returns the number of rows inserted,
/// updated or deleted (PostgreSQL's MERGE tag counts them together).
pub async fn merge(
    table: DeltaTable,
    target_fields: usize,
    state: &dyn Session,
    source: Arc<dyn ExecutionPlan>,
    merge_schema: DFSchemaRef,
    on: Expr,
    clauses: Vec<MergeIntoClause>,
) -> Result<u64> {
    // The first columns of the merge schema are the target's; their qualifier names it.
    let target_qualifier = merge_schema
        .iter()
        .take(target_fields)
        .find_map(|(q, _)| q.cloned());
    // Unaliased too: the planner names a rewritten UPDATE's condition
    // (`s.id = t.id` AS "s.id = t.id"), and Delta's merge, which writes its
    // target filter into the commit as SQL, cannot print an alias ("Unable
    // to convert expression to string").
    let requalify = |e: Expr| -> Result<Expr> {
        Ok(e.unalias_nested()
            .data
            .transform(|e| {
                Ok(match e {
                    Expr::Column(c) => {
                        let side = match (&c.relation, &target_qualifier) {
                            (Some(r), Some(t)) if same_table(r, t) => TARGET,
                            (Some(_), _) => SOURCE,
                            // Unqualified: whichever side has the column, the target first.
                            (None, _) => {
                                if merge_schema
                                    .iter()
                                    .take(target_fields)
                                    .any(|(_, f)| f.name() == &c.name)
                                {
                                    TARGET
                                } else {
                                    SOURCE
                                }
                            }
                        };
                        Transformed::yes(Expr::Column(Column::new(Some(side), c.name)))
                    }
                    other => Transformed::no(other),
                })
            })?
            .data)
    };
    let batches = datafusion::physical_plan::collect(Arc::clone(&source), state.task_ctx()).await?;
    let (source_schema, batches) = without_views(&source.schema(), batches)?;
    let ctx = SessionContext::new();
    let frame = ctx.read_table(Arc::new(MemTable::try_new(source_schema, vec![batches])?))?;
    let target_columns: Vec<String> = merge_schema
        .iter()
        .take(target_fields)
        .map(|(_, f)| f.name().clone())
        .collect();
    let mut builder = table
        .merge(frame, requalify(on)?)
        .with_source_alias(SOURCE)
        .with_target_alias(TARGET);
    for clause in clauses {
        let predicate = clause.predicate.map(requalify).transpose()?;
        builder = match (clause.kind, clause.action) {
            (MergeIntoClauseKind::Matched, MergeIntoAction::Update(sets)) => {
                let sets = sets
                    .into_iter()
                    .map(|(c, e)| Ok((quoted(&c), requalify(e)?)))
                    .collect::<Result<Vec<_>>>()?;
                builder.when_matched_update(|mut u| {
                    if let Some(p) = predicate {
                        u = u.predicate(p);
                    }
                    for (c, e) in sets {
                        u = u.update(c, e);
                    }
                    u
                })
            }
            (MergeIntoClauseKind::Matched, MergeIntoAction::Delete) => {
                builder.when_matched_delete(|mut d| {
                    if let Some(p) = predicate {
                        d = d.predicate(p);
                    }
                    d
                })
            }
            (MergeIntoClauseKind::NotMatchedBySource, MergeIntoAction::Update(sets)) => {
                let sets = sets
                    .into_iter()
                    .map(|(c, e)| Ok((quoted(&c), requalify(e)?)))
                    .collect::<Result<Vec<_>>>()?;
                builder.when_not_matched_by_source_update(|mut u| {
                    if let Some(p) = predicate {
                        u = u.predicate(p);
                    }
                    for (c, e) in sets {
                        u = u.update(c, e);
                    }
                    u
                })
            }
            (MergeIntoClauseKind::NotMatchedBySource, MergeIntoAction::Delete) => builder
                .when_not_matched_by_source_delete(|mut d| {
                    if let Some(p) = predicate {
                        d = d.predicate(p);
                    }
                    d
                }),
            (kind, MergeIntoAction::Insert { columns, values }) if kind.is_not_matched_by_target() => {
                let columns = if columns.is_empty() {
                    target_columns.clone()
                } else {
                    columns
                };
                let values = values
                    .into_iter()
                    .map(requalify)
                    .collect::<Result<Vec<_>>>()?;
                builder.when_not_matched_insert(|mut i| {
                    if let Some(p) = predicate {
                        i = i.predicate(p);
                    }
                    for (c, e) in columns.iter().zip(values) {
                        i = i.set(quoted(c), e);
                    }
                    i
                })
            }
            (kind, action) => {
                return Err(DataFusionError::Plan(format!(
                    "MERGE clause {kind:?} cannot {action:?}. Help: WHEN MATCHED takes UPDATE or DELETE, WHEN NOT MATCHED takes INSERT"
                )));
            }
        }
        .map_err(delta_err)?;
    }
    let (_, metrics) = builder.await.map_err(delta_err)?;
    Ok((metrics.num_target_rows_inserted
        + metrics.num_target_rows_updated
        + metrics.num_target_rows_deleted) as u64)
}

/// The source rows with string and binary *views* as plain strings and
/// binaries. Delta's merge writes the key values it prunes the target with
/// into the commit as SQL text, and cannot spell a view literal ("Unable
/// to convert expression to string"); DataFusion reads Parquet strings as
/// views, so every `UPDATE … FROM` over a table hit it.
fn without_views(
    schema: &arrow::datatypes::SchemaRef,
    batches: Vec<arrow::array::RecordBatch>,
) -> Result<(arrow::datatypes::SchemaRef, Vec<arrow::array::RecordBatch>)> {
    use arrow::datatypes::{DataType, Field, Schema};
    let plain = |t: &DataType| match t {
        DataType::Utf8View => Some(DataType::Utf8),
        DataType::BinaryView => Some(DataType::Binary),
        _ => None,
    };
    if !schema
        .fields()
        .iter()
        .any(|f| plain(f.data_type()).is_some())
    {
        return Ok((Arc::clone(schema), batches));
    }
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| match plain(f.data_type()) {
            Some(t) => f.as_ref().clone().with_data_type(t),
            None => f.as_ref().clone(),
        })
        .collect();
    let target = Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()));
    let batches = batches
        .iter()
        .map(|b| {
            let columns = b
                .columns()
                .iter()
                .zip(target.fields())
                .map(|(c, f)| arrow::compute::cast(c, f.data_type()))
                .collect::<std::result::Result<Vec<_>, _>>()?;
            Ok(arrow::array::RecordBatch::try_new(
                Arc::clone(&target),
                columns,
            )?)
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((target, batches))
}

/// `r` names the target `t`, however fully either is spelled.
fn same_table(r: &TableReference, t: &TableReference) -> bool {
    r == t
        || (r.table() == t.table()
            && r.schema().zip(t.schema()).is_none_or(|(a, b)| a == b)
            && r.catalog().zip(t.catalog()).is_none_or(|(a, b)| a == b))
}

/// Delta parses column names; quoting keeps their case and spelling.
fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn delta_err(e: deltalake::DeltaTableError) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}
