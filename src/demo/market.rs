//! `shop.market_prices`: daily FX rates and a commodity index, independent of scale.
//!
//! FX rates are geometric random walks that stand still at weekends (markets are closed);
//! the commodity index is only published on weekdays, so weekend rows hold NULL.

use std::sync::Arc;

use arrow::array::{Date32Array, Float64Array, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;

use super::calendar::{DAYS, START_DAY, weekday};
use super::rng::{self, normal};

/// Currency, USD value of one unit on 2024-01-01, and annual volatility.
static CURRENCIES: [(&str, f64, f64); 10] = [
    ("USD", 1.0, 0.0),
    ("EUR", 1.104, 0.07),
    ("GBP", 1.273, 0.08),
    ("JPY", 0.00709, 0.10),
    ("CAD", 0.7547, 0.06),
    ("AUD", 0.6812, 0.10),
    ("CHF", 1.188, 0.07),
    ("CNY", 0.1408, 0.04),
    ("INR", 0.01202, 0.05),
    ("BRL", 0.2058, 0.15),
];
const TRADING_DAYS: f64 = 252.0;
/// Commodity index: start level, yearly drift and volatility.
const INDEX_START: f64 = 100.0;
const INDEX_DRIFT: f64 = 0.03;
const INDEX_VOL: f64 = 0.18;

pub(super) struct Price {
    pub day: i32,
    pub currency: &'static str,
    pub fx_to_usd: f64,
    pub commodity_index: Option<f64>,
}

/// One row per day and currency, ordered by day then currency.
pub(super) fn generate(seed: u64) -> Vec<Price> {
    let mut rng = rng::stream(seed, rng::MARKET, 0);
    let mut fx: Vec<f64> = CURRENCIES.iter().map(|c| c.1).collect();
    let mut index = INDEX_START;
    let mut out = Vec::with_capacity(DAYS * CURRENCIES.len());
    for i in 0..DAYS {
        let day = START_DAY + i as i32;
        let trading = weekday(day) < 5;
        if trading && i > 0 {
            for (rate, (_, _, vol)) in fx.iter_mut().zip(CURRENCIES.iter()) {
                let step = vol / TRADING_DAYS.sqrt();
                *rate *= (step * normal(&mut rng) - step * step / 2.0).exp();
            }
            let step = INDEX_VOL / TRADING_DAYS.sqrt();
            index *=
                (INDEX_DRIFT / TRADING_DAYS + step * normal(&mut rng) - step * step / 2.0).exp();
        }
        for (rate, (currency, _, _)) in fx.iter().zip(CURRENCIES.iter()) {
            let commodity_index = trading.then_some((index * 100.0).round() / 100.0);
            out.push(Price {
                day,
                currency,
                fx_to_usd: round_sig(*rate),
                commodity_index,
            });
        }
    }
    out
}

/// Six significant digits, like a rates feed (JPY needs more decimals than EUR).
fn round_sig(x: f64) -> f64 {
    if x == 0.0 {
        return 0.0;
    }
    let scale = 10_f64.powi(5 - x.abs().log10().floor() as i32);
    (x * scale).round() / scale
}

pub(super) fn schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("price_date", DataType::Date32, false),
        Field::new("currency", DataType::Utf8, false),
        Field::new("fx_to_usd", DataType::Float64, false),
        Field::new("commodity_index", DataType::Float64, true),
    ]))
}

pub(super) fn to_batch(rows: &[Price]) -> Result<RecordBatch, ArrowError> {
    RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(Date32Array::from_iter_values(rows.iter().map(|p| p.day))),
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|p| p.currency),
            )),
            Arc::new(Float64Array::from_iter_values(
                rows.iter().map(|p| p.fx_to_usd),
            )),
            Arc::new(
                rows.iter()
                    .map(|p| p.commodity_index)
                    .collect::<Float64Array>(),
            ),
        ],
    )
}
