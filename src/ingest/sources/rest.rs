//! `STORED AS REST`: rows from a paginated JSON API.
//!
//! ```sql
//! CREATE EXTERNAL TABLE orders_api (order_id BIGINT, amount DOUBLE, updated_at TIMESTAMP)
//! STORED AS REST LOCATION 'https://shop.example/api/orders'
//! OPTIONS ('records' '$.data', 'next_page' '$.links.next',
//!          'header.authorization' 'env:SHOP_TOKEN', 'filter.updated_at' 'since');
//! ```
//!
//! Pages are fetched lazily as the scan is polled, one `RecordBatch` per
//! page, so memory is bounded by a page. Only projected keys are decoded.
//! A filter `col > v`, `col >= v` or `col = v` on a column named in a
//! `filter.<col>` option is also sent as `?param=v` (reported `Inexact`, so
//! DataFusion filters again). See docs/ingestion.md for every option.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use arrow::array::RecordBatchOptions;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use arrow_json::ReaderBuilder;
use async_trait::async_trait;
use datafusion::catalog::{Session, TableProvider, TableProviderFactory};
use datafusion::common::ScalarValue;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{
    BinaryExpr, CreateExternalTable, Expr, Operator, TableProviderFilterPushDown, TableType,
};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::SendableRecordBatchStream;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::{PartitionStream, StreamingTableExec};
use serde_json::{Map, Value};
use url::Url;

use super::http::{Fetcher, HeaderSpec, HttpOptions};
use super::jsonpath::JsonPath;
use super::options::{SourceOptions, single_location};
use crate::error::{Result, VoidxError};
use crate::policy::Policy;

/// How the next page is found.
#[derive(Debug, Clone)]
enum Pagination {
    /// One request.
    Single,
    /// The next URL is in the response (absolute or relative).
    NextLink(JsonPath),
    /// A cursor value in the response goes back as a query parameter.
    Cursor { path: JsonPath, param: String },
    /// `?page=1`, `?page=2` … (with an optional page-size parameter).
    PageNumber {
        param: String,
        size: Option<usize>,
        size_param: Option<String>,
        start: i64,
    },
}

/// Everything a `STORED AS REST` statement says.
#[derive(Debug, Clone)]
pub struct RestOptions {
    url: Url,
    records: JsonPath,
    pagination: Pagination,
    http: HttpOptions,
    max_pages: usize,
    max_rows: Option<usize>,
    /// (column, query parameter), column lower-case.
    filters: Vec<(String, String)>,
}

impl RestOptions {
    pub fn parse(
        location: &str,
        raw: &HashMap<String, String>,
        policy: &Policy,
    ) -> Result<RestOptions> {
        let url = Url::parse(location).map_err(|e| {
            VoidxError::InvalidArgument(format!(
                "LOCATION '{location}' is not a URL: {e}. Help: STORED AS REST needs an http(s):// URL"
            ))
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(VoidxError::InvalidArgument(format!(
                "LOCATION '{location}' is not http(s). Help: STORED AS REST reads JSON over HTTP(S)"
            )));
        }
        policy.check_url(&url)?;
        let mut o = SourceOptions::new("REST", raw);
        let records = match o.take("records") {
            Some(p) => JsonPath::parse(&p)?,
            None => JsonPath::root(),
        };
        let next_page = o
            .take("next_page")
            .map(|p| JsonPath::parse(&p))
            .transpose()?;
        let cursor = o.take("cursor").map(|p| JsonPath::parse(&p)).transpose()?;
        let cursor_param = o.take("cursor_param");
        let page_param = o.take("page_param");
        let page_size = o.take_parsed::<usize>("page_size", "a positive number")?;
        let page_size_param = o.take("page_size_param");
        let page_start = o.take_parsed::<i64>("page_start", "a whole number")?;
        let styles = [next_page.is_some(), cursor.is_some(), page_param.is_some()];
        if styles.iter().filter(|s| **s).count() > 1 {
            return Err(VoidxError::InvalidArgument(
                "options next_page, cursor and page_param are alternatives. Help: keep the one \
                 pagination style the API uses"
                    .into(),
            ));
        }
        if cursor_param.is_some() && cursor.is_none() {
            return Err(VoidxError::InvalidArgument(
                "option cursor_param needs cursor. Help: add 'cursor' '$.path.to.next_cursor'"
                    .into(),
            ));
        }
        if (page_size_param.is_some() || page_start.is_some()) && page_param.is_none() {
            return Err(VoidxError::InvalidArgument(
                "options page_size_param and page_start need page_param. Help: add 'page_param' 'page'"
                    .into(),
            ));
        }
        if page_size_param.is_some() && page_size.is_none() {
            return Err(VoidxError::InvalidArgument(
                "option page_size_param needs page_size. Help: add 'page_size' '100'".into(),
            ));
        }
        let pagination = if let Some(path) = next_page {
            Pagination::NextLink(path)
        } else if let Some(path) = cursor {
            Pagination::Cursor {
                path,
                param: cursor_param.unwrap_or_else(|| "cursor".into()),
            }
        } else if let Some(param) = page_param {
            Pagination::PageNumber {
                param,
                size: page_size.filter(|s| *s > 0),
                size_param: page_size_param,
                start: page_start.unwrap_or(1),
            }
        } else {
            Pagination::Single
        };
        let mut http = HttpOptions::from_policy(policy);
        if let Some(ms) = o.take_parsed::<u64>("timeout_ms", "a number of milliseconds")? {
            http.timeout = std::time::Duration::from_millis(ms.max(1));
        }
        if let Some(retries) = o.take_parsed::<u32>("retries", "a number")? {
            http.retries = retries;
        }
        for (name, value) in o.take_prefixed("header.") {
            http.headers
                .push(HeaderSpec::parse(&format!("header.{name}"), &name, &value)?);
        }
        let max_pages = o
            .take_parsed::<usize>("max_pages", "a number")?
            .unwrap_or(policy.max_pages)
            .max(1);
        let max_rows = o.take_parsed::<usize>("max_rows", "a number")?;
        let filters = o
            .take_prefixed("filter.")
            .into_iter()
            .map(|(column, param)| (column, param.trim().to_string()))
            .collect();
        o.finish()?;
        Ok(RestOptions {
            url,
            records,
            pagination,
            http,
            max_pages,
            max_rows,
            filters,
        })
    }

    /// The URL of the first page.
    fn first_url(&self, base: &Url) -> Url {
        match &self.pagination {
            Pagination::PageNumber { start, .. } => self.page_url(base, *start),
            _ => base.clone(),
        }
    }

    fn page_url(&self, base: &Url, page: i64) -> Url {
        let Pagination::PageNumber {
            param,
            size,
            size_param,
            ..
        } = &self.pagination
        else {
            return base.clone();
        };
        let mut url = with_param(base, param, &page.to_string());
        if let (Some(size), Some(size_param)) = (size, size_param) {
            url = with_param(&url, size_param, &size.to_string());
        }
        url
    }
}

/// `base` with `key=value`, replacing any `key` it had.
fn with_param(base: &Url, key: &str, value: &str) -> Url {
    let kept: Vec<(String, String)> = base
        .query_pairs()
        .filter(|(k, _)| k != key)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let mut url = base.clone();
    url.query_pairs_mut()
        .clear()
        .extend_pairs(kept)
        .append_pair(key, value);
    url
}

// ---------------------------------------------------------------- factory

#[derive(Debug)]
pub struct RestFactory {
    policy: Arc<Policy>,
    client: reqwest::Client,
}

impl RestFactory {
    pub fn new(policy: &Arc<Policy>, client: &reqwest::Client) -> RestFactory {
        RestFactory {
            policy: Arc::clone(policy),
            client: client.clone(),
        }
    }
}

#[async_trait]
impl TableProviderFactory for RestFactory {
    async fn create(
        &self,
        _state: &dyn Session,
        cmd: &CreateExternalTable,
    ) -> DfResult<Arc<dyn TableProvider>> {
        let options = RestOptions::parse(&single_location(cmd)?, &cmd.options, &self.policy)?;
        let schema: SchemaRef = if cmd.schema.fields().is_empty() {
            Arc::new(self.infer_schema(&options).await?)
        } else {
            Arc::new(cmd.schema.as_arrow().clone())
        };
        Ok(Arc::new(RestTable {
            options: Arc::new(options),
            schema,
            policy: Arc::clone(&self.policy),
            client: self.client.clone(),
        }))
    }
}

impl RestFactory {
    /// Columns from the first page's records (see [`infer_schema`]).
    async fn infer_schema(&self, options: &RestOptions) -> Result<Schema> {
        let fetcher = Fetcher::new(&self.client, &self.policy, &options.http)?;
        let url = options.first_url(&options.url);
        let doc = fetch_json(&fetcher, &url).await?;
        let records = records_of(&doc, &options.records, &url)?;
        if records.is_empty() {
            return Err(VoidxError::InvalidArgument(format!(
                "GET {url} returned no records at '{}', so the columns cannot be inferred. \
                 Help: declare them: CREATE EXTERNAL TABLE t (id BIGINT, name TEXT, ...) STORED AS REST ...",
                options.records.as_str()
            )));
        }
        infer_schema(&records)
    }
}

async fn fetch_json(fetcher: &Fetcher, url: &Url) -> Result<Value> {
    let body = fetcher.get(url).await?;
    serde_json::from_slice(&body).map_err(|e| {
        let start = String::from_utf8_lossy(&body[..body.len().min(80)]).into_owned();
        VoidxError::InvalidArgument(format!(
            "GET {url} did not answer JSON ({e}); it starts with {start:?}. \
             Help: STORED AS REST reads JSON; use STORED AS HTML for web pages"
        ))
    })
}

/// The array of rows at `path` (missing or null = no rows; one object = one row).
fn records_of(doc: &Value, path: &JsonPath, url: &Url) -> Result<Vec<Value>> {
    match path.select(doc) {
        Some(Value::Array(items)) => Ok(items.clone()),
        Some(Value::Null) => Ok(Vec::new()),
        Some(obj @ Value::Object(_)) => Ok(vec![obj.clone()]),
        None => {
            let start: String = doc.to_string().chars().take(120).collect();
            Err(VoidxError::InvalidArgument(format!(
                "the response of GET {url} has nothing at '{}'; it starts with {start}. \
                 Help: set the 'records' option to the JSONPath of the array of rows",
                path.as_str()
            )))
        }
        Some(other) => Err(VoidxError::InvalidArgument(format!(
            "'{}' in the response of GET {url} is {}, not an array of rows. \
             Help: set the 'records' option to the JSONPath of the array",
            path.as_str(),
            kind_name(other)
        ))),
    }
}

fn kind_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

// ---------------------------------------------------------------- schema inference

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Null,
    Bool,
    Int,
    Float,
    Text,
}

fn kind_of(v: &Value) -> Kind {
    match v {
        Value::Null => Kind::Null,
        Value::Bool(_) => Kind::Bool,
        Value::Number(n) if n.is_i64() => Kind::Int,
        Value::Number(_) => Kind::Float,
        // Strings, and nested objects/arrays kept as JSON text.
        _ => Kind::Text,
    }
}

fn merge(a: Kind, b: Kind) -> Kind {
    match (a, b) {
        (Kind::Null, k) | (k, Kind::Null) => k,
        (a, b) if a == b => a,
        (Kind::Int, Kind::Float) | (Kind::Float, Kind::Int) => Kind::Float,
        _ => Kind::Text,
    }
}

/// Booleans → Boolean, integers → Int64, numbers → Float64, everything
/// else (strings, nested objects and arrays, mixed, all-null) → Utf8.
/// Keys come in alphabetical order (serde_json's maps are sorted).
pub fn infer_schema(records: &[Value]) -> Result<Schema> {
    let mut kinds: Vec<(String, Kind)> = Vec::new();
    for record in records {
        let Value::Object(map) = record else {
            return Err(not_an_object(record));
        };
        for (key, value) in map {
            let kind = kind_of(value);
            match kinds.iter_mut().find(|(k, _)| k == key) {
                Some((_, seen)) => *seen = merge(*seen, kind),
                None => kinds.push((key.clone(), kind)),
            }
        }
    }
    kinds.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(Schema::new(
        kinds
            .into_iter()
            .map(|(name, kind)| {
                let data_type = match kind {
                    Kind::Bool => DataType::Boolean,
                    Kind::Int => DataType::Int64,
                    Kind::Float => DataType::Float64,
                    Kind::Null | Kind::Text => DataType::Utf8,
                };
                Field::new(name, data_type, true)
            })
            .collect::<Vec<_>>(),
    ))
}

fn not_an_object(v: &Value) -> VoidxError {
    VoidxError::InvalidArgument(format!(
        "a record is {}, not a JSON object. Help: point the 'records' option at an array of objects",
        kind_name(v)
    ))
}

// ---------------------------------------------------------------- decoding

/// Decode records into `schema` (already projected): missing keys are NULL,
/// nested values in text columns are JSON text, keys match case-insensitively
/// when no key matches exactly (unquoted SQL names are lower-case).
pub fn decode(schema: &SchemaRef, records: &[Value]) -> Result<RecordBatch> {
    if schema.fields().is_empty() {
        return Ok(RecordBatch::try_new_with_options(
            Arc::clone(schema),
            Vec::new(),
            &RecordBatchOptions::new().with_row_count(Some(records.len())),
        )?);
    }
    let rows = records
        .iter()
        .map(|r| project_record(schema, r))
        .collect::<Result<Vec<_>>>()?;
    let mut decoder = ReaderBuilder::new(Arc::clone(schema))
        .with_batch_size(rows.len().max(1))
        .with_coerce_primitive(true)
        .build_decoder()?;
    decoder.serialize(&rows).map_err(decode_error)?;
    let batch = decoder.flush().map_err(decode_error)?;
    Ok(batch.unwrap_or_else(|| RecordBatch::new_empty(Arc::clone(schema))))
}

fn decode_error(e: arrow::error::ArrowError) -> VoidxError {
    VoidxError::InvalidArgument(format!(
        "a value does not fit its column: {e}. Help: declare the column with a wider type \
         (TEXT accepts anything)"
    ))
}

fn project_record(schema: &Schema, record: &Value) -> Result<Value> {
    let Value::Object(map) = record else {
        return Err(not_an_object(record));
    };
    let mut out = Map::new();
    for field in schema.fields() {
        let name = field.name();
        let found = map.get(name).or_else(|| {
            map.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v)
        });
        let Some(value) = found else { continue };
        let is_text = matches!(
            field.data_type(),
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
        );
        let value = match value {
            Value::Object(_) | Value::Array(_) if is_text => Value::String(value.to_string()),
            other => other.clone(),
        };
        out.insert(name.clone(), value);
    }
    Ok(Value::Object(out))
}

// ---------------------------------------------------------------- table

#[derive(Debug)]
pub struct RestTable {
    options: Arc<RestOptions>,
    schema: SchemaRef,
    policy: Arc<Policy>,
    client: reqwest::Client,
}

impl RestTable {
    /// `(param, value)` when `expr` is a declared pushable filter.
    fn pushed_param(&self, expr: &Expr) -> Option<(String, String)> {
        let Expr::BinaryExpr(BinaryExpr { left, op, right }) = expr else {
            return None;
        };
        let (column, value, op) = match (left.as_ref(), literal_of(right)) {
            (Expr::Column(c), Some(v)) => (c, v, *op),
            _ => match (right.as_ref(), literal_of(left)) {
                (Expr::Column(c), Some(v)) => (c, v, op.swap()?),
                _ => return None,
            },
        };
        if !matches!(op, Operator::Gt | Operator::GtEq | Operator::Eq) || value.is_null() {
            return None;
        }
        let (_, param) = self
            .options
            .filters
            .iter()
            .find(|(c, _)| c.eq_ignore_ascii_case(&column.name))?;
        Some((param.clone(), scalar_text(value)?))
    }
}

fn literal_of(expr: &Expr) -> Option<&ScalarValue> {
    match expr {
        Expr::Literal(v, _) => Some(v),
        Expr::Cast(c) => literal_of(&c.expr),
        Expr::TryCast(c) => literal_of(&c.expr),
        _ => None,
    }
}

/// A literal as the API expects it: strings as written, timestamps ISO 8601.
fn scalar_text(value: &ScalarValue) -> Option<String> {
    match value {
        ScalarValue::Utf8(Some(s))
        | ScalarValue::LargeUtf8(Some(s))
        | ScalarValue::Utf8View(Some(s)) => Some(s.clone()),
        other => {
            let array = other.to_array().ok()?;
            arrow::util::display::array_value_to_string(&array, 0).ok()
        }
    }
}

#[async_trait]
impl TableProvider for RestTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DfResult<Vec<TableProviderFilterPushDown>> {
        Ok(filters
            .iter()
            .map(|f| match self.pushed_param(f) {
                Some(_) => TableProviderFilterPushDown::Inexact,
                None => TableProviderFilterPushDown::Unsupported,
            })
            .collect())
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let schema = match projection {
            Some(p) => Arc::new(self.schema.project(p)?),
            None => Arc::clone(&self.schema),
        };
        let mut base = self.options.url.clone();
        let mut sent: Vec<String> = Vec::new();
        for filter in filters {
            if let Some((param, value)) = self.pushed_param(filter)
                && !sent.contains(&param)
            {
                base = with_param(&base, &param, &value);
                sent.push(param);
            }
        }
        // Headers are resolved here, at scan time (env:VAR read now).
        let fetcher = Fetcher::new(&self.client, &self.policy, &self.options.http)?;
        let cap = match (limit, self.options.max_rows) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let partition = RestPartition {
            schema: Arc::clone(&schema),
            start: Pages {
                fetcher,
                options: Arc::clone(&self.options),
                schema: Arc::clone(&schema),
                next: Some(self.options.first_url(&base)),
                base,
                page: match self.options.pagination {
                    Pagination::PageNumber { start, .. } => start,
                    _ => 0,
                },
                pages: 0,
                rows: 0,
                cap,
                limit,
            },
        };
        Ok(Arc::new(StreamingTableExec::try_new(
            Arc::clone(&schema),
            vec![Arc::new(partition)],
            None,
            Vec::new(),
            false,
            limit,
        )?))
    }
}

// ---------------------------------------------------------------- paging

/// The state of one scan between pages.
#[derive(Clone)]
struct Pages {
    fetcher: Fetcher,
    options: Arc<RestOptions>,
    schema: SchemaRef,
    base: Url,
    next: Option<Url>,
    page: i64,
    pages: usize,
    rows: usize,
    cap: Option<usize>,
    /// The query's LIMIT: reaching it ends the scan; reaching `max_rows`
    /// or `max_pages` with more to read fails it.
    limit: Option<usize>,
}

impl Pages {
    /// Fetch the next page: its batch and the state after it, or `None` when done.
    async fn advance(mut self) -> Result<Option<(RecordBatch, Pages)>> {
        let Some(url) = self.next.take() else {
            return Ok(None);
        };
        if self.cap.is_some_and(|cap| self.rows >= cap) {
            return self.within_max_rows(self.rows, &url).map(|_| None);
        }
        // A scan cut short would look complete to its reader (and move an
        // ingest watermark past rows never read), so it fails instead.
        if self.pages >= self.options.max_pages {
            return Err(VoidxError::LimitExceeded(format!(
                "the REST source has more than max_pages = {} pages (next: GET {url}). \
                 Help: raise the table's 'max_pages' option (default ingest.max_pages), \
                 or narrow the query",
                self.options.max_pages
            )));
        }
        let doc = fetch_json(&self.fetcher, &url).await?;
        self.pages += 1;
        let records = records_of(&doc, &self.options.records, &url)?;
        if records.is_empty() {
            return Ok(None);
        }
        self.next = self.next_url(&doc, &url, records.len())?;
        let take = match self.cap {
            Some(cap) => (cap - self.rows).min(records.len()),
            None => records.len(),
        };
        if take < records.len() {
            self.within_max_rows(self.rows + take, &url)?;
        }
        let batch = decode(&self.schema, &records[..take]).map_err(|e| {
            VoidxError::InvalidArgument(format!("page {} (GET {url}): {e}", self.pages))
        })?;
        self.rows += take;
        Ok(Some((batch, self)))
    }

    /// Fails when `rows` reached `max_rows` although the query wanted more.
    fn within_max_rows(&self, rows: usize, url: &Url) -> Result<()> {
        match self.options.max_rows {
            Some(max) if rows >= max && self.limit.is_none_or(|l| l > max) => {
                Err(VoidxError::LimitExceeded(format!(
                    "the REST source has more than max_rows = {max} rows (at GET {url}). \
                     Help: raise the table's 'max_rows' option, or add a LIMIT to read only the first rows"
                )))
            }
            _ => Ok(()),
        }
    }

    fn next_url(&mut self, doc: &Value, current: &Url, rows: usize) -> Result<Option<Url>> {
        match &self.options.pagination {
            Pagination::Single => Ok(None),
            Pagination::NextLink(path) => {
                let link = match path.select(doc) {
                    Some(Value::String(s)) if !s.trim().is_empty() => s.trim(),
                    _ => return Ok(None),
                };
                let next = current.join(link).map_err(|e| {
                    VoidxError::InvalidArgument(format!(
                        "the next-page link '{link}' in the response of GET {current} is not a URL: {e}. \
                         Help: check the 'next_page' option"
                    ))
                })?;
                Ok((next != *current).then_some(next))
            }
            Pagination::Cursor { path, param } => {
                let cursor = match path.select(doc) {
                    Some(Value::String(s)) if !s.is_empty() => s.clone(),
                    Some(Value::Number(n)) => n.to_string(),
                    _ => return Ok(None),
                };
                let next = with_param(&self.base, param, &cursor);
                Ok((next != *current).then_some(next))
            }
            Pagination::PageNumber { size, .. } => {
                if size.is_some_and(|size| rows < size) {
                    return Ok(None);
                }
                self.page += 1;
                Ok(Some(self.options.page_url(&self.base, self.page)))
            }
        }
    }
}

struct RestPartition {
    schema: SchemaRef,
    start: Pages,
}

impl fmt::Debug for RestPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RestPartition({})", self.start.base)
    }
}

impl PartitionStream for RestPartition {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let pages = futures::stream::try_unfold(self.start.clone(), |state| async move {
            state.advance().await.map_err(DataFusionError::from)
        });
        Box::pin(RecordBatchStreamAdapter::new(
            Arc::clone(&self.schema),
            pages,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn inference_widens_and_keeps_nested_as_text() {
        let records = vec![
            json!({"id": 1, "price": 2, "ok": true, "tags": ["a"], "note": null}),
            json!({"id": 2, "price": 2.5, "ok": false, "tags": [], "note": null, "extra": "x"}),
        ];
        let schema = infer_schema(&records).unwrap();
        let types: Vec<(String, DataType)> = schema
            .fields()
            .iter()
            .map(|f| (f.name().clone(), f.data_type().clone()))
            .collect();
        assert_eq!(
            types,
            vec![
                ("extra".into(), DataType::Utf8),
                ("id".into(), DataType::Int64),
                ("note".into(), DataType::Utf8),
                ("ok".into(), DataType::Boolean),
                ("price".into(), DataType::Float64),
                ("tags".into(), DataType::Utf8),
            ]
        );
        let batch = decode(&Arc::new(schema), &records).unwrap();
        let tags = arrow::util::display::array_value_to_string(batch.column(5), 0).unwrap();
        assert_eq!(tags, "[\"a\"]");
        assert!(batch.column(0).is_null(0));
    }

    #[test]
    fn decoding_coerces_to_declared_types() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("amount", DataType::Float64, true),
            Field::new("updatedat", DataType::Utf8, true),
            Field::new("n", DataType::Int64, true),
        ]));
        let rows = vec![json!({"amount": "12.5", "updatedAt": 5, "n": 1})];
        let batch = decode(&schema, &rows).unwrap();
        assert_eq!(batch.num_rows(), 1);
        let shown = arrow::util::pretty::pretty_format_batches(&[batch])
            .unwrap()
            .to_string();
        assert!(shown.contains("12.5") && shown.contains("| 5 "), "{shown}");
        let bad = decode(&schema, &[json!({"n": "many"})])
            .unwrap_err()
            .to_string();
        assert!(bad.contains("Help:"), "{bad}");
        let empty = Arc::new(Schema::empty());
        assert_eq!(decode(&empty, &rows).unwrap().num_rows(), 1);
    }

    #[test]
    fn params_replace_and_pages_count() {
        let base = Url::parse("http://h/x?a=1&page=9").unwrap();
        assert_eq!(
            with_param(&base, "page", "2").as_str(),
            "http://h/x?a=1&page=2"
        );
        let policy = Policy::permissive_for_tests(&[std::path::Path::new("/tmp")]);
        let raw: HashMap<String, String> = [
            ("format.page_param", "p"),
            ("format.page_size", "50"),
            ("format.page_size_param", "n"),
            ("format.page_start", "0"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let o = RestOptions::parse("http://127.0.0.1:1/api", &raw, &policy).unwrap();
        let base = o.url.clone();
        assert_eq!(
            o.first_url(&base).as_str(),
            "http://127.0.0.1:1/api?p=0&n=50"
        );
        let bad: HashMap<String, String> = [("format.next_page", "$.n"), ("format.cursor", "$.c")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert!(RestOptions::parse("http://127.0.0.1:1/api", &bad, &policy).is_err());
    }
}
