//! Quality rules: which rows break NOT NULL, CHECK constraints or key uniqueness.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BooleanArray, BooleanBuilder, RecordBatch};
use arrow::datatypes::Schema;
use arrow::row::{RowConverter, SortField};
use datafusion::common::DFSchema;
use datafusion::prelude::SessionContext;
use deltalake::DeltaTable;

use super::column_list;
use crate::error::{Result, VoidxError};

/// The first broken rule of each row.
pub(super) struct Violations {
    rule: Vec<Option<(String, String)>>,
}

impl Violations {
    pub(super) fn new(rows: usize) -> Self {
        Violations {
            rule: vec![None; rows],
        }
    }

    pub(super) fn add(&mut self, row: usize, rule: &str, reason: String) {
        if let Some(slot) = self.rule.get_mut(row)
            && slot.is_none()
        {
            *slot = Some((rule.to_string(), reason));
        }
    }

    pub(super) fn mask(&self) -> BooleanArray {
        let mut b = BooleanBuilder::with_capacity(self.rule.len());
        for r in &self.rule {
            b.append_value(r.is_some());
        }
        b.finish()
    }

    pub(super) fn reasons(&self) -> Vec<(String, String)> {
        self.rule.iter().flatten().cloned().collect()
    }
}

/// NOT NULL columns of `schema` (the one the rows are written with) in the
/// aligned `batch`, whose columns are in the same order.
pub(super) fn check_not_null(
    batch: &RecordBatch,
    schema: &Schema,
    qualified: &str,
    violations: &mut Violations,
) {
    for (i, field) in schema.fields().iter().enumerate() {
        if field.is_nullable() {
            continue;
        }
        let column = batch.column(i);
        for row in 0..batch.num_rows() {
            if column.is_null(row) {
                violations.add(
                    row,
                    &format!("not_null:{}", field.name()),
                    format!(
                        "column {} is NULL but NOT NULL in {qualified}",
                        field.name()
                    ),
                );
            }
        }
    }
}

/// The target's Delta CHECK constraints, evaluated on the batch the way the
/// Delta writer does: a row breaks a constraint when it evaluates to false.
pub(super) async fn check_constraints(
    table: &DeltaTable,
    batch: &RecordBatch,
    violations: &mut Violations,
) -> Result<()> {
    let snapshot = table.snapshot()?;
    let mut constraints: Vec<(String, String)> = snapshot
        .metadata()
        .configuration()
        .iter()
        .filter_map(|(k, v)| {
            k.strip_prefix("delta.constraints.")
                .map(|n| (n.to_string(), v.clone()))
        })
        .collect();
    if constraints.is_empty() || batch.num_rows() == 0 {
        return Ok(());
    }
    constraints.sort();
    let ctx = SessionContext::new();
    let df_schema = DFSchema::try_from(batch.schema().as_ref().clone())?;
    for (name, sql) in constraints {
        let expr = ctx.parse_sql_expr(&sql, &df_schema)?;
        let physical = ctx.create_physical_expr(expr, &df_schema)?;
        let value = physical.evaluate(batch)?.into_array(batch.num_rows())?;
        let Some(ok) = value.as_any().downcast_ref::<BooleanArray>() else {
            return Err(VoidxError::Internal(format!(
                "constraint {name} ({sql}) is not a boolean expression"
            )));
        };
        for row in 0..ok.len() {
            if ok.is_valid(row) && !ok.value(row) {
                violations.add(
                    row,
                    &format!("check:{name}"),
                    format!("CHECK ({sql}) is false"),
                );
            }
        }
    }
    Ok(())
}

/// Key uniqueness within the batch: NULL keys break the rule; of duplicated
/// keys the row with the highest watermark (else the last row read) is kept.
pub(super) fn check_keys(
    batch: &RecordBatch,
    keys: &[String],
    watermark: Option<&str>,
    violations: &mut Violations,
) -> Result<()> {
    let schema = batch.schema();
    let mut key_columns = Vec::new();
    for k in keys {
        let i = schema.index_of(k).map_err(|_| {
            VoidxError::InvalidArgument(format!(
                "key column '{k}' is not a column of the data. Help: the columns are {}",
                column_list(schema.fields())
            ))
        })?;
        key_columns.push(Arc::clone(batch.column(i)));
    }
    let converter = RowConverter::new(
        key_columns
            .iter()
            .map(|c| SortField::new(c.data_type().clone()))
            .collect(),
    )?;
    let rows = converter.convert_columns(&key_columns)?;
    let order: Option<ArrayRef> = match watermark {
        Some(w) => schema.index_of(w).ok().map(|i| Arc::clone(batch.column(i))),
        None => None,
    };
    let order_rows = match &order {
        Some(c) => Some(
            RowConverter::new(vec![SortField::new(c.data_type().clone())])?
                .convert_columns(std::slice::from_ref(c))?,
        ),
        None => None,
    };
    let mut kept: HashMap<arrow::row::Row<'_>, usize> = HashMap::new();
    for row in 0..batch.num_rows() {
        if key_columns.iter().any(|c| c.is_null(row)) {
            violations.add(
                row,
                "key_not_null",
                format!("key {} is NULL", keys.join(", ")),
            );
            continue;
        }
        let key = rows.row(row);
        match kept.get(&key).copied() {
            None => {
                kept.insert(key, row);
            }
            Some(previous) => {
                let newer = match &order_rows {
                    Some(o) => o.row(row) >= o.row(previous),
                    None => true,
                };
                let (keep, drop) = if newer {
                    (row, previous)
                } else {
                    (previous, row)
                };
                kept.insert(key, keep);
                violations.add(
                    drop,
                    "unique_key",
                    format!(
                        "duplicate key ({}) in the batch; row {} was kept",
                        keys.join(", "),
                        keep + 1
                    ),
                );
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::load::watermark::max_as_text;
    use arrow::array::Int64Array;
    #[test]
    fn duplicate_keys_keep_the_newest() {
        let batch = RecordBatch::try_from_iter(vec![
            (
                "id",
                Arc::new(Int64Array::from(vec![Some(1), Some(2), Some(1), None])) as ArrayRef,
            ),
            (
                "ts",
                Arc::new(Int64Array::from(vec![5, 1, 3, 9])) as ArrayRef,
            ),
        ])
        .unwrap();
        let mut v = Violations::new(4);
        check_keys(&batch, &["id".into()], Some("ts"), &mut v).unwrap();
        let rules: Vec<Option<String>> = v.rule.iter().map(|r| r.clone().map(|r| r.0)).collect();
        assert_eq!(
            rules,
            vec![
                None,
                None,
                Some("unique_key".into()),
                Some("key_not_null".into())
            ]
        );
        assert_eq!(max_as_text(&batch, "ts").unwrap().as_deref(), Some("9"));
    }
}
