//! `shop.orders` and `shop.order_lines`: baskets, prices, returns and totals for the drafts.
//!
//! Orders are numbered in time order (like a real order sequence); every order's total is
//! derived from its lines, so the two tables always agree.

use std::sync::Arc;

use arrow::array::{
    BooleanArray, Float64Array, Int32Array, Int64Array, StringArray, TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;

use super::calendar::{MICROS_PER_DAY, START_DAY};
use super::customers::Customer;
use super::orders::Draft;
use super::products::{CATEGORIES, Catalog};
use super::rng::{self, between, cents, chance, poisson};

/// List prices creep up over the two years.
const INFLATION_PER_YEAR: f64 = 0.03;
/// Elasticity of basket size on customer value (frequency takes the rest, see customers.rs).
const BASKET_ELASTICITY: f64 = 0.3;
const MAX_LINES: u32 = 30;
/// No line is returned with more than this probability, whatever the propensity.
const MAX_RETURN_RATE: f64 = 0.6;

pub(super) struct Order {
    pub id: i64,
    pub customer_id: i64,
    pub ts: i64,
    pub channel: &'static str,
    pub status: &'static str,
    pub discount_pct: f64,
    pub total: f64,
}

pub(super) struct Line {
    pub id: i64,
    pub order_id: i64,
    pub product_id: i64,
    pub quantity: i32,
    pub unit_price: f64,
    pub amount: f64,
    pub returned: bool,
}

/// Number the drafts in time order and fill in their lines.
pub(super) fn finish(
    mut drafts: Vec<Draft>,
    customers: &[Customer],
    catalog: &Catalog,
    seed: u64,
) -> (Vec<Order>, Vec<Line>) {
    // Stable sort with a total key: the numbering depends on nothing but the drafts.
    drafts.sort_by_key(|d| (d.ts, d.customer));
    let mut rng = rng::stream(seed, rng::LINES, 0);
    let mut orders = Vec::with_capacity(drafts.len());
    let mut lines = Vec::with_capacity(drafts.len() * 3);
    let mut basket = Vec::new();
    for (k, d) in drafts.iter().enumerate() {
        let c = &customers[d.customer as usize];
        let id = k as i64 + 1;
        pick_basket(d, c, catalog, &mut rng, &mut basket);
        let (sum, returned) = add_lines(id, d, c, &basket, catalog, &mut rng, &mut lines);
        // Partial returns are refunded line by line; an order counts as returned once
        // at least half of its value came back.
        let status = if d.cancelled {
            "cancelled"
        } else if returned > 0.0 && returned >= sum / 2.0 {
            "returned"
        } else {
            "completed"
        };
        orders.push(Order {
            id,
            customer_id: c.id,
            ts: d.ts,
            channel: d.channel,
            status,
            discount_pct: d.discount_pct,
            total: cents(sum * (1.0 - d.discount_pct / 100.0)),
        });
    }
    (orders, lines)
}

/// Append the lines of order `order_id`; returns the value of all lines and of those returned.
fn add_lines(
    order_id: i64,
    d: &Draft,
    c: &Customer,
    basket: &[usize],
    catalog: &Catalog,
    rng: &mut impl rand::Rng,
    lines: &mut Vec<Line>,
) -> (f64, f64) {
    let years = f64::from((d.ts / MICROS_PER_DAY) as i32 - START_DAY) / 365.0;
    let (mut sum, mut returned_value) = (0.0, 0.0);
    for &p in basket {
        let product = &catalog.products[p];
        let category = &CATEGORIES[product.category];
        let mut quantity = 1 + poisson(rng, c.segment.extra_qty * category.qty);
        if d.bulk {
            quantity *= between(rng, 5.0, 15.0) as u32;
        }
        let unit_price = cents(product.price * (1.0 + INFLATION_PER_YEAR * years));
        let amount = cents(f64::from(quantity) * unit_price);
        let return_rate = (category.return_rate * c.return_propensity).min(MAX_RETURN_RATE);
        let returned = !d.cancelled && chance(rng, return_rate);
        sum += amount;
        if returned {
            returned_value += amount;
        }
        lines.push(Line {
            id: lines.len() as i64 + 1,
            order_id,
            product_id: product.id,
            quantity: i32::try_from(quantity).unwrap_or(i32::MAX),
            unit_price,
            amount,
            returned,
        });
    }
    (sum, returned_value)
}

/// Fill `basket` with distinct product indices; richer customers buy more lines.
fn pick_basket(
    d: &Draft,
    c: &Customer,
    catalog: &Catalog,
    rng: &mut impl rand::Rng,
    basket: &mut Vec<usize>,
) {
    let n = if d.bulk {
        3 + poisson(rng, 2.0)
    } else {
        1 + poisson(rng, c.segment.extra_lines * c.value.powf(BASKET_ELASTICITY))
    };
    basket.clear();
    for _ in 0..n.min(MAX_LINES) {
        // A duplicate pick is retried a few times, then dropped: baskets hold distinct products.
        for _ in 0..4 {
            let p = catalog.pick(c.segment_ix, rng);
            if !basket.contains(&p) {
                basket.push(p);
                break;
            }
        }
    }
}

pub(super) fn order_schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("order_id", DataType::Int64, false),
        Field::new("customer_id", DataType::Int64, false),
        Field::new(
            "order_ts",
            DataType::Timestamp(TimeUnit::Microsecond, None),
            false,
        ),
        Field::new("channel", DataType::Utf8, false),
        Field::new("status", DataType::Utf8, false),
        Field::new("discount_pct", DataType::Float64, false),
        Field::new("total_amount", DataType::Float64, false),
    ]))
}

pub(super) fn order_batch(rows: &[Order]) -> Result<RecordBatch, ArrowError> {
    RecordBatch::try_new(
        order_schema(),
        vec![
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|o| o.id))),
            Arc::new(Int64Array::from_iter_values(
                rows.iter().map(|o| o.customer_id),
            )),
            Arc::new(TimestampMicrosecondArray::from_iter_values(
                rows.iter().map(|o| o.ts),
            )),
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|o| o.channel),
            )),
            Arc::new(StringArray::from_iter_values(rows.iter().map(|o| o.status))),
            Arc::new(Float64Array::from_iter_values(
                rows.iter().map(|o| o.discount_pct),
            )),
            Arc::new(Float64Array::from_iter_values(rows.iter().map(|o| o.total))),
        ],
    )
}

pub(super) fn line_schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("order_line_id", DataType::Int64, false),
        Field::new("order_id", DataType::Int64, false),
        Field::new("product_id", DataType::Int64, false),
        Field::new("quantity", DataType::Int32, false),
        Field::new("unit_price", DataType::Float64, false),
        Field::new("line_amount", DataType::Float64, false),
        Field::new("is_returned", DataType::Boolean, false),
    ]))
}

pub(super) fn line_batch(rows: &[Line]) -> Result<RecordBatch, ArrowError> {
    RecordBatch::try_new(
        line_schema(),
        vec![
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|l| l.id))),
            Arc::new(Int64Array::from_iter_values(
                rows.iter().map(|l| l.order_id),
            )),
            Arc::new(Int64Array::from_iter_values(
                rows.iter().map(|l| l.product_id),
            )),
            Arc::new(Int32Array::from_iter_values(
                rows.iter().map(|l| l.quantity),
            )),
            Arc::new(Float64Array::from_iter_values(
                rows.iter().map(|l| l.unit_price),
            )),
            Arc::new(Float64Array::from_iter_values(
                rows.iter().map(|l| l.amount),
            )),
            Arc::new(
                rows.iter()
                    .map(|l| Some(l.returned))
                    .collect::<BooleanArray>(),
            ),
        ],
    )
}
