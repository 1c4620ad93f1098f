//! Turning a serving function's arguments into the model's feature columns:
//! either features by position (`predict('m', a, b, c)`) or one struct whose
//! fields match features by name (`predict('m', named_struct('a', a, …))`).

use arrow::array::{Array, AsArray};
use arrow::datatypes::DataType;
use datafusion::common::{ScalarValue, exec_err, plan_err};
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::ColumnarValue;

use crate::ml::MlError;
use crate::ml::dataset::to_f64;
use crate::model::{ModelSource, ResolvedModel};

/// Coerces `(model, features…, [extra trailing args])`: the model name to
/// text, positional features to Float64, a struct left as it is.
pub fn coerce(name: &str, args: &[DataType], trailing: usize) -> Result<Vec<DataType>> {
    if args.len() < 2 + trailing {
        return plan_err!(
            "{name} needs a model name and its features, e.g. {name}('revenue_predictor', recency, frequency{})",
            if trailing > 0 { ", 0.9" } else { "" }
        );
    }
    let mut out = Vec::with_capacity(args.len());
    out.push(DataType::Utf8);
    let n = args.len();
    for (i, t) in args.iter().enumerate().skip(1) {
        if i >= n - trailing {
            out.push(DataType::Float64);
        } else if matches!(t, DataType::Struct(_)) && n == 2 + trailing {
            out.push(t.clone());
        } else if t.is_numeric() || matches!(t, DataType::Boolean | DataType::Null) {
            out.push(DataType::Float64);
        } else {
            return plan_err!(
                "{name}: argument {} has type {t}; features must be numeric. Help: cast it, e.g. CAST(x AS DOUBLE)",
                i + 1
            );
        }
    }
    Ok(out)
}

pub fn ml_err(e: MlError) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}

/// Resolves the model named by the first argument, which must be constant.
pub fn resolve(
    name: &str,
    source: &dyn ModelSource,
    arg: &ColumnarValue,
) -> Result<Option<ResolvedModel>> {
    let spec = match arg {
        ColumnarValue::Scalar(s) => match s {
            ScalarValue::Utf8(v) | ScalarValue::LargeUtf8(v) | ScalarValue::Utf8View(v) => {
                v.clone()
            }
            other => {
                return exec_err!(
                    "{name}: the model name must be text, got {}",
                    other.data_type()
                );
            }
        },
        ColumnarValue::Array(a) => {
            // A column of names is fine when every row names the same model.
            let strings = arrow::compute::cast(a, &DataType::Utf8)?;
            let strings = strings.as_string::<i32>();
            let first = strings.iter().flatten().next().map(str::to_string);
            if strings
                .iter()
                .flatten()
                .any(|s| Some(s) != first.as_deref())
            {
                return exec_err!(
                    "{name}: one call serves one model; the model name must be the same in every row. Help: pass it as a literal, e.g. {name}('revenue_predictor', …)"
                );
            }
            first
        }
    };
    match spec {
        None => Ok(None),
        Some(spec) => source.resolve(&spec).map(Some).map_err(ml_err),
    }
}

/// The model's features as f64 columns (NaN = NULL) from `args` (without
/// the model name and trailing arguments).
pub fn feature_columns(
    name: &str,
    model: &ResolvedModel,
    args: &[ColumnarValue],
    rows: usize,
) -> Result<Vec<Vec<f64>>> {
    let wanted = &model.artifact.forest.feature_names;
    let as_column = |v: &ColumnarValue| -> Result<Vec<f64>> {
        let array = v.to_array(rows)?;
        to_f64(&array).map_err(ml_err)
    };
    if let [single] = args
        && let DataType::Struct(fields) = single.data_type()
    {
        let array = single.to_array(rows)?;
        let s = array.as_struct();
        let mut out = Vec::with_capacity(wanted.len());
        let mut missing = Vec::new();
        for f in wanted {
            match fields.iter().position(|field| field.name() == f) {
                Some(i) => out.push(to_f64(s.column(i)).map_err(ml_err)?),
                None => missing.push(f.as_str()),
            }
        }
        if !missing.is_empty() {
            return exec_err!(
                "{name}: model \"{}\" version {} needs features {} that the struct lacks. Help: its features are {}",
                model.name,
                model.version,
                missing.join(", "),
                wanted.join(", ")
            );
        }
        // A NULL struct row means every feature is missing.
        if s.null_count() > 0 {
            for col in &mut out {
                for (r, v) in col.iter_mut().enumerate() {
                    if s.is_null(r) {
                        *v = f64::NAN;
                    }
                }
            }
        }
        return Ok(out);
    }
    if args.len() != wanted.len() {
        return exec_err!(
            "{name}: model \"{}\" version {} takes {} features in this order: {}; got {} argument{}. Help: pass them by name with named_struct('{}', …)",
            model.name,
            model.version,
            wanted.len(),
            wanted.join(", "),
            args.len(),
            if args.len() == 1 { "" } else { "s" },
            wanted.first().map_or("", String::as_str)
        );
    }
    args.iter().map(as_column).collect()
}

/// Runs `work(start, end)` over `rows` split into one contiguous range per
/// core when the batch is large enough to pay for the threads, and returns
/// the results in row order, so the output does not depend on the split.
pub fn map_row_ranges<T: Send>(rows: usize, work: impl Fn(usize, usize) -> T + Sync) -> Vec<T> {
    const MIN_ROWS_PER_THREAD: usize = 1024;
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(rows / MIN_ROWS_PER_THREAD)
        .max(1);
    if threads == 1 {
        return vec![work(0, rows)];
    }
    let chunk = rows.div_ceil(threads);
    std::thread::scope(|s| {
        let work = &work;
        let handles: Vec<_> = (1..threads)
            .map(|t| s.spawn(move || work(t * chunk, ((t + 1) * chunk).min(rows))))
            .collect();
        let mut out = vec![work(0, chunk.min(rows))];
        for h in handles {
            out.push(h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
        }
        out
    })
}
