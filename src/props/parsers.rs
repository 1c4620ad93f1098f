//! Fuzz targets for the parsers a statement or request reaches, on stable:
//! each is fed arbitrary text and structured near-misses, and must return
//! (Ok or an error), never panic. `VOIDX_FUZZ_SECS=n` runs each for `n`
//! more seconds with random seeds.
//!
//! ```text
//! VOIDX_FUZZ_SECS=300 cargo test -p voidx --lib props::parsers -- --nocapture --test-threads 1
//! ```

use std::collections::HashMap;
use std::path::Path;

use axum::http::{HeaderMap, HeaderValue, header::RETRY_AFTER};
use proptest::prelude::*;
use serde_json::Value;
use voidx_udfs::ml::import::{ModelFormat, import_model};
use voidx_udfs::ml::options::TrainOptions;
use voidx_udfs::ml::shap::{ShapScratch, explain_row};

use super::fuzz;
use super::values::{
    INGEST, MONITOR, PERFORMANCE, SHARES, TRAIN, json_value, nasty_number, nasty_text, options_text,
};
use crate::config::IngestConfig;
use crate::ingest::sources::http::{HeaderSpec, parse_retry_after};
use crate::ingest::sources::jsonpath::JsonPath;
use crate::monitor::schedule::{Schedule, parse_duration_ms};
use crate::policy::Policy;
use crate::policy::location::{Location, Root};

const CASES: u32 = 512;

#[test]
fn ingest_options() {
    fuzz("ingest options", CASES, options_text(INGEST), |text| {
        let _ = crate::ingest::load::options::IngestOptions::parse(&text);
    });
}

#[test]
fn train_options() {
    fuzz("train options", CASES, options_text(TRAIN), |text| {
        let _ = TrainOptions::parse(&text);
    });
}

/// Milliseconds since the epoch, at the edges as often as in between.
fn instant() -> BoxedStrategy<i64> {
    prop_oneof![
        1 => any::<i64>(),
        1 => proptest::sample::select(vec![i64::MIN, i64::MAX, i64::MAX - 1, -1, 0, 1_767_225_600_000]),
        1 => (0i64..1_000_000_000_000_000).prop_map(|d| i64::MAX - d),
    ]
    .boxed()
}

#[test]
fn monitor_options_and_schedules() {
    let strategy = (options_text(MONITOR), nasty_text(), instant(), instant());
    fuzz("schedules", CASES, strategy, |(options, text, t, now)| {
        if let Ok(value) = crate::monitor::parse_options(&options, "fuzz", "{}")
            && let Ok(schedule) = Schedule::from_options(&value, "fuzz")
        {
            let _ = schedule.next_after(t);
            let _ = schedule.due(t, now);
            let _ = schedule.interval_ms(t);
            let _ = Schedule::parse_described(&schedule.describe());
        }
        let _ = parse_duration_ms(&text);
        let _ = Schedule::every(&text).map(|s| s.next_after(t));
        let _ = Schedule::cron(&text).map(|s| s.due(t, now));
        let _ = Schedule::parse_described(&text);
        for key in ["every", "repeat", "backoff"] {
            if let Ok(v) = serde_json::from_str::<Value>(&options) {
                let _ = crate::monitor::schedule::duration_option(&v, key, Some(1000));
            }
        }
    });
}

#[test]
fn model_performance_options() {
    fuzz(
        "model_performance options",
        CASES,
        options_text(PERFORMANCE),
        |text| {
            let _ = crate::monitor::performance::Options::parse(&text);
        },
    );
}

#[test]
fn ab_split_shares() {
    fuzz("ab_split shares", CASES, options_text(SHARES), |text| {
        let _ = crate::model::registry::parse_shares(&text);
    });
}

#[test]
fn json_paths() {
    let strategy = (
        prop_oneof![
            2 => nasty_text(),
            2 => "[$.\\[\\]'\"a-z0-9*?@ -]{0,24}",
        ],
        json_value(&["a", "data", "items", "next", "0"]),
    );
    fuzz("json paths", CASES, strategy, |(path, value)| {
        if let Ok(path) = JsonPath::parse(&path) {
            let _ = path.select(&value);
            let _ = JsonPath::parse(path.as_str());
        }
    });
}

#[test]
fn rest_source_records() {
    let records = proptest::collection::vec(json_value(&["id", "a", "b", "nested", "ts"]), 0..8);
    fuzz("REST records", CASES, records, |records| {
        if let Ok(schema) = crate::ingest::sources::rest::infer_schema(&records) {
            let _ = crate::ingest::sources::rest::decode(&std::sync::Arc::new(schema), &records);
        }
    });
}

#[test]
fn rest_source_options() {
    let keys = vec![
        "records",
        "next_page",
        "next_url",
        "page_param",
        "page_size",
        "max_pages",
        "max_rows",
        "header.authorization",
        "header.x",
        "header.",
        "filter.a",
        "method",
        "body",
        "retries",
    ];
    let option = (
        proptest::sample::select(keys).prop_map(String::from),
        nasty_text(),
    );
    let strategy = (
        nasty_text(),
        proptest::collection::vec(option, 0..5),
        proptest::sample::select(vec![
            "http://127.0.0.1:1/x",
            "https://shop.example/api?a=1",
            "ftp://x",
            "http://[::1]:8080/",
        ]),
    );
    let dir = tempfile::tempdir().expect("a temporary directory");
    let policy = Policy::permissive_for_tests(&[dir.path()]);
    fuzz(
        "REST options",
        CASES,
        strategy,
        |(location, options, good)| {
            let options: HashMap<String, String> = options.into_iter().collect();
            let _ = crate::ingest::sources::rest::RestOptions::parse(&location, &options, &policy);
            let _ = crate::ingest::sources::rest::RestOptions::parse(good, &options, &policy);
        },
    );
}

#[test]
fn http_headers() {
    let strategy = (nasty_text(), nasty_text(), any::<Vec<u8>>());
    fuzz("HTTP headers", CASES, strategy, |(name, value, bytes)| {
        let _ = HeaderSpec::parse("header.x", &name, &value);
        for raw in [value.as_bytes(), &bytes] {
            if let Ok(v) = HeaderValue::from_bytes(raw) {
                let mut headers = HeaderMap::new();
                headers.insert(RETRY_AFTER, v);
                let _ = parse_retry_after(&headers);
            }
        }
    });
}

#[test]
fn numbers_in_sources() {
    let digits = "-?[0-9]{0,45}(\\.[0-9]{0,45})?";
    let strategy = (
        prop_oneof![nasty_text(), digits.prop_map(String::from)],
        any::<i8>(),
    );
    fuzz("decimals and cells", CASES, strategy, |(text, scale)| {
        let _ = crate::ingest::sources::postgres::parse_decimal(&text, scale);
        let _ = crate::ingest::sources::html::parse_number(&text);
    });
}

#[test]
fn locations_and_allowlists() {
    let rules = proptest::collection::vec(nasty_text(), 0..4);
    let strategy = (nasty_text(), rules.clone(), rules);
    fuzz("locations", CASES, strategy, |(location, hosts, dirs)| {
        let _ = Location::parse(&location);
        let _ = Root::parse(&location);
        let config = IngestConfig {
            allowed_hosts: hosts,
            allowed_dirs: dirs.clone(),
            allowed_export_dirs: dirs,
            ..IngestConfig::default()
        };
        let policy = Policy::new(&config, Path::new("/nonexistent-voidx-data"));
        let _ = policy.check_location(&location);
        let _ = policy.check_export(&location);
        let _ = policy.check_url_str(&location);
    });
}

/// A real model file with some of its numbers (node indices, feature ids,
/// counts, thresholds) replaced by extremes: the importer must refuse it
/// or produce a forest that predicts and explains without panicking.
fn mutate_json(value: &mut Value, picks: &[(u16, Value)], counter: &mut u16) {
    match value {
        Value::Array(items) => items
            .iter_mut()
            .for_each(|v| mutate_json(v, picks, counter)),
        Value::Object(map) => map
            .values_mut()
            .for_each(|v| mutate_json(v, picks, counter)),
        Value::Number(_) | Value::String(_) => {
            *counter = counter.wrapping_add(1);
            if let Some((_, new)) = picks.iter().find(|(at, _)| *at == *counter) {
                *value = new.clone();
            }
        }
        _ => {}
    }
}

fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/udfs/tests/fixtures/models/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn exercise(format: ModelFormat, bytes: &[u8]) {
    if let Ok(imported) = import_model(format, bytes) {
        let forest = &imported.forest;
        let n = forest.n_features();
        for value in [0.0, f64::NAN, 1e308, -1e308] {
            let row = vec![value; n];
            let columns: Vec<&[f64]> = row.iter().map(std::slice::from_ref).collect();
            let mut out = [0.0];
            forest.predict(&columns, &mut out);
            let mut phi = vec![0.0; n];
            explain_row(forest, &row, &mut phi, &mut ShapScratch::new(forest));
        }
    }
}

#[test]
fn imported_model_files() {
    let xgb: Value = serde_json::from_slice(&fixture("xgb_reg.json")).expect("fixture JSON");
    let lgb = String::from_utf8(fixture("lgb_reg.txt")).expect("fixture text");
    let lgb_lines = lgb.lines().count().max(1);
    let picks = proptest::collection::vec(
        (
            1u16..4000,
            prop_oneof![nasty_number(), nasty_text().prop_map(Value::String)],
        ),
        1..6,
    );
    let lines = proptest::collection::vec((0..lgb_lines, nasty_text()), 1..4);
    let strategy = (picks, lines, any::<Vec<u8>>());
    fuzz("model import", 128, strategy, |(picks, lines, bytes)| {
        let mut model = xgb.clone();
        mutate_json(&mut model, &picks, &mut 0);
        exercise(ModelFormat::XGBoost, model.to_string().as_bytes());
        // LightGBM: replace the value of a few `key=value` lines.
        let mut text: Vec<String> = lgb.lines().map(String::from).collect();
        for (at, new) in &lines {
            if let Some(line) = text.get_mut(*at) {
                let key = line.split_once('=').map(|(k, _)| k.to_string());
                *line = match key {
                    Some(k) => format!("{k}={new}"),
                    None => new.clone(),
                };
            }
        }
        exercise(ModelFormat::LightGBM, text.join("\n").as_bytes());
        exercise(ModelFormat::XGBoost, &bytes);
        exercise(ModelFormat::LightGBM, &bytes);
    });
}
