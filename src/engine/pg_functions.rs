//! VOIDX's functions in PostgreSQL's function catalog, so psql `\df` / `\df+`
//! and BI tools list `train`, `predict`, `drift_score`, … with their
//! descriptions.
//!
//! datafusion-pg-catalog serves `pg_proc` from a static export of
//! PostgreSQL's built-ins; this module appends one row per VOIDX function
//! (taken from the same list the engine registers) and provides the helper
//! functions psql's `\df` query calls: `pg_function_is_visible`,
//! `pg_get_function_result`, `pg_get_function_arguments`,
//! `pg_get_function_sqlbody` and `obj_description` (with relation comments
//! from [`super::pg_comments`], which also serves `col_description` and
//! `pg_description`), and `to_regtype` (type
//! name → `pg_type` OID, NULL when unknown), which psycopg 3's type lookup —
//! so SQLAlchemy's connect — calls.
//!
//! ```sql
//! SELECT proname FROM pg_catalog.pg_proc WHERE proname = 'predict';
//! ```

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch};
use arrow::datatypes::{DataType, SchemaRef};
use async_trait::async_trait;
use datafusion::catalog::{MemTable, SchemaProvider, TableProvider};
use datafusion::common::ScalarValue;
use datafusion::error::Result as DfResult;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::prelude::SessionContext;
use voidx_udfs::{Implementation, SqlDoc, SqlFunction};

use super::pg_comments;
use crate::error::{Result, VoidxError};

/// OIDs of VOIDX functions start here, above every built-in PostgreSQL OID.
const FIRST_OID: i64 = 900_000;

/// One VOIDX function as `pg_proc` describes it.
struct ProcRow {
    oid: i64,
    name: &'static str,
    kind: &'static str,
    result: String,
    arguments: String,
    description: &'static str,
}

/// Adds VOIDX's functions to `pg_catalog.pg_proc` of `catalog` and registers
/// the `\df` helper functions. Call after `setup_pg_catalog`.
pub async fn install(
    ctx: &SessionContext,
    catalog: &str,
    store: Arc<crate::storage::catalog::Catalog>,
    functions: &[(&'static str, Vec<SqlFunction>)],
) -> Result<()> {
    let rows = proc_rows(functions);
    let pg_catalog = ctx
        .catalog(catalog)
        .and_then(|c| c.schema("pg_catalog"))
        .ok_or_else(|| VoidxError::Internal("pg_catalog is not set up".into()))?;
    let builtin = pg_catalog
        .table("pg_proc")
        .await?
        .ok_or_else(|| VoidxError::Internal("pg_catalog.pg_proc is missing".into()))?;
    let namespace = public_namespace_oid(ctx).await?;
    let schema = acl_as_array(&builtin.schema());
    let mut batches: Vec<RecordBatch> = ctx.read_table(builtin)?.collect().await?;
    batches = batches
        .iter()
        .map(|b| with_schema(b, &schema))
        .collect::<Result<_>>()?;
    batches.push(voidx_batch(&schema, &rows, namespace)?);
    let pg_proc: Arc<dyn TableProvider> = Arc::new(MemTable::try_new(schema, vec![batches])?);
    let mut replaced: HashMap<&'static str, Arc<dyn TableProvider>> =
        super::pg_relations::tables(ctx, catalog)
            .await?
            .into_iter()
            .collect();
    replaced.insert("pg_proc", pg_proc);
    let builtin_table = |name: &'static str| {
        let pg_catalog = Arc::clone(&pg_catalog);
        async move {
            pg_catalog
                .table(name)
                .await?
                .ok_or_else(|| VoidxError::Internal(format!("pg_catalog.{name} is missing")))
        }
    };
    let tables = ctx
        .catalog(catalog)
        .ok_or_else(|| VoidxError::Internal(format!("catalog {catalog} is missing")))?;
    let index = pg_comments::CommentIndex::new(
        store,
        Arc::clone(&tables),
        builtin_table("pg_class").await?,
        builtin_table("pg_namespace").await?,
    );
    replaced.insert(
        "pg_class",
        Arc::new(pg_comments::PgClass {
            index: Arc::clone(&index),
        }),
    );
    replaced.insert(
        "pg_description",
        Arc::new(pg_comments::PgDescription {
            index: Arc::clone(&index),
            builtin: builtin_table("pg_description").await?,
        }),
    );
    replaced.insert(
        "pg_attribute",
        Arc::new(super::pg_attribute::PgAttribute {
            builtin: builtin_table("pg_attribute").await?,
            pg_class: builtin_table("pg_class").await?,
            pg_namespace: builtin_table("pg_namespace").await?,
            tables: Arc::clone(&tables),
        }),
    );
    replaced.insert(
        "pg_index",
        super::pg_attribute::pg_index(builtin_table("pg_index").await?, &ctx.state()).await?,
    );
    let overlay = Arc::new(WithProc {
        inner: pg_catalog,
        replaced,
    });
    super::pg_relations::register_functions(ctx);
    super::psql_queries::register_functions(ctx);
    super::client_queries::register_functions(ctx);
    super::pg_builtins::register_functions(ctx);
    if let Some(c) = ctx.catalog(catalog) {
        c.register_schema("pg_catalog", overlay)?;
    }
    let by_oid = |f: fn(&ProcRow) -> String| -> HashMap<i64, String> {
        rows.iter().map(|r| (r.oid, f(r))).collect()
    };
    for (name, values, default) in [
        ("pg_get_function_result", by_oid(|r| r.result.clone()), None),
        (
            "pg_get_function_arguments",
            by_oid(|r| r.arguments.clone()),
            None,
        ),
        // \df+ asks for the SQL body of SQL-language functions; VOIDX's have none.
        ("pg_get_function_sqlbody", HashMap::new(), None),
        ("pg_function_is_visible", HashMap::new(), Some(true)),
    ] {
        ctx.register_udf(ScalarUDF::new_from_impl(OidLookup {
            name,
            values: Arc::new(values),
            visible: default,
            signature: Signature::variadic_any(Volatility::Stable),
        }));
    }
    ctx.register_udf(ScalarUDF::new_from_impl(pg_comments::ObjDescription {
        index: Arc::clone(&index),
        functions: Arc::new(by_oid(|r| r.description.to_string())),
        signature: pg_comments::variadic(),
    }));
    ctx.register_udf(ScalarUDF::new_from_impl(pg_comments::ColDescription {
        index,
        signature: pg_comments::variadic(),
    }));
    ctx.register_udf(ScalarUDF::new_from_impl(ToRegtype {
        oids: Arc::new(type_oids(ctx).await?),
        signature: Signature::string(1, Volatility::Stable),
    }));
    Ok(())
}

/// `pg_type` names → OID, with the SQL spellings PostgreSQL also accepts.
async fn type_oids(ctx: &SessionContext) -> Result<HashMap<String, i32>> {
    let batches = ctx
        .sql("SELECT typname, CAST(oid AS INT) FROM pg_catalog.pg_type")
        .await?
        .collect()
        .await?;
    let mut oids = HashMap::new();
    for b in &batches {
        let names = arrow::compute::cast(b.column(0), &DataType::Utf8)?;
        let names = arrow::array::AsArray::as_string::<i32>(&names);
        let values =
            arrow::array::AsArray::as_primitive::<arrow::datatypes::Int32Type>(b.column(1));
        for (name, oid) in names.iter().zip(values.iter()) {
            if let (Some(name), Some(oid)) = (name, oid) {
                oids.insert(name.to_string(), oid);
            }
        }
    }
    for (alias, name) in [
        ("integer", "int4"),
        ("int", "int4"),
        ("smallint", "int2"),
        ("bigint", "int8"),
        ("real", "float4"),
        ("double precision", "float8"),
        ("boolean", "bool"),
        ("decimal", "numeric"),
        ("character varying", "varchar"),
        ("character", "bpchar"),
        ("char", "bpchar"),
        ("timestamp without time zone", "timestamp"),
        ("timestamp with time zone", "timestamptz"),
        ("time without time zone", "time"),
        ("time with time zone", "timetz"),
    ] {
        if let Some(&oid) = oids.get(name) {
            oids.entry(alias.to_string()).or_insert(oid);
        }
    }
    Ok(oids)
}

/// `to_regtype('int4')`, `to_regtype('pg_catalog.text')`, `to_regtype('integer[]')`.
fn regtype_of(oids: &HashMap<String, i32>, name: &str) -> Option<i32> {
    let name = name.trim().trim_matches('"').to_lowercase();
    let name = name.strip_prefix("pg_catalog.").unwrap_or(&name);
    match name.strip_suffix("[]") {
        // an array type is named `_` + its element's pg_type name (not an alias)
        Some(element) => {
            let oid = oids.get(element.trim())?;
            oids.iter()
                .filter(|(_, o)| *o == oid)
                .find_map(|(n, _)| oids.get(&format!("_{n}")).copied())
        }
        None => oids.get(name).copied(),
    }
}

/// `to_regtype(text)`: the OID of a type name, NULL when there is none.
#[derive(Debug)]
struct ToRegtype {
    oids: Arc<HashMap<String, i32>>,
    signature: Signature,
}

impl PartialEq for ToRegtype {
    fn eq(&self, _other: &Self) -> bool {
        true
    }
}

impl Eq for ToRegtype {}

impl std::hash::Hash for ToRegtype {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        "to_regtype".hash(state);
    }
}

impl ScalarUDFImpl for ToRegtype {
    fn name(&self) -> &str {
        "to_regtype"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Int32)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let Some(first) = args.args.first() else {
            return Ok(ColumnarValue::Scalar(ScalarValue::Int32(None)));
        };
        let names = first.to_array(args.number_rows)?;
        let names = arrow::compute::cast(&names, &DataType::Utf8)?;
        let names = arrow::array::AsArray::as_string::<i32>(&names);
        let out: arrow::array::Int32Array = names
            .iter()
            .map(|n| n.and_then(|n| regtype_of(&self.oids, n)))
            .collect();
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}

fn proc_rows(functions: &[(&'static str, Vec<SqlFunction>)]) -> Vec<ProcRow> {
    functions
        .iter()
        .flat_map(|(_, section)| section.iter())
        .enumerate()
        .map(|(i, f)| ProcRow {
            oid: FIRST_OID + i as i64,
            name: f.doc.name,
            kind: match f.implementation {
                Implementation::Aggregate(_) => "a",
                _ => "f",
            },
            result: result_type(f),
            arguments: arguments_of(&f.doc),
            description: f.doc.description,
        })
        .collect()
}

/// `TABLE` for table functions, else the PostgreSQL name of the return type.
fn result_type(f: &SqlFunction) -> String {
    let data_type = match &f.implementation {
        Implementation::Table(_) => return "SETOF record".to_string(),
        Implementation::Scalar(udf) => udf.return_type(&[]).ok(),
        Implementation::Aggregate(udaf) => udaf.return_type(&[]).ok(),
    };
    match data_type {
        Some(DataType::Float64) => "double precision",
        Some(DataType::Float32) => "real",
        Some(DataType::Int64) => "bigint",
        Some(DataType::Int32) => "integer",
        Some(DataType::Boolean) => "boolean",
        Some(DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View) => "text",
        Some(DataType::Struct(_)) => "record",
        Some(DataType::List(_) | DataType::LargeList(_)) => "array",
        _ => "any",
    }
    .to_string()
}

/// The argument list of the first syntax line: `predict(model, f1, ...)` → `model, f1, ...`.
fn arguments_of(doc: &SqlDoc) -> String {
    let first = doc.syntax.lines().next().unwrap_or_default();
    match (first.find('('), first.rfind(')')) {
        (Some(open), Some(close)) if close > open => first[open + 1..close].to_string(),
        _ => String::new(),
    }
}

async fn public_namespace_oid(ctx: &SessionContext) -> Result<Option<ScalarValue>> {
    let batches = ctx
        .sql("SELECT oid FROM pg_catalog.pg_namespace WHERE nspname = 'public'")
        .await?
        .collect()
        .await?;
    Ok(match batches.iter().find(|b| b.num_rows() > 0) {
        Some(b) => Some(ScalarValue::try_from_array(b.column(0), 0)?),
        None => None,
    })
}

/// One row per VOIDX function in `pg_proc`'s own schema; columns this
/// module does not know are NULL (or the type's zero when not nullable).
fn voidx_batch(
    schema: &SchemaRef,
    rows: &[ProcRow],
    namespace: Option<ScalarValue>,
) -> Result<RecordBatch> {
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    for field in schema.fields() {
        let values = rows
            .iter()
            .map(|r| {
                let text = |v: &str| ScalarValue::Utf8(Some(v.to_string()));
                let known = match field.name().as_str() {
                    "oid" => Some(ScalarValue::Int64(Some(r.oid))),
                    "proname" => Some(text(r.name)),
                    "pronamespace" => namespace.clone(),
                    "prokind" => Some(text(r.kind)),
                    "proretset" => Some(ScalarValue::Boolean(Some(
                        r.kind == "f" && r.result.starts_with("SETOF"),
                    ))),
                    "provolatile" => Some(text("s")),
                    "proparallel" => Some(text("u")),
                    "prosrc" => Some(text(r.name)),
                    "proowner" => Some(ScalarValue::Int64(Some(10))),
                    "prolang" => Some(ScalarValue::Int64(Some(12))),
                    _ => None,
                };
                cell(field.data_type(), field.is_nullable(), known)
            })
            .collect::<Result<Vec<_>>>()?;
        columns.push(if values.is_empty() {
            arrow::array::new_empty_array(field.data_type())
        } else {
            ScalarValue::iter_to_array(values)?
        });
    }
    Ok(RecordBatch::try_new(Arc::clone(schema), columns)?)
}

/// The static export stores `proacl` as text; psql's `\\df+` calls
/// `array_to_string(p.proacl, …)`, so it is served as a (NULL) text array,
/// as in PostgreSQL where built-ins have no ACL.
fn acl_as_array(schema: &SchemaRef) -> SchemaRef {
    let fields: Vec<arrow::datatypes::FieldRef> = schema
        .fields()
        .iter()
        .map(|f| {
            if f.name() == "proacl" && !matches!(f.data_type(), DataType::List(_)) {
                Arc::new(arrow::datatypes::Field::new(
                    "proacl",
                    DataType::List(Arc::new(arrow::datatypes::Field::new_list_field(
                        DataType::Utf8,
                        true,
                    ))),
                    true,
                ))
            } else {
                Arc::clone(f)
            }
        })
        .collect();
    Arc::new(arrow::datatypes::Schema::new(fields))
}

/// `batch` under `schema`: columns whose type changed become NULL columns.
fn with_schema(batch: &RecordBatch, schema: &SchemaRef) -> Result<RecordBatch> {
    let columns = schema
        .fields()
        .iter()
        .zip(batch.columns())
        .map(|(field, column)| {
            if field.data_type() == column.data_type() {
                Arc::clone(column)
            } else {
                arrow::array::new_null_array(field.data_type(), batch.num_rows())
            }
        })
        .collect();
    Ok(RecordBatch::try_new(Arc::clone(schema), columns)?)
}

fn cell(data_type: &DataType, nullable: bool, value: Option<ScalarValue>) -> Result<ScalarValue> {
    match value {
        Some(v) => match v.cast_to(data_type) {
            Ok(v) => Ok(v),
            Err(_) => Ok(ScalarValue::try_from(data_type)?),
        },
        None if nullable => Ok(ScalarValue::try_from(data_type)?),
        None => Ok(ScalarValue::new_default(data_type)?),
    }
}

/// `pg_catalog` with `pg_proc` replaced by the extended table, and
/// `pg_tables` / `pg_views` by [`super::pg_relations`]'.
#[derive(Debug)]
struct WithProc {
    inner: Arc<dyn SchemaProvider>,
    replaced: HashMap<&'static str, Arc<dyn TableProvider>>,
}

#[async_trait]
impl SchemaProvider for WithProc {
    fn table_names(&self) -> Vec<String> {
        self.inner.table_names()
    }

    async fn table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        if let Some(table) = self.replaced.get(name) {
            return Ok(Some(Arc::clone(table)));
        }
        self.inner.table(name).await
    }

    fn table_exist(&self, name: &str) -> bool {
        self.inner.table_exist(name)
    }
}

/// A text lookup by function OID (or, for `pg_function_is_visible`, a constant `true`).
#[derive(Debug)]
struct OidLookup {
    name: &'static str,
    values: Arc<HashMap<i64, String>>,
    visible: Option<bool>,
    signature: Signature,
}

impl PartialEq for OidLookup {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for OidLookup {}

impl std::hash::Hash for OidLookup {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}

impl ScalarUDFImpl for OidLookup {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(if self.visible.is_some() {
            DataType::Boolean
        } else {
            DataType::Utf8
        })
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        if let Some(visible) = self.visible {
            return Ok(ColumnarValue::Scalar(ScalarValue::Boolean(Some(visible))));
        }
        let Some(first) = args.args.first() else {
            return Ok(ColumnarValue::Scalar(ScalarValue::Utf8(None)));
        };
        let oids = first.to_array(args.number_rows)?;
        let oids = arrow::compute::cast(&oids, &DataType::Int64)?;
        let oids = arrow::array::AsArray::as_primitive::<arrow::datatypes::Int64Type>(&oids);
        let out: arrow::array::StringArray = oids
            .iter()
            .map(|oid| oid.and_then(|oid| self.values.get(&oid).cloned()))
            .collect();
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regtype_knows_names_aliases_and_arrays() {
        let oids: HashMap<String, i32> = [("int4", 23), ("_int4", 1007), ("text", 25)]
            .into_iter()
            .map(|(n, o)| (n.to_string(), o))
            .collect();
        let mut with_alias = oids.clone();
        with_alias.insert("integer".into(), 23);
        assert_eq!(regtype_of(&oids, "INT4"), Some(23));
        assert_eq!(regtype_of(&oids, "pg_catalog.text"), Some(25));
        assert_eq!(regtype_of(&with_alias, "integer[]"), Some(1007));
        assert_eq!(regtype_of(&oids, "hstore"), None);
    }

    #[test]
    fn arguments_come_from_the_first_syntax_line() {
        let doc = SqlDoc {
            name: "predict",
            kind: "scalar",
            syntax: "predict(model, feature1, ...)\npredict(model, named_struct(...))",
            description: "",
            arguments: &[],
            example: "",
        };
        assert_eq!(arguments_of(&doc), "model, feature1, ...");
    }
}
