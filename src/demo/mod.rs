//! Deterministic e-commerce demo data set (`shop.*`) for trying VOIDX end to end.
//!
//! It fabricates two years (2024-01-01 ..= 2025-12-31) of a web shop: customers, a product
//! catalogue, orders and their lines, marketing touches and daily market prices. Behaviour
//! is driven by hidden per-customer traits (a lognormal value, a churn day, quarterly mood
//! swings), so that history before the cutoff 2025-10-01 genuinely but imperfectly predicts
//! each customer's completed-order revenue in the 90 days after it: the demo's
//! `revenue_predictor` target. `docs/demo-data.md` documents the generator and the planted
//! signal; `sql/demo/schema.sql` is the matching DDL and [`TABLE_COMMENTS_SQL`] the
//! `COMMENT ON` of every table and column (docs/data-dictionary.md is generated from them).
//! [`FEATURE_VIEWS_SQL`] is the feature layer over it, compiled from the dbt project in
//! `dbt/`, and [`FEATURE_COMMENTS_SQL`] its descriptions.
//!
//! ```no_run
//! let tables = voidx::demo::generate(1, 42)?;
//! for table in &tables {
//!     let rows: usize = table.batches.iter().map(|b| b.num_rows()).sum();
//!     println!("shop.{}: {rows} rows", table.name);
//! }
//! # Ok::<(), arrow::error::ArrowError>(())
//! ```

mod calendar;
mod customers;
mod features;
mod lines;
mod market;
mod marketing;
mod orders;
mod products;
mod rng;

use std::sync::Arc;

pub use features::{FEATURE_COMMENTS_SQL, FEATURE_VIEWS_SQL};

/// `COMMENT ON` every `shop` table and column (sql/demo/comments.sql), run after the tables
/// are written so psql `\dt+`, `obj_description` and the data dictionary describe them.
pub const TABLE_COMMENTS_SQL: &str = include_str!("../../sql/demo/comments.sql");

use arrow::datatypes::Schema;
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;

/// One generated table of schema `shop`.
pub struct DemoTable {
    /// Bare table name, e.g. `orders` for `shop.orders`.
    pub name: &'static str,
    /// The rows, in batches of at most 65 536 rows; an empty table has one empty batch,
    /// so its schema is always known.
    pub batches: Vec<RecordBatch>,
}

/// Largest batch handed out.
const BATCH_ROWS: usize = 65_536;
/// Customers per unit of scale.
const CUSTOMERS_PER_SCALE: usize = 10_000;

/// Generate every `shop` table. Deterministic for a given (scale, seed).
/// scale 1 ≈ 10k customers / ≈300k order lines; products and market prices do not scale.
///
/// Tables come in dependency order: customers, products, orders, order_lines,
/// marketing_touches, market_prices.
pub fn generate(scale: u32, seed: u64) -> Result<Vec<DemoTable>, arrow::error::ArrowError> {
    let cal = calendar::Calendar::new();
    let n = CUSTOMERS_PER_SCALE.saturating_mul(scale as usize);
    let customers = customers::generate(n, &cal, seed);
    let catalog = products::Catalog::generate(seed);
    let drafts = orders::draft(&customers, &cal, seed);
    // Touches need each customer's order days, which only the drafts still group by customer.
    let touches = marketing::generate(&customers, &drafts, &cal, seed);
    let (orders, lines) = lines::finish(drafts, &customers, &catalog, seed);
    let prices = market::generate(seed);
    Ok(vec![
        table(
            "customers",
            &customers,
            customers::schema(),
            customers::to_batch,
        )?,
        table(
            "products",
            &catalog.products,
            products::schema(),
            products::to_batch,
        )?,
        table("orders", &orders, lines::order_schema(), lines::order_batch)?,
        table(
            "order_lines",
            &lines,
            lines::line_schema(),
            lines::line_batch,
        )?,
        table(
            "marketing_touches",
            &touches,
            marketing::schema(),
            marketing::to_batch,
        )?,
        table("market_prices", &prices, market::schema(), market::to_batch)?,
    ])
}

/// Cut `rows` into batches of at most [`BATCH_ROWS`], each built by `build`.
fn table<T>(
    name: &'static str,
    rows: &[T],
    schema: Arc<Schema>,
    build: fn(&[T]) -> Result<RecordBatch, ArrowError>,
) -> Result<DemoTable, ArrowError> {
    let batches = if rows.is_empty() {
        vec![RecordBatch::new_empty(schema)]
    } else {
        rows.chunks(BATCH_ROWS)
            .map(build)
            .collect::<Result<_, _>>()?
    };
    Ok(DemoTable { name, batches })
}

#[cfg(test)]
mod tests;
