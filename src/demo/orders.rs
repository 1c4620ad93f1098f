//! When customers order: a seasonal Poisson process per customer, from sign-up to churn.
//!
//! This is where the planted signal lives. An active customer orders at rate
//! `orders_per_day × season(day) × mood(quarter)`; the same hidden value and churn day
//! shape the history before the cutoff and the revenue after it. `lines.rs` turns these
//! drafts into orders and order lines.

use rand::Rng;

use super::calendar::{Calendar, END_DAY, MICROS_PER_DAY, MICROS_PER_HOUR};
use super::customers::Customer;
use super::rng::{self, chance, exponential, one_of, uniform};

/// Share of customers whose first order is placed on the day they sign up.
const FIRST_ORDER_AT_SIGNUP: f64 = 0.6;
const CANCEL_RATE: f64 = 0.03;
/// Chance of using a discount during a sale, and the chance of a stray coupon otherwise.
const SALE_DISCOUNT_RATE: f64 = 0.6;
const COUPON_RATE: f64 = 0.07;

pub(super) static ORDER_CHANNELS: [&str; 4] = ["web", "mobile_app", "marketplace", "phone"];
/// Order channel mix per segment, in `ORDER_CHANNELS` order: businesses phone in orders.
const CHANNEL_MIX: [[f64; 4]; 3] = [
    [0.47, 0.43, 0.10, 0.0],
    [0.65, 0.12, 0.08, 0.15],
    [0.45, 0.03, 0.02, 0.50],
];

/// An order before ids and lines are assigned.
pub(super) struct Draft {
    /// Index into the customer list.
    pub customer: u32,
    pub ts: i64,
    pub channel: &'static str,
    pub cancelled: bool,
    pub discount_pct: f64,
    pub bulk: bool,
}

/// Drafts of every order, grouped by customer (in customer order) and by time within one.
pub(super) fn draft(customers: &[Customer], cal: &Calendar, seed: u64) -> Vec<Draft> {
    let channel_mix: Vec<rng::Weighted> = CHANNEL_MIX
        .iter()
        .map(|m| rng::Weighted::new(m.iter().copied()))
        .collect();
    let mut out = Vec::with_capacity(customers.len() * 14);
    for (i, c) in customers.iter().enumerate() {
        let mut rng = rng::stream(seed, rng::ORDERS, c.id as u64);
        let first = out.len();
        for day in order_days(c, cal, &mut rng) {
            out.push(order(
                i as u32,
                c,
                day,
                cal,
                &channel_mix[c.segment_ix],
                &mut rng,
            ));
        }
        out[first..].sort_by_key(|d| d.ts);
    }
    out
}

/// Days on which the customer orders: thinning of a Poisson process at the peak rate.
fn order_days(c: &Customer, cal: &Calendar, rng: &mut impl Rng) -> Vec<i32> {
    let (season, season_max) = if c.segment.business {
        (&cal.business, cal.business_max)
    } else {
        (&cal.consumer, cal.consumer_max)
    };
    let mood_max = c.mood.iter().copied().fold(0.0, f64::max);
    let peak = c.orders_per_day * season_max * mood_max;
    let mut days = Vec::new();
    if chance(rng, FIRST_ORDER_AT_SIGNUP) {
        days.push(c.signup_day);
    }
    let stop = c.churn_day.min(END_DAY);
    let mut t = f64::from(c.signup_day) + uniform(rng);
    loop {
        t += exponential(rng, peak);
        let day = t.floor() as i32;
        if day >= stop {
            return days;
        }
        let rate = c.orders_per_day * season[Calendar::index(day)] * c.mood[cal.quarter(day)];
        if uniform(rng) * peak < rate {
            days.push(day);
        }
    }
}

fn order(
    customer: u32,
    c: &Customer,
    day: i32,
    cal: &Calendar,
    channels: &rng::Weighted,
    rng: &mut impl Rng,
) -> Draft {
    let hours = if c.segment.business {
        &cal.business_hours
    } else {
        &cal.consumer_hours
    };
    let hour = hours.sample(rng) as i64;
    let ts = i64::from(day) * MICROS_PER_DAY
        + hour * MICROS_PER_HOUR
        + (uniform(rng) * MICROS_PER_HOUR as f64) as i64;
    Draft {
        customer,
        ts,
        channel: ORDER_CHANNELS[channels.sample(rng)],
        cancelled: chance(rng, CANCEL_RATE),
        discount_pct: discount(c, day, cal, rng),
        bulk: chance(rng, c.segment.bulk_rate),
    }
}

/// Discount in percent: contract customers always get theirs; others mostly during sales.
fn discount(c: &Customer, day: i32, cal: &Calendar, rng: &mut impl Rng) -> f64 {
    if c.contract_discount > 0.0 {
        return c.contract_discount;
    }
    match cal.campaign_on(day) {
        Some(sale) if !c.segment.business && chance(rng, SALE_DISCOUNT_RATE) => {
            if sale.deep {
                one_of(rng, &[20.0, 25.0, 30.0, 40.0])
            } else {
                one_of(rng, &[10.0, 15.0, 20.0])
            }
        }
        _ if chance(rng, COUPON_RATE) => one_of(rng, &[5.0, 10.0]),
        _ => 0.0,
    }
}
