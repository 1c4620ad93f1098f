//! Training data: a column-major f64 matrix (NaN = missing) plus the target,
//! built from the Arrow batches a `train` query returns.
//!
//! Feature columns are every numeric or boolean column except the target and
//! the declared id columns. Text, date and other columns are refused with a
//! message naming them, rather than silently encoded: an analyst should
//! choose how to turn them into numbers in the feature view.

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float64Type};

use crate::ml::MlError;
use crate::ml::options::Task;

#[derive(Debug, Clone)]
pub struct Dataset {
    pub feature_names: Vec<String>,
    /// `columns[f][row]`.
    pub columns: Vec<Vec<f64>>,
    pub target: Vec<f64>,
}

fn is_feature_type(t: &DataType) -> bool {
    t.is_numeric() || matches!(t, DataType::Boolean | DataType::Null)
}

impl Dataset {
    pub fn n_rows(&self) -> usize {
        self.target.len()
    }

    pub fn n_features(&self) -> usize {
        self.columns.len()
    }

    pub fn column_refs(&self) -> Vec<&[f64]> {
        self.columns.iter().map(Vec::as_slice).collect()
    }

    /// The rows at `idx`, in that order.
    pub fn subset(&self, idx: &[usize]) -> Dataset {
        Dataset {
            feature_names: self.feature_names.clone(),
            columns: self
                .columns
                .iter()
                .map(|c| idx.iter().map(|&i| c[i]).collect())
                .collect(),
            target: idx.iter().map(|&i| self.target[i]).collect(),
        }
    }

    /// Builds the dataset from query results. `target` and `id_columns` name
    /// columns of the result; every other column must be numeric or boolean.
    pub fn from_batches(
        batches: &[RecordBatch],
        target: &str,
        id_columns: &[String],
        task: Task,
    ) -> Result<Dataset, MlError> {
        let schema = match batches.first() {
            Some(b) => b.schema(),
            None => return Err(empty_error()),
        };
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        let target_idx = names.iter().position(|n| *n == target).ok_or_else(|| {
            MlError::InvalidInput(format!(
                "the training query has no column \"{target}\"; its columns are: {}. Help: name the target column exactly as the query returns it",
                names.join(", ")
            ))
        })?;
        for id in id_columns {
            if !names.contains(&id.as_str()) {
                return Err(MlError::InvalidOption(format!(
                    "id column \"{id}\" is not in the training query; its columns are: {}",
                    names.join(", ")
                )));
            }
        }
        let target_type = schema.field(target_idx).data_type();
        if !is_feature_type(target_type) {
            return Err(MlError::InvalidInput(format!(
                "target column \"{target}\" has type {target_type}; train needs a numeric or boolean target. Help: cast it in the query, e.g. CAST({target} AS DOUBLE)"
            )));
        }
        let mut feature_idx = Vec::new();
        let mut refused = Vec::new();
        for (i, field) in schema.fields().iter().enumerate() {
            if i == target_idx || id_columns.iter().any(|c| c == field.name()) {
                continue;
            }
            if is_feature_type(field.data_type()) {
                feature_idx.push(i);
            } else {
                refused.push(format!("{} ({})", field.name(), field.data_type()));
            }
        }
        if !refused.is_empty() {
            return Err(MlError::InvalidInput(format!(
                "columns {} are not numeric. Help: list identifiers in the \"id_columns\" option, or turn categories into numbers in the query (CASE WHEN … THEN 1 ELSE 0 END)",
                refused.join(", ")
            )));
        }
        if feature_idx.is_empty() {
            return Err(MlError::InvalidInput(
                "the training query has no feature columns besides the target and id columns"
                    .into(),
            ));
        }
        let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
        let mut columns = vec![Vec::with_capacity(rows); feature_idx.len()];
        let mut y = Vec::with_capacity(rows);
        let mut null_targets = 0usize;
        for batch in batches {
            let t = to_f64(batch.column(target_idx))?;
            let keep: Vec<bool> = (0..batch.num_rows()).map(|r| !t[r].is_nan()).collect();
            null_targets += keep.iter().filter(|k| !**k).count();
            y.extend(t.iter().zip(&keep).filter(|(_, k)| **k).map(|(v, _)| *v));
            for (out, &ci) in columns.iter_mut().zip(&feature_idx) {
                let v = to_f64(batch.column(ci))?;
                out.extend(v.iter().zip(&keep).filter(|(_, k)| **k).map(|(v, _)| *v));
            }
        }
        if y.is_empty() {
            return Err(if null_targets > 0 {
                MlError::InvalidInput(format!(
                    "every row of the training query has a NULL \"{target}\"; there is nothing to learn from"
                ))
            } else {
                empty_error()
            });
        }
        check_target(&y, target, task)?;
        let data = Dataset {
            feature_names: feature_idx.iter().map(|&i| names[i].to_string()).collect(),
            columns,
            target: y,
        };
        Ok(data.in_canonical_order())
    }

    /// The rows sorted by their values. A query's row order is not stable
    /// under parallel execution, and folds and tie-breaking depend on it:
    /// sorting makes the same data give the same model.
    pub fn in_canonical_order(self) -> Dataset {
        let mut order: Vec<usize> = (0..self.n_rows()).collect();
        order.sort_by(|&a, &b| {
            self.columns
                .iter()
                .map(|c| c[a].total_cmp(&c[b]))
                .chain(std::iter::once(self.target[a].total_cmp(&self.target[b])))
                .find(|o| o.is_ne())
                .unwrap_or(std::cmp::Ordering::Equal)
        });
        if order.windows(2).all(|w| w[0] < w[1]) {
            return self;
        }
        self.subset(&order)
    }
}

fn empty_error() -> MlError {
    MlError::InvalidInput(
        "the training query returned no rows. Help: run it on its own to check its WHERE clause"
            .into(),
    )
}

fn check_target(y: &[f64], target: &str, task: Task) -> Result<(), MlError> {
    if y.iter().any(|v| v.is_infinite()) {
        return Err(MlError::InvalidInput(format!(
            "target \"{target}\" contains infinite values"
        )));
    }
    match task {
        Task::Classification => {
            if let Some(bad) = y.iter().find(|v| **v != 0.0 && **v != 1.0) {
                let distinct = {
                    let mut d: Vec<f64> = y.to_vec();
                    d.sort_by(f64::total_cmp);
                    d.dedup();
                    d.len()
                };
                return Err(if distinct > 2 {
                    MlError::Unsupported(format!(
                        "target \"{target}\" has {distinct} classes; multiclass classification is not supported yet. Help: train one binary model per class (label = class = 'x')"
                    ))
                } else {
                    MlError::InvalidInput(format!(
                        "classification needs labels 0/1 or boolean, but \"{target}\" contains {bad}. Help: map the labels in the query, e.g. CASE WHEN {target} = 'yes' THEN 1 ELSE 0 END"
                    ))
                });
            }
            if y.iter().all(|v| *v == y[0]) {
                return Err(MlError::InvalidInput(format!(
                    "target \"{target}\" has only one class ({}); a classifier needs both 0 and 1",
                    y[0]
                )));
            }
        }
        Task::Regression => {
            if y.iter().all(|v| *v == y[0]) {
                return Err(MlError::InvalidInput(format!(
                    "target \"{target}\" is constant ({}) in every row; there is nothing to learn",
                    y[0]
                )));
            }
        }
    }
    Ok(())
}

/// Any numeric/boolean Arrow array as f64 with NULL → NaN.
pub fn to_f64(array: &ArrayRef) -> Result<Vec<f64>, MlError> {
    let casted = cast(array, &DataType::Float64)
        .map_err(|e| MlError::InvalidInput(format!("cannot read a column as numbers: {e}")))?;
    let values = casted.as_primitive::<Float64Type>();
    Ok(if values.null_count() == 0 {
        values.values().to_vec()
    } else {
        values.iter().map(|v| v.unwrap_or(f64::NAN)).collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{BooleanArray, Float64Array, Int32Array, StringArray};
    use arrow::datatypes::{Field, Schema};
    use std::sync::Arc;

    fn batch() -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Utf8, false),
            Field::new("x", DataType::Int32, true),
            Field::new("flag", DataType::Boolean, true),
            Field::new("y", DataType::Float64, true),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from(vec!["a", "b", "c"])),
                Arc::new(Int32Array::from(vec![Some(1), None, Some(3)])),
                Arc::new(BooleanArray::from(vec![true, false, true])),
                Arc::new(Float64Array::from(vec![Some(1.0), Some(2.0), None])),
            ],
        )
        .unwrap()
    }

    #[test]
    fn numeric_and_boolean_columns_become_features() {
        let d = Dataset::from_batches(&[batch()], "y", &["id".into()], Task::Regression).unwrap();
        assert_eq!(d.feature_names, vec!["x", "flag"]);
        // the row with a NULL target is dropped; NULL features become NaN
        // (and sort last in the canonical order)
        assert_eq!(d.target, vec![1.0, 2.0]);
        assert!(d.columns[0][1].is_nan());
        assert_eq!(d.columns[1], vec![1.0, 0.0]);
        let shuffled = RecordBatch::try_new(
            batch().schema(),
            batch().columns().iter().map(|c| c.slice(1, 2)).collect(),
        )
        .unwrap();
        let first = RecordBatch::try_new(
            batch().schema(),
            batch().columns().iter().map(|c| c.slice(0, 1)).collect(),
        )
        .unwrap();
        let again =
            Dataset::from_batches(&[shuffled, first], "y", &["id".into()], Task::Regression)
                .unwrap();
        assert_eq!(again.target, d.target);
    }

    #[test]
    fn text_columns_and_bad_targets_are_refused() {
        let e = Dataset::from_batches(&[batch()], "y", &[], Task::Regression).unwrap_err();
        assert!(e.to_string().contains("id (Utf8)"), "{e}");
        let e = Dataset::from_batches(&[batch()], "nope", &["id".into()], Task::Regression)
            .unwrap_err();
        assert!(e.to_string().contains("no column \"nope\""), "{e}");
        let e = Dataset::from_batches(&[batch()], "x", &["id".into()], Task::Classification)
            .unwrap_err();
        assert!(e.to_string().contains("labels 0/1"), "{e}");
        let e = Dataset::from_batches(&[], "y", &[], Task::Regression).unwrap_err();
        assert!(e.to_string().contains("no rows"), "{e}");
    }
}
