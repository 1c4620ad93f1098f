//! The generated inputs the property and fuzz tests share: hostile text,
//! extreme numbers, JSON values, SQL literals, and option objects built
//! from the one list of each function's options ([`INGEST`], [`TRAIN`], …).
//!
//! ```text
//! options_text(INGEST) → '{"mode": "merge", "key": "x"}',
//!                        '{"mode": "merge", "key": 1e308}' (valid, then one mutation),
//!                        '{"mode": [[…]]}', '{', '[]', …
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
pub fn json_value(keys: &[&'static str]) -> BoxedStrategy<Value> {
    let keys = keys.to_vec();
    leaf()
        .prop_recursive(3, 24, 6, move |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                proptest::collection::vec((key(&keys), inner), 0..6)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
            ]
        })
        .boxed()
}

fn key(keys: &[&'static str]) -> BoxedStrategy<String> {
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

/// An options argument. Most of the time a *valid* object of `options` (known
/// keys, values of the right type and range), then at most one mutation
/// (a value replaced by a hostile one, a key dropped or an unknown one
/// added), so most calls get past the first 22023 and reach the code
/// behind it; otherwise an object of known keys with hostile values,
/// invalid JSON, JSON that is not an object, deep nesting or a huge object.
pub fn options_text(options: &'static [Opt]) -> BoxedStrategy<String> {
    let keys = names(options);
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
    let object = proptest::collection::vec((key(&keys), json_value(&keys)), 0..5)
        .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>()).to_string());
    let valid = (valid_object(options), mutation(&keys)).prop_map(|(mut map, change)| {
        change.apply(&mut map);
        Value::Object(map).to_string()
    });
    prop_oneof![
        12 => valid,
        4 => object,
        2 => proptest::sample::select(invalid),
        1 => (1usize..4000, any::<bool>()).prop_map(|(d, o)| deep(d, o)),
        1 => (1usize..3000).prop_map(|n| {
            let map: Map<String, Value> = (0..n).map(|i| (format!("k{i}"), Value::from(i))).collect();
            Value::Object(map).to_string()
        }),
        1 => json_value(&keys).prop_map(|v| v.to_string()),
    ]
    .boxed()
}

/// A valid object of `options` as JSON text, without a mutation: the
/// options argument of a call whose arguments are all valid.
pub fn valid_options_text(options: &'static [Opt]) -> BoxedStrategy<String> {
    valid_object(options)
        .prop_map(|map| Value::Object(map).to_string())
        .boxed()
}

/// What a known option holds.
#[derive(Clone, Copy, Debug)]
pub enum Holds {
    /// One of these strings.
    Word(&'static [&'static str]),
    /// An integer in `lo..=hi`.
    Int(i64, i64),
    /// A number in `lo..=hi`.
    Float(f64, f64),
    /// One of these JSON texts (lists, nested objects, special forms).
    Json(&'static [&'static str]),
    /// An object of these options.
    Object(&'static [Opt]),
}

/// A known option of a function: its key, what it holds, and whether a
/// valid call needs it.
#[derive(Clone, Copy, Debug)]
pub struct Opt {
    pub key: &'static str,
    pub holds: Holds,
    pub required: bool,
}

/// An optional option.
pub const fn opt(key: &'static str, holds: Holds) -> Opt {
    Opt {
        key,
        holds,
        required: false,
    }
}

/// An option a valid call must have.
pub const fn must(key: &'static str, holds: Holds) -> Opt {
    Opt {
        key,
        holds,
        required: true,
    }
}

/// The keys of `options`.
pub fn names(options: &[Opt]) -> Vec<&'static str> {
    options.iter().map(|o| o.key).collect()
}

fn valid_value(holds: Holds) -> BoxedStrategy<Value> {
    match holds {
        Holds::Word(words) => proptest::sample::select(words.to_vec())
            .prop_map(|w| Value::String(w.to_string()))
            .boxed(),
        Holds::Int(lo, hi) => (lo..=hi).prop_map(Value::from).boxed(),
        Holds::Float(lo, hi) => (lo..=hi)
            .prop_map(|f| Value::from((f * 1000.0).round() / 1000.0))
            .boxed(),
        Holds::Json(texts) => proptest::sample::select(texts.to_vec())
            .prop_map(|t| serde_json::from_str(t).unwrap_or(Value::Null))
            .boxed(),
        Holds::Object(options) => valid_object(options).prop_map(Value::Object).boxed(),
    }
}

/// An object of the required `options` and up to two optional ones, every
/// value valid on its own. Few keys, because options constrain each other
/// (a classification `task` and an `rmse` metric): with many, nearly every
/// object broke some combination and stopped at the first check again.
fn valid_object(options: &'static [Opt]) -> BoxedStrategy<Map<String, Value>> {
    let entry = |o: &'static Opt| {
        valid_value(o.holds)
            .prop_map(move |v| (o.key.to_string(), v))
            .boxed()
    };
    let required: Vec<BoxedStrategy<(String, Value)>> =
        options.iter().filter(|o| o.required).map(entry).collect();
    let optional: Vec<&'static Opt> = options.iter().filter(|o| !o.required).collect();
    let chosen = proptest::sample::subsequence(optional.clone(), 0..=optional.len().min(2))
        .prop_flat_map(move |picked| picked.into_iter().map(entry).collect::<Vec<_>>());
    (required, chosen)
        .prop_map(|(required, chosen)| required.into_iter().chain(chosen).collect::<Map<_, _>>())
        .boxed()
}

/// At most one change to a valid object.
#[derive(Clone, Debug)]
enum Mutation {
    None,
    Set(String, Value),
    Remove(String),
}

impl Mutation {
    fn apply(self, map: &mut Map<String, Value>) {
        match self {
            Mutation::None => {}
            Mutation::Set(key, value) => {
                map.insert(key, value);
            }
            Mutation::Remove(key) => {
                map.remove(&key);
            }
        }
    }
}

fn mutation(keys: &[&'static str]) -> BoxedStrategy<Mutation> {
    if keys.is_empty() {
        return (nasty_text(), leaf())
            .prop_map(|(k, v)| Mutation::Set(k, v))
            .boxed();
    }
    let known = proptest::sample::select(keys.to_vec()).prop_map(String::from);
    prop_oneof![
        3 => Just(Mutation::None),
        2 => (known.clone(), leaf()).prop_map(|(k, v)| Mutation::Set(k, v)),
        1 => (known.clone(), json_value(keys)).prop_map(|(k, v)| Mutation::Set(k, v)),
        1 => known.prop_map(Mutation::Remove),
        1 => (nasty_text(), leaf()).prop_map(|(k, v)| Mutation::Set(k, v)),
    ]
    .boxed()
}

const DURATIONS: &[&str] = &["1h", "5m", "30s", "1d", "100ms"];
const CRONS: &[&str] = &["0 * * * *", "*/5 * * * *", "30 2 * * 1"];

/// `ingest` options.
pub const INGEST: &[Opt] = &[
    opt("mode", Holds::Word(&["append", "merge", "overwrite"])),
    opt(
        "key",
        Holds::Json(&["\"x\"", "[\"x\", \"y\"]", "\"customer_id\""]),
    ),
    opt("watermark", Holds::Word(&["x", "y", "customer_id"])),
    opt("schema_mode", Holds::Word(&["strict", "evolve", "ignore"])),
];

/// `train` options. Sizes stay small (trees, folds, trials) so a valid
/// call trains in milliseconds on the fixture's 80 rows.
pub const TRAIN: &[Opt] = &[
    opt("task", Holds::Word(&["regression", "classification"])),
    opt("algorithm", Holds::Word(&["hist", "gbdt", "ensemble"])),
    opt(
        "objective",
        Holds::Word(&["squared_error", "absolute_error", "huber", "log_loss"]),
    ),
    opt("n_estimators", Holds::Int(1, 8)),
    opt("learning_rate", Holds::Float(0.01, 1.0)),
    opt("max_depth", Holds::Int(-1, 6)),
    opt("min_leaf_size", Holds::Int(1, 30)),
    opt("min_data_in_leaf", Holds::Int(1, 30)),
    opt("growth", Holds::Word(&["leafwise", "depthwise"])),
    opt("num_leaves", Holds::Int(2, 31)),
    opt("lambda_l1", Holds::Float(0.0, 10.0)),
    opt("lambda_l2", Holds::Float(0.0, 10.0)),
    opt("min_sum_hessian", Holds::Float(0.0, 1.0)),
    opt("max_bin", Holds::Int(2, 255)),
    opt("bagging_fraction", Holds::Float(0.1, 1.0)),
    opt("feature_fraction", Holds::Float(0.1, 1.0)),
    opt("early_stopping_rounds", Holds::Int(1, 5)),
    opt("huber_delta", Holds::Float(0.1, 5.0)),
    opt("cv_folds", Holds::Json(&["0", "2", "3"])),
    opt("seed", Holds::Int(0, 1000)),
    opt(
        "metric",
        Holds::Word(&["rmse", "mae", "r2", "log_loss", "auc", "accuracy"]),
    ),
    opt(
        "search",
        Holds::Json(&[
            "{\"trials\": 2}",
            "{\"trials\": 2, \"space\": {\"max_depth\": {\"choices\": [2, 3]}}}",
        ]),
    ),
    opt(
        "ensemble",
        Holds::Json(&["[{\"max_depth\": 2}, {\"n_estimators\": 3}]"]),
    ),
    opt("id_columns", Holds::Json(&["[\"customer_id\"]", "[]"])),
    opt("deploy", Holds::Word(&["auto", "force", "never"])),
];

/// `create_alert` options.
pub const ALERT: &[Opt] = &[
    must("every", Holds::Word(DURATIONS)),
    opt("cron", Holds::Word(CRONS)),
    opt("repeat", Holds::Word(DURATIONS)),
    opt("cooldown", Holds::Word(DURATIONS)),
    opt("webhook", Holds::Word(&["http://127.0.0.1:1/hook"])),
    opt("webhook_retries", Holds::Int(0, 3)),
    opt("action", Holds::Word(&["retrain"])),
    opt("model", Holds::Word(&["m", "c"])),
    opt("retrain", Holds::Object(RETRAIN)),
];

/// `create_job` options. Backoffs are short: `run_job` waits them out.
pub const JOB: &[Opt] = &[
    must("every", Holds::Word(DURATIONS)),
    opt("cron", Holds::Word(CRONS)),
    opt("retries", Holds::Int(0, 2)),
    opt("backoff", Holds::Word(&["1ms", "10ms"])),
    opt("timeout", Holds::Word(&["5m", "1s"])),
];

/// The schedule parser's options: those of alerts and jobs together.
pub const MONITOR: &[Opt] = &[
    opt("every", Holds::Word(DURATIONS)),
    opt("cron", Holds::Word(CRONS)),
    opt("repeat", Holds::Word(DURATIONS)),
    opt("cooldown", Holds::Word(DURATIONS)),
    opt("retries", Holds::Int(0, 2)),
    opt("backoff", Holds::Word(&["1ms", "10ms"])),
    opt("timeout", Holds::Word(&["5m", "1s"])),
    opt("webhook", Holds::Word(&["http://127.0.0.1:1/hook"])),
    opt("webhook_retries", Holds::Int(0, 3)),
    opt("action", Holds::Word(&["retrain"])),
    opt("model", Holds::Word(&["m", "c"])),
];

/// `drift_report` options.
pub const DRIFT: &[Opt] = &[
    opt("psi_warn", Holds::Float(0.01, 0.2)),
    opt("psi_alert", Holds::Float(0.2, 1.0)),
];

/// `model_performance` options. `bootstrap` stays small (cost).
pub const PERFORMANCE: &[Opt] = &[
    must("label", Holds::Word(&["label", "target", "y"])),
    opt("key", Holds::Word(&["customer_id", "x"])),
    opt("log_key", Holds::Word(&["customer_id", "request_id"])),
    opt("period", Holds::Word(&["day", "week"])),
    opt("from", Holds::Word(&["2026-01-01T00:00:00Z", "2026-01-01"])),
    opt("to", Holds::Word(&["2030-01-01T00:00:00Z"])),
    opt(
        "metric",
        Holds::Word(&["rmse", "mae", "mape", "auc", "log_loss", "accuracy"]),
    ),
    opt("bootstrap", Holds::Int(0, 50)),
    opt("confidence", Holds::Float(0.5, 0.99)),
    opt("seed", Holds::Int(0, 100)),
];

/// `retrain` options (also an alert's `retrain`).
pub const RETRAIN: &[Opt] = &[
    must("holdout", Holds::Object(HOLDOUT)),
    opt("margin", Holds::Float(0.0, 0.1)),
];

const HOLDOUT: &[Opt] = &[
    must("column", Holds::Word(&["x", "y", "customer_id"])),
    opt("fraction", Holds::Float(0.05, 0.5)),
];

/// `import_model` options.
pub const IMPORT: &[Opt] = &[
    opt("format", Holds::Word(&["xgboost", "lightgbm"])),
    opt("deploy", Holds::Word(&["auto", "force", "never"])),
];

/// `ab_split` shares: version → fraction of traffic (pairs that add up
/// to 1 one time in three; the fixture's model `m` has versions 1 and 2).
pub const SHARES: &[Opt] = &[
    must("1", Holds::Json(&["0.9", "0.5", "1"])),
    must("2", Holds::Json(&["0.1", "0.5", "0"])),
    opt("3", Holds::Float(0.0, 1.0)),
];

/// A single-quoted SQL string literal of `text`.
pub fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}
