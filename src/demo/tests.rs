//! Determinism, scaling, integrity, realism and the planted signal of the demo data.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{
    DataType, Date32Type, Float64Type, Int32Type, Int64Type, TimeUnit, TimestampMicrosecondType,
};

use super::calendar::{CUTOFF_DAY, END_DAY, MICROS_PER_DAY, TARGET_DAYS};
use super::{BATCH_ROWS, DemoTable, generate};

/// The scale-1 data set, generated once for all tests (it is the slow part in debug builds).
fn base() -> &'static [DemoTable] {
    static TABLES: OnceLock<Vec<DemoTable>> = OnceLock::new();
    TABLES.get_or_init(|| generate(1, 42).expect("generate"))
}

fn table<'a>(tables: &'a [DemoTable], name: &str) -> &'a DemoTable {
    tables
        .iter()
        .find(|t| t.name == name)
        .unwrap_or_else(|| panic!("no table {name}"))
}

fn rows(tables: &[DemoTable], name: &str) -> usize {
    table(tables, name)
        .batches
        .iter()
        .map(|b| b.num_rows())
        .sum()
}

fn i64s(tables: &[DemoTable], name: &str, column: &str) -> Vec<i64> {
    let batches = &table(tables, name).batches;
    batches
        .iter()
        .flat_map(|b| b[column].as_primitive::<Int64Type>().values().to_vec())
        .collect()
}

fn f64s(tables: &[DemoTable], name: &str, column: &str) -> Vec<f64> {
    let batches = &table(tables, name).batches;
    batches
        .iter()
        .flat_map(|b| b[column].as_primitive::<Float64Type>().values().to_vec())
        .collect()
}

fn micros(tables: &[DemoTable], name: &str, column: &str) -> Vec<i64> {
    let batches = &table(tables, name).batches;
    batches
        .iter()
        .flat_map(|b| {
            b[column]
                .as_primitive::<TimestampMicrosecondType>()
                .values()
                .to_vec()
        })
        .collect()
}

fn strings(tables: &[DemoTable], name: &str, column: &str) -> Vec<String> {
    let batches = &table(tables, name).batches;
    batches
        .iter()
        .flat_map(|b| {
            b[column]
                .as_string::<i32>()
                .iter()
                .map(|s| s.unwrap_or("").to_owned())
                .collect::<Vec<_>>()
        })
        .collect()
}

fn bools(tables: &[DemoTable], name: &str, column: &str) -> Vec<bool> {
    let batches = &table(tables, name).batches;
    batches
        .iter()
        .flat_map(|b| {
            b[column]
                .as_boolean()
                .iter()
                .map(|v| v.unwrap_or(false))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// customer_id -> signup day.
fn signups(tables: &[DemoTable]) -> BTreeMap<i64, i32> {
    let batches = &table(tables, "customers").batches;
    let days = batches.iter().flat_map(|b| {
        b["signup_date"]
            .as_primitive::<Date32Type>()
            .values()
            .to_vec()
    });
    i64s(tables, "customers", "customer_id")
        .into_iter()
        .zip(days)
        .collect()
}

#[test]
fn same_seed_same_data_other_seed_other_data() {
    let again = generate(1, 42).expect("generate");
    let other = generate(1, 43).expect("generate");
    for (a, b) in base().iter().zip(&again) {
        assert_eq!(a.name, b.name);
        assert!(
            a.batches == b.batches,
            "table {} differs between runs",
            a.name
        );
    }
    for (a, c) in base().iter().zip(&other) {
        assert!(a.batches != c.batches, "table {} ignores the seed", a.name);
    }
}

#[test]
fn row_counts_scale_and_batches_are_bounded() {
    let one = base();
    let two = generate(2, 42).expect("generate");
    let names: Vec<_> = one.iter().map(|t| t.name).collect();
    assert_eq!(
        names,
        [
            "customers",
            "products",
            "orders",
            "order_lines",
            "marketing_touches",
            "market_prices"
        ]
    );
    assert_eq!(rows(one, "customers"), 10_000);
    assert_eq!(rows(&two, "customers"), 20_000);
    assert_eq!(rows(one, "products"), 500);
    assert_eq!(rows(&two, "products"), 500);
    assert_eq!(rows(one, "market_prices"), 731 * 10);
    let lines = rows(one, "order_lines");
    assert!(
        (240_000..=360_000).contains(&lines),
        "order_lines at scale 1: {lines}"
    );
    for name in ["orders", "order_lines", "marketing_touches"] {
        let ratio = rows(&two, name) as f64 / rows(one, name) as f64;
        assert!((1.85..=2.15).contains(&ratio), "{name} scales by {ratio}");
    }
    // Scale 0 is legal: empty tables that still carry their schema.
    let empty = generate(0, 42).expect("generate");
    assert_eq!(rows(&empty, "orders"), 0);
    assert_eq!(
        table(&empty, "orders").batches[0].schema(),
        table(one, "orders").batches[0].schema()
    );
    for t in one.iter().chain(&two) {
        let schema = t.batches[0].schema();
        for b in &t.batches {
            assert!(
                b.num_rows() <= BATCH_ROWS && b.num_rows() > 0,
                "{}: batch of {}",
                t.name,
                b.num_rows()
            );
            assert_eq!(b.schema(), schema);
        }
    }
}

#[test]
fn keys_and_references_hold() {
    let t = base();
    let signup = signups(t);
    let order_ids = i64s(t, "orders", "order_id");
    assert!(
        order_ids.iter().zip(1..).all(|(&id, k)| id == k),
        "order ids are 1..n"
    );
    let order_ts = micros(t, "orders", "order_ts");
    assert!(
        order_ts.windows(2).all(|w| w[0] <= w[1]),
        "order ids follow time"
    );
    for (cid, ts) in i64s(t, "orders", "customer_id").into_iter().zip(&order_ts) {
        let day = signup
            .get(&cid)
            .unwrap_or_else(|| panic!("order of unknown customer {cid}"));
        assert!(
            *ts >= i64::from(*day) * MICROS_PER_DAY,
            "order of {cid} before sign-up"
        );
        assert!(*ts < i64::from(END_DAY) * MICROS_PER_DAY);
    }
    let products: BTreeSet<i64> = i64s(t, "products", "product_id").into_iter().collect();
    let mut line_sums = vec![0.0; order_ids.len()];
    let line_orders = i64s(t, "order_lines", "order_id");
    for ((oid, pid), amount) in line_orders
        .iter()
        .zip(i64s(t, "order_lines", "product_id"))
        .zip(f64s(t, "order_lines", "line_amount"))
    {
        assert!(products.contains(&pid), "unknown product {pid}");
        line_sums[usize::try_from(*oid - 1).expect("order id")] += amount;
    }
    let quantities = &table(t, "order_lines").batches;
    assert!(quantities.iter().all(|b| {
        b["quantity"]
            .as_primitive::<Int32Type>()
            .values()
            .iter()
            .all(|&q| q >= 1)
    }));
    let discounts = f64s(t, "orders", "discount_pct");
    for ((sum, total), d) in line_sums
        .iter()
        .zip(f64s(t, "orders", "total_amount"))
        .zip(discounts)
    {
        assert!(*sum > 0.0, "order without lines");
        assert!(
            (sum * (1.0 - d / 100.0) - total).abs() < 0.011,
            "total {total} vs lines {sum} at {d} %"
        );
    }
    for (cid, ts) in i64s(t, "marketing_touches", "customer_id")
        .into_iter()
        .zip(micros(t, "marketing_touches", "touch_ts"))
    {
        let day = signup
            .get(&cid)
            .unwrap_or_else(|| panic!("touch of unknown customer {cid}"));
        assert!(ts >= i64::from(*day) * MICROS_PER_DAY);
    }
}

#[test]
fn rates_look_like_a_shop() {
    let t = base();
    let share = |v: &[bool]| v.iter().filter(|&&b| b).count() as f64 / v.len() as f64;
    let line_returns = share(&bools(t, "order_lines", "is_returned"));
    assert!(
        (0.04..=0.08).contains(&line_returns),
        "line return rate {line_returns}"
    );
    let status = strings(t, "orders", "status");
    let returned = status.iter().filter(|s| *s == "returned").count() as f64 / status.len() as f64;
    assert!(
        (0.03..=0.09).contains(&returned),
        "returned orders {returned}"
    );
    assert!(
        status
            .iter()
            .all(|s| ["completed", "returned", "cancelled"].contains(&s.as_str()))
    );
    let ages = &table(t, "customers").batches;
    let nulls: usize = ages.iter().map(|b| b["age"].null_count()).sum();
    assert!((200..=600).contains(&nulls), "NULL ages: {nulls}");
    // Holiday peak: Nov+Dec 2025 carry more orders per day than Sep+Oct 2025.
    let day_of = |ts: &i64| ts.div_euclid(MICROS_PER_DAY) as i32;
    let ts = micros(t, "orders", "order_ts");
    let (sep_oct, nov_dec) = (CUTOFF_DAY - 30..CUTOFF_DAY + 31, CUTOFF_DAY + 31..END_DAY);
    let per_day = |r: std::ops::Range<i32>| {
        ts.iter().filter(|x| r.contains(&day_of(x))).count() as f64 / r.len() as f64
    };
    assert!(per_day(nov_dec) > 1.2 * per_day(sep_oct), "no holiday peak");
}

/// Pearson correlation of two equally long samples.
fn pearson(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len() as f64;
    let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        sxy += (a - mx) * (b - my);
        sxx += (a - mx) * (a - mx);
        syy += (b - my) * (b - my);
    }
    sxy / (sxx * syy).sqrt()
}

#[test]
fn history_predicts_next_90_days_revenue_but_not_perfectly() {
    let t = base();
    let signup = signups(t);
    let (cutoff, end) = (
        i64::from(CUTOFF_DAY) * MICROS_PER_DAY,
        i64::from(CUTOFF_DAY + TARGET_DAYS) * MICROS_PER_DAY,
    );
    // customer_id -> (monetary before the cutoff, revenue in the 90 days after it)
    let mut per_customer: BTreeMap<i64, (f64, f64)> = signup
        .iter()
        .filter(|(_, d)| **d < CUTOFF_DAY)
        .map(|(c, _)| (*c, (0.0, 0.0)))
        .collect();
    let orders = i64s(t, "orders", "customer_id")
        .into_iter()
        .zip(micros(t, "orders", "order_ts"));
    let amounts = f64s(t, "orders", "total_amount")
        .into_iter()
        .zip(strings(t, "orders", "status"));
    for ((cid, ts), (amount, status)) in orders.zip(amounts) {
        let Some(entry) = per_customer.get_mut(&cid) else {
            continue;
        };
        if status != "completed" {
            continue;
        }
        if ts < cutoff {
            entry.0 += amount;
        } else if ts < end {
            entry.1 += amount;
        }
    }
    let (monetary, future): (Vec<f64>, Vec<f64>) = per_customer.values().copied().unzip();
    let r = pearson(&monetary, &future);
    assert!(
        r > 0.3 && r < 0.95,
        "pearson(monetary, next-90-day revenue) = {r}"
    );
    let active_after = future.iter().filter(|&&f| f > 0.0).count() as f64 / future.len() as f64;
    assert!(
        (0.2..=0.8).contains(&active_after),
        "share buying after the cutoff {active_after}"
    );
}

/// `sql/demo/schema.sql` must describe exactly the generated Arrow schemas.
#[test]
fn schema_sql_matches_arrow_schemas() {
    let sql = include_str!("../../sql/demo/schema.sql");
    let mut declared: BTreeMap<String, Vec<(String, DataType, bool)>> = BTreeMap::new();
    let mut current = None;
    for line in sql
        .lines()
        .map(|l| l.split("--").next().unwrap_or("").trim())
    {
        if let Some(rest) = line.strip_prefix("CREATE TABLE shop.") {
            let name = rest.trim_end_matches('(').trim().to_owned();
            declared.insert(name.clone(), Vec::new());
            current = Some(name);
        } else if line.starts_with(')') {
            current = None;
        } else if let (Some(name), false) = (&current, line.is_empty()) {
            let words: Vec<&str> = line.trim_end_matches(',').split_whitespace().collect();
            let ty = match words[1] {
                "BIGINT" => DataType::Int64,
                "INT" => DataType::Int32,
                "DOUBLE" => DataType::Float64,
                "VARCHAR" => DataType::Utf8,
                "DATE" => DataType::Date32,
                "BOOLEAN" => DataType::Boolean,
                "TIMESTAMP" => DataType::Timestamp(TimeUnit::Microsecond, None),
                other => panic!("unexpected type {other}"),
            };
            let nullable = !line.contains("NOT NULL");
            declared
                .get_mut(name)
                .expect("table")
                .push((words[0].to_owned(), ty, nullable));
        }
    }
    assert_eq!(declared.len(), base().len());
    for t in base() {
        let schema = t.batches[0].schema();
        let actual: Vec<_> = schema
            .fields()
            .iter()
            .map(|f| (f.name().clone(), f.data_type().clone(), f.is_nullable()))
            .collect();
        assert_eq!(
            declared.get(t.name),
            Some(&actual),
            "schema.sql vs shop.{}",
            t.name
        );
    }
}
