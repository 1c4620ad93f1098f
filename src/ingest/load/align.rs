//! Schema alignment: incoming columns to the target's columns and types (`schema_mode`).

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, RecordBatch, new_null_array};
use arrow::compute::cast_with_options;
use arrow::datatypes::{DataType, Schema, SchemaRef};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use deltalake::DeltaTable;

use super::options::SchemaMode;
use super::quality::Violations;
use crate::error::{Result, VoidxError};
use crate::storage::delta;

/// Rows aligned to the target, and the schema they are written with.
///
/// The rows are held under an all-nullable copy of that schema until the
/// quality rules have run: a NULL in a NOT NULL column (from the source, or a
/// value that did not fit the type) is a row to quarantine
/// ([`super::quality::check_not_null`]), and Arrow refuses to build a batch
/// whose non-nullable column holds one.
pub(super) struct Aligned {
    pub rows: RecordBatch,
    pub schema: SchemaRef,
}

impl Aligned {
    /// Rows that already have the schema they are written with.
    pub(super) fn exact(batch: RecordBatch) -> Aligned {
        let schema = batch.schema();
        Aligned {
            rows: batch,
            schema,
        }
    }

    /// The rows of `mask` with the target's nullability back; the caller
    /// selects only rows that passed [`super::quality::check_not_null`].
    pub(super) fn passing(&self, mask: &arrow::array::BooleanArray) -> Result<RecordBatch> {
        let kept = arrow::compute::filter_record_batch(&self.rows, mask)?;
        Ok(RecordBatch::try_new(
            Arc::clone(&self.schema),
            kept.columns().to_vec(),
        )?)
    }

    /// The rows of `mask`, every column nullable (the quarantine's form).
    pub(super) fn failing(&self, mask: &arrow::array::BooleanArray) -> Result<RecordBatch> {
        Ok(arrow::compute::filter_record_batch(&self.rows, mask)?)
    }
}

/// Incoming columns → the target's columns and types.
pub(super) fn align(
    incoming: &RecordBatch,
    target: &SchemaRef,
    schema_mode: SchemaMode,
    qualified: &str,
    violations: &mut Violations,
) -> Result<Aligned> {
    let incoming_schema = incoming.schema();
    let find = |name: &str| {
        incoming_schema.index_of(name).ok().or_else(|| {
            incoming_schema
                .fields()
                .iter()
                .position(|f| f.name().eq_ignore_ascii_case(name))
        })
    };
    let mut fields = Vec::new();
    let mut columns: Vec<ArrayRef> = Vec::new();
    let mut used = vec![false; incoming_schema.fields().len()];
    let mut missing_required = Vec::new();
    for field in target.fields() {
        match find(field.name()) {
            Some(i) => {
                used[i] = true;
                let source = incoming.column(i);
                let cast = cast_column(source, field.data_type()).map_err(|e| {
                        VoidxError::InvalidArgument(format!(
                            "column {} is {} in the source but {} in {}; the types are not compatible ({e}). Help: cast it in the ingest query",
                            field.name(),
                            source.data_type(),
                            field.data_type(),
                            qualified
                        ))
                    })?;
                // Values that became NULL did not fit the target type.
                if cast.null_count() > source.null_count() {
                    let formatter =
                        ArrayFormatter::try_new(source.as_ref(), &FormatOptions::default())?;
                    for row in 0..cast.len() {
                        if cast.is_null(row) && !source.is_null(row) {
                            violations.add(
                                row,
                                &format!("type:{}", field.name()),
                                format!(
                                    "'{}' is not a valid {} for column {}",
                                    formatter.value(row),
                                    field.data_type(),
                                    field.name()
                                ),
                            );
                        }
                    }
                }
                columns.push(cast);
                fields.push(field.as_ref().clone());
            }
            None if field.is_nullable() => {
                columns.push(new_null_array(field.data_type(), incoming.num_rows()));
                fields.push(field.as_ref().clone());
            }
            None => missing_required.push(field.name().clone()),
        }
    }
    if !missing_required.is_empty() {
        return Err(VoidxError::InvalidArgument(format!(
            "the source has no column {} but it is NOT NULL in {}. Help: select it in the ingest query",
            missing_required.join(", "),
            qualified
        )));
    }
    let new: Vec<usize> = (0..used.len()).filter(|i| !used[*i]).collect();
    if !new.is_empty() {
        let names: Vec<String> = new
            .iter()
            .map(|i| incoming_schema.field(*i).name().clone())
            .collect();
        match schema_mode {
            SchemaMode::Strict => {
                return Err(VoidxError::InvalidArgument(format!(
                    "the source has new columns {} that {} does not have. Help: set \"schema_mode\": \"evolve\" to add them, or \"ignore\" to drop them",
                    names.join(", "),
                    qualified
                )));
            }
            SchemaMode::Ignore => {}
            SchemaMode::Evolve => {
                let extra = delta::delta_schema(&Schema::new(
                    new.iter()
                        .map(|i| incoming_schema.field(*i).clone().with_nullable(true))
                        .collect::<Vec<_>>(),
                ));
                for (k, i) in new.iter().enumerate() {
                    let field = extra.field(k).clone();
                    columns.push(cast_column(incoming.column(*i), field.data_type())?);
                    fields.push(field);
                }
            }
        }
    }
    let relaxed: Vec<_> = fields
        .iter()
        .map(|f| f.clone().with_nullable(true))
        .collect();
    Ok(Aligned {
        rows: RecordBatch::try_new(Arc::new(Schema::new(relaxed)), columns)?,
        schema: Arc::new(Schema::new(fields)),
    })
}

/// Cast with NULL for values that do not fit (they are reported as type violations).
pub(super) fn cast_column(array: &ArrayRef, to: &DataType) -> Result<ArrayRef> {
    if array.data_type() == to {
        return Ok(Arc::clone(array));
    }
    let options = arrow::compute::CastOptions {
        safe: true,
        ..Default::default()
    };
    Ok(cast_with_options(array, to, &options)?)
}

/// The Arrow schema of a Delta table as it is read back.
pub(super) fn delta_arrow_schema(table: &DeltaTable) -> Result<SchemaRef> {
    let snapshot = table.snapshot()?;
    Ok(snapshot.snapshot().arrow_schema())
}
