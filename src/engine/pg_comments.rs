//! `COMMENT ON` texts where PostgreSQL clients look for them:
//! `pg_catalog.pg_description` (dbt's catalog query, BI tools),
//! `obj_description(oid, 'pg_class')` (psql `\dt+`, `\dv+`) and
//! `col_description(oid, attnum)` (psql `\d+`, SQLAlchemy's `get_columns`).
//!
//! The texts live in the persistent catalog ([`crate::storage::catalog`]);
//! only the OIDs come from datafusion-pg-catalog, which hands them out as
//! `pg_class` is listed. So every scan of `pg_class` or `pg_description`
//! first refreshes an index OID → relation (with its column order), and the
//! two functions read the index and then the catalog's current text: a
//! comment changed a moment ago shows at once, for any relation a client can
//! know the OID of (it learnt it from `pg_class` or a `::regclass` cast,
//! both of which refresh the index).
//!
//! ```sql
//! SELECT obj_description('shop.orders'::regclass, 'pg_class');
//! SELECT objsubid, description FROM pg_catalog.pg_description d
//!   JOIN pg_catalog.pg_class c ON c.oid = d.objoid WHERE c.relname = 'orders';
//! ```

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use arrow::array::{Array, ArrayRef, AsArray, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Int64Type, SchemaRef};
use async_trait::async_trait;
use datafusion::catalog::{CatalogProvider, MemTable, Session, TableProvider};
use datafusion::common::ScalarValue;
use datafusion::error::Result as DfResult;
use datafusion::logical_expr::{
    ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDFImpl, Signature, TableType, Volatility,
};
use datafusion::physical_plan::{ExecutionPlan, collect};

use crate::storage::catalog::Catalog;

/// `pg_class`'s OID of `pg_description.classoid` for relations and columns.
const PG_CLASS_OID: i64 = 1259;

/// A relation as the last `pg_class` listing numbered it.
#[derive(Debug, Clone)]
struct Numbered {
    schema: String,
    name: String,
    /// Column names in `attnum` order (attnum 1 is the first).
    columns: Vec<String>,
}

/// OID → relation, for the relations that had a comment when last refreshed.
#[derive(Debug)]
pub struct CommentIndex {
    catalog: Arc<Catalog>,
    tables: Arc<dyn CatalogProvider>,
    pg_class: Arc<dyn TableProvider>,
    pg_namespace: Arc<dyn TableProvider>,
    by_oid: RwLock<HashMap<i64, Numbered>>,
}

impl CommentIndex {
    pub fn new(
        catalog: Arc<Catalog>,
        tables: Arc<dyn CatalogProvider>,
        pg_class: Arc<dyn TableProvider>,
        pg_namespace: Arc<dyn TableProvider>,
    ) -> Arc<CommentIndex> {
        Arc::new(CommentIndex {
            catalog,
            tables,
            pg_class,
            pg_namespace,
            by_oid: RwLock::new(HashMap::new()),
        })
    }

    /// Re-read the OIDs of every commented relation from `pg_class`.
    async fn refresh(&self, state: &dyn Session) -> DfResult<()> {
        let commented: Vec<_> = self
            .catalog
            .objects()
            .into_iter()
            .filter(|e| e.comment.is_some() || !e.column_comments.is_empty())
            .collect();
        if commented.is_empty() {
            self.write().clear();
            return Ok(());
        }
        let namespaces = scan_all(&self.pg_namespace, state).await?;
        let mut schema_of: HashMap<i64, String> = HashMap::new();
        for b in &namespaces {
            for (oid, name) in int_column(b, "oid")?
                .iter()
                .zip(text_column(b, "nspname")?.iter())
            {
                if let (Some(oid), Some(name)) = (oid, name) {
                    schema_of.insert(oid, name.to_string());
                }
            }
        }
        let mut oid_of: HashMap<(String, String), i64> = HashMap::new();
        for b in &scan_all(&self.pg_class, state).await? {
            let oids = int_column(b, "oid")?;
            let names = text_column(b, "relname")?;
            let spaces = int_column(b, "relnamespace")?;
            for i in 0..b.num_rows() {
                if let Some(schema) = schema_of.get(&spaces.value(i)) {
                    oid_of.insert((schema.clone(), names.value(i).to_string()), oids.value(i));
                }
            }
        }
        let mut index = HashMap::new();
        for entry in commented {
            let Some(&oid) = oid_of.get(&(entry.schema.clone(), entry.name.clone())) else {
                continue;
            };
            let mut columns = Vec::new();
            if !entry.column_comments.is_empty()
                && let Some(schema) = self.tables.schema(&entry.schema)
                && let Ok(Some(table)) = schema.table(&entry.name).await
            {
                columns = table
                    .schema()
                    .fields()
                    .iter()
                    .map(|f| f.name().clone())
                    .collect();
            }
            index.insert(
                oid,
                Numbered {
                    schema: entry.schema,
                    name: entry.name,
                    columns,
                },
            );
        }
        *self.write() = index;
        Ok(())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<i64, Numbered>> {
        self.by_oid.write().unwrap_or_else(|p| p.into_inner())
    }

    fn numbered(&self, oid: i64) -> Option<Numbered> {
        self.by_oid
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&oid)
            .cloned()
    }

    /// The comment of relation `oid` (`attnum` 0) or of its column `attnum`.
    fn description(&self, oid: i64, attnum: i64) -> Option<String> {
        let n = self.numbered(oid)?;
        let entry = self.catalog.get(&n.schema, &n.name)?;
        if attnum == 0 {
            return entry.comment;
        }
        let column = n.columns.get(usize::try_from(attnum - 1).ok()?)?;
        entry.column_comments.get(column).cloned()
    }

    /// `(objoid, objsubid, description)` of every stored comment.
    fn rows(&self) -> Vec<(i64, i64, String)> {
        let numbered: Vec<(i64, Numbered)> = self
            .by_oid
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(k, v)| (*k, v.clone()))
            .collect();
        let mut rows = Vec::new();
        for (oid, n) in numbered {
            let Some(entry) = self.catalog.get(&n.schema, &n.name) else {
                continue;
            };
            if let Some(c) = entry.comment {
                rows.push((oid, 0, c));
            }
            for (i, column) in n.columns.iter().enumerate() {
                if let Some(c) = entry.column_comments.get(column) {
                    rows.push((oid, i as i64 + 1, c.clone()));
                }
            }
        }
        rows.sort();
        rows
    }
}

pub(super) async fn scan_all(
    table: &Arc<dyn TableProvider>,
    state: &dyn Session,
) -> DfResult<Vec<RecordBatch>> {
    let plan = table.scan(state, None, &[], None).await?;
    collect(plan, state.task_ctx()).await
}

pub(super) fn int_column(b: &RecordBatch, name: &str) -> DfResult<Int64Array> {
    let col = b
        .column_by_name(name)
        .ok_or_else(|| datafusion::error::DataFusionError::Internal(format!("no column {name}")))?;
    Ok(arrow::compute::cast(col, &DataType::Int64)?
        .as_primitive::<Int64Type>()
        .clone())
}

pub(super) fn text_column(b: &RecordBatch, name: &str) -> DfResult<StringArray> {
    let col = b
        .column_by_name(name)
        .ok_or_else(|| datafusion::error::DataFusionError::Internal(format!("no column {name}")))?;
    Ok(arrow::compute::cast(col, &DataType::Utf8)?
        .as_string::<i32>()
        .clone())
}

/// `pg_class` as datafusion-pg-catalog lists it, refreshing the index
/// first, plus PostgreSQL's `reloptions` (`text[]`, NULL: no relation has
/// storage options), which SQLAlchemy's `get_indexes` selects.
#[derive(Debug)]
pub struct PgClass {
    pub index: Arc<CommentIndex>,
}

impl PgClass {
    fn reloptions() -> arrow::datatypes::Field {
        let text = arrow::datatypes::Field::new_list_field(DataType::Utf8, true);
        arrow::datatypes::Field::new("reloptions", DataType::List(Arc::new(text)), true)
    }
}

#[async_trait]
impl TableProvider for PgClass {
    fn schema(&self) -> SchemaRef {
        let builtin = self.index.pg_class.schema();
        if builtin.index_of("reloptions").is_ok() {
            return builtin;
        }
        let mut fields: Vec<_> = builtin.fields().iter().cloned().collect();
        fields.push(Arc::new(Self::reloptions()));
        Arc::new(arrow::datatypes::Schema::new(fields))
    }

    fn table_type(&self) -> TableType {
        self.index.pg_class.table_type()
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        self.index.refresh(state).await?;
        let schema = self.schema();
        if schema.fields().len() == self.index.pg_class.schema().fields().len() {
            return self
                .index
                .pg_class
                .scan(state, projection, filters, limit)
                .await;
        }
        let mut batches = Vec::new();
        for b in scan_all(&self.index.pg_class, state).await? {
            let mut columns = b.columns().to_vec();
            columns.push(arrow::array::new_null_array(
                Self::reloptions().data_type(),
                b.num_rows(),
            ));
            batches.push(RecordBatch::try_new(Arc::clone(&schema), columns)?);
        }
        MemTable::try_new(schema, vec![batches])?
            .scan(state, projection, filters, limit)
            .await
    }
}

/// `pg_description`: PostgreSQL's descriptions of its built-ins (the static
/// table) plus one row per stored comment.
#[derive(Debug)]
pub struct PgDescription {
    pub index: Arc<CommentIndex>,
    pub builtin: Arc<dyn TableProvider>,
}

#[async_trait]
impl TableProvider for PgDescription {
    fn schema(&self) -> SchemaRef {
        self.builtin.schema()
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        self.index.refresh(state).await?;
        let schema = self.schema();
        let mut batches = scan_all(&self.builtin, state).await?;
        let rows = self.index.rows();
        let mut columns: Vec<ArrayRef> = Vec::new();
        for field in schema.fields() {
            let array: ArrayRef = match field.name().as_str() {
                "objoid" => Arc::new(rows.iter().map(|r| Some(r.0)).collect::<Int64Array>()),
                "classoid" => Arc::new(Int64Array::from(vec![PG_CLASS_OID; rows.len()])),
                "objsubid" => Arc::new(rows.iter().map(|r| Some(r.1)).collect::<Int64Array>()),
                "description" => Arc::new(
                    rows.iter()
                        .map(|r| Some(r.2.as_str()))
                        .collect::<StringArray>(),
                ),
                _ => arrow::array::new_null_array(field.data_type(), rows.len()),
            };
            columns.push(arrow::compute::cast(&array, field.data_type())?);
        }
        batches.push(RecordBatch::try_new(Arc::clone(&schema), columns)?);
        MemTable::try_new(schema, vec![batches])?
            .scan(state, projection, filters, limit)
            .await
    }
}

/// `obj_description(oid [, catalog])`: a relation's comment for
/// `'pg_class'`, else the description of a VOIDX function (`\df+`).
#[derive(Debug)]
pub struct ObjDescription {
    pub index: Arc<CommentIndex>,
    pub functions: Arc<HashMap<i64, String>>,
    pub signature: Signature,
}

/// `col_description(table_oid, attnum)`: a column's comment.
#[derive(Debug)]
pub struct ColDescription {
    pub index: Arc<CommentIndex>,
    pub signature: Signature,
}

macro_rules! by_name {
    ($t:ty, $name:literal) => {
        impl PartialEq for $t {
            fn eq(&self, _other: &Self) -> bool {
                true
            }
        }
        impl Eq for $t {}
        impl std::hash::Hash for $t {
            fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
                $name.hash(state);
            }
        }
    };
}
by_name!(ObjDescription, "obj_description");
by_name!(ColDescription, "col_description");

pub fn variadic() -> Signature {
    Signature::variadic_any(Volatility::Stable)
}

/// Argument `i` as Int64 / text values, one per row (NULL when absent).
fn ints(args: &ScalarFunctionArgs, i: usize) -> DfResult<Int64Array> {
    match args.args.get(i) {
        Some(a) => {
            let a = arrow::compute::cast(&a.to_array(args.number_rows)?, &DataType::Int64)?;
            Ok(a.as_primitive::<Int64Type>().clone())
        }
        None => Ok(Int64Array::new_null(args.number_rows)),
    }
}

fn texts(args: &ScalarFunctionArgs, i: usize) -> DfResult<StringArray> {
    match args.args.get(i) {
        Some(a) => {
            let a = arrow::compute::cast(&a.to_array(args.number_rows)?, &DataType::Utf8)?;
            Ok(a.as_string::<i32>().clone())
        }
        None => Ok(StringArray::new_null(args.number_rows)),
    }
}

impl ScalarUDFImpl for ObjDescription {
    fn name(&self) -> &str {
        "obj_description"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        if args.args.is_empty() {
            return Ok(ColumnarValue::Scalar(ScalarValue::Utf8(None)));
        }
        let oids = ints(&args, 0)?;
        let catalogs = texts(&args, 1)?;
        let out: StringArray = (0..args.number_rows)
            .map(|i| {
                if oids.is_null(i) {
                    return None;
                }
                let oid = oids.value(i);
                let catalog = (!catalogs.is_null(i)).then(|| catalogs.value(i));
                match catalog {
                    Some("pg_class") => self.index.description(oid, 0),
                    Some("pg_proc") => self.functions.get(&oid).cloned(),
                    Some(_) => None,
                    None => self
                        .functions
                        .get(&oid)
                        .cloned()
                        .or_else(|| self.index.description(oid, 0)),
                }
            })
            .collect();
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}

impl ScalarUDFImpl for ColDescription {
    fn name(&self) -> &str {
        "col_description"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let oids = ints(&args, 0)?;
        let attnums = ints(&args, 1)?;
        let out: StringArray = (0..args.number_rows)
            .map(|i| {
                if oids.is_null(i) || attnums.is_null(i) || attnums.value(i) <= 0 {
                    return None;
                }
                self.index.description(oids.value(i), attnums.value(i))
            })
            .collect();
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}
