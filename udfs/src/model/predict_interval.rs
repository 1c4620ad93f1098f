//! `predict_interval(model, f1, …, level)` → `{lower, upper}`: a conformal
//! prediction interval from the version's out-of-fold residuals.

use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, StructArray};
use arrow::datatypes::{DataType, Field, Fields};
use datafusion::common::{ScalarValue, exec_err};
use datafusion::error::Result;
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature};

use crate::ml::MlError;
use crate::ml::options::Task;
use crate::model::features::{coerce, feature_columns, ml_err, resolve};
use crate::model::{ModelSource, Serving};
use crate::{Documented, SqlDoc};

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct PredictInterval(Serving);

fn fields() -> Fields {
    Fields::from(vec![
        Field::new("lower", DataType::Float64, true),
        Field::new("upper", DataType::Float64, true),
    ])
}

impl Documented for PredictInterval {
    const DOC: SqlDoc = SqlDoc {
        name: "predict_interval",
        kind: "scalar",
        syntax: "predict_interval(model, feature1, ..., level)",
        description: "A conformal prediction interval {lower, upper} around predict(...) for regression models: the half-width is the ⌈(n+1)·level⌉-th smallest out-of-fold absolute residual recorded at training, so a stated 90 % covers about 90 % of unseen rows drawn like the training data. Needs a model trained with cv_folds >= 2. Read the bounds with (predict_interval(...)).lower or ['lower'].",
        arguments: &[
            ("model", "'name' or 'name@version'"),
            ("feature…", "as for predict"),
            ("level", "coverage between 0 and 1, e.g. 0.9"),
        ],
        example: "SELECT predict_interval('revenue_predictor', recency_days, orders, spend, 0.9)['lower']\nFROM features.customer;",
    };
}

impl PredictInterval {
    pub fn new(source: Arc<dyn ModelSource>) -> Self {
        PredictInterval(Serving::new(source))
    }
}

impl ScalarUDFImpl for PredictInterval {
    fn name(&self) -> &str {
        Self::DOC.name
    }

    fn documentation(&self) -> Option<&datafusion::logical_expr::Documentation> {
        crate::documentation!(PredictInterval)
    }

    fn signature(&self) -> &Signature {
        &self.0.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        coerce("predict_interval", arg_types, 1)
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Struct(fields()))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let n = args.args.len();
        let level = match &args.args[n - 1] {
            ColumnarValue::Scalar(ScalarValue::Float64(Some(l))) => *l,
            _ => {
                return exec_err!(
                    "predict_interval: the level (last argument) must be a constant such as 0.9"
                );
            }
        };
        let Some(model) = resolve("predict_interval", self.0.source.as_ref(), &args.args[0])?
        else {
            let nulls: ArrayRef = Arc::new(Float64Array::new_null(rows));
            let s = StructArray::try_new(fields(), vec![Arc::clone(&nulls), nulls], None)?;
            return Ok(ColumnarValue::Array(Arc::new(s)));
        };
        let art = &model.artifact;
        if art.task != Task::Regression {
            return Err(ml_err(MlError::Unsupported(format!(
                "predict_interval: model \"{}\" is a classifier; its predict() is already a probability. Intervals are for regression models",
                model.name
            ))));
        }
        let Some(conformal) = &art.conformal else {
            return Err(ml_err(MlError::InvalidInput(format!(
                "predict_interval: model \"{}\" version {} has no out-of-fold residuals (trained with cv_folds = 0, or imported). Help: retrain it with \"cv_folds\": 5",
                model.name, model.version
            ))));
        };
        let q = conformal.half_width(level).map_err(ml_err)?;
        let columns = feature_columns("predict_interval", &model, &args.args[1..n - 1], rows)?;
        let refs: Vec<&[f64]> = columns.iter().map(Vec::as_slice).collect();
        let mut pred = vec![0.0; rows];
        art.forest.predict(&refs, &mut pred);
        let lower: ArrayRef = Arc::new(Float64Array::from_iter_values(pred.iter().map(|p| p - q)));
        let upper: ArrayRef = Arc::new(Float64Array::from_iter_values(pred.iter().map(|p| p + q)));
        Ok(ColumnarValue::Array(Arc::new(StructArray::try_new(
            fields(),
            vec![lower, upper],
            None,
        )?)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::test_support::source;
    use arrow::array::AsArray;
    use arrow::datatypes::Float64Type;
    use datafusion::config::ConfigOptions;

    #[test]
    fn interval_is_prediction_plus_minus_the_residual_quantile() {
        let f = PredictInterval::new(source());
        let args = vec![
            ColumnarValue::Scalar(ScalarValue::Utf8(Some("m".into()))),
            ColumnarValue::Array(Arc::new(Float64Array::from(vec![0.0, 1.0]))),
            ColumnarValue::Scalar(ScalarValue::Float64(Some(1.0))),
            ColumnarValue::Scalar(ScalarValue::Float64(Some(0.9))),
        ];
        let arg_fields = args
            .iter()
            .map(|a| Arc::new(Field::new("x", a.data_type(), true)))
            .collect();
        let out = f
            .invoke_with_args(ScalarFunctionArgs {
                args,
                arg_fields,
                number_rows: 2,
                return_field: Arc::new(Field::new("p", DataType::Struct(fields()), true)),
                config_options: Arc::new(ConfigOptions::default()),
            })
            .unwrap()
            .to_array(2)
            .unwrap();
        let s = out.as_struct();
        // residuals 1..=99, level 0.9 → rank 90 → 90; predictions 2 and 4
        assert_eq!(
            s.column(0).as_primitive::<Float64Type>().values().to_vec(),
            vec![-88.0, -86.0]
        );
        assert_eq!(
            s.column(1).as_primitive::<Float64Type>().values().to_vec(),
            vec![92.0, 94.0]
        );
    }
}
