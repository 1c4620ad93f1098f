//! The generated inputs the property and fuzz tests share: hostile text,
//! extreme numbers, JSON values and option objects, SQL literals.
//!
//! ```text
//! options_text(&["mode", "key"]) → '{"mode": NaN-ish, "key": [[[…]]]}', '{', '[]', …
//! ```

use proptest::prelude::*;
use serde_json::{Map, Number, Value};

/// Text that has broken parsers elsewhere: empty, whitespace, numbers out
/// of range, NaN and infinities spelled out, unicode, quotes, NUL, very
/// long names; then arbitrary strings.
pub fn nasty_text() -> BoxedStrategy<String> {
    let fixed: Vec<String> = [
        "",
        " ",
        "\t\n",
        "0",
        "-1",
        "1",
        "2",
        "NaN",
        "nan",
        "Infinity",
        "-Infinity",
        "inf",
        "1e308",
        "-1e308",
        "1e309",
        "4.9e-324",
        "9223372036854775807",
        "-9223372036854775808",
        "9223372036854775808",
        "18446744073709551616",
        "340282366920938463463374607431768211456",
        "99999999999999999999999999999999999999999",
        "0.5",
        "-0.0",
        ".",
        "-",
        "-.",
        "1.",
        ".5",
        "1..2",
        "5m",
        "99999999999999999d",
        "1e400ms",
        "0.0000001ms",
        "名前",
        "ß\u{0301}\u{200b}",
        "🦀🦀",
        "\u{feff}x",
        "a\0b",
        "'",
        "''",
        "\"",
        "\\",
        "$",
        "$.",
        "$[",
        "$['",
        "$[99999999999999999999]",
        "$[-1]",
        "@",
        "m@",
        "@1",
        "m@-1",
        "m@0",
        "m@99999999999999999999",
        "m@1@2",
        "*",
        "*.",
        "/",
        "//",
        "../..",
        "/tmp/../etc/passwd",
        "file://",
        "file:///",
        "file://host/x",
        "s3://",
        "s3://b/../x",
        "http://",
        "http://[::1",
        "http://127.0.0.1:99999/",
        "http://a:b@c/",
        "postgres://",
        "10.0.0.0/99",
        "::1/200",
        "[::1]:0",
        "host:",
        "host:65536",
        "1,234.5",
        "(1,234)",
        "−5%",
        "$ 1 234,5 €",
        "((((1))))",
        ")(",
        "[1]†‡§*",
        "0 * * * *",
        "* * * * * * * *",
        "60 25 32 13 8",
        "{",
        "}",
        "[]",
        "{}",
        "null",
        // Words the options understand, so option values reach past
        // the first check.
        "append",
        "merge",
        "overwrite",
        "strict",
        "evolve",
        "ignore",
        "x",
        "y",
        "target",
        "label",
        "customer_id",
        "request_id",
        "regression",
        "classification",
        "hist",
        "gbdt",
        "ensemble",
        "leafwise",
        "depthwise",
        "log",
        "huber",
        "log_loss",
        "rmse",
        "auc",
        "auto",
        "force",
        "never",
        "day",
        "week",
        "xgboost",
        "lightgbm",
        "retrain",
        "5m",
        "1h",
        "100ms",
        "2026-01-01",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    prop_oneof![
        4 => proptest::sample::select(fixed),
        2 => any::<String>(),
        1 => "[a-z_]{1,12}",
        1 => "[ -~]{0,40}",
        1 => (1usize..4, proptest::sample::select(vec!["a", "é", "名", "'", "9", " "]))
            .prop_map(|(k, s)| s.repeat(k * 3000)),
    ]
    .boxed()
}

/// JSON numbers at the edges (and in the middle) of every numeric type.
pub fn nasty_number() -> BoxedStrategy<Value> {
    let fixed: Vec<Value> = vec![
        Value::from(0),
        Value::from(1),
        Value::from(2),
        Value::from(3),
        Value::from(-1),
        Value::from(i64::MIN),
        Value::from(i64::MAX),
        Value::from(u64::MAX),
        Value::from(i32::MAX),
        Value::from(i32::MIN),
        Value::from(u32::MAX),
        Value::from(0.5),
        Value::from(-0.0),
        Value::from(1e308),
        Value::from(-1e308),
        Value::from(5e-324),
        Value::from(1e-300),
        Value::from(0.999_999_999),
        Value::from(1.000_000_1),
    ];
    prop_oneof![
        4 => proptest::sample::select(fixed),
        1 => any::<i64>().prop_map(Value::from),
        1 => any::<f64>().prop_map(|f| Number::from_f64(f).map_or(Value::Null, Value::Number)),
    ]
    .boxed()
}

/// A JSON leaf: null, booleans, nasty numbers and nasty strings.
fn leaf() -> BoxedStrategy<Value> {
    prop_oneof![
        1 => Just(Value::Null),
        1 => any::<bool>().prop_map(Value::Bool),
        4 => nasty_number(),
        3 => nasty_text().prop_map(Value::String),
    ]
    .boxed()
}

/// Any JSON value up to a few levels deep; object keys come from `keys`
/// (so known options get nonsense values) or are arbitrary.
pub fn json_value(keys: &'static [&'static str]) -> BoxedStrategy<Value> {
    leaf()
        .prop_recursive(3, 24, 6, move |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                proptest::collection::vec((key(keys), inner), 0..6)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
            ]
        })
        .boxed()
}

fn key(keys: &'static [&'static str]) -> BoxedStrategy<String> {
    if keys.is_empty() {
        return nasty_text();
    }
    prop_oneof![
        4 => proptest::sample::select(keys.to_vec()).prop_map(String::from),
        1 => nasty_text(),
    ]
    .boxed()
}

/// JSON nested `depth` levels (serde_json stops at 128; the engine must
/// say so, not overflow its stack).
fn deep(depth: usize, object: bool) -> String {
    if object {
        format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth))
    } else {
        format!("{}{}", "[".repeat(depth), "]".repeat(depth))
    }
}

/// An options argument: mostly an object of known keys with generated
/// values, else invalid JSON, JSON that is not an object, deep nesting or
/// a huge object.
pub fn options_text(keys: &'static [&'static str]) -> BoxedStrategy<String> {
    let invalid: Vec<String> = [
        "",
        " ",
        "{",
        "}",
        "{]",
        "[]",
        "null",
        "1",
        "\"x\"",
        "{\"a\":}",
        "{\"a\" 1}",
        "{'a': 1}",
        "{\"a\": NaN}",
        "{\"a\": Infinity}",
        "{\"a\": 1e999}",
        "{\"a\": -1e999}",
        "{\"a\": 1,}",
        "{\"\u{0}\": 1}",
        "{\"a\": \"\\ud800\"}",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    let object = proptest::collection::vec((key(keys), json_value(keys)), 0..5)
        .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>()).to_string());
    prop_oneof![
        8 => object,
        2 => proptest::sample::select(invalid),
        1 => (1usize..4000, any::<bool>()).prop_map(|(d, o)| deep(d, o)),
        1 => (1usize..3000).prop_map(|n| {
            let map: Map<String, Value> = (0..n).map(|i| (format!("k{i}"), Value::from(i))).collect();
            Value::Object(map).to_string()
        }),
        1 => json_value(keys).prop_map(|v| v.to_string()),
    ]
    .boxed()
}

/// A single-quoted SQL string literal of `text`.
pub fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}
