//! DDL against the persistent catalog: `CREATE SCHEMA|TABLE|VIEW|EXTERNAL
//! TABLE`, `DROP … [CASCADE]`, `ALTER TABLE|VIEW … RENAME TO`.
//!
//! Each statement is one catalog commit. Data is written before the commit
//! that makes it visible, so a crash leaves an invisible orphan directory at
//! worst, never a visible half-written table.
//!
//! Views are late-bound: they are stored as SQL and resolved by name at query
//! time (like Redshift's `WITH NO SCHEMA BINDING`), so renaming a table does
//! not break or silently redirect them until a table of that name reappears.
//! `DROP` still refuses to remove a relation a view reads unless `CASCADE`.

use std::collections::BTreeSet;
use std::sync::Arc;

use datafusion::common::{DFSchema, TableReference};
use datafusion::logical_expr::{
    CreateExternalTable, CreateMemoryTable, CreateView, DdlStatement, EmptyRelation, LogicalPlan,
};
use datafusion::sql::parser::DFParserBuilder;
use datafusion::sql::sqlparser::ast::{
    AlterTableOperation, Ident, ObjectName, ObjectType, RenameTableNameKind,
    Statement as PgStatement,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;

use super::timeout::{self, Deadline};
use super::{CommandTag, Engine, Stmt};
use crate::error::{Result, VoidxError};
use crate::storage::catalog::{self, DEFAULT_SCHEMA, Entry, Kind, SYSTEM_SCHEMA, now_ms};
use crate::storage::delta;

const RESERVED_SCHEMAS: &[&str] = &[SYSTEM_SCHEMA, "pg_catalog", "information_schema"];

pub fn empty_plan() -> LogicalPlan {
    LogicalPlan::EmptyRelation(EmptyRelation {
        produce_one_row: false,
        schema: Arc::new(DFSchema::empty()),
    })
}

/// Statements handled on the syntax tree because DataFusion has no plan for them.
pub fn is_catalog_statement(stmt: &Stmt) -> bool {
    match stmt.as_pg() {
        Some(PgStatement::Drop { object_type, .. }) => {
            matches!(
                object_type,
                ObjectType::Table | ObjectType::View | ObjectType::Schema
            )
        }
        Some(PgStatement::AlterTable(alter)) => {
            alter.operations.len() == 1
                && matches!(
                    alter.operations[0],
                    AlterTableOperation::RenameTable { .. }
                        | AlterTableOperation::AddConstraint { .. }
                        | AlterTableOperation::DropConstraint { .. }
                )
        }
        _ => false,
    }
}

pub async fn execute_catalog_statement(engine: &Engine, stmt: &Stmt) -> Result<Option<CommandTag>> {
    if !is_catalog_statement(stmt) {
        return Ok(None);
    }
    match stmt.as_pg() {
        Some(PgStatement::Drop {
            object_type,
            if_exists,
            names,
            cascade,
            ..
        }) => drop_objects(engine, *object_type, names, *if_exists, *cascade)
            .await
            .map(Some),
        Some(PgStatement::AlterTable(alter)) => {
            match &alter.operations[0] {
                AlterTableOperation::AddConstraint { constraint, .. } => {
                    return add_constraint(engine, &alter.name, constraint, alter.if_exists)
                        .await
                        .map(Some);
                }
                AlterTableOperation::DropConstraint {
                    name, if_exists, ..
                } => {
                    return drop_constraint(engine, &alter.name, name, *if_exists)
                        .await
                        .map(Some);
                }
                _ => {}
            }
            let AlterTableOperation::RenameTable { table_name } = &alter.operations[0] else {
                return Ok(None);
            };
            let new_name = match table_name {
                RenameTableNameKind::To(n) | RenameTableNameKind::As(n) => n,
            };
            rename(engine, &alter.name, new_name, alter.if_exists)
                .await
                .map(Some)
        }
        _ => Ok(None),
    }
}

pub async fn execute_ddl(
    engine: &Engine,
    ddl: DdlStatement,
    deadline: Deadline,
) -> Result<CommandTag> {
    match ddl {
        DdlStatement::CreateCatalogSchema(cmd) => {
            create_schema(engine, &cmd.schema_name, cmd.if_not_exists).await
        }
        DdlStatement::CreateMemoryTable(cmd) => create_table(engine, cmd, deadline).await,
        DdlStatement::CreateView(cmd) => create_view(engine, cmd).await,
        DdlStatement::CreateExternalTable(cmd) => create_external(engine, *cmd).await,
        DdlStatement::DropTable(cmd) => {
            let name = object_name_of(&cmd.name);
            drop_objects(engine, ObjectType::Table, &[name], cmd.if_exists, false).await
        }
        DdlStatement::DropView(cmd) => {
            let name = object_name_of(&cmd.name);
            drop_objects(engine, ObjectType::View, &[name], cmd.if_exists, false).await
        }
        DdlStatement::DropCatalogSchema(cmd) => {
            let name = ObjectName::from(vec![Ident::with_quote('"', cmd.name.schema_name())]);
            drop_objects(
                engine,
                ObjectType::Schema,
                &[name],
                cmd.if_exists,
                cmd.cascade,
            )
            .await
        }
        other => Err(VoidxError::Unsupported(format!(
            "{} is not supported. Help: see docs/sql-reference.md for the statements VOIDX runs",
            other.name()
        ))),
    }
}

// ---------------------------------------------------------------- names

fn normalize(ident: &Ident) -> String {
    match ident.quote_style {
        Some(_) => ident.value.clone(),
        None => ident.value.to_ascii_lowercase(),
    }
}

fn object_name_of(r: &TableReference) -> ObjectName {
    let parts: Vec<Ident> = match r {
        TableReference::Bare { table } => vec![Ident::with_quote('"', table.as_ref())],
        TableReference::Partial { schema, table } => {
            vec![
                Ident::with_quote('"', schema.as_ref()),
                Ident::with_quote('"', table.as_ref()),
            ]
        }
        TableReference::Full {
            catalog,
            schema,
            table,
        } => vec![
            Ident::with_quote('"', catalog.as_ref()),
            Ident::with_quote('"', schema.as_ref()),
            Ident::with_quote('"', table.as_ref()),
        ],
    };
    ObjectName::from(parts)
}

/// `[catalog.][schema.]name` → (schema, name), checking the catalog part.
fn split_name(engine: &Engine, name: &ObjectName) -> Result<(String, String)> {
    let parts: Vec<String> = name
        .0
        .iter()
        .map(|p| p.as_ident().map(normalize).unwrap_or_else(|| p.to_string()))
        .collect();
    match parts.as_slice() {
        [table] => Ok((DEFAULT_SCHEMA.to_string(), table.clone())),
        [schema, table] => Ok((schema.clone(), table.clone())),
        [catalog, schema, table] if *catalog == engine.catalog_name => {
            Ok((schema.clone(), table.clone()))
        }
        [catalog, ..] if parts.len() == 3 => Err(VoidxError::Unsupported(format!(
            "cross-database references are not supported: database \"{catalog}\" is not \"{}\"",
            engine.catalog_name
        ))),
        _ => Err(VoidxError::Syntax(format!(
            "improper qualified name (too many dotted names): {name}"
        ))),
    }
}

fn split_reference(engine: &Engine, r: &TableReference) -> Result<(String, String)> {
    split_name(engine, &object_name_of(r))
}

/// Where a new relation goes: the schema must exist and not be a system schema.
fn target_for_create(engine: &Engine, r: &TableReference) -> Result<(String, String)> {
    let (schema, name) = split_reference(engine, r)?;
    if RESERVED_SCHEMAS.contains(&schema.as_str()) {
        return Err(VoidxError::ReadOnly(format!(
            "cannot create \"{schema}.{name}\": schema {schema} is reserved for the system. Help: CREATE SCHEMA analytics and create it there"
        )));
    }
    if !engine.catalog.schema_exists(&schema) {
        return Err(VoidxError::UndefinedSchema(format!(
            "schema \"{schema}\" does not exist. Help: CREATE SCHEMA {schema}"
        )));
    }
    Ok((schema, name))
}

fn relation_exists_error(entry: &Entry) -> VoidxError {
    VoidxError::DuplicateTable(format!(
        "relation \"{}\" already exists (a {}). Help: use CREATE OR REPLACE, IF NOT EXISTS, or another name",
        entry.qualified(),
        entry.kind.as_str()
    ))
}

/// What to do when the name is taken: `Ok(true)` = nothing (IF NOT EXISTS),
/// `Ok(false)` = go on (free, or replacing an object of the same kind).
fn check_existing(
    existing: Option<&Entry>,
    kind: Kind,
    if_not_exists: bool,
    or_replace: bool,
) -> Result<bool> {
    match existing {
        None => Ok(false),
        Some(_) if if_not_exists => Ok(true),
        Some(e) if or_replace && e.kind == kind => Ok(false),
        Some(e) => Err(relation_exists_error(e)),
    }
}

// ---------------------------------------------------------------- create

async fn create_schema(engine: &Engine, raw: &str, if_not_exists: bool) -> Result<CommandTag> {
    let schema = match raw.split_once('.') {
        Some((catalog, schema)) if catalog.trim_matches('"') == engine.catalog_name => schema,
        Some(_) => {
            return Err(VoidxError::Unsupported(format!(
                "cannot create schema {raw} in another database"
            )));
        }
        None => raw,
    };
    let schema = schema.trim_matches('"').to_string();
    if RESERVED_SCHEMAS.contains(&schema.as_str()) {
        return Err(VoidxError::DuplicateSchema(format!(
            "schema \"{schema}\" is reserved for the system"
        )));
    }
    if engine.catalog.schema_exists(&schema) {
        return if if_not_exists {
            Ok(CommandTag::new("CREATE SCHEMA"))
        } else {
            Err(VoidxError::DuplicateSchema(format!(
                "schema \"{schema}\" already exists. Help: CREATE SCHEMA IF NOT EXISTS {schema}"
            )))
        };
    }
    engine
        .catalog
        .commit_change(|m| {
            let e = catalog::schema_entry(&schema);
            m.insert(catalog::key(&e), e);
            Ok(())
        })
        .await?;
    Ok(CommandTag::new("CREATE SCHEMA"))
}

async fn create_table(
    engine: &Engine,
    cmd: CreateMemoryTable,
    deadline: Deadline,
) -> Result<CommandTag> {
    let (schema, name) = target_for_create(engine, &cmd.name)?;
    let existing = engine.catalog.get(&schema, &name);
    if check_existing(
        existing.as_ref(),
        Kind::Table,
        cmd.if_not_exists,
        cmd.or_replace,
    )? {
        return Ok(CommandTag::new("CREATE TABLE"));
    }
    let is_ctas = !matches!(cmd.input.as_ref(), LogicalPlan::EmptyRelation(_));
    let df = engine
        .ctx
        .execute_logical_plan(cmd.input.as_ref().clone())
        .await?;
    let arrow_schema = Arc::new(df.schema().as_arrow().clone());
    let batches = timeout::run(deadline, df.collect()).await??;
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();

    store_table(
        engine,
        &schema,
        &name,
        arrow_schema,
        batches,
        cmd.or_replace,
    )
    .await?;
    Ok(if is_ctas {
        CommandTag::with_rows("SELECT", rows)
    } else {
        CommandTag::new("CREATE TABLE")
    })
}

/// Write `batches` as a new managed table and publish it in one catalog
/// commit; a table it replaces loses its files afterwards. On any failure
/// the written files are removed and nothing is visible.
pub async fn store_table(
    engine: &Engine,
    schema: &str,
    name: &str,
    arrow_schema: arrow::datatypes::SchemaRef,
    batches: Vec<arrow::array::RecordBatch>,
    or_replace: bool,
) -> Result<()> {
    let location = engine.catalog.new_table_location(schema, name);
    let entry = Entry {
        schema: schema.to_string(),
        name: name.to_string(),
        kind: Kind::Table,
        location: Some(location.clone()),
        definition: None,
        format: None,
        created_at_ms: now_ms(),
    };
    // The entry this commit displaced (OR REPLACE): read inside the commit,
    // so it is the one actually replaced even under concurrent DDL.
    let mut replaced = None;
    let committed = async {
        delta::create_with(&location, arrow_schema, batches).await?;
        crate::failpoint::hit("ctas.before_catalog_commit")?;
        engine
            .catalog
            .commit_change(|m| match m.get(&catalog::key(&entry)) {
                Some(current) if !or_replace || current.kind != Kind::Table => {
                    Err(relation_exists_error(current))
                }
                _ => {
                    replaced = m.insert(catalog::key(&entry), entry.clone());
                    Ok(())
                }
            })
            .await
    }
    .await;
    if committed.is_err() {
        remove_dir(&location);
    }
    committed?;
    if let Some(old) = replaced {
        forget_data(engine, &old).await;
    }
    Ok(())
}

/// `CREATE SCHEMA IF NOT EXISTS` for library callers (demo data, system setup).
pub async fn ensure_schema(engine: &Engine, schema: &str) -> Result<()> {
    create_schema(engine, schema, true).await.map(|_| ())
}

async fn create_view(engine: &Engine, cmd: CreateView) -> Result<CommandTag> {
    if cmd.temporary {
        return Err(VoidxError::Unsupported(
            "temporary views are not supported; create a regular view".into(),
        ));
    }
    let (schema, name) = target_for_create(engine, &cmd.name)?;
    let existing = engine.catalog.get(&schema, &name);
    check_existing(existing.as_ref(), Kind::View, false, cmd.or_replace)?;
    let definition = cmd
        .definition
        .ok_or_else(|| VoidxError::Internal("view without a definition".into()))?;
    let entry = Entry {
        schema,
        name,
        kind: Kind::View,
        location: None,
        definition: Some(definition),
        format: None,
        created_at_ms: now_ms(),
    };
    if reads_from(engine, &entry)
        .await
        .contains(&(entry.schema.clone(), entry.name.clone()))
    {
        return Err(VoidxError::InvalidArgument(format!(
            "view \"{}\" would read from itself",
            entry.qualified()
        )));
    }
    engine
        .catalog
        .commit_change(|m| {
            m.insert(catalog::key(&entry), entry.clone());
            Ok(())
        })
        .await?;
    Ok(CommandTag::new("CREATE VIEW"))
}

async fn create_external(engine: &Engine, cmd: CreateExternalTable) -> Result<CommandTag> {
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
    let mut definition = external_definition(&cmd);
    if format == "DELTATABLE" {
        // The catalog keeps (and every later open uses) the checked form.
        location = engine
            .policy
            .check_location(&location)?
            .as_str()
            .to_string();
        delta::open(&location).await.map_err(|e| {
            VoidxError::InvalidArgument(format!(
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
        if cmd.schema.fields().is_empty()
            && matches!(format.as_str(), "REST" | "HTML")
            && let Some(with_columns) = with_column_list(&definition, &provider.schema())
        {
            definition = with_columns;
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
    };
    engine
        .catalog
        .commit_change(|m| {
            m.insert(catalog::key(&entry), entry.clone());
            Ok(())
        })
        .await?;
    if let Some(old) = existing {
        forget_data(engine, &old).await;
    }
    Ok(CommandTag::new("CREATE EXTERNAL TABLE"))
}

/// The statement to store for an external table. DataFusion's own
/// rendering (`cmd.definition`) drops the column list and OPTIONS, so a
/// re-created provider would lose them; render them from the plan instead.
fn external_definition(cmd: &CreateExternalTable) -> String {
    let quote = |s: &str| format!("'{}'", s.replace('\'', "''"));
    let mut sql = format!("CREATE EXTERNAL TABLE {} ", cmd.name.to_quoted_string());
    let fields = cmd.schema.fields();
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

// ---------------------------------------------------------------- drop / rename

/// The relations a view reads, as (schema, name).
async fn reads_from(engine: &Engine, view: &Entry) -> BTreeSet<(String, String)> {
    let Some(sql) = view.definition.as_deref() else {
        return BTreeSet::new();
    };
    let parsed = DFParserBuilder::new(sql)
        .with_dialect(&PostgreSqlDialect {})
        .build()
        .and_then(|mut p| p.parse_statements());
    let Ok(statements) = parsed else {
        return BTreeSet::new();
    };
    let state = engine.ctx.state();
    let mut out = BTreeSet::new();
    for statement in statements {
        if let Ok(refs) = state.resolve_table_references(&statement) {
            for r in refs {
                if let Ok(pair) = split_reference(engine, &r) {
                    out.insert(pair);
                }
            }
        }
    }
    out
}

/// Views that (transitively) read any of `targets`, excluding the targets.
async fn dependents(engine: &Engine, targets: &BTreeSet<(String, String)>) -> Vec<Entry> {
    let views: Vec<Entry> = engine
        .catalog
        .objects()
        .into_iter()
        .filter(|e| e.kind == Kind::View)
        .collect();
    let mut reads = Vec::with_capacity(views.len());
    for v in &views {
        reads.push(reads_from(engine, v).await);
    }
    let mut closed: BTreeSet<(String, String)> = targets.clone();
    let mut found = Vec::new();
    loop {
        let before = found.len();
        for (view, r) in views.iter().zip(&reads) {
            let k = (view.schema.clone(), view.name.clone());
            if !closed.contains(&k) && r.iter().any(|x| closed.contains(x)) {
                closed.insert(k);
                found.push(view.clone());
            }
        }
        if found.len() == before {
            return found;
        }
    }
}

fn wrong_kind(entry: &Entry, object_type: ObjectType) -> VoidxError {
    let right = match entry.kind {
        Kind::View => "DROP VIEW",
        _ => "DROP TABLE",
    };
    VoidxError::WrongObjectType(format!(
        "\"{}\" is a {}, not a {}. Help: {right} {}",
        entry.qualified(),
        entry.kind.as_str(),
        object_type.to_string().to_ascii_lowercase(),
        entry.qualified()
    ))
}

async fn drop_objects(
    engine: &Engine,
    object_type: ObjectType,
    names: &[ObjectName],
    if_exists: bool,
    cascade: bool,
) -> Result<CommandTag> {
    let tag = format!("DROP {}", object_type.to_string().to_ascii_uppercase());
    let mut targets: Vec<Entry> = Vec::new();
    let mut schemas: Vec<String> = Vec::new();
    for name in names {
        if object_type == ObjectType::Schema {
            let schema = split_name(engine, name)?.1;
            if RESERVED_SCHEMAS.contains(&schema.as_str()) {
                return Err(VoidxError::ReadOnly(format!(
                    "cannot drop schema {schema}: it is reserved for the system"
                )));
            }
            if !engine.catalog.schema_exists(&schema) {
                if if_exists {
                    continue;
                }
                return Err(VoidxError::UndefinedSchema(format!(
                    "schema \"{schema}\" does not exist"
                )));
            }
            let members: Vec<Entry> = engine
                .catalog
                .objects()
                .into_iter()
                .filter(|e| e.schema == schema)
                .collect();
            if !members.is_empty() && !cascade {
                return Err(VoidxError::DependentObjects(format!(
                    "cannot drop schema {schema} because it holds {} object(s). Help: DROP SCHEMA {schema} CASCADE",
                    members.len()
                )));
            }
            targets.extend(members);
            schemas.push(schema);
            continue;
        }
        let (schema, table) = split_name(engine, name)?;
        match engine.catalog.get(&schema, &table) {
            None if if_exists => continue,
            None => {
                return Err(VoidxError::UndefinedTable(format!(
                    "{} \"{schema}.{table}\" does not exist. Help: SELECT schema, name, kind FROM voidx.tables",
                    object_type.to_string().to_ascii_lowercase()
                )));
            }
            Some(e) => {
                let is_view = e.kind == Kind::View;
                if is_view != (object_type == ObjectType::View) {
                    return Err(wrong_kind(&e, object_type));
                }
                targets.push(e);
            }
        }
    }
    let target_keys: BTreeSet<(String, String)> = targets.iter().map(catalog::key).collect();
    let deps = dependents(engine, &target_keys).await;
    if !deps.is_empty() && !cascade {
        let names: Vec<String> = deps.iter().map(|d| d.qualified()).collect();
        return Err(VoidxError::DependentObjects(format!(
            "cannot drop {} because other objects depend on it: view {}. Help: add CASCADE to drop them too",
            targets
                .iter()
                .map(|t| t.qualified())
                .collect::<Vec<_>>()
                .join(", "),
            names.join(", ")
        )));
    }
    targets.extend(deps);
    if targets.is_empty() && schemas.is_empty() {
        return Ok(CommandTag::new(&tag));
    }
    engine
        .catalog
        .commit_change(|m| {
            for t in &targets {
                m.remove(&catalog::key(t));
            }
            for s in &schemas {
                m.remove(&(s.clone(), String::new()));
            }
            Ok(())
        })
        .await?;
    for t in &targets {
        forget_data(engine, t).await;
    }
    Ok(CommandTag::new(&tag))
}

/// After an entry left the catalog: drop caches, and delete a managed
/// table's files (external data is never touched).
async fn forget_data(engine: &Engine, entry: &Entry) {
    engine.resolver.forget_external(entry);
    if let Some(location) = entry.location.as_deref() {
        engine.catalog.forget_table(location).await;
        if entry.kind == Kind::Table {
            remove_dir(location);
        }
    }
}

fn remove_dir(location: &str) {
    if !location.contains("://")
        && let Err(e) = std::fs::remove_dir_all(location)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!("could not remove {location}: {e}");
    }
}

async fn rename(
    engine: &Engine,
    from: &ObjectName,
    to: &ObjectName,
    if_exists: bool,
) -> Result<CommandTag> {
    let (schema, name) = split_name(engine, from)?;
    let Some(entry) = engine.catalog.get(&schema, &name) else {
        if if_exists {
            return Ok(CommandTag::new("ALTER TABLE"));
        }
        return Err(VoidxError::UndefinedTable(format!(
            "relation \"{schema}.{name}\" does not exist"
        )));
    };
    let (to_schema, to_name) = match split_name(engine, to)? {
        (_, n) if to.0.len() == 1 => (schema.clone(), n),
        pair => pair,
    };
    if to_schema != schema {
        return Err(VoidxError::Unsupported(
            "ALTER … RENAME TO cannot move a relation to another schema; give the new name without a schema".into(),
        ));
    }
    if let Some(existing) = engine.catalog.get(&to_schema, &to_name) {
        return Err(relation_exists_error(&existing));
    }
    let renamed = Entry {
        name: to_name,
        ..entry.clone()
    };
    engine
        .catalog
        .commit_change(|m| {
            m.remove(&catalog::key(&entry));
            m.insert(catalog::key(&renamed), renamed.clone());
            Ok(())
        })
        .await?;
    engine.resolver.forget_external(&entry);
    Ok(CommandTag::new(if entry.kind == Kind::View {
        "ALTER VIEW"
    } else {
        "ALTER TABLE"
    }))
}

// ---------------------------------------------------------------- constraints

/// The managed table `name` refers to, open at its latest version.
async fn managed_delta(
    engine: &Engine,
    name: &ObjectName,
) -> Result<Option<(Entry, deltalake::DeltaTable)>> {
    let (schema, table) = split_name(engine, name)?;
    let Some(entry) = engine.catalog.get(&schema, &table) else {
        return Ok(None);
    };
    if entry.kind != Kind::Table {
        return Err(VoidxError::WrongObjectType(format!(
            "{} is a {}; constraints belong to tables",
            entry.qualified(),
            entry.kind.as_str()
        )));
    }
    let delta = engine
        .catalog
        .delta_table(entry.location.as_deref().unwrap_or_default())
        .await?;
    Ok(Some((entry, delta)))
}

/// `ALTER TABLE t ADD CONSTRAINT name CHECK (expr)`: a Delta CHECK
/// constraint. Existing rows are checked first; the writer (and `ingest`,
/// which quarantines failing rows) enforces it from then on.
async fn add_constraint(
    engine: &Engine,
    table: &ObjectName,
    constraint: &datafusion::sql::sqlparser::ast::TableConstraint,
    if_exists: bool,
) -> Result<CommandTag> {
    use datafusion::sql::sqlparser::ast::TableConstraint;
    let TableConstraint::Check(check) = constraint else {
        return Err(VoidxError::Unsupported(format!(
            "ALTER TABLE … ADD {constraint} is not supported. Help: Delta tables take CHECK constraints: \
             ALTER TABLE t ADD CONSTRAINT amount_ok CHECK (amount >= 0)"
        )));
    };
    let Some(name) = &check.name else {
        return Err(VoidxError::InvalidArgument(
            "a CHECK constraint needs a name. Help: ALTER TABLE t ADD CONSTRAINT amount_ok CHECK (amount >= 0)".into(),
        ));
    };
    let Some((entry, delta)) = managed_delta(engine, table).await? else {
        if if_exists {
            return Ok(CommandTag::new("ALTER TABLE"));
        }
        return Err(VoidxError::UndefinedTable(format!(
            "relation \"{table}\" does not exist"
        )));
    };
    let expr = check.expr.to_string();
    let name = normalize(name);
    delta
        .add_constraint()
        .with_constraint(name.clone(), expr.clone())
        .await
        .map_err(|e| {
            let message = e.to_string();
            if message.contains("violate")
                || message.contains("Invariant")
                || message.contains("Check")
                || message.contains("failed validation")
            {
                VoidxError::CheckViolation(format!(
                    "existing rows of {} violate CHECK ({expr}): {message}. Help: fix or delete them first",
                    entry.qualified()
                ))
            } else if message.contains("already exists") {
                VoidxError::DuplicateTable(format!(
                    "constraint \"{name}\" already exists on {}",
                    entry.qualified()
                ))
            } else {
                VoidxError::InvalidArgument(format!(
                    "cannot add constraint {name} to {}: {message}",
                    entry.qualified()
                ))
            }
        })?;
    Ok(CommandTag::new("ALTER TABLE"))
}

async fn drop_constraint(
    engine: &Engine,
    table: &ObjectName,
    name: &Ident,
    if_exists: bool,
) -> Result<CommandTag> {
    let Some((entry, delta)) = managed_delta(engine, table).await? else {
        return Err(VoidxError::UndefinedTable(format!(
            "relation \"{table}\" does not exist"
        )));
    };
    let name = normalize(name);
    delta
        .drop_constraints()
        .with_constraint(name.clone())
        .with_raise_if_not_exists(!if_exists)
        .await
        .map_err(|e| {
            VoidxError::UndefinedObject(format!(
                "constraint \"{name}\" of {} does not exist ({e})",
                entry.qualified()
            ))
        })?;
    Ok(CommandTag::new("ALTER TABLE"))
}

/// `CREATE EXTERNAL TABLE t STORED AS …` → `CREATE EXTERNAL TABLE t (a BIGINT, …) STORED AS …`;
/// `None` when a column type has no SQL spelling.
fn with_column_list(definition: &str, schema: &arrow::datatypes::Schema) -> Option<String> {
    let mut columns = Vec::new();
    for field in schema.fields() {
        let sql_type = sql_type(field.data_type());
        let null = if field.is_nullable() { "" } else { " NOT NULL" };
        columns.push(format!(
            "\"{}\" {sql_type}{null}",
            field.name().replace('"', "\"\"")
        ));
    }
    // The first STORED AS outside quotes.
    let upper = definition.to_ascii_uppercase();
    let bytes = upper.as_bytes();
    let (mut in_single, mut in_double) = (false, false);
    for i in 0..bytes.len() {
        match bytes[i] {
            b'\'' if !in_double => in_single = !in_single,
            b'"' if !in_single => in_double = !in_double,
            b'S' if !in_single && !in_double && upper[i..].starts_with("STORED") => {
                let rest = upper[i + 6..].trim_start();
                if rest.starts_with("AS") && (i == 0 || bytes[i - 1].is_ascii_whitespace()) {
                    return Some(format!(
                        "{}({}) {}",
                        &definition[..i],
                        columns.join(", "),
                        &definition[i..]
                    ));
                }
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod column_list_tests {
    #[test]
    fn inferred_columns_are_written_into_the_definition() {
        use arrow::datatypes::{DataType, Field, Schema};
        let schema = Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("Price (EUR)", DataType::Float64, true),
        ]);
        let out = super::with_column_list(
            "CREATE EXTERNAL TABLE fx STORED AS HTML LOCATION 'http://x/stored as' OPTIONS ('selector' 'table')",
            &schema,
        )
        .unwrap();
        assert_eq!(
            out,
            "CREATE EXTERNAL TABLE fx (\"id\" BIGINT NOT NULL, \"Price (EUR)\" DOUBLE) STORED AS HTML LOCATION 'http://x/stored as' OPTIONS ('selector' 'table')"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let stored = external_definition(&cmd);
        let again = plan_external(&stored).await;
        assert_eq!(again.schema, cmd.schema, "{stored}");
        assert_eq!(again.options, cmd.options, "{stored}");
        assert_eq!(again.locations, cmd.locations, "{stored}");
        assert_eq!(again.file_type, "REST");
    }
}
