//! `pg_catalog.pg_attribute` with each column's type modifier, and
//! `pg_catalog.pg_index` with its key columns as arrays.
//!
//! * datafusion-pg-catalog lists every column with `atttypmod` -1, so
//!   `format_type(atttypid, atttypmod)` — what SQLAlchemy's `get_columns`,
//!   psql's `\d` and DBeaver read a column's type from — says `numeric`
//!   for a `numeric(10,2)` column. Here a decimal column gets PostgreSQL's
//!   `((p << 16) | s) + 4` ([`type_modifier`], the same value
//!   RowDescription carries), found by the relation's OID in
//!   `pg_class`. Strings have no declared length in Delta, so `varchar(n)`
//!   stays `text` (docs/sql.md).
//! * Its `pg_index.indkey`, `indclass`, `indcollation` and `indoption` are
//!   text (`'1 2'`), so the `unnest(indkey)` of SQLAlchemy's
//!   `get_pk_constraint` / `get_indexes` / `get_unique_constraints` does not
//!   plan. Here they are integer arrays (PostgreSQL's `int2vector` and
//!   `oidvector` read as arrays). The rows are PostgreSQL's own system
//!   indexes; VOIDX relations have no indexes, so those lists are empty.
//!
//! ```sql
//! SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_catalog.pg_attribute a
//!   JOIN pg_catalog.pg_class c ON c.oid = a.attrelid WHERE c.relname = 'orders';
//! ```

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Int32Array, ListArray, RecordBatch};
use arrow::datatypes::{DataType, Field, Int32Type, Schema, SchemaRef};
use async_trait::async_trait;
use datafusion::catalog::{CatalogProvider, MemTable, Session, TableProvider};
use datafusion::error::Result as DfResult;
use datafusion::logical_expr::{Expr, TableType};
use datafusion::physical_plan::ExecutionPlan;

use super::pg_comments::{int_column, scan_all, text_column};

/// PostgreSQL's `numeric` type OID.
const NUMERIC_OID: i64 = 1700;

/// `pg_attribute` with `atttypmod` filled in (see the module docs).
#[derive(Debug)]
pub struct PgAttribute {
    pub builtin: Arc<dyn TableProvider>,
    pub pg_class: Arc<dyn TableProvider>,
    pub pg_namespace: Arc<dyn TableProvider>,
    pub tables: Arc<dyn CatalogProvider>,
}

impl PgAttribute {
    /// OID → (schema, relation) of every relation `pg_class` lists.
    async fn relations(&self, state: &dyn Session) -> DfResult<HashMap<i64, (String, String)>> {
        let mut schema_of = HashMap::new();
        for b in &scan_all(&self.pg_namespace, state).await? {
            let (oids, names) = (int_column(b, "oid")?, text_column(b, "nspname")?);
            for i in 0..b.num_rows() {
                if !oids.is_null(i) && !names.is_null(i) {
                    schema_of.insert(oids.value(i), names.value(i).to_string());
                }
            }
        }
        let mut out = HashMap::new();
        for b in &scan_all(&self.pg_class, state).await? {
            let oids = int_column(b, "oid")?;
            let names = text_column(b, "relname")?;
            let spaces = int_column(b, "relnamespace")?;
            for i in 0..b.num_rows() {
                if let Some(schema) = schema_of.get(&spaces.value(i)) {
                    out.insert(oids.value(i), (schema.clone(), names.value(i).to_string()));
                }
            }
        }
        Ok(out)
    }

    /// The type modifier of column `attnum` of relation `oid`.
    async fn modifier(
        &self,
        relations: &HashMap<i64, (String, String)>,
        schemas: &mut HashMap<i64, Option<SchemaRef>>,
        oid: i64,
        attnum: i64,
    ) -> i32 {
        if let std::collections::hash_map::Entry::Vacant(slot) = schemas.entry(oid) {
            let mut schema = None;
            if let Some((s, t)) = relations.get(&oid)
                && let Some(provider) = self.tables.schema(s)
                && let Ok(Some(table)) = provider.table(t).await
            {
                schema = Some(table.schema());
            }
            slot.insert(schema);
        }
        let field = schemas
            .get(&oid)
            .and_then(|s| s.as_ref())
            .zip(usize::try_from(attnum - 1).ok())
            .and_then(|(s, i)| s.fields().get(i).cloned());
        field.map(|f| type_modifier(f.data_type())).unwrap_or(-1)
    }

    async fn with_modifiers(&self, state: &dyn Session, b: &RecordBatch) -> DfResult<RecordBatch> {
        let types = int_column(b, "atttypid")?;
        let Some(position) = b.schema().index_of("atttypmod").ok() else {
            return Ok(b.clone());
        };
        if !(0..b.num_rows()).any(|i| !types.is_null(i) && types.value(i) == NUMERIC_OID) {
            return Ok(b.clone());
        }
        let relations = self.relations(state).await?;
        let (rels, nums) = (int_column(b, "attrelid")?, int_column(b, "attnum")?);
        let old = arrow::compute::cast(b.column(position), &DataType::Int32)?;
        let old = old.as_primitive::<Int32Type>();
        let mut schemas = HashMap::new();
        let mut mods = Vec::with_capacity(b.num_rows());
        for i in 0..b.num_rows() {
            mods.push(if !types.is_null(i) && types.value(i) == NUMERIC_OID {
                Some(
                    self.modifier(&relations, &mut schemas, rels.value(i), nums.value(i))
                        .await,
                )
            } else {
                (!old.is_null(i)).then(|| old.value(i))
            });
        }
        let mut columns = b.columns().to_vec();
        columns[position] = arrow::compute::cast(
            &(Arc::new(Int32Array::from(mods)) as ArrayRef),
            b.schema().field(position).data_type(),
        )?;
        Ok(RecordBatch::try_new(b.schema(), columns)?)
    }
}

#[async_trait]
impl TableProvider for PgAttribute {
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
        let mut batches = Vec::new();
        for b in scan_all(&self.builtin, state).await? {
            batches.push(self.with_modifiers(state, &b).await?);
        }
        MemTable::try_new(self.schema(), vec![batches])?
            .scan(state, projection, filters, limit)
            .await
    }
}

/// PostgreSQL's `atttypmod` for an Arrow type: `((p << 16) | s) + 4` for
/// `numeric(p,s)`, else -1 ("none"). Strings carry no declared length in
/// Delta, so `varchar(n)` cannot be reported (docs/sql.md). RowDescription
/// ([`crate::serve::pg`]) and `pg_attribute` both use it, so they agree.
pub fn type_modifier(data_type: &DataType) -> i32 {
    match data_type {
        DataType::Decimal128(p, s) if *s >= 0 => ((i32::from(*p) << 16) | i32::from(*s)) + 4,
        _ => -1,
    }
}

/// `pg_index`'s vector columns, read as integer arrays.
const VECTOR_COLUMNS: &[&str] = &["indkey", "indcollation", "indclass", "indoption"];

/// `pg_index` with [`VECTOR_COLUMNS`] as `int[]` (see the module docs); the
/// rows are read once, at start-up (the table is static).
pub async fn pg_index(
    builtin: Arc<dyn TableProvider>,
    state: &dyn Session,
) -> DfResult<Arc<dyn TableProvider>> {
    let old = builtin.schema();
    let list = DataType::List(Arc::new(Field::new_list_field(DataType::Int32, true)));
    let fields: Vec<Field> = old
        .fields()
        .iter()
        .map(|f| match VECTOR_COLUMNS.contains(&f.name().as_str()) {
            true => Field::new(f.name(), list.clone(), true),
            false => f.as_ref().clone(),
        })
        .collect();
    let schema = Arc::new(Schema::new(fields));
    let mut batches = Vec::new();
    for b in scan_all(&builtin, state).await? {
        let mut columns = b.columns().to_vec();
        for (i, f) in old.fields().iter().enumerate() {
            if VECTOR_COLUMNS.contains(&f.name().as_str()) {
                columns[i] = Arc::new(vectors(&text_column(&b, f.name())?));
            }
        }
        batches.push(RecordBatch::try_new(Arc::clone(&schema), columns)?);
    }
    Ok(Arc::new(MemTable::try_new(schema, vec![batches])?))
}

/// `'1 2'` → `[1, 2]` (PostgreSQL's text form of `int2vector`/`oidvector`).
fn vectors(text: &arrow::array::StringArray) -> ListArray {
    let rows = (0..text.len()).map(|i| {
        (!text.is_null(i)).then(|| {
            text.value(i)
                .split_whitespace()
                .map(|n| n.parse::<i32>().ok())
                .collect::<Vec<_>>()
        })
    });
    ListArray::from_iter_primitive::<Int32Type, _, _>(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_modifiers_pack_precision_and_scale() {
        // numeric(10,2) in PostgreSQL: atttypmod 655366.
        assert_eq!(type_modifier(&DataType::Decimal128(10, 2)), 655366);
        assert_eq!(type_modifier(&DataType::Utf8), -1);
        assert_eq!(type_modifier(&DataType::Decimal128(5, -2)), -1);
    }

    #[test]
    fn vectors_read_as_arrays() {
        let text = arrow::array::StringArray::from(vec![Some("1 2"), Some(""), None]);
        let list = super::vectors(&text);
        assert_eq!(list.value_length(0), 2);
        assert_eq!(list.value_length(1), 0);
        assert!(arrow::array::Array::is_null(&list, 2));
    }
}
