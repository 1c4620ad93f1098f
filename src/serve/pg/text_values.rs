//! Date, time, interval and numeric values in PostgreSQL's text format,
//! exactly as PostgreSQL prints them with its default `DateStyle` (ISO) and
//! `IntervalStyle` (postgres): `2024-01-01 00:00:00` (fractional seconds only
//! when there are any, trailing zeros trimmed: `…:00.5`),
//! `2024-01-01 00:00:00+00`, `0044-03-15 BC`, `12:30:00`,
//! `1 year 2 mons -3 days +04:05:06.5`, and `numeric(38,2)` values of any
//! size without an exponent.
//!
//! pgwire prints every timestamp with six fractional digits and numerics
//! through a 28-digit decimal (wider ones fail), so before a batch is
//! encoded, each text-format column of those types becomes a text column
//! holding PostgreSQL's rendering; its RowDescription type (`timestamp`,
//! `numeric`, …) stays as it was. Binary-format columns are left to
//! datafusion-postgres' encoder, whose binary forms are PostgreSQL's.
//!
//! ```ignore
//! let batch = text_values::postgres_text(batch, &fields)?;
//! ```

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, StringArray};
use arrow::datatypes::{
    DataType, Date32Type, Date64Type, Decimal128Type, DurationMicrosecondType,
    DurationMillisecondType, DurationNanosecondType, DurationSecondType, Field,
    IntervalDayTimeType, IntervalMonthDayNanoType, IntervalUnit, IntervalYearMonthType, Schema,
    Time32MillisecondType, Time32SecondType, Time64MicrosecondType, Time64NanosecondType, TimeUnit,
    TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
    TimestampSecondType,
};
use chrono::{DateTime, Datelike, Offset, Timelike};
use pgwire::api::results::{FieldFormat, FieldInfo};
use pgwire::error::{PgWireError, PgWireResult};

const MICROS_PER_SECOND: i64 = 1_000_000;
const MICROS_PER_DAY: i64 = 86_400 * MICROS_PER_SECOND;

/// `batch` with every text-format date/time/interval/numeric column
/// replaced by PostgreSQL's text for it (see the module docs).
pub fn postgres_text(batch: RecordBatch, fields: &[FieldInfo]) -> PgWireResult<RecordBatch> {
    let mut changed = false;
    let mut columns = Vec::with_capacity(batch.num_columns());
    let mut schema_fields = Vec::with_capacity(batch.num_columns());
    for (i, column) in batch.columns().iter().enumerate() {
        let field = batch.schema_ref().field(i).clone();
        let rendered = fields
            .get(i)
            .filter(|f| f.format() == FieldFormat::Text && styles_are_postgres(f))
            .and_then(|_| render(column.as_ref()));
        match rendered {
            Some(text) => {
                changed = true;
                schema_fields.push(Field::new(field.name(), DataType::Utf8, true));
                columns.push(Arc::new(text) as ArrayRef);
            }
            None => {
                schema_fields.push(field);
                columns.push(Arc::clone(column));
            }
        }
    }
    if !changed {
        return Ok(batch);
    }
    RecordBatch::try_new(Arc::new(Schema::new(schema_fields)), columns)
        .map_err(|e| PgWireError::ApiError(Box::new(e)))
}

/// Only the default styles are rendered here; a client that asked for
/// another `DateStyle` / `IntervalStyle` gets pgwire's rendering of it.
fn styles_are_postgres(field: &FieldInfo) -> bool {
    let options = field.format_options();
    options
        .date_style
        .trim_start()
        .to_ascii_uppercase()
        .starts_with("ISO")
        && options.interval_style.eq_ignore_ascii_case("postgres")
}

/// PostgreSQL's text for each value of `array`, or `None` for types
/// rendered elsewhere.
fn render(array: &dyn Array) -> Option<StringArray> {
    let text = |f: &dyn Fn(usize) -> String| -> StringArray {
        (0..array.len())
            .map(|i| (!array.is_null(i)).then(|| f(i)))
            .collect()
    };
    Some(match array.data_type() {
        DataType::Timestamp(unit, tz) => {
            let scale = unit_micros(unit);
            let zone = match tz {
                Some(tz) => Some(tz.parse::<arrow::array::timezone::Tz>().ok()?),
                None => None,
            };
            let values = timestamp_values(array, unit)?;
            text(&|i| {
                let micros = scale(values[i]);
                match &zone {
                    Some(zone) => timestamptz_text(micros, zone),
                    None => timestamp_text(micros, None),
                }
            })
        }
        DataType::Date32 => {
            let a = array.as_primitive::<Date32Type>();
            text(&|i| date_text(i64::from(a.value(i)) * MICROS_PER_DAY))
        }
        DataType::Date64 => {
            let a = array.as_primitive::<Date64Type>();
            text(&|i| date_text(a.value(i).div_euclid(86_400_000) * MICROS_PER_DAY))
        }
        DataType::Time32(TimeUnit::Second) => {
            let a = array.as_primitive::<Time32SecondType>();
            text(&|i| time_text(i64::from(a.value(i)) * MICROS_PER_SECOND))
        }
        DataType::Time32(TimeUnit::Millisecond) => {
            let a = array.as_primitive::<Time32MillisecondType>();
            text(&|i| time_text(i64::from(a.value(i)) * 1000))
        }
        DataType::Time64(TimeUnit::Microsecond) => {
            let a = array.as_primitive::<Time64MicrosecondType>();
            text(&|i| time_text(a.value(i)))
        }
        DataType::Time64(TimeUnit::Nanosecond) => {
            let a = array.as_primitive::<Time64NanosecondType>();
            text(&|i| time_text(a.value(i) / 1000))
        }
        DataType::Interval(IntervalUnit::YearMonth) => {
            let a = array.as_primitive::<IntervalYearMonthType>();
            text(&|i| interval_text(a.value(i), 0, 0))
        }
        DataType::Interval(IntervalUnit::DayTime) => {
            let a = array.as_primitive::<IntervalDayTimeType>();
            text(&|i| {
                let v = a.value(i);
                interval_text(0, v.days, i64::from(v.milliseconds) * 1000)
            })
        }
        DataType::Interval(IntervalUnit::MonthDayNano) => {
            let a = array.as_primitive::<IntervalMonthDayNanoType>();
            text(&|i| {
                let v = a.value(i);
                interval_text(v.months, v.days, v.nanoseconds / 1000)
            })
        }
        DataType::Duration(unit) => {
            let micros: Vec<i64> = match unit {
                TimeUnit::Second => duration_values::<DurationSecondType>(array, MICROS_PER_SECOND),
                TimeUnit::Millisecond => duration_values::<DurationMillisecondType>(array, 1000),
                TimeUnit::Microsecond => duration_values::<DurationMicrosecondType>(array, 1),
                TimeUnit::Nanosecond => array
                    .as_primitive::<DurationNanosecondType>()
                    .values()
                    .iter()
                    .map(|v| v / 1000)
                    .collect(),
            };
            // An elapsed time (what `timestamp - timestamp` gives) reads as
            // PostgreSQL's `timestamp_mi` result: whole days split off.
            text(&|i| {
                let days = micros[i] / MICROS_PER_DAY;
                let rest = micros[i] - days * MICROS_PER_DAY;
                interval_text(0, i32::try_from(days).unwrap_or(i32::MAX), rest)
            })
        }
        DataType::Decimal128(_, scale) => {
            let a = array.as_primitive::<Decimal128Type>();
            text(&|i| decimal_text(a.value(i), *scale))
        }
        _ => return None,
    })
}

fn duration_values<T: arrow::datatypes::ArrowPrimitiveType<Native = i64>>(
    array: &dyn Array,
    factor: i64,
) -> Vec<i64> {
    array
        .as_primitive::<T>()
        .values()
        .iter()
        .map(|v| v.saturating_mul(factor))
        .collect()
}

fn timestamp_values(array: &dyn Array, unit: &TimeUnit) -> Option<Vec<i64>> {
    let values = match unit {
        TimeUnit::Second => array.as_primitive_opt::<TimestampSecondType>()?.values(),
        TimeUnit::Millisecond => array
            .as_primitive_opt::<TimestampMillisecondType>()?
            .values(),
        TimeUnit::Microsecond => array
            .as_primitive_opt::<TimestampMicrosecondType>()?
            .values(),
        TimeUnit::Nanosecond => array
            .as_primitive_opt::<TimestampNanosecondType>()?
            .values(),
    };
    Some(values.to_vec())
}

/// Microseconds from a value in `unit`; PostgreSQL keeps microseconds, and
/// finer digits are dropped as the binary encoding drops them.
fn unit_micros(unit: &TimeUnit) -> fn(i64) -> i64 {
    match unit {
        TimeUnit::Second => |v| v.saturating_mul(MICROS_PER_SECOND),
        TimeUnit::Millisecond => |v| v.saturating_mul(1000),
        TimeUnit::Microsecond => |v| v,
        TimeUnit::Nanosecond => |v| v.div_euclid(1000),
    }
}

/// `YYYY-MM-DD HH:MM:SS[.ffffff][±HH[:MM]][ BC]`, as PostgreSQL's
/// `EncodeDateTime` writes it in ISO style; `offset` in seconds east of UTC.
fn timestamp_text(micros: i64, offset: Option<i32>) -> String {
    let Some(utc) = DateTime::from_timestamp_micros(micros) else {
        return micros.to_string();
    };
    let local = utc.naive_utc() + chrono::Duration::seconds(i64::from(offset.unwrap_or(0)));
    let (year, bc) = pg_year(local.year());
    let mut out = format!(
        "{year:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        local.month(),
        local.day(),
        local.hour(),
        local.minute(),
        local.second()
    );
    push_fraction(&mut out, i64::from(local.nanosecond() / 1000));
    if let Some(offset) = offset {
        push_offset(&mut out, offset);
    }
    if bc {
        out.push_str(" BC");
    }
    out
}

fn timestamptz_text(micros: i64, zone: &arrow::array::timezone::Tz) -> String {
    let offset = DateTime::from_timestamp_micros(micros)
        .map(|utc| utc.with_timezone(zone).offset().fix().local_minus_utc())
        .unwrap_or(0);
    timestamp_text(micros, Some(offset))
}

fn date_text(micros: i64) -> String {
    match DateTime::from_timestamp_micros(micros) {
        Some(d) => {
            let (year, bc) = pg_year(d.year());
            let suffix = if bc { " BC" } else { "" };
            format!("{year:04}-{:02}-{:02}{suffix}", d.month(), d.day())
        }
        None => micros.to_string(),
    }
}

fn time_text(micros: i64) -> String {
    let micros = micros.rem_euclid(MICROS_PER_DAY);
    let seconds = micros / MICROS_PER_SECOND;
    let mut out = format!(
        "{:02}:{:02}:{:02}",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60
    );
    push_fraction(&mut out, micros % MICROS_PER_SECOND);
    out
}

/// Year 0 is 1 BC, -1 is 2 BC: PostgreSQL prints the BC year and a suffix.
fn pg_year(year: i32) -> (i32, bool) {
    if year <= 0 {
        (1 - year, true)
    } else {
        (year, false)
    }
}

/// `.5`, `.123456`: six digits with trailing zeros trimmed, none when zero.
fn push_fraction(out: &mut String, micros: i64) {
    if micros != 0 {
        let digits = format!("{:06}", micros.abs());
        out.push('.');
        out.push_str(digits.trim_end_matches('0'));
    }
}

/// `+00`, `+05:30`, `-08`: hours always, minutes and seconds when not zero.
fn push_offset(out: &mut String, seconds_east: i32) {
    let sign = if seconds_east < 0 { '-' } else { '+' };
    let s = seconds_east.unsigned_abs();
    out.push_str(&format!("{sign}{:02}", s / 3600));
    if !s.is_multiple_of(3600) {
        out.push_str(&format!(":{:02}", s / 60 % 60));
        if !s.is_multiple_of(60) {
            out.push_str(&format!(":{:02}", s % 60));
        }
    }
}

/// PostgreSQL's `EncodeInterval` in the `postgres` style: years, months and
/// days as words, the time as `HH:MM:SS`; after a negative part, positive
/// ones carry a `+`.
fn interval_text(months: i32, days: i32, micros: i64) -> String {
    let mut out = String::new();
    let mut is_zero = true;
    let mut is_before = false;
    for (value, unit) in [(months / 12, "year"), (months % 12, "mon"), (days, "day")] {
        if value == 0 {
            continue;
        }
        let space = if is_zero { "" } else { " " };
        let plus = if is_before && value > 0 { "+" } else { "" };
        let plural = if value != 1 { "s" } else { "" };
        out.push_str(&format!("{space}{plus}{value} {unit}{plural}"));
        is_before = value < 0;
        is_zero = false;
    }
    let hours = micros / (3600 * MICROS_PER_SECOND);
    let minutes = micros / (60 * MICROS_PER_SECOND) % 60;
    let seconds = micros / MICROS_PER_SECOND % 60;
    let fraction = micros % MICROS_PER_SECOND;
    if is_zero || micros != 0 {
        let minus = micros < 0;
        let space = if is_zero { "" } else { " " };
        let sign = if minus {
            "-"
        } else if is_before {
            "+"
        } else {
            ""
        };
        out.push_str(&format!(
            "{space}{sign}{:02}:{:02}:{:02}",
            hours.abs(),
            minutes.abs(),
            seconds.abs()
        ));
        push_fraction(&mut out, fraction);
    }
    out
}

/// A `numeric` with `scale` digits after the point (a negative scale adds
/// zeros before it), never in exponent form: PostgreSQL's `numeric_out`.
fn decimal_text(value: i128, scale: i8) -> String {
    let digits = value.unsigned_abs().to_string();
    let sign = if value < 0 { "-" } else { "" };
    if scale <= 0 {
        let zeros = if value == 0 {
            String::new()
        } else {
            "0".repeat(scale.unsigned_abs().into())
        };
        return format!("{sign}{digits}{zeros}");
    }
    let scale = usize::from(scale.unsigned_abs());
    let padded = format!("{digits:0>width$}", width = scale + 1);
    let (whole, fraction) = padded.split_at(padded.len() - scale);
    format!("{sign}{whole}.{fraction}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_print_as_postgresql() {
        let t = 1_704_067_200 * MICROS_PER_SECOND; // 2024-01-01 00:00:00 UTC
        assert_eq!(timestamp_text(t, None), "2024-01-01 00:00:00");
        assert_eq!(timestamp_text(t + 500_000, None), "2024-01-01 00:00:00.5");
        assert_eq!(
            timestamp_text(t + 123_456, None),
            "2024-01-01 00:00:00.123456"
        );
        assert_eq!(timestamp_text(t, Some(0)), "2024-01-01 00:00:00+00");
        assert_eq!(timestamp_text(t, Some(19_800)), "2024-01-01 05:30:00+05:30");
        assert_eq!(timestamp_text(t, Some(-8 * 3600)), "2023-12-31 16:00:00-08");
        // 44 BC is astronomical year -43.
        let bc = -63_234_000_000 * MICROS_PER_SECOND;
        assert!(
            timestamp_text(bc, None).ends_with(" BC"),
            "{}",
            timestamp_text(bc, None)
        );
    }

    #[test]
    fn dates_and_times_print_as_postgresql() {
        assert_eq!(date_text(19_723 * MICROS_PER_DAY), "2024-01-01");
        assert_eq!(date_text(-719_528 * MICROS_PER_DAY), "0001-01-01 BC");
        assert_eq!(time_text(45_000 * MICROS_PER_SECOND), "12:30:00");
        assert_eq!(
            time_text(3_723 * MICROS_PER_SECOND + 250_000),
            "01:02:03.25"
        );
    }

    #[test]
    fn intervals_print_as_postgresql() {
        let hour = 3600 * MICROS_PER_SECOND;
        assert_eq!(interval_text(0, 1, 2 * hour), "1 day 02:00:00");
        assert_eq!(interval_text(0, 0, 0), "00:00:00");
        assert_eq!(interval_text(0, -1, 0), "-1 days");
        assert_eq!(interval_text(1, 3, 0), "1 mon 3 days");
        assert_eq!(
            interval_text(14, -3, 4 * hour + 5 * 60 * MICROS_PER_SECOND + 6_500_000),
            "1 year 2 mons -3 days +04:05:06.5"
        );
        assert_eq!(
            interval_text(0, 0, -90 * 60 * MICROS_PER_SECOND),
            "-01:30:00"
        );
        assert_eq!(interval_text(0, 0, 36 * hour), "36:00:00");
    }

    #[test]
    fn numerics_print_without_exponent_at_any_width() {
        assert_eq!(decimal_text(150, 2), "1.50");
        assert_eq!(decimal_text(-5, 3), "-0.005");
        assert_eq!(decimal_text(0, 2), "0.00");
        assert_eq!(decimal_text(12, -3), "12000");
        let wide = 12_345_678_901_234_567_890_123_456_789_012_345_678i128;
        assert_eq!(
            decimal_text(wide, 2),
            "123456789012345678901234567890123456.78"
        );
    }
}
