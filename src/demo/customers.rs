//! `shop.customers`: who the customers are, plus the hidden traits that drive their behaviour.
//!
//! The hidden traits (value, order rate, churn day, quarterly mood, return propensity) are
//! never exported; they are what the demo's ML model has to infer from observable history.

use std::sync::Arc;

use arrow::array::{BooleanArray, Date32Array, Int32Array, Int64Array, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;

use super::calendar::{Calendar, DAYS, START_DAY};
use super::rng::{self, Weighted, chance, exponential, lognormal, normal, one_of};

/// Customer type; business customers buy bigger baskets on weekdays and churn less.
pub(super) struct Segment {
    pub name: &'static str,
    weight: f64,
    /// Multiplier on the yearly order rate.
    freq: f64,
    /// Mean number of order lines beyond the first, for a customer of value 1.
    pub extra_lines: f64,
    /// Mean units per line beyond the first.
    pub extra_qty: f64,
    /// Multiplier on the expected lifetime.
    life: f64,
    pub business: bool,
    /// Chance that an order is a huge bulk order (the data set's outliers).
    pub bulk_rate: f64,
    /// Share of customers with a negotiated discount, and the discounts (percent) on offer.
    contract_share: f64,
    contract_options: &'static [f64],
}

pub(super) static SEGMENTS: [Segment; 3] = [
    Segment {
        name: "consumer",
        weight: 0.80,
        freq: 1.0,
        extra_lines: 1.6,
        extra_qty: 0.25,
        life: 1.0,
        business: false,
        bulk_rate: 0.0,
        contract_share: 0.0,
        contract_options: &[],
    },
    Segment {
        name: "smb",
        weight: 0.15,
        freq: 1.25,
        extra_lines: 2.4,
        extra_qty: 1.5,
        life: 1.3,
        business: true,
        bulk_rate: 0.0008,
        contract_share: 0.3,
        contract_options: &[5.0],
    },
    Segment {
        name: "enterprise",
        weight: 0.05,
        freq: 1.5,
        extra_lines: 3.5,
        extra_qty: 4.0,
        life: 1.8,
        business: true,
        bulk_rate: 0.002,
        contract_share: 1.0,
        contract_options: &[5.0, 8.0, 10.0, 12.0, 15.0],
    },
];

/// Acquisition channel; it shifts value, loyalty and newsletter opt-in.
struct Acquisition {
    name: &'static str,
    weight: f64,
    value: f64,
    life: f64,
    /// Share of customers who buy at most once and never come back.
    one_and_done: f64,
    newsletter: f64,
}

static CHANNELS: [Acquisition; 5] = [
    Acquisition {
        name: "organic",
        weight: 0.35,
        value: 1.0,
        life: 1.0,
        one_and_done: 0.22,
        newsletter: 0.35,
    },
    Acquisition {
        name: "paid_search",
        weight: 0.25,
        value: 0.9,
        life: 0.8,
        one_and_done: 0.30,
        newsletter: 0.25,
    },
    Acquisition {
        name: "social",
        weight: 0.18,
        value: 0.75,
        life: 0.7,
        one_and_done: 0.35,
        newsletter: 0.30,
    },
    Acquisition {
        name: "email",
        weight: 0.10,
        value: 1.1,
        life: 1.2,
        one_and_done: 0.15,
        newsletter: 0.85,
    },
    Acquisition {
        name: "referral",
        weight: 0.12,
        value: 1.3,
        life: 1.4,
        one_and_done: 0.12,
        newsletter: 0.40,
    },
];

/// ISO country code, share of customers, and a purchasing-power multiplier on value.
static COUNTRIES: [(&str, f64, f64); 11] = [
    ("US", 0.34, 1.10),
    ("GB", 0.12, 1.00),
    ("DE", 0.10, 1.00),
    ("FR", 0.08, 0.95),
    ("CA", 0.07, 1.00),
    ("JP", 0.06, 1.05),
    ("AU", 0.06, 1.00),
    ("NL", 0.05, 1.00),
    ("ES", 0.05, 0.85),
    ("BR", 0.04, 0.70),
    ("IN", 0.03, 0.60),
];

/// Spread of log customer value: the main source of between-customer differences.
const VALUE_SIGMA: f64 = 0.9;
/// Orders per year of an active customer of value 1.
const BASE_ORDERS_PER_YEAR: f64 = 17.5;
/// Elasticity of order frequency on value (the rest of value shows up as basket size).
const FREQ_ELASTICITY: f64 = 0.7;
/// Mean lifetime (days) of a customer who does come back, before channel/segment effects.
const BASE_LIFE_DAYS: f64 = 700.0;
/// Quarter-to-quarter mood swings: log-sd and autocorrelation.
const MOOD_SIGMA: f64 = 0.35;
const MOOD_RHO: f64 = 0.5;
/// Quarters 2024-Q1 ..= 2025-Q4.
pub(super) const QUARTERS: usize = 8;
const AGE_NULL_RATE: f64 = 0.04;

pub(super) struct Customer {
    pub id: i64,
    pub signup_day: i32,
    pub country: &'static str,
    pub segment: &'static Segment,
    /// Index of `segment` in [`SEGMENTS`] (selects per-segment mixes elsewhere).
    pub segment_ix: usize,
    pub channel: &'static str,
    pub age: Option<i32>,
    pub newsletter: bool,
    // Hidden traits below: drive behaviour, never exported.
    pub value: f64,
    pub orders_per_day: f64,
    /// First day on which the customer no longer orders (may lie after the data range).
    pub churn_day: i32,
    /// Multiplier on category return rates (mean 1).
    pub return_propensity: f64,
    /// Negotiated discount (percent) applied to every order; 0 for most customers.
    pub contract_discount: f64,
    /// Multiplier on the order rate per calendar quarter (mean 1).
    pub mood: [f64; QUARTERS],
}

/// `n` customers with ids 1..=n in signup order.
pub(super) fn generate(n: usize, cal: &Calendar, seed: u64) -> Vec<Customer> {
    let mut rng = rng::stream(seed, rng::CUSTOMERS, 0);
    // Sign-ups grow over the two years and follow the shopping season.
    let days = Weighted::new(
        (0..DAYS).map(|i| (1.0 + 0.8 * i as f64 / DAYS as f64) * cal.consumer[i].sqrt()),
    );
    let mut signups: Vec<i32> = (0..n)
        .map(|_| START_DAY + days.sample(&mut rng) as i32)
        .collect();
    signups.sort_unstable();
    let segments = Weighted::new(SEGMENTS.iter().map(|s| s.weight));
    let channels = Weighted::new(CHANNELS.iter().map(|c| c.weight));
    let countries = Weighted::new(COUNTRIES.iter().map(|c| c.1));
    let tables = Tables {
        segments,
        channels,
        countries,
    };
    signups
        .into_iter()
        .enumerate()
        .map(|(i, day)| customer(i as i64 + 1, day, &tables, seed))
        .collect()
}

struct Tables {
    segments: Weighted,
    channels: Weighted,
    countries: Weighted,
}

fn customer(id: i64, signup_day: i32, t: &Tables, seed: u64) -> Customer {
    let mut rng = rng::stream(seed, rng::CUSTOMERS, id as u64);
    let segment_ix = t.segments.sample(&mut rng);
    let segment = &SEGMENTS[segment_ix];
    let channel = &CHANNELS[t.channels.sample(&mut rng)];
    let (country, _, purchasing_power) = COUNTRIES[t.countries.sample(&mut rng)];
    // Mean-one lognormal so the constants above keep their meaning.
    let value = lognormal(&mut rng, -VALUE_SIGMA * VALUE_SIGMA / 2.0, VALUE_SIGMA)
        * channel.value
        * purchasing_power;
    let orders_per_day = BASE_ORDERS_PER_YEAR / 365.0 * value.powf(FREQ_ELASTICITY) * segment.freq;
    let life = if chance(&mut rng, channel.one_and_done) {
        exponential(&mut rng, 1.0 / 10.0)
    } else {
        exponential(
            &mut rng,
            1.0 / (BASE_LIFE_DAYS * channel.life * segment.life * value.powf(0.3)),
        )
    };
    let age = (!chance(&mut rng, AGE_NULL_RATE))
        .then(|| (39.0 + 13.0 * normal(&mut rng)).round().clamp(18.0, 85.0) as i32);
    let options = segment.contract_options;
    let contract_discount = if !options.is_empty() && chance(&mut rng, segment.contract_share) {
        one_of(&mut rng, options)
    } else {
        0.0
    };
    Customer {
        id,
        signup_day,
        country,
        segment,
        segment_ix,
        channel: channel.name,
        age,
        newsletter: chance(&mut rng, channel.newsletter),
        value,
        orders_per_day,
        churn_day: signup_day.saturating_add(life.min(1e6) as i32),
        return_propensity: lognormal(&mut rng, -0.125, 0.5),
        contract_discount,
        mood: mood(&mut rng),
    }
}

/// AR(1) log-mood per quarter, mean one: customers have good and bad spells.
fn mood(rng: &mut impl rand::Rng) -> [f64; QUARTERS] {
    let mut out = [1.0; QUARTERS];
    let mut x = MOOD_SIGMA * normal(rng);
    let innovation = (1.0 - MOOD_RHO * MOOD_RHO).sqrt() * MOOD_SIGMA;
    for m in &mut out {
        *m = (x - MOOD_SIGMA * MOOD_SIGMA / 2.0).exp();
        x = MOOD_RHO * x + innovation * normal(rng);
    }
    out
}

pub(super) fn schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("customer_id", DataType::Int64, false),
        Field::new("signup_date", DataType::Date32, false),
        Field::new("country", DataType::Utf8, false),
        Field::new("segment", DataType::Utf8, false),
        Field::new("channel", DataType::Utf8, false),
        Field::new("age", DataType::Int32, true),
        Field::new("is_newsletter", DataType::Boolean, false),
    ]))
}

pub(super) fn to_batch(rows: &[Customer]) -> Result<RecordBatch, ArrowError> {
    RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|c| c.id))),
            Arc::new(Date32Array::from_iter_values(
                rows.iter().map(|c| c.signup_day),
            )),
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|c| c.country),
            )),
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|c| c.segment.name),
            )),
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|c| c.channel),
            )),
            Arc::new(rows.iter().map(|c| c.age).collect::<Int32Array>()),
            Arc::new(
                rows.iter()
                    .map(|c| Some(c.newsletter))
                    .collect::<BooleanArray>(),
            ),
        ],
    )
}
