//! Test-only fault injection at commit boundaries. Inert unless the
//! process starts with `VOIDXTEST_FAILPOINTS` set (the `VOIDXTEST_` prefix
//! keeps it out of the `VOIDX_*` configuration tree): a comma-separated list
//! of `point=action`, where action is `error` (the step fails with XX000),
//! `panic`, or `crash` (the process exits at once, as kill -9 would leave it).
//!
//! ```text
//! VOIDXTEST_FAILPOINTS=ingest.before_data_commit=crash voidx serve …
//! ```
//!
//! A runtime switch rather than a cargo feature: the integration tests run
//! the ordinary debug binary, and a second feature set would mean a second
//! build of the whole tree. Reading the map costs one lookup per boundary.
//! With the variable set, `voidx_panic(text)` is also registered, a SQL
//! function that panics while rows are computed (tests of the panic guard).

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use datafusion::arrow::datatypes::DataType;
use datafusion::logical_expr::{ColumnarValue, Volatility, create_udf};
use datafusion::prelude::SessionContext;

use crate::error::{Result, VoidxError};

const ENV: &str = "VOIDXTEST_FAILPOINTS";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Error,
    Panic,
    Crash,
}

static POINTS: LazyLock<Option<HashMap<String, Action>>> = LazyLock::new(|| {
    let spec = std::env::var(ENV).ok()?;
    Some(parse(&spec))
});

fn parse(spec: &str) -> HashMap<String, Action> {
    spec.split(',')
        .filter_map(|item| {
            let (point, action) = item.trim().split_once('=')?;
            let action = match action.trim() {
                "error" => Action::Error,
                "panic" => Action::Panic,
                "crash" => Action::Crash,
                _ => return None,
            };
            Some((point.trim().to_string(), action))
        })
        .collect()
}

/// Whether fault injection is switched on for this process.
pub fn enabled() -> bool {
    POINTS.is_some()
}

/// A commit boundary named `point`; does nothing unless a test armed it.
pub fn hit(point: &str) -> Result<()> {
    let Some(action) = POINTS.as_ref().and_then(|p| p.get(point)) else {
        return Ok(());
    };
    tracing::warn!(point, ?action, "failpoint hit");
    match action {
        Action::Error => Err(VoidxError::Internal(format!(
            "failpoint {point} (injected by {ENV})"
        ))),
        Action::Panic => panic!("failpoint {point} (injected by {ENV})"),
        Action::Crash => {
            eprintln!("failpoint {point}: crashing (injected by {ENV})");
            std::process::exit(137)
        }
    }
}

/// Registers `voidx_panic(text)` when fault injection is on.
pub fn register(ctx: &SessionContext) {
    if !enabled() {
        return;
    }
    ctx.register_udf(create_udf(
        "voidx_panic",
        vec![DataType::Utf8],
        DataType::Utf8,
        Volatility::Volatile,
        Arc::new(
            |_args: &[ColumnarValue]| -> datafusion::error::Result<ColumnarValue> {
                panic!("voidx_panic() called (test function)")
            },
        ),
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_points_and_skips_nonsense() {
        let p = parse("a.b=crash, c=error,d=panic,e=explode,novalue");
        assert_eq!(p.len(), 3);
        assert_eq!(p["a.b"], Action::Crash);
        assert_eq!(p["c"], Action::Error);
        assert_eq!(p["d"], Action::Panic);
    }
}
