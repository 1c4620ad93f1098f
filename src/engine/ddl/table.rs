//! `CREATE [OR REPLACE] TABLE … [AS SELECT …]`: the query runs to completion
//! (under the statement's deadline), then the rows become a managed table in
//! one Delta create and one catalog commit.

use std::sync::Arc;

use datafusion::logical_expr::{CreateMemoryTable, LogicalPlan};

use super::names::{check_existing, target_for_create};
use crate::engine::timeout::{self, Deadline};
use crate::engine::{CommandTag, Engine};
use crate::error::Result;
use crate::storage::catalog::Kind;
use crate::storage::relations::store_table;

pub(super) async fn create_table(
    engine: &Engine,
    cmd: CreateMemoryTable,
    deadline: Deadline,
) -> Result<CommandTag> {
    let (schema, name) = target_for_create(engine, &cmd.name)?;
    let existing = engine.catalog.get(&schema, &name);
    if check_existing(
        existing.as_ref(),
        Kind::Table,
        cmd.if_not_exists,
        cmd.or_replace,
    )? {
        return Ok(CommandTag::new("CREATE TABLE"));
    }
    let is_ctas = !matches!(cmd.input.as_ref(), LogicalPlan::EmptyRelation(_));
    let df = engine
        .ctx
        .execute_logical_plan(cmd.input.as_ref().clone())
        .await?;
    let arrow_schema = Arc::new(df.schema().as_arrow().clone());
    let batches = timeout::run(deadline, df.collect()).await??;
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();

    store_table(
        &engine.catalog,
        &engine.resolver,
        &schema,
        &name,
        arrow_schema,
        batches,
        cmd.or_replace,
    )
    .await?;
    Ok(if is_ctas {
        CommandTag::with_rows("SELECT", rows)
    } else {
        CommandTag::new("CREATE TABLE")
    })
}
