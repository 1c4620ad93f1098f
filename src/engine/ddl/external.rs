//! `CREATE EXTERNAL TABLE`: the location is checked, the source opened once
//! (so an unusable source fails now, not at the first query), and the
//! complete statement is stored for re-opening.

use datafusion::logical_expr::CreateExternalTable;

use super::names::{check_existing, target_for_create};
use crate::engine::{CommandTag, Engine};
use crate::error::{Result, VoidxError};
use crate::storage::catalog::{self, Entry, Kind, now_ms};
use crate::storage::delta;
use crate::storage::relations::forget_data;

pub(super) async fn create_external(
    engine: &Engine,
    cmd: CreateExternalTable,
) -> Result<CommandTag> {
    if cmd.temporary {
        return Err(VoidxError::Unsupported(
            "temporary external tables are not supported".into(),
        ));
    }
    let (schema, name) = target_for_create(engine, &cmd.name)?;
    let existing = engine.catalog.get(&schema, &name);
    if check_existing(
        existing.as_ref(),
        Kind::External,
        cmd.if_not_exists,
        cmd.or_replace,
    )? {
        return Ok(CommandTag::new("CREATE EXTERNAL TABLE"));
    }
    let format = cmd.file_type.to_ascii_uppercase();
    let mut location = cmd.locations.join(",");
    let mut definition = external_definition(&cmd, cmd.schema.as_arrow());
    if format == "DELTATABLE" {
        // The catalog keeps (and every later open uses) the checked form.
        location = engine
            .policy
            .check_location(&location)?
            .as_str()
            .to_string();
        delta::open(&location).await.map_err(|e| match e {
            VoidxError::NotAllowed(_) => e,
            e => VoidxError::InvalidArgument(format!(
                "no Delta table at '{}': {}. Help: LOCATION must be the table's root directory (the one holding _delta_log)",
                location,
                e.client_message()
            ))
        })?;
    } else {
        // Fail now, not at the first query, if the source is unusable.
        let state = engine.ctx.state();
        let factory = state.table_factories().get(format.as_str()).ok_or_else(|| {
            VoidxError::Unsupported(format!(
                "STORED AS {format} is not supported. Help: use CSV, PARQUET, JSON or DELTATABLE"
            ))
        })?;
        let provider = factory.create(&state, &cmd).await?;
        // Sources whose schema was inferred from a sample (REST, HTML) keep
        // the inferred columns, so a restart or a changed page never changes
        // the table's shape silently. (POSTGRES reads its exact types from
        // the database's catalog; files carry their own schema.)
        if cmd.schema.fields().is_empty() && matches!(format.as_str(), "REST" | "HTML") {
            definition = external_definition(&cmd, &provider.schema());
        }
    }
    let entry = Entry {
        schema,
        name,
        kind: Kind::External,
        location: Some(location.clone()),
        definition: Some(definition),
        format: Some(format),
        created_at_ms: now_ms(),
        comment: None,
        column_comments: Default::default(),
    };
    engine
        .catalog
        .commit_change(|m| {
            m.insert(catalog::key(&entry), entry.clone());
            Ok(())
        })
        .await?;
    if let Some(old) = existing {
        forget_data(&engine.catalog, &engine.resolver, &old).await;
    }
    Ok(CommandTag::new("CREATE EXTERNAL TABLE"))
}

/// The statement to store for an external table. DataFusion's own
/// rendering (`cmd.definition`) drops the column list and OPTIONS, so a
/// re-created provider would lose them; render them from the plan instead.
fn external_definition(cmd: &CreateExternalTable, columns: &arrow::datatypes::Schema) -> String {
    let quote = |s: &str| format!("'{}'", s.replace('\'', "''"));
    let mut sql = format!("CREATE EXTERNAL TABLE {} ", cmd.name.to_quoted_string());
    let fields = columns.fields();
    if !fields.is_empty() {
        let columns: Vec<String> = fields
            .iter()
            .map(|f| {
                let null = if f.is_nullable() { "" } else { " NOT NULL" };
                format!(
                    "\"{}\" {}{null}",
                    f.name().replace('"', "\"\""),
                    sql_type(f.data_type())
                )
            })
            .collect();
        sql.push_str(&format!("({}) ", columns.join(", ")));
    }
    sql.push_str(&format!("STORED AS {} ", cmd.file_type));
    if !cmd.table_partition_cols.is_empty() {
        let cols: Vec<String> = cmd
            .table_partition_cols
            .iter()
            .map(|c| format!("\"{}\"", c.replace('"', "\"\"")))
            .collect();
        sql.push_str(&format!("PARTITIONED BY ({}) ", cols.join(", ")));
    }
    let locations: Vec<String> = cmd.locations.iter().map(|l| quote(l)).collect();
    match locations.as_slice() {
        [one] => sql.push_str(&format!("LOCATION {one}")),
        many => sql.push_str(&format!("LOCATION ({})", many.join(", "))),
    }
    if !cmd.options.is_empty() {
        let mut options: Vec<(&String, &String)> = cmd.options.iter().collect();
        options.sort();
        let rendered: Vec<String> = options
            .into_iter()
            .map(|(k, v)| format!("{} {}", quote(k), quote(v)))
            .collect();
        sql.push_str(&format!(" OPTIONS ({})", rendered.join(", ")));
    }
    sql
}

/// SQL spelling of a declared column type (what CREATE EXTERNAL TABLE accepts).
fn sql_type(t: &arrow::datatypes::DataType) -> String {
    use arrow::datatypes::DataType as T;
    match t {
        T::Boolean => "BOOLEAN".into(),
        T::Int8 => "TINYINT".into(),
        T::Int16 => "SMALLINT".into(),
        T::Int32 => "INT".into(),
        T::Int64 => "BIGINT".into(),
        T::UInt8 => "TINYINT UNSIGNED".into(),
        T::UInt16 => "SMALLINT UNSIGNED".into(),
        T::UInt32 => "INT UNSIGNED".into(),
        T::UInt64 => "BIGINT UNSIGNED".into(),
        T::Float16 | T::Float32 => "REAL".into(),
        T::Float64 => "DOUBLE".into(),
        T::Decimal128(p, s) | T::Decimal256(p, s) => format!("DECIMAL({p}, {s})"),
        T::Date32 | T::Date64 => "DATE".into(),
        T::Time32(_) | T::Time64(_) => "TIME".into(),
        T::Timestamp(_, None) => "TIMESTAMP".into(),
        T::Timestamp(_, Some(_)) => "TIMESTAMPTZ".into(),
        T::Binary | T::LargeBinary | T::BinaryView | T::FixedSizeBinary(_) => "BYTEA".into(),
        _ => "TEXT".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::logical_expr::{DdlStatement, LogicalPlan};

    async fn plan_external(sql: &str) -> CreateExternalTable {
        let mut config = datafusion::prelude::SessionConfig::new();
        config.options_mut().sql_parser.dialect = datafusion::config::Dialect::PostgreSQL;
        let ctx = datafusion::prelude::SessionContext::new_with_config(config);
        match ctx.state().create_logical_plan(sql).await.unwrap() {
            LogicalPlan::Ddl(DdlStatement::CreateExternalTable(cmd)) => *cmd,
            other => panic!("not an external table: {other}"),
        }
    }

    #[tokio::test]
    async fn stored_external_definitions_keep_columns_and_options() {
        let cmd = plan_external(
            "CREATE EXTERNAL TABLE s.t (id BIGINT NOT NULL, \"Name\" TEXT, at TIMESTAMP, p DECIMAL(10, 2)) \
             STORED AS REST LOCATION 'http://h/x?a=''b''' \
             OPTIONS ('records' '$.data', 'header.X-Key' 'env:K')",
        )
        .await;
        let stored = external_definition(&cmd, cmd.schema.as_arrow());
        let again = plan_external(&stored).await;
        assert_eq!(again.schema, cmd.schema, "{stored}");
        assert_eq!(again.options, cmd.options, "{stored}");
        assert_eq!(again.locations, cmd.locations, "{stored}");
        assert_eq!(again.file_type, "REST");
    }

    #[tokio::test]
    async fn inferred_columns_are_written_into_the_definition() {
        use arrow::datatypes::{DataType, Field, Schema};
        let cmd = plan_external(
            "CREATE EXTERNAL TABLE fx STORED AS HTML LOCATION 'http://x/stored as' OPTIONS ('selector' 'table')",
        )
        .await;
        let inferred = Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("Price (EUR)", DataType::Float64, true),
        ]);
        let stored = external_definition(&cmd, &inferred);
        assert!(
            stored.starts_with(
                "CREATE EXTERNAL TABLE fx (\"id\" BIGINT NOT NULL, \"Price (EUR)\" DOUBLE) STORED AS HTML "
            ),
            "{stored}"
        );
        let again = plan_external(&stored).await;
        assert_eq!(again.schema.as_arrow().fields(), inferred.fields());
        assert_eq!(again.locations, vec!["http://x/stored as".to_string()]);
    }
}
