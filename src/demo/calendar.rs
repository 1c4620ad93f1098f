//! Dates, seasonality and the marketing calendar shared by every table.
//!
//! Days are Arrow `Date32` numbers (days since 1970-01-01); timestamps are microseconds.

use super::rng::Weighted;

/// 2024-01-01, the first day of data.
pub(super) const START_DAY: i32 = 19_723;
/// Number of days covered: 2024-01-01 ..= 2025-12-31.
pub(super) const DAYS: usize = 731;
/// One past the last day (2026-01-01).
pub(super) const END_DAY: i32 = START_DAY + DAYS as i32;
/// 2025-10-01: the ML cutoff the demo's feature views are built around (see the data dictionary).
#[cfg(test)]
pub(super) const CUTOFF_DAY: i32 = 20_362;
/// Length of the prediction window after the cutoff (2025-10-01 ..= 2025-12-29).
#[cfg(test)]
pub(super) const TARGET_DAYS: i32 = 90;
pub(super) const MICROS_PER_DAY: i64 = 86_400_000_000;
pub(super) const MICROS_PER_HOUR: i64 = 3_600_000_000;

/// Days since 1970-01-01 of a civil date (H. Hinnant's algorithm, valid for years ≥ 0).
pub(super) fn days_from_civil(year: i32, month: u32, day: u32) -> i32 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y / 400;
    let yoe = (y - era * 400) as u32;
    let mp = (month + 9) % 12; // March = 0, so the leap day ends the year
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe as i32 - 719_468
}

/// Month (1..=12) of a day number (years ≥ 1970).
pub(super) fn month_of(days: i32) -> u32 {
    let z = days + 719_468;
    let doe = (z % 146_097) as u32;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    if mp < 10 { mp + 3 } else { mp - 9 }
}

/// 0 = Monday … 6 = Sunday (1970-01-01 was a Thursday).
pub(super) fn weekday(days: i32) -> usize {
    (days + 3).rem_euclid(7) as usize
}

/// Calendar quarter index since 2024-Q1 (0..=7 inside the data range).
fn quarter_index(days: i32) -> usize {
    let years = if days >= days_from_civil(2025, 1, 1) {
        1
    } else {
        0
    };
    years * 4 + (month_of(days) as usize - 1) / 3
}

/// A promotional period: drives discounts, order uplift and campaign names on touches.
pub(super) struct Campaign {
    pub name: &'static str,
    pub first: (i32, u32, u32),
    pub last: (i32, u32, u32),
    /// Multiplier on consumer order rates while the campaign runs.
    pub uplift: f64,
    /// Whether discounts are deep (Black Friday) rather than ordinary sale discounts.
    pub deep: bool,
}

impl Campaign {
    pub(super) fn first_day(&self) -> i32 {
        days_from_civil(self.first.0, self.first.1, self.first.2)
    }

    fn last_day(&self) -> i32 {
        days_from_civil(self.last.0, self.last.1, self.last.2)
    }
}

const fn sale(name: &'static str, first: (i32, u32, u32), last: (i32, u32, u32)) -> Campaign {
    Campaign {
        name,
        first,
        last,
        uplift: 1.15,
        deep: false,
    }
}

pub(super) static CAMPAIGNS: [Campaign; 12] = [
    sale("new_year_2024", (2024, 1, 1), (2024, 1, 14)),
    sale("spring_sale_2024", (2024, 3, 15), (2024, 4, 5)),
    sale("summer_sale_2024", (2024, 6, 20), (2024, 7, 10)),
    sale("back_to_school_2024", (2024, 8, 10), (2024, 9, 5)),
    Campaign {
        name: "black_friday_2024",
        first: (2024, 11, 22),
        last: (2024, 12, 2),
        uplift: 1.6,
        deep: true,
    },
    sale("holiday_2024", (2024, 12, 3), (2024, 12, 22)),
    sale("new_year_2025", (2025, 1, 1), (2025, 1, 14)),
    sale("spring_sale_2025", (2025, 3, 14), (2025, 4, 4)),
    sale("summer_sale_2025", (2025, 6, 19), (2025, 7, 9)),
    sale("back_to_school_2025", (2025, 8, 9), (2025, 9, 4)),
    Campaign {
        name: "black_friday_2025",
        first: (2025, 11, 21),
        last: (2025, 12, 1),
        uplift: 1.6,
        deep: true,
    },
    sale("holiday_2025", (2025, 12, 2), (2025, 12, 21)),
];

/// Yearly shape of demand by month: quiet Q1, Nov/Dec peak.
const MONTH_FACTOR: [f64; 12] = [
    0.85, 0.80, 0.90, 0.95, 1.00, 0.95, 0.92, 0.97, 1.00, 1.05, 1.30, 1.45,
];
/// Consumers shop more at weekends; businesses almost only on weekdays.
const CONSUMER_WEEKDAY: [f64; 7] = [0.88, 0.84, 0.86, 0.90, 1.00, 1.35, 1.30];
const BUSINESS_WEEKDAY: [f64; 7] = [1.18, 1.18, 1.15, 1.12, 1.02, 0.25, 0.15];
/// Relative order volume by hour of day.
const CONSUMER_HOURS: [f64; 24] = [
    0.6, 0.3, 0.2, 0.15, 0.15, 0.2, 0.4, 0.8, 1.1, 1.2, 1.3, 1.4, //
    1.6, 1.4, 1.3, 1.3, 1.4, 1.6, 1.9, 2.2, 2.4, 2.2, 1.7, 1.1,
];
const BUSINESS_HOURS: [f64; 24] = [
    0.05, 0.02, 0.02, 0.02, 0.03, 0.1, 0.4, 1.2, 2.2, 2.6, 2.6, 2.3, //
    1.6, 2.2, 2.4, 2.3, 2.0, 1.3, 0.6, 0.3, 0.2, 0.15, 0.1, 0.08,
];

/// Per-day demand multipliers, precomputed once for the whole range.
pub(super) struct Calendar {
    pub consumer: Vec<f64>,
    pub business: Vec<f64>,
    pub consumer_max: f64,
    pub business_max: f64,
    pub consumer_hours: Weighted,
    pub business_hours: Weighted,
    /// Index into [`CAMPAIGNS`] of the campaign running on each day, if any.
    campaign: Vec<Option<u8>>,
    quarter: Vec<u8>,
}

impl Calendar {
    pub(super) fn new() -> Self {
        let mut campaign = vec![None; DAYS];
        for (i, c) in CAMPAIGNS.iter().enumerate() {
            for d in c.first_day()..=c.last_day() {
                campaign[(d - START_DAY) as usize] = Some(i as u8);
            }
        }
        let (mut consumer, mut business) = (Vec::with_capacity(DAYS), Vec::with_capacity(DAYS));
        for (i, c) in campaign.iter().enumerate() {
            let day = START_DAY + i as i32;
            let month = MONTH_FACTOR[month_of(day) as usize - 1];
            let uplift = c.map_or(1.0, |c| CAMPAIGNS[c as usize].uplift);
            consumer.push(month * CONSUMER_WEEKDAY[weekday(day)] * uplift);
            // Businesses follow the budget year more than sales: half the seasonal swing.
            business.push((0.5 + 0.5 * month) * BUSINESS_WEEKDAY[weekday(day)]);
        }
        let max = |v: &[f64]| v.iter().copied().fold(0.0, f64::max);
        Self {
            consumer_max: max(&consumer),
            business_max: max(&business),
            consumer,
            business,
            consumer_hours: Weighted::new(CONSUMER_HOURS),
            business_hours: Weighted::new(BUSINESS_HOURS),
            campaign,
            quarter: (0..DAYS)
                .map(|i| quarter_index(START_DAY + i as i32) as u8)
                .collect(),
        }
    }

    /// Index of `day` in the per-day tables; callers only pass days inside the range.
    pub(super) fn index(day: i32) -> usize {
        (day - START_DAY).clamp(0, DAYS as i32 - 1) as usize
    }

    /// Calendar quarter index since 2024-Q1 of a day inside the range.
    pub(super) fn quarter(&self, day: i32) -> usize {
        self.quarter[Self::index(day)] as usize
    }

    /// The campaign running on `day`, if any.
    pub(super) fn campaign_on(&self, day: i32) -> Option<&'static Campaign> {
        let i = usize::try_from(day - START_DAY).ok()?;
        self.campaign
            .get(i)
            .copied()
            .flatten()
            .map(|c| &CAMPAIGNS[c as usize])
    }
}
