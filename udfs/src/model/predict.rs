//! `predict(model, f1, f2, …)` → DOUBLE: the model's prediction (the
//! probability of class 1 for classifiers), vectorised over the batch.

use std::sync::Arc;

use arrow::array::Float64Array;
use arrow::datatypes::DataType;
use datafusion::error::Result;
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature};

use crate::model::features::{coerce, feature_columns, map_row_ranges, resolve};
use crate::model::{ModelSource, Serving};
use crate::{Documented, SqlDoc};

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Predict(Serving);

impl Documented for Predict {
    const DOC: SqlDoc = SqlDoc {
        name: "predict",
        kind: "scalar",
        syntax: "predict(model, feature1, feature2, ...)\npredict(model, named_struct('feature1', x, ...))",
        description: "The prediction of the model's production version, or of a pinned version with 'name@version'. Features are passed in the model's feature order (see `features` in voidx.models), or as one struct whose fields match the features by name. NULL features follow each split's missing-value direction. Classifiers return the probability of class 1.",
        arguments: &[
            ("model", "'name' (production version) or 'name@version'"),
            (
                "feature…",
                "numeric features, in the order of voidx.models.features",
            ),
        ],
        example: "SELECT customer_id, predict('revenue_predictor', recency_days, orders, spend)\nFROM features.customer;",
    };
}

impl Predict {
    pub fn new(source: Arc<dyn ModelSource>) -> Self {
        Predict(Serving::new(source))
    }
}

impl ScalarUDFImpl for Predict {
    fn name(&self) -> &str {
        Self::DOC.name
    }

    fn documentation(&self) -> Option<&datafusion::logical_expr::Documentation> {
        crate::documentation!(Predict)
    }

    fn signature(&self) -> &Signature {
        &self.0.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        coerce("predict", arg_types, 0)
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let Some(model) = resolve("predict", self.0.source.as_ref(), &args.args[0])? else {
            return Ok(ColumnarValue::Array(Arc::new(Float64Array::new_null(rows))));
        };
        let columns = feature_columns("predict", &model, &args.args[1..], rows)?;
        let forest = &model.artifact.forest;
        let parts = map_row_ranges(rows, |start, end| {
            let refs: Vec<&[f64]> = columns.iter().map(|c| &c[start..end]).collect();
            let mut out = vec![0.0; end - start];
            forest.predict(&refs, &mut out);
            out
        });
        Ok(ColumnarValue::Array(Arc::new(Float64Array::from(
            parts.concat(),
        ))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::test_support::source;
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{Field, Float64Type};
    use datafusion::common::ScalarValue;
    use datafusion::config::ConfigOptions;

    fn call(args: Vec<ColumnarValue>, rows: usize) -> Result<ColumnarValue> {
        let f = Predict::new(source());
        let arg_fields = args
            .iter()
            .map(|a| Arc::new(Field::new("x", a.data_type(), true)))
            .collect();
        f.invoke_with_args(ScalarFunctionArgs {
            args,
            arg_fields,
            number_rows: rows,
            return_field: Arc::new(Field::new("p", DataType::Float64, true)),
            config_options: Arc::new(ConfigOptions::default()),
        })
    }

    fn name(s: &str) -> ColumnarValue {
        ColumnarValue::Scalar(ScalarValue::Utf8(Some(s.into())))
    }

    #[test]
    fn arrays_scalars_and_nulls() {
        let a = ColumnarValue::Array(Arc::new(Float64Array::from(vec![
            Some(0.0),
            Some(1.0),
            None,
        ])));
        let b = ColumnarValue::Scalar(ScalarValue::Float64(Some(-1.0)));
        let out = call(vec![name("m"), a, b], 3).unwrap().to_array(3).unwrap();
        let out = out.as_primitive::<Float64Type>();
        // NULL a follows the missing direction (left → 1)
        assert_eq!(out.values().to_vec(), vec![0.0, 2.0, 0.0]);
        let null_model = call(
            vec![
                ColumnarValue::Scalar(ScalarValue::Utf8(None)),
                b_scalar(),
                b_scalar(),
            ],
            2,
        )
        .unwrap()
        .to_array(2)
        .unwrap();
        assert_eq!(null_model.null_count(), 2);
    }

    fn b_scalar() -> ColumnarValue {
        ColumnarValue::Scalar(ScalarValue::Float64(Some(1.0)))
    }

    #[test]
    fn wrong_arity_and_unknown_model_name_the_features() {
        let e = call(vec![name("m"), b_scalar()], 1)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("takes 2 features in this order: a, b; got 1 argument"),
            "{e}"
        );
        let e = call(vec![name("nope"), b_scalar(), b_scalar()], 1)
            .unwrap_err()
            .to_string();
        assert!(e.contains("does not exist"), "{e}");
        let e = Predict::new(source())
            .coerce_types(&[DataType::Utf8, DataType::Utf8])
            .unwrap_err()
            .to_string();
        assert!(e.contains("must be numeric"), "{e}");
    }
}
