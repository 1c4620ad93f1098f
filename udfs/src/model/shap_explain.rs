//! `shap_explain(model, f1, …)` → JSON text
//! `{"expected_value": e, "contributions": {"feature": v, …}}`: exact
//! TreeSHAP in raw-score space (log-odds for classifiers), so for every row
//! `expected_value + Σ contributions` equals the raw prediction.

use std::fmt::Write;
use std::sync::Arc;

use arrow::array::StringBuilder;
use arrow::datatypes::DataType;
use datafusion::error::Result;
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature};

use crate::ml::shap::{ShapScratch, explain_row};
use crate::model::features::{coerce, feature_columns, map_row_ranges, resolve};
use crate::model::{ModelSource, Serving};
use crate::{Documented, SqlDoc};

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ShapExplain(Serving);

impl Documented for ShapExplain {
    const DOC: SqlDoc = SqlDoc {
        name: "shap_explain",
        kind: "scalar",
        syntax: "shap_explain(model, feature1, feature2, ...)",
        description: "Exact path-dependent TreeSHAP values of one row as JSON text: {\"expected_value\": e, \"contributions\": {\"feature\": v, ...}} in the model's feature order. Values are in raw-score space (the log-odds for classifiers): expected_value plus the contributions equals the raw prediction for every row. Read one with (shap_explain(...)::json ->> ...) in a client, or json_get in SQL.",
        arguments: &[
            ("model", "'name' or 'name@version'"),
            ("feature…", "as for predict"),
        ],
        example: "SELECT customer_id, shap_explain('revenue_predictor', recency_days, orders, spend)\nFROM features.customer LIMIT 5;",
    };
}

impl ShapExplain {
    pub fn new(source: Arc<dyn ModelSource>) -> Self {
        ShapExplain(Serving::new(source))
    }
}

impl ScalarUDFImpl for ShapExplain {
    fn name(&self) -> &str {
        Self::DOC.name
    }

    fn documentation(&self) -> Option<&datafusion::logical_expr::Documentation> {
        crate::documentation!(ShapExplain)
    }

    fn signature(&self) -> &Signature {
        &self.0.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        coerce("shap_explain", arg_types, 0)
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let mut out = StringBuilder::new();
        let Some(model) = resolve("shap_explain", self.0.source.as_ref(), &args.args[0])? else {
            for _ in 0..rows {
                out.append_null();
            }
            return Ok(ColumnarValue::Array(Arc::new(out.finish())));
        };
        let forest = &model.artifact.forest;
        let columns = feature_columns("shap_explain", &model, &args.args[1..], rows)?;
        let names: Vec<String> = forest
            .feature_names
            .iter()
            .map(|n| serde_json::to_string(n).unwrap_or_else(|_| "\"?\"".into()))
            .collect();
        let expected = forest.expected_raw();
        let texts = map_row_ranges(rows, |start, end| {
            let mut scratch = ShapScratch::new(forest);
            let mut phi = vec![0.0; forest.n_features()];
            let mut row = vec![0.0; forest.n_features()];
            let mut texts = Vec::with_capacity(end - start);
            for r in start..end {
                for (f, c) in columns.iter().enumerate() {
                    row[f] = c[r];
                }
                explain_row(forest, &row, &mut phi, &mut scratch);
                let mut text = String::with_capacity(32 + 24 * names.len());
                let _ = write!(text, "{{\"expected_value\":{expected},\"contributions\":{{");
                for (i, (name, v)) in names.iter().zip(&phi).enumerate() {
                    let sep = if i == 0 { "" } else { "," };
                    let _ = write!(text, "{sep}{name}:{v}");
                }
                text.push_str("}}");
                texts.push(text);
            }
            texts
        });
        for text in texts.iter().flatten() {
            out.append_value(text);
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::test_support::source;
    use arrow::array::{AsArray, Float64Array};
    use arrow::datatypes::Field;
    use datafusion::common::ScalarValue;
    use datafusion::config::ConfigOptions;

    #[test]
    fn contributions_add_up_in_json() {
        let f = ShapExplain::new(source());
        let args = vec![
            ColumnarValue::Scalar(ScalarValue::Utf8(Some("m@1".into()))),
            ColumnarValue::Array(Arc::new(Float64Array::from(vec![Some(0.0), None]))),
            ColumnarValue::Scalar(ScalarValue::Float64(Some(1.0))),
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
                return_field: Arc::new(Field::new("p", DataType::Utf8, true)),
                config_options: Arc::new(ConfigOptions::default()),
            })
            .unwrap()
            .to_array(2)
            .unwrap();
        let first: serde_json::Value =
            serde_json::from_str(out.as_string::<i32>().value(0)).unwrap();
        assert_eq!(first["expected_value"], 2.0);
        assert_eq!(first["contributions"]["a"], -1.0);
        assert_eq!(first["contributions"]["b"], 1.0);
        assert_eq!(
            out.as_string::<i32>().value(0),
            r#"{"expected_value":2,"contributions":{"a":-1,"b":1}}"#
        );
    }
}
