//! `shop.marketing_touches`: emails, SMS, social, display and paid-search contacts.
//!
//! Touches follow simple marketing rules (welcome series, bi-weekly newsletter, retargeting
//! after purchases, win-back after 90 quiet days, always-on prospecting). Clicks depend on
//! the hidden customer value and collapse once a customer has churned, so recent clicks
//! are an honest, noisy hint of who is still active.

use std::sync::Arc;

use arrow::array::{
    BooleanArray, Float64Array, Int64Array, StringArray, TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use rand::Rng;

use super::calendar::{
    CAMPAIGNS, Calendar, END_DAY, MICROS_PER_DAY, MICROS_PER_HOUR, days_from_civil, weekday,
};
use super::customers::Customer;
use super::orders::Draft;
use super::rng::{self, between, cents, chance, exponential, lognormal, one_of, uniform};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Channel {
    Email,
    Sms,
    Social,
    PaidSearch,
    Display,
}

impl Channel {
    fn name(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Sms => "sms",
            Channel::Social => "social",
            Channel::PaidSearch => "paid_search",
            Channel::Display => "display",
        }
    }

    /// Click-through rate for an engaged, active customer of value 1.
    fn ctr(self) -> f64 {
        match self {
            Channel::Email => 0.05,
            Channel::Sms => 0.07,
            Channel::Social => 0.012,
            Channel::PaidSearch => 0.035,
            Channel::Display => 0.004,
        }
    }

    /// Cost in USD; paid search is billed per click, the rest per contact.
    fn cost(self, clicked: bool, rng: &mut impl Rng) -> f64 {
        match self {
            Channel::Email => 0.01,
            Channel::Sms => 0.04,
            Channel::Social => cents(lognormal(rng, 0.30_f64.ln(), 0.4)).max(0.01),
            Channel::PaidSearch if clicked => cents(lognormal(rng, 1.20_f64.ln(), 0.5)).max(0.01),
            Channel::PaidSearch => 0.0,
            Channel::Display => cents(lognormal(rng, 0.02_f64.ln(), 0.3)).max(0.01),
        }
    }
}

/// Churned customers still get contacted but rarely click.
const CHURNED_ENGAGEMENT: f64 = 0.15;
const NEWSLETTER_EVERY_DAYS: i32 = 14;
const UNSUBSCRIBE_ACTIVE: f64 = 0.004;
const UNSUBSCRIBE_CHURNED: f64 = 0.03;
/// Share of subscribers who also get the Black Friday text message.
const SMS_SHARE: f64 = 0.5;
const PROSPECTING_PER_DAY: f64 = 1.0 / 60.0;
const RETARGETING_RATE: f64 = 0.35;
const WINBACK_AFTER_DAYS: i32 = 90;
const WINBACK_OFFER_AFTER_DAYS: i32 = 120;

pub(super) struct Touch {
    pub id: i64,
    pub customer_id: i64,
    pub ts: i64,
    pub campaign: &'static str,
    pub channel: &'static str,
    pub cost: f64,
    pub clicked: bool,
}

/// Every touch, numbered in time order. `drafts` must be grouped by customer (as drafted).
pub(super) fn generate(
    customers: &[Customer],
    drafts: &[Draft],
    cal: &Calendar,
    seed: u64,
) -> Vec<Touch> {
    let mut out = Vec::with_capacity(customers.len() * 22);
    let mut cursor = 0;
    let mut order_days = Vec::new();
    for (i, c) in customers.iter().enumerate() {
        order_days.clear();
        while cursor < drafts.len() && drafts[cursor].customer as usize == i {
            order_days.push((drafts[cursor].ts / MICROS_PER_DAY) as i32);
            cursor += 1;
        }
        let mut ctx = Ctx {
            c,
            cal,
            rng: rng::stream(seed, rng::TOUCHES, c.id as u64),
            out: &mut out,
        };
        ctx.welcome();
        let subscribed_until = ctx.newsletter();
        ctx.blasts(subscribed_until);
        ctx.prospecting();
        ctx.after_orders(&order_days);
    }
    out.sort_by_key(|t| (t.ts, t.customer_id));
    for (k, t) in out.iter_mut().enumerate() {
        t.id = k as i64 + 1;
    }
    out
}

struct Ctx<'a, R> {
    c: &'a Customer,
    cal: &'a Calendar,
    rng: R,
    out: &'a mut Vec<Touch>,
}

impl<R: Rng> Ctx<'_, R> {
    /// Record a touch on `day` (ignored outside the data range) and decide whether it was clicked.
    fn touch(&mut self, day: i32, channel: Channel, campaign: &'static str, appeal: f64) {
        if day < self.c.signup_day || day >= END_DAY {
            return;
        }
        let rng = &mut self.rng;
        let ts = match channel {
            // Emails and texts go out in the morning send window; ads show whenever people browse.
            Channel::Email | Channel::Sms => {
                8 * MICROS_PER_HOUR + (uniform(rng) * 3.0 * MICROS_PER_HOUR as f64) as i64
            }
            _ => {
                let hour = self.cal.consumer_hours.sample(rng) as i64;
                hour * MICROS_PER_HOUR + (uniform(rng) * MICROS_PER_HOUR as f64) as i64
            }
        };
        let active = if day < self.c.churn_day {
            1.0
        } else {
            CHURNED_ENGAGEMENT
        };
        let engagement = self.c.value.powf(0.4).clamp(0.2, 3.0) * active;
        let clicked = chance(rng, (channel.ctr() * engagement * appeal).min(0.9));
        self.out.push(Touch {
            id: 0,
            customer_id: self.c.id,
            ts: i64::from(day) * MICROS_PER_DAY + ts,
            campaign,
            channel: channel.name(),
            cost: channel.cost(clicked, rng),
            clicked,
        });
    }

    /// The campaign name and appeal for a touch on `day`, or the fallback outside campaigns.
    fn campaign(&self, day: i32, fallback: &'static str) -> (&'static str, f64) {
        match self.cal.campaign_on(day) {
            Some(c) if c.deep => (c.name, 1.5),
            Some(c) => (c.name, 1.2),
            None => (fallback, 1.0),
        }
    }

    fn welcome(&mut self) {
        for offset in [0, 2, 6] {
            self.touch(
                self.c.signup_day + offset,
                Channel::Email,
                "welcome_series",
                2.0,
            );
        }
    }

    /// Bi-weekly newsletter for opted-in customers; returns the day they unsubscribed
    /// (`END_DAY` if they never did, or never subscribed).
    fn newsletter(&mut self) -> i32 {
        if !self.c.newsletter {
            return self.c.signup_day;
        }
        // One bi-weekly schedule for everybody, anchored on the first Thursday of 2024.
        let anchor = days_from_civil(2024, 1, 4);
        debug_assert_eq!(weekday(anchor), 3);
        let first = self.c.signup_day + 7;
        let mut day = first + (anchor - first).rem_euclid(NEWSLETTER_EVERY_DAYS);
        while day < END_DAY {
            let (campaign, appeal) = self.campaign(day, "newsletter");
            self.touch(day, Channel::Email, campaign, appeal);
            let unsubscribe = if day < self.c.churn_day {
                UNSUBSCRIBE_ACTIVE
            } else {
                UNSUBSCRIBE_CHURNED
            };
            if chance(&mut self.rng, unsubscribe) {
                return day + 1;
            }
            day += NEWSLETTER_EVERY_DAYS;
        }
        END_DAY
    }

    /// Black Friday opens with an email, and often a text, to every subscriber.
    fn blasts(&mut self, subscribed_until: i32) {
        for campaign in CAMPAIGNS.iter().filter(|c| c.deep) {
            let day = campaign.first_day();
            if day < subscribed_until {
                self.touch(day, Channel::Email, campaign.name, 1.5);
                if chance(&mut self.rng, SMS_SHARE) {
                    self.touch(day, Channel::Sms, campaign.name, 1.5);
                }
            }
        }
    }

    /// Always-on social and display ads, whether or not the customer still buys.
    fn prospecting(&mut self) {
        let mut t = f64::from(self.c.signup_day);
        loop {
            t += exponential(&mut self.rng, PROSPECTING_PER_DAY);
            let day = t.floor() as i32;
            if day >= END_DAY {
                return;
            }
            let channel = if chance(&mut self.rng, 0.6) {
                Channel::Social
            } else {
                Channel::Display
            };
            let (campaign, appeal) = self.campaign(day, "brand_awareness");
            self.touch(day, channel, campaign, appeal);
        }
    }

    /// Retargeting right after purchases and win-back mails after long silences.
    fn after_orders(&mut self, order_days: &[i32]) {
        for (k, &day) in order_days.iter().enumerate() {
            if chance(&mut self.rng, RETARGETING_RATE) {
                let channel = one_of(&mut self.rng, &[Channel::PaidSearch, Channel::Social]);
                let delay = between(&mut self.rng, 1.0, 10.0) as i32;
                self.touch(day + delay, channel, "retargeting", 1.5);
            }
            let next = order_days.get(k + 1).copied().unwrap_or(END_DAY);
            if next - day > WINBACK_AFTER_DAYS {
                self.touch(day + WINBACK_AFTER_DAYS, Channel::Email, "winback", 1.0);
            }
            if next - day > WINBACK_OFFER_AFTER_DAYS {
                self.touch(
                    day + WINBACK_OFFER_AFTER_DAYS,
                    Channel::Email,
                    "winback_offer",
                    1.3,
                );
            }
        }
    }
}

pub(super) fn schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("touch_id", DataType::Int64, false),
        Field::new("customer_id", DataType::Int64, false),
        Field::new(
            "touch_ts",
            DataType::Timestamp(TimeUnit::Microsecond, None),
            false,
        ),
        Field::new("campaign", DataType::Utf8, false),
        Field::new("channel", DataType::Utf8, false),
        Field::new("cost", DataType::Float64, false),
        Field::new("clicked", DataType::Boolean, false),
    ]))
}

pub(super) fn to_batch(rows: &[Touch]) -> Result<RecordBatch, ArrowError> {
    RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|t| t.id))),
            Arc::new(Int64Array::from_iter_values(
                rows.iter().map(|t| t.customer_id),
            )),
            Arc::new(TimestampMicrosecondArray::from_iter_values(
                rows.iter().map(|t| t.ts),
            )),
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|t| t.campaign),
            )),
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|t| t.channel),
            )),
            Arc::new(Float64Array::from_iter_values(rows.iter().map(|t| t.cost))),
            Arc::new(
                rows.iter()
                    .map(|t| Some(t.clicked))
                    .collect::<BooleanArray>(),
            ),
        ],
    )
}
