//! `STORED AS HTML`: one `<table>` of a web page (or a local file) as rows.
//!
//! ```sql
//! CREATE EXTERNAL TABLE fx STORED AS HTML LOCATION 'https://markets.example/fx'
//! OPTIONS ('selector' 'table#rates');
//! ```
//!
//! The header row (the last row of `<thead>`, else the first row) gives the
//! column names as written (trimmed); the other rows are data. A column
//! whose non-empty cells are all numbers once cleaned ([`parse_number`])
//! is Int64 (all integral) or Float64, else Utf8; `''`, `-`, `—`, `–` and
//! `n/a` are NULL. Declared columns override inference. The page is fetched
//! when the scan runs, so every query sees the page as it is then.

use std::fmt;
use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, Int64Array, StringArray};
use arrow::compute::{CastOptions, cast_with_options};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::{RecordBatch, RecordBatchOptions};
use async_trait::async_trait;
use datafusion::catalog::{Session, TableProvider, TableProviderFactory};
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{CreateExternalTable, Expr, TableType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::{PartitionStream, StreamingTableExec};
use datafusion::physical_plan::{ExecutionPlan, SendableRecordBatchStream};
use scraper::{ElementRef, Html, Selector};
use url::Url;

use super::http::{Fetcher, HeaderSpec, HttpOptions};
use super::options::{SourceOptions, single_location};
use crate::error::{Result, VoidxError};
use crate::policy::Policy;

/// What a `STORED AS HTML` statement says.
#[derive(Debug, Clone)]
struct HtmlOptions {
    location: String,
    selector: String,
    table_index: usize,
    http: HttpOptions,
}

impl HtmlOptions {
    fn parse(cmd: &CreateExternalTable, policy: &Policy) -> Result<HtmlOptions> {
        let location = policy.check_location(&single_location(cmd)?)?.to_string();
        let mut o = SourceOptions::new("HTML", &cmd.options);
        let selector = o.take("selector").unwrap_or_else(|| "table".into());
        compile(&selector)?;
        let table_index = o.take_parsed::<usize>("table_index", "a number (0 = first match)")?;
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
        o.finish()?;
        Ok(HtmlOptions {
            location,
            selector,
            table_index: table_index.unwrap_or(0),
            http,
        })
    }

    fn is_http(&self) -> bool {
        self.location.starts_with("http://") || self.location.starts_with("https://")
    }
}

fn compile(selector: &str) -> Result<Selector> {
    Selector::parse(selector).map_err(|e| {
        VoidxError::InvalidArgument(format!(
            "'{selector}' is not a CSS selector: {e}. Help: e.g. 'table', 'table#rates', 'div.prices table'"
        ))
    })
}

/// The page as text: over HTTP with the policy's client, or a local file
/// inside the allowed directories.
async fn load(options: &HtmlOptions, fetcher: &Fetcher, policy: &Policy) -> Result<String> {
    if options.is_http() {
        let url = Url::parse(&options.location).map_err(|e| {
            VoidxError::InvalidArgument(format!(
                "LOCATION '{}' is not a URL: {e}",
                options.location
            ))
        })?;
        let body = fetcher.get(&url).await?;
        return Ok(String::from_utf8_lossy(&body).into_owned());
    }
    let checked = policy.check_location(&options.location)?;
    let path = checked.local_path().ok_or_else(|| {
        VoidxError::InvalidArgument(format!(
            "STORED AS HTML reads an http(s) URL or a local file, not '{checked}'"
        ))
    })?;
    let path = path.display();
    let bytes = tokio::fs::read(checked.as_str()).await.map_err(|e| {
        VoidxError::InvalidArgument(format!(
            "cannot read '{path}': {e}. Help: LOCATION is an http(s) URL or a file in ingest.allowed_dirs"
        ))
    })?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

// ---------------------------------------------------------------- table extraction

/// Header names (trimmed, made unique) and cell texts (`None` = NULL).
#[derive(Debug, Clone, PartialEq)]
pub struct Grid {
    pub headers: Vec<String>,
    pub rows: Vec<Vec<Option<String>>>,
}

/// Find the table and read it. Runs synchronously: scraper's DOM is not `Send`.
pub fn extract(page: &str, selector: &str, index: usize) -> Result<Grid> {
    let document = Html::parse_document(page);
    let chosen = compile(selector)?;
    let table_selector = compile("table")?;
    let matched: Vec<ElementRef> = document.select(&chosen).collect();
    let element = matched.get(index).ok_or_else(|| {
        VoidxError::InvalidArgument(format!(
            "the page has {} element(s) matching '{selector}', so there is no match number {index}. \
             Help: check the 'selector' and 'table_index' (0 = first) options",
            matched.len()
        ))
    })?;
    let table = if element.value().name() == "table" {
        *element
    } else {
        element.select(&table_selector).next().ok_or_else(|| {
            VoidxError::InvalidArgument(format!(
                "the element matching '{selector}' holds no <table>. Help: point 'selector' at a table"
            ))
        })?
    };
    let mut head: Vec<Vec<String>> = Vec::new();
    let mut body: Vec<Vec<String>> = Vec::new();
    for child in table.child_elements() {
        match child.value().name() {
            "thead" => head.extend(rows_in(child)),
            "tbody" | "tfoot" => body.extend(rows_in(child)),
            "tr" => body.push(cells(child)),
            _ => {}
        }
    }
    let header = match head.pop() {
        Some(h) => h,
        None if !body.is_empty() => body.remove(0),
        None => Vec::new(),
    };
    let width = header
        .len()
        .max(body.iter().map(Vec::len).max().unwrap_or(0));
    let headers = unique_names(&header, width);
    let rows = body
        .into_iter()
        .map(|row| {
            (0..width)
                .map(|i| row.get(i).filter(|t| !is_null_text(t)).cloned())
                .collect::<Vec<_>>()
        })
        .filter(|row: &Vec<Option<String>>| row.iter().any(Option::is_some))
        .collect();
    Ok(Grid { headers, rows })
}

fn rows_in(section: ElementRef) -> Vec<Vec<String>> {
    section
        .child_elements()
        .filter(|e| e.value().name() == "tr")
        .map(cells)
        .collect()
}

/// The texts of a row's cells, a `colspan` cell repeated.
fn cells(tr: ElementRef) -> Vec<String> {
    let mut out = Vec::new();
    for cell in tr.child_elements() {
        if !matches!(cell.value().name(), "td" | "th") {
            continue;
        }
        let text = cell.text().collect::<Vec<_>>().join(" ");
        let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
        let span = cell
            .attr("colspan")
            .and_then(|s| s.trim().parse::<usize>().ok())
            .unwrap_or(1)
            .clamp(1, 100);
        out.extend(std::iter::repeat_n(text, span));
    }
    out
}

/// Trimmed names; empty ones become `column_<n>`, repeats get `_2`, `_3` ….
fn unique_names(header: &[String], width: usize) -> Vec<String> {
    let mut names: Vec<String> = Vec::with_capacity(width);
    for i in 0..width {
        let base = header
            .get(i)
            .map(|h| h.trim().to_string())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| format!("column_{}", i + 1));
        let mut name = base.clone();
        let mut n = 2;
        while names
            .iter()
            .any(|existing| existing.eq_ignore_ascii_case(&name))
        {
            name = format!("{base}_{n}");
            n += 1;
        }
        names.push(name);
    }
    names
}

fn is_null_text(text: &str) -> bool {
    let t = text.trim();
    t.is_empty() || matches!(t, "-" | "—" | "–") || t.eq_ignore_ascii_case("n/a")
}

/// A cell as a number, after cleaning what tables put around numbers:
/// thousands separators (`,`, `'`, spaces incl. no-break and thin ones),
/// `%` (kept as written: `5.2%` → 5.2), currency signs, footnote marks
/// (`[1]`, `*`, `†`, `‡`, `§`), `−` as minus, `(1,234)` as −1234.
pub fn parse_number(text: &str) -> Option<f64> {
    let mut s = String::with_capacity(text.len());
    let mut depth = 0usize;
    for c in text.chars() {
        match c {
            '[' => depth += 1,
            ']' => depth = depth.saturating_sub(1),
            _ if depth > 0 => {}
            '−' => s.push('-'),
            ',' | '\'' | '’' | '%' | '*' | '†' | '‡' | '§' => {}
            '$' | '€' | '£' | '¥' | '₹' | '₽' | '₩' | '₺' | '¢' | '₿' | '₪' | '₫' | '₴' | '₦'
            | '₱' | '฿' => {}
            c if c.is_whitespace() => {}
            c => s.push(c),
        }
    }
    let (negative, body) = match s.strip_prefix('(').and_then(|r| r.strip_suffix(')')) {
        Some(inner) => (true, inner.to_string()),
        None => (false, s),
    };
    if !body.chars().any(|c| c.is_ascii_digit())
        || !body
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E'))
    {
        return None;
    }
    let value: f64 = body.parse().ok()?;
    value
        .is_finite()
        .then_some(if negative { -value } else { value })
}

fn is_integral(v: f64) -> bool {
    v.fract() == 0.0 && v.abs() < 9.0e15
}

/// Int64 when every non-null cell is an integral number, Float64 when all
/// are numbers, else Utf8.
pub fn infer_schema(grid: &Grid) -> Schema {
    let fields: Vec<Field> = grid
        .headers
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let mut all_numbers = true;
            let mut all_integral = true;
            let mut any = false;
            for row in &grid.rows {
                let Some(text) = &row[i] else { continue };
                any = true;
                match parse_number(text) {
                    Some(v) => all_integral &= is_integral(v),
                    None => {
                        all_numbers = false;
                        break;
                    }
                }
            }
            let data_type = match (any, all_numbers, all_integral) {
                (true, true, true) => DataType::Int64,
                (true, true, false) => DataType::Float64,
                _ => DataType::Utf8,
            };
            Field::new(name, data_type, true)
        })
        .collect();
    Schema::new(fields)
}

/// Rows of `grid` as `schema` (already projected). Columns are matched by
/// name (case-insensitive) when every field names a header, else by position.
pub fn to_batch(grid: &Grid, schema: &SchemaRef, full: &Schema) -> Result<RecordBatch> {
    let by_name = full.fields().iter().all(|f| {
        grid.headers
            .iter()
            .any(|h| h.eq_ignore_ascii_case(f.name()))
    });
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    for field in schema.fields() {
        let source = if by_name {
            grid.headers
                .iter()
                .position(|h| h.eq_ignore_ascii_case(field.name()))
        } else {
            full.index_of(field.name())
                .ok()
                .filter(|i| *i < grid.headers.len())
        };
        let texts: Vec<Option<&str>> = grid
            .rows
            .iter()
            .map(|row| source.and_then(|i| row[i].as_deref()))
            .collect();
        columns.push(column(field, &texts)?);
    }
    Ok(RecordBatch::try_new_with_options(
        Arc::clone(schema),
        columns,
        &RecordBatchOptions::new().with_row_count(Some(grid.rows.len())),
    )?)
}

fn column(field: &Field, texts: &[Option<&str>]) -> Result<ArrayRef> {
    let not_a_number = |row: usize, text: &str, what: &str| {
        VoidxError::InvalidArgument(format!(
            "column '{}' row {}: '{text}' is not {what}. Help: declare the column as TEXT \
             (or DOUBLE for decimals) to read it",
            field.name(),
            row + 1
        ))
    };
    let target = field.data_type();
    let array: ArrayRef = if target.is_integer() {
        let mut values = Vec::with_capacity(texts.len());
        for (row, text) in texts.iter().enumerate() {
            values.push(match text {
                None => None,
                Some(t) => match parse_number(t) {
                    Some(v) if is_integral(v) => Some(v as i64),
                    _ => return Err(not_a_number(row, t, "a whole number")),
                },
            });
        }
        Arc::new(Int64Array::from(values))
    } else if target.is_floating()
        || matches!(target, DataType::Decimal128(..) | DataType::Decimal256(..))
    {
        let mut values = Vec::with_capacity(texts.len());
        for (row, text) in texts.iter().enumerate() {
            values.push(match text {
                None => None,
                Some(t) => Some(parse_number(t).ok_or_else(|| not_a_number(row, t, "a number"))?),
            });
        }
        Arc::new(Float64Array::from(values))
    } else {
        Arc::new(StringArray::from(texts.to_vec()))
    };
    if array.data_type() == target {
        return Ok(array);
    }
    let options = CastOptions {
        safe: false,
        ..CastOptions::default()
    };
    cast_with_options(&array, target, &options).map_err(|e| {
        VoidxError::InvalidArgument(format!(
            "column '{}' cannot be read as {target}: {e}. Help: declare it as TEXT",
            field.name()
        ))
    })
}

// ---------------------------------------------------------------- factory and table

#[derive(Debug)]
pub struct HtmlFactory {
    policy: Arc<Policy>,
    client: reqwest::Client,
}

impl HtmlFactory {
    pub fn new(policy: &Arc<Policy>, client: &reqwest::Client) -> HtmlFactory {
        HtmlFactory {
            policy: Arc::clone(policy),
            client: client.clone(),
        }
    }
}

#[async_trait]
impl TableProviderFactory for HtmlFactory {
    async fn create(
        &self,
        _state: &dyn Session,
        cmd: &CreateExternalTable,
    ) -> DfResult<Arc<dyn TableProvider>> {
        let options = HtmlOptions::parse(cmd, &self.policy)?;
        let schema = if cmd.schema.fields().is_empty() {
            let fetcher = Fetcher::new(&self.client, &self.policy, &options.http)?;
            let page = load(&options, &fetcher, &self.policy).await?;
            let grid = extract(&page, &options.selector, options.table_index)?;
            if grid.headers.is_empty() {
                return Err(VoidxError::InvalidArgument(format!(
                    "the table matching '{}' has no rows. Help: check the 'selector' option",
                    options.selector
                ))
                .into());
            }
            infer_schema(&grid)
        } else {
            cmd.schema.as_arrow().clone()
        };
        Ok(Arc::new(HtmlTable {
            options: Arc::new(options),
            schema: Arc::new(schema),
            policy: Arc::clone(&self.policy),
            client: self.client.clone(),
        }))
    }
}

#[derive(Debug)]
pub struct HtmlTable {
    options: Arc<HtmlOptions>,
    schema: SchemaRef,
    policy: Arc<Policy>,
    client: reqwest::Client,
}

#[async_trait]
impl TableProvider for HtmlTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let schema = match projection {
            Some(p) => Arc::new(self.schema.project(p)?),
            None => Arc::clone(&self.schema),
        };
        let partition = HtmlPartition {
            schema: Arc::clone(&schema),
            full: Arc::clone(&self.schema),
            options: Arc::clone(&self.options),
            fetcher: Fetcher::new(&self.client, &self.policy, &self.options.http)?,
            policy: Arc::clone(&self.policy),
        };
        Ok(Arc::new(StreamingTableExec::try_new(
            schema,
            vec![Arc::new(partition)],
            None,
            Vec::new(),
            false,
            limit,
        )?))
    }
}

struct HtmlPartition {
    schema: SchemaRef,
    full: SchemaRef,
    options: Arc<HtmlOptions>,
    fetcher: Fetcher,
    policy: Arc<Policy>,
}

impl fmt::Debug for HtmlPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HtmlPartition({})", self.options.location)
    }
}

impl PartitionStream for HtmlPartition {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let (schema, full) = (Arc::clone(&self.schema), Arc::clone(&self.full));
        let (options, fetcher, policy) = (
            Arc::clone(&self.options),
            self.fetcher.clone(),
            Arc::clone(&self.policy),
        );
        let batch = async move {
            let page = load(&options, &fetcher, &policy).await?;
            let grid = extract(&page, &options.selector, options.table_index)?;
            to_batch(&grid, &schema, &full).map_err(DataFusionError::from)
        };
        let stream = futures::stream::once(batch);
        Box::pin(RecordBatchStreamAdapter::new(
            Arc::clone(&self.schema),
            stream,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_cleaned() {
        let cases = [
            ("1,234", Some(1234.0)),
            ("1 234 567", Some(1234567.0)),
            ("1\u{a0}234", Some(1234.0)),
            ("12\u{2009}345.5", Some(12345.5)),
            ("5.2%", Some(5.2)),
            ("$1,200.50", Some(1200.5)),
            ("€ 3", Some(3.0)),
            ("£7[1]", Some(7.0)),
            ("42*", Some(42.0)),
            ("9†", Some(9.0)),
            ("10‡", Some(10.0)),
            ("−3.5", Some(-3.5)),
            ("(1,234)", Some(-1234.0)),
            ("+0.4%", Some(0.4)),
            ("1e3", Some(1000.0)),
            ("abc", None),
            ("12 apples", None),
            ("inf", None),
            ("NaN", None),
            ("", None),
            ("[1]", None),
            ("1.2.3", None),
        ];
        for (text, want) in cases {
            assert_eq!(parse_number(text), want, "{text:?}");
        }
    }

    const PAGE: &str = r#"<html><body>
      <table id="other"><tr><td>x</td></tr></table>
      <div class="m"><table id="rates">
        <thead><tr><th> Company </th><th>Price</th><th>Change</th><th>Volume</th><th>Note</th></tr></thead>
        <tbody>
          <tr><td>Acme</td><td>$1,234.50</td><td>+5.2%</td><td>1,000</td><td>—</td></tr>
          <tr><td>Globex<sup>[1]</sup></td><td>99</td><td>−1.0%</td><td>2 500</td><td>n/a</td></tr>
          <tr><td>Initech</td><td>7*</td><td></td><td>300†</td><td>halted</td></tr>
          <tr><td></td><td></td><td></td><td></td><td></td></tr>
        </tbody>
      </table></div></body></html>"#;

    #[test]
    fn tables_are_found_and_typed() {
        let grid = extract(PAGE, "div.m", 0).unwrap();
        assert_eq!(
            grid.headers,
            ["Company", "Price", "Change", "Volume", "Note"]
        );
        assert_eq!(grid.rows.len(), 3);
        assert_eq!(grid.rows[1][0].as_deref(), Some("Globex [1]"));
        let schema = infer_schema(&grid);
        let types: Vec<&DataType> = schema.fields().iter().map(|f| f.data_type()).collect();
        assert_eq!(
            types,
            [
                &DataType::Utf8,
                &DataType::Float64,
                &DataType::Float64,
                &DataType::Int64,
                &DataType::Utf8
            ]
        );
        let schema = Arc::new(schema);
        let batch = to_batch(&grid, &schema, &schema).unwrap();
        assert_eq!(batch.num_rows(), 3);
        assert!(batch.column(2).is_null(2));
        let other = extract(PAGE, "table", 0).unwrap();
        assert_eq!(other.headers, ["x"]);
        assert!(
            extract(PAGE, "table", 5)
                .unwrap_err()
                .to_string()
                .contains("Help:")
        );
    }

    #[test]
    fn declared_columns_override_inference() {
        let grid = extract(PAGE, "#rates", 0).unwrap();
        let declared = Arc::new(Schema::new(vec![
            Field::new("company", DataType::Utf8, true),
            Field::new("volume", DataType::Float64, true),
        ]));
        let batch = to_batch(&grid, &declared, &declared).unwrap();
        let shown = arrow::util::pretty::pretty_format_batches(&[batch])
            .unwrap()
            .to_string();
        assert!(
            shown.contains("2500.0") && shown.contains("Acme"),
            "{shown}"
        );
        // Names that match no header: by position.
        let positional = Arc::new(Schema::new(vec![
            Field::new("name", DataType::Utf8, true),
            Field::new("px", DataType::Int64, true),
        ]));
        let e = to_batch(&grid, &positional, &positional)
            .unwrap_err()
            .to_string();
        assert!(e.contains("'px' row 1") && e.contains("Help:"), "{e}");
    }
}
