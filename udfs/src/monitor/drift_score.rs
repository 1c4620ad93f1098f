//! `drift_score(model, feature, value)` → DOUBLE: the population stability
//! index of the aggregated values against the feature's training reference
//! (see [`crate::monitor::psi`] for the bins and the smoothing).
//!
//! The state is one count per bin, so partial aggregation merges by adding
//! counts and `GROUP BY day` gives one PSI per day.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BinaryArray, Float64Array};
use arrow::datatypes::{DataType, Field, FieldRef, Float64Type};
use datafusion::common::ScalarValue;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{Accumulator, AggregateUDFImpl, Signature};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::Literal;

use crate::ml::MlError;
use crate::ml::reference::FeatureReference;
use crate::model::features::ml_err;
use crate::model::{ModelSource, ResolvedModel, Serving};
use crate::monitor::psi::{Bins, expected_shares, psi};
use crate::{Documented, SqlDoc};

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct DriftScore(Serving);

impl Documented for DriftScore {
    const DOC: SqlDoc = SqlDoc {
        name: "drift_score",
        kind: "aggregate",
        syntax: "drift_score(model, feature, value)",
        description: "Population stability index (PSI) of the aggregated values of one feature against its training reference in the model's production version (or a pinned 'name@version'). The bins are the reference's decile edges (up to 10 bins) plus one bin for NULL/NaN; shares are taken over all rows, so a feature arriving empty drifts too. PSI = Σ (a − e)·ln(a/e) over the bins, with every share clamped to at least 1e-4 so empty bins stay finite (a bin empty on both sides adds 0). Rule of thumb: < 0.1 stable, 0.1–0.25 moderate shift, ≥ 0.25 significant shift. Works with GROUP BY (one PSI per group). NULL when no rows were aggregated.",
        arguments: &[
            (
                "model",
                "'name' (production version) or 'name@version'; a literal",
            ),
            (
                "feature",
                "one of the model's features (voidx.models.features); a literal",
            ),
            ("value", "the feature's values (numeric or boolean)"),
        ],
        example: "SELECT date_trunc('day', ts) AS day, drift_score('revenue_predictor', 'recency', recency) AS psi\nFROM features.customer_daily GROUP BY 1 ORDER BY 1;",
    };
}

impl DriftScore {
    pub fn new(source: Arc<dyn ModelSource>) -> Self {
        DriftScore(Serving::new(source))
    }
}

/// The literal text of argument `i` (model or feature name).
fn literal_text(exprs: &[Arc<dyn PhysicalExpr>], i: usize, what: &str) -> Result<String> {
    let value = exprs
        .get(i)
        .and_then(|e| e.downcast_ref::<Literal>())
        .map(|l| l.value());
    match value {
        Some(ScalarValue::Utf8(Some(s)))
        | Some(ScalarValue::LargeUtf8(Some(s)))
        | Some(ScalarValue::Utf8View(Some(s))) => Ok(s.clone()),
        _ => Err(ml_err(MlError::InvalidInput(format!(
            "drift_score: the {what} must be a text literal. Help: drift_score('revenue_predictor', 'recency', recency)"
        )))),
    }
}

/// The reference of `feature` in `model`, or an error naming the features.
pub fn feature_reference<'a>(
    model: &'a ResolvedModel,
    feature: &str,
) -> Result<&'a FeatureReference, MlError> {
    let references = &model.artifact.reference;
    if references.is_empty() {
        return Err(MlError::InvalidInput(format!(
            "model '{}' version {} has no training reference (imported models have none), so drift cannot be measured. Help: train a version with train(...) to get references",
            model.name, model.version
        )));
    }
    references
        .iter()
        .find(|r| r.feature == feature)
        .ok_or_else(|| {
            let names: Vec<&str> = references.iter().map(|r| r.feature.as_str()).collect();
            MlError::InvalidInput(format!(
                "model '{}' version {} has no feature '{feature}'. Help: its features are {}",
                model.name,
                model.version,
                names.join(", ")
            ))
        })
}

impl AggregateUDFImpl for DriftScore {
    fn name(&self) -> &str {
        Self::DOC.name
    }

    fn documentation(&self) -> Option<&datafusion::logical_expr::Documentation> {
        crate::documentation!(DriftScore)
    }

    fn signature(&self) -> &Signature {
        &self.0.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if arg_types.len() != 3 {
            return Err(DataFusionError::Plan(
                "drift_score takes (model, feature, value), e.g. drift_score('revenue_predictor', 'recency', recency)".into(),
            ));
        }
        let value = &arg_types[2];
        // A non-numeric value passes through and is refused when the
        // aggregate starts, with the SQLSTATE of a bad argument (22023)
        // rather than DataFusion's "no function matches".
        let value = if value.is_numeric() || matches!(value, DataType::Boolean | DataType::Null) {
            DataType::Float64
        } else {
            value.clone()
        };
        Ok(vec![DataType::Utf8, DataType::Utf8, value])
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        if let Some(field) = args.expr_fields.get(2)
            && field.data_type() != &DataType::Float64
        {
            return Err(ml_err(MlError::InvalidInput(format!(
                "drift_score: the value has type {}; drift is measured on numeric features. Help: cast it, e.g. CAST(x AS DOUBLE)",
                field.data_type()
            ))));
        }
        let spec = literal_text(args.exprs, 0, "model name")?;
        let feature = literal_text(args.exprs, 1, "feature name")?;
        let model = self.0.source.resolve(&spec).map_err(ml_err)?;
        let reference = feature_reference(&model, &feature).map_err(ml_err)?;
        let bins = Bins::new(&reference.edges).ok_or_else(|| {
            ml_err(MlError::InvalidModel(format!(
                "the reference of '{feature}' has {} bin edges; at most 15 are supported",
                reference.edges.len()
            )))
        })?;
        Ok(Box::new(PsiAccumulator {
            counts: vec![0; bins.len()],
            expected: expected_shares(reference),
            bins,
        }))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![Arc::new(Field::new(
            format!("{}[counts]", args.name),
            DataType::Binary,
            true,
        ))])
    }
}

#[derive(Debug)]
struct PsiAccumulator {
    bins: Bins,
    expected: Vec<f64>,
    /// Rows per bin, the NULL bin last.
    counts: Vec<u64>,
}

impl Accumulator for PsiAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let Some(values) = values.get(2) else {
            return Err(DataFusionError::Internal(
                "drift_score: missing value".into(),
            ));
        };
        let values: &Float64Array = values.as_primitive::<Float64Type>();
        let raw = values.values();
        // Count every slot at full speed, then move the NULL slots (whatever
        // their underlying value) to the NULL bin.
        self.bins.count(raw, &mut self.counts);
        if let Some(nulls) = values.nulls().filter(|n| n.null_count() > 0) {
            let null_bin = self.bins.null_bin();
            for i in (!nulls.inner()).set_indices() {
                self.counts[self.bins.bin(raw[i])] -= 1;
                self.counts[null_bin] += 1;
            }
        }
        Ok(())
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let score = psi(&self.expected, &self.counts);
        Ok(ScalarValue::Float64((!score.is_nan()).then_some(score)))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + 16 * (self.counts.len() + self.expected.len())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let bytes: Vec<u8> = self.counts.iter().flat_map(|c| c.to_le_bytes()).collect();
        Ok(vec![ScalarValue::Binary(Some(bytes))])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let Some(states) = states.first() else {
            return Ok(());
        };
        let states: &BinaryArray = states.as_binary::<i32>();
        for bytes in states.iter().flatten() {
            if bytes.len() != 8 * self.counts.len() {
                return Err(ml_err(MlError::InvalidInput(
                    "drift_score: the model's bins changed during the query (a new version was deployed). Help: run it again, or pin a version with 'name@version'".into(),
                )));
            }
            for (c, chunk) in self.counts.iter_mut().zip(bytes.chunks_exact(8)) {
                let mut word = [0u8; 8];
                word.copy_from_slice(chunk);
                *c += u64::from_le_bytes(word);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accumulator(edges: &[f64]) -> PsiAccumulator {
        let bins = Bins::new(edges).expect("fits");
        let k = bins.len();
        let mut expected = vec![(1.0 - 0.1) / (k - 1) as f64; k - 1];
        expected.push(0.1);
        PsiAccumulator {
            counts: vec![0; k],
            expected,
            bins,
        }
    }

    fn values(v: Vec<Option<f64>>) -> Vec<ArrayRef> {
        let n = v.len();
        vec![
            Arc::new(arrow::array::StringArray::from(vec!["m"; n])),
            Arc::new(arrow::array::StringArray::from(vec!["x"; n])),
            Arc::new(Float64Array::from(v)),
        ]
    }

    #[test]
    fn merging_partial_states_equals_one_pass() {
        let data: Vec<Option<f64>> = (0..1000)
            .map(|i| (i % 9 != 0).then(|| f64::from(i % 7)))
            .collect();
        let mut whole = accumulator(&[1.0, 3.0, 5.0]);
        whole.update_batch(&values(data.clone())).expect("update");
        let mut left = accumulator(&[1.0, 3.0, 5.0]);
        let mut right = accumulator(&[1.0, 3.0, 5.0]);
        left.update_batch(&values(data[..400].to_vec()))
            .expect("update");
        right
            .update_batch(&values(data[400..].to_vec()))
            .expect("update");
        let mut merged = accumulator(&[1.0, 3.0, 5.0]);
        for part in [&mut left, &mut right] {
            let state = part.state().expect("state");
            let arrays: Vec<ArrayRef> =
                state.iter().map(|s| s.to_array().expect("array")).collect();
            merged.merge_batch(&arrays).expect("merge");
        }
        assert_eq!(merged.counts, whole.counts);
        assert_eq!(
            merged.evaluate().expect("psi"),
            whole.evaluate().expect("psi")
        );
        assert_eq!(whole.counts.iter().sum::<u64>(), 1000);
        // a state from a reference with other bins is refused
        let mut other = accumulator(&[1.0]);
        let state = whole.state().expect("state")[0].to_array().expect("array");
        assert!(other.merge_batch(&[state]).is_err());
        // nothing aggregated → NULL
        assert_eq!(
            accumulator(&[1.0]).evaluate().expect("psi"),
            ScalarValue::Float64(None)
        );
    }

    #[test]
    fn unknown_feature_lists_the_features() {
        let source = crate::model::test_support::source();
        let mut model = source.resolve("m").expect("model");
        let err = feature_reference(&model, "a").expect_err("no references");
        assert!(err.to_string().contains("no training reference"), "{err}");
        let r = |f: &str| FeatureReference {
            feature: f.into(),
            rows: 10,
            null_fraction: 0.0,
            mean: 0.0,
            std: 1.0,
            edges: vec![0.0],
            fractions: vec![0.5, 0.5],
            quantiles: Vec::new(),
        };
        let mut artifact = (*model.artifact).clone();
        artifact.reference = vec![r("a"), r("b")];
        model.artifact = Arc::new(artifact);
        assert!(feature_reference(&model, "b").is_ok());
        let err = feature_reference(&model, "zz").expect_err("unknown");
        assert!(
            err.to_string().contains("Help: its features are a, b"),
            "{err}"
        );
    }
}
