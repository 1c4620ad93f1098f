//! `pg_catalog.pg_tables` and `pg_catalog.pg_views` as PostgreSQL has them:
//! tables only in `pg_tables`, views (with their SQL) in `pg_views`.
//! datafusion-pg-catalog lists every relation in `pg_tables` and none in
//! `pg_views`; dbt-postgres reads its relation list from these two (plus
//! `pg_matviews`) and then swaps a view with `DROP TABLE` when the view was
//! listed as a table — which PostgreSQL and VOIDX rightly refuse.
//!
//! Both are views over `information_schema` (computed at each query, so they
//! follow the catalog). Also here: `pg_is_other_temp_schema(oid)`, which
//! dbt's `docs generate` catalog query calls (always false: a session sees
//! only its own temporary tables).
//!
//! ```sql
//! SELECT tablename FROM pg_catalog.pg_tables WHERE schemaname = 'dbt_dev';
//! ```

use std::sync::Arc;

use datafusion::catalog::TableProvider;
use datafusion::common::ScalarValue;
use datafusion::datasource::ViewTable;
use datafusion::logical_expr::{ColumnarValue, Volatility, create_udf};
use datafusion::prelude::SessionContext;

use crate::error::Result;

/// The replacement tables, by name, for the `pg_catalog` overlay.
pub async fn tables(
    ctx: &SessionContext,
    catalog: &str,
) -> Result<Vec<(&'static str, Arc<dyn TableProvider>)>> {
    let catalog = catalog.replace('\'', "''");
    let pg_tables = format!(
        "SELECT table_schema AS schemaname, table_name AS tablename, 'postgres' AS tableowner, \
         CAST(NULL AS VARCHAR) AS tablespace, false AS hasindex, false AS hasrules, \
         false AS hastriggers, false AS rowsecurity \
         FROM information_schema.tables \
         WHERE table_catalog = '{catalog}' AND table_type = 'BASE TABLE'"
    );
    let pg_views = format!(
        "SELECT t.table_schema AS schemaname, t.table_name AS viewname, 'postgres' AS viewowner, \
         v.definition FROM information_schema.tables t LEFT JOIN information_schema.views v \
         ON t.table_catalog = v.table_catalog AND t.table_schema = v.table_schema \
         AND t.table_name = v.table_name \
         WHERE t.table_catalog = '{catalog}' AND t.table_type = 'VIEW'"
    );
    let mut out: Vec<(&'static str, Arc<dyn TableProvider>)> = Vec::new();
    for (name, sql) in [("pg_tables", pg_tables), ("pg_views", pg_views)] {
        let plan = ctx.sql(&sql).await?.into_unoptimized_plan();
        out.push((name, Arc::new(ViewTable::new(plan, Some(sql)))));
    }
    Ok(out)
}

/// PostgreSQL's `pg_size_pretty`: bytes below 10 kB as `n bytes`, then kB,
/// MB, GB, TB, each unit taken while the value is below 10,240 of it
/// (rounded half up, as PostgreSQL does).
fn size_pretty(bytes: i64) -> String {
    if bytes.unsigned_abs() < 10 * 1024 {
        return format!("{bytes} bytes");
    }
    let mut value = bytes as f64 / 1024.0;
    for unit in ["kB", "MB", "GB", "TB"] {
        if value.abs() < 10.0 * 1024.0 || unit == "TB" {
            return format!("{} {unit}", value.round() as i64);
        }
        value /= 1024.0;
    }
    format!("{} PB", value.round() as i64)
}

/// `pg_is_other_temp_schema(oid)`: false for every schema. `pg_table_size`
/// (0, as datafusion-pg-catalog's `pg_relation_size`: sizes are in
/// `voidx.tables`) and `pg_size_pretty`, which psql's `\dt+` / `\dv+` call.
pub fn register_functions(ctx: &SessionContext) {
    ctx.register_udf(create_udf(
        "pg_table_size",
        vec![arrow::datatypes::DataType::Int64],
        arrow::datatypes::DataType::Int64,
        Volatility::Stable,
        Arc::new(|_args: &[ColumnarValue]| Ok(ColumnarValue::Scalar(ScalarValue::Int64(Some(0))))),
    ));
    ctx.register_udf(create_udf(
        "pg_size_pretty",
        vec![arrow::datatypes::DataType::Int64],
        arrow::datatypes::DataType::Utf8,
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            let arrays = ColumnarValue::values_to_arrays(args)?;
            let bytes =
                arrow::array::AsArray::as_primitive::<arrow::datatypes::Int64Type>(&arrays[0]);
            let out: arrow::array::StringArray = bytes.iter().map(|b| b.map(size_pretty)).collect();
            Ok(ColumnarValue::Array(Arc::new(out)))
        }),
    ));
    ctx.register_udf(create_udf(
        "pg_is_other_temp_schema",
        vec![arrow::datatypes::DataType::Int64],
        arrow::datatypes::DataType::Boolean,
        Volatility::Stable,
        Arc::new(|_args: &[ColumnarValue]| {
            Ok(ColumnarValue::Scalar(ScalarValue::Boolean(Some(false))))
        }),
    ));
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes_print_as_postgresql_prints_them() {
        assert_eq!(super::size_pretty(0), "0 bytes");
        assert_eq!(super::size_pretty(10 * 1024 - 1), "10239 bytes");
        assert_eq!(super::size_pretty(10 * 1024), "10 kB");
        assert_eq!(super::size_pretty(5 * 1024 * 1024 * 1024), "5120 MB");
    }
}
