//! Every SQL function of docs/sql-reference.md, called with generated
//! argument lists against one in-process engine that holds a table
//! (`public.src`), two trained models (`m` regression with versions 1 and
//! 2, `c` classification), a job and an alert rule. The property: each
//! statement answers rows or an error whose SQLSTATE is valid and is not
//! XX000 (a panic or an internal bug), and `SELECT 1` works afterwards.
//!
//! ```text
//! cargo test -p voidx --lib props::sql_functions
//! PROPTEST_CASES=500 cargo test -p voidx --lib props::sql_functions -- --nocapture
//! ```

use std::sync::OnceLock;
use std::time::Duration;

use proptest::prelude::*;

use super::values::{nasty_text, options_text, quote};
use crate::app::App;
use crate::engine::Output;
use crate::error::Result;

/// Cases per function in the default (CI) run.
const CASES: u32 = 40;

/// What one argument position means; each has its plausible values (so the
/// deep paths run) and falls back to any hostile literal.
#[derive(Clone, Copy, Debug)]
enum Slot {
    Model,
    NewModel,
    Table,
    Target,
    Query,
    Column,
    Feature,
    Number,
    Level,
    Name,
    Sql,
    Location,
    Options(&'static [&'static str]),
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    Scalar,
    Aggregate,
    Table,
}

const INGEST: &[&str] = &["mode", "key", "watermark", "schema_mode"];
const TRAIN: &[&str] = &[
    "task",
    "algorithm",
    "objective",
    "n_estimators",
    "learning_rate",
    "max_depth",
    "min_leaf_size",
    "growth",
    "num_leaves",
    "lambda_l1",
    "max_bin",
    "bagging_fraction",
    "feature_fraction",
    "early_stopping_rounds",
    "huber_delta",
    "cv_folds",
    "seed",
    "metric",
    "search",
    "trials",
    "space",
    "ensemble",
    "id_columns",
    "deploy",
];
const ALERT: &[&str] = &[
    "every",
    "cron",
    "repeat",
    "cooldown",
    "webhook",
    "webhook_retries",
    "action",
    "model",
    "retrain",
];
const JOB: &[&str] = &["every", "cron", "retries", "backoff", "timeout"];
const DRIFT: &[&str] = &["psi_warn", "psi_alert"];
const PERFORMANCE: &[&str] = &[
    "label",
    "key",
    "log_key",
    "period",
    "from",
    "to",
    "metric",
    "bootstrap",
    "confidence",
    "seed",
];
const RETRAIN: &[&str] = &["holdout", "column", "fraction", "margin"];
const IMPORT: &[&str] = &["format", "deploy"];
const SHARES: &[&str] = &["1", "2", "3", "0", "-1", " 2", "99999999999999999999"];

/// Every function of the reference, with the shape of its arguments.
const FUNCTIONS: &[(&str, Kind, &[Slot])] = &[
    ("version", Kind::Scalar, &[]),
    ("optimize", Kind::Table, &[Slot::Table]),
    ("table_at", Kind::Table, &[Slot::Table, Slot::Number]),
    ("table_history", Kind::Table, &[Slot::Table]),
    ("vacuum", Kind::Table, &[Slot::Table, Slot::Number]),
    (
        "ingest",
        Kind::Table,
        &[Slot::Target, Slot::Query, Slot::Options(INGEST)],
    ),
    (
        "ab_split",
        Kind::Table,
        &[Slot::Model, Slot::Options(SHARES)],
    ),
    ("deploy", Kind::Table, &[Slot::Model, Slot::Number]),
    ("model_card", Kind::Table, &[Slot::Model, Slot::Number]),
    (
        "import_model",
        Kind::Table,
        &[Slot::NewModel, Slot::Location, Slot::Options(IMPORT)],
    ),
    (
        "predict",
        Kind::Scalar,
        &[Slot::Model, Slot::Feature, Slot::Feature],
    ),
    (
        "predict_interval",
        Kind::Scalar,
        &[Slot::Model, Slot::Feature, Slot::Feature, Slot::Level],
    ),
    ("rollback", Kind::Table, &[Slot::Model]),
    (
        "shap_explain",
        Kind::Scalar,
        &[Slot::Model, Slot::Feature, Slot::Feature],
    ),
    (
        "train",
        Kind::Table,
        &[
            Slot::NewModel,
            Slot::Query,
            Slot::Column,
            Slot::Options(TRAIN),
        ],
    ),
    (
        "create_alert",
        Kind::Table,
        &[Slot::Name, Slot::Sql, Slot::Options(ALERT)],
    ),
    (
        "create_job",
        Kind::Table,
        &[Slot::Name, Slot::Sql, Slot::Options(JOB)],
    ),
    (
        "drift_report",
        Kind::Table,
        &[Slot::Model, Slot::Query, Slot::Options(DRIFT)],
    ),
    (
        "drift_score",
        Kind::Aggregate,
        &[Slot::Model, Slot::Column, Slot::Feature],
    ),
    ("drop_alert", Kind::Table, &[Slot::Name]),
    ("drop_job", Kind::Table, &[Slot::Name]),
    (
        "model_performance",
        Kind::Table,
        &[Slot::Model, Slot::Query, Slot::Options(PERFORMANCE)],
    ),
    (
        "retrain",
        Kind::Table,
        &[Slot::Model, Slot::Options(RETRAIN)],
    ),
    ("run_job", Kind::Table, &[Slot::Name]),
];

fn texts(list: &[&str]) -> BoxedStrategy<String> {
    let quoted: Vec<String> = list.iter().map(|s| quote(s)).collect();
    proptest::sample::select(quoted).boxed()
}

fn raw(list: &[&str]) -> BoxedStrategy<String> {
    let list: Vec<String> = list.iter().map(|s| s.to_string()).collect();
    proptest::sample::select(list).boxed()
}

/// Numbers as SQL spells them, at every edge.
const NUMBERS: &[&str] = &[
    "0",
    "1",
    "2",
    "-1",
    "9223372036854775807",
    "-9223372036854775808",
    "99999999999999999",
    "99999999999999999999",
    "2147483648",
    "1e308",
    "-1e308",
    "1.5",
    "0.9",
    "1.0000001",
    "CAST('NaN' AS DOUBLE)",
    "CAST('Infinity' AS DOUBLE)",
    "CAST('-Infinity' AS DOUBLE)",
    "CAST(NULL AS BIGINT)",
    "NULL",
    "'1'",
    "'abc'",
    "true",
    "x",
];

/// Any hostile literal: a number, a string, NULL, a list, a struct.
fn any_literal() -> BoxedStrategy<String> {
    prop_oneof![
        3 => raw(NUMBERS),
        3 => nasty_text().prop_map(|s| quote(&s)),
        1 => raw(&["NULL", "[1, 2]", "make_array()", "named_struct('x', 1.0)", "CAST(NULL AS VARCHAR)", "x", "y", "current_date"]),
        1 => options_text(&[]).prop_map(|s| quote(&s)),
    ]
    .boxed()
}

fn slot(slot: Slot) -> BoxedStrategy<String> {
    let plausible = match slot {
        Slot::Model => texts(&["m", "c", "m@1", "m@2", "c@1", "m@7", "nomodel", "M"]),
        Slot::NewModel => texts(&["m", "m_new", "c", "bad-name", "voidx", "名前"]),
        Slot::Table => texts(&["public.src", "src", "voidx.models", "public.nope", "a.b.c"]),
        Slot::Target => texts(&[
            "public.dst",
            "raw.dst",
            "voidx.models",
            "pg_catalog.x",
            "dst",
        ]),
        Slot::Query => texts(&[
            "SELECT x, y, target FROM src",
            "SELECT * FROM src",
            "SELECT x, y, label FROM src",
            "SELECT x FROM src WHERE false",
            "SELECT 1 AS x",
            "SELECT x, y, target, customer_id, label FROM src",
            "SELECT 1e308 AS x, CAST('NaN' AS DOUBLE) AS y, CAST('Infinity' AS DOUBLE) AS target",
            "SELECT CAST(NULL AS DOUBLE) AS x, CAST(NULL AS DOUBLE) AS y, CAST(NULL AS DOUBLE) AS target",
            "SELECT x, 'a' AS y, target FROM src",
            "SELECT * FROM nope",
            "SELEC",
            "",
            "SELECT 1; SELECT 2",
            "CREATE TABLE zz AS SELECT 1 AS a",
        ]),
        Slot::Column => texts(&["target", "x", "y", "label", "nope", "", "X"]),
        Slot::Feature => raw(&[
            "x",
            "y",
            "1.5",
            "NULL",
            "CAST('NaN' AS DOUBLE)",
            "1e308",
            "-9223372036854775808",
            "true",
            "'1'",
            "named_struct('x', x, 'y', y)",
            "named_struct('y', 1)",
        ]),
        Slot::Number | Slot::Level => raw(NUMBERS),
        Slot::Name => texts(&["j1", "a1", "j2", "bad name", ""]),
        Slot::Sql => texts(&[
            "SELECT 1",
            "SELECT x FROM src WHERE x > 1000",
            "SELECT * FROM nope",
            "SELECT 1; SELECT 2",
            "",
        ]),
        Slot::Location => texts(&[
            "model.json",
            "/etc/passwd",
            "file:///etc/passwd",
            "http://127.0.0.1:1/x",
            "",
        ]),
        Slot::Options(keys) => options_text(keys).prop_map(|s| quote(&s)).boxed(),
    };
    prop_oneof![3 => plausible, 1 => any_literal()].boxed()
}

/// The argument list: the function's own shape, or (one time in six) a
/// wrong arity of hostile literals.
fn arguments(slots: &'static [Slot]) -> BoxedStrategy<Vec<String>> {
    let shaped: Vec<BoxedStrategy<String>> = slots.iter().map(|s| slot(*s)).collect();
    prop_oneof![
        5 => shaped,
        1 => proptest::collection::vec(any_literal(), 0..7),
    ]
    .boxed()
}

fn statement(name: &str, kind: Kind, args: &[String], over_rows: bool) -> String {
    let call = format!("{name}({})", args.join(", "));
    match kind {
        Kind::Table => format!("SELECT * FROM {call}"),
        Kind::Aggregate => format!("SELECT {call} FROM src"),
        Kind::Scalar if over_rows => format!("SELECT {call} FROM src"),
        Kind::Scalar => format!("SELECT {call}"),
    }
}

pub(super) struct Fixture {
    pub(super) runtime: tokio::runtime::Runtime,
    dir: tempfile::TempDir,
    pub(super) app: App,
}

impl Fixture {
    pub(super) fn data_dir(&self) -> std::path::PathBuf {
        self.dir.path().join("data")
    }
}

const SETUP: &[&str] = &[
    "CREATE TABLE src AS SELECT CAST(value AS DOUBLE) AS x, CAST(value % 7 AS DOUBLE) AS y, \
     CAST(value * 2 + value % 3 AS DOUBLE) AS target, CAST(value % 2 AS DOUBLE) AS label, \
     CAST(value AS VARCHAR) AS customer_id FROM generate_series(1, 80) AS g(value)",
    "SELECT * FROM train('m', 'SELECT x, y, target FROM src', 'target', '{\"cv_folds\": 2, \"n_estimators\": 5}')",
    "SELECT * FROM train('m', 'SELECT x, y, target FROM src', 'target', '{\"cv_folds\": 2, \"n_estimators\": 6, \"deploy\": \"never\"}')",
    "SELECT * FROM train('c', 'SELECT x, y, label FROM src', 'label', '{\"task\": \"classification\", \"cv_folds\": 2, \"n_estimators\": 5}')",
    "SELECT * FROM create_job('j1', 'SELECT 1', '{\"every\": \"1h\"}')",
    "SELECT * FROM create_alert('a1', 'SELECT 1', '{\"every\": \"1h\"}')",
];

/// One engine for every case of every function (opening one per case
/// would dominate the run).
pub(super) fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime");
        let (dir, app) = runtime
            .block_on(crate::cli::scratch_app())
            .expect("a scratch engine");
        // import_model reads files inside the data directory.
        let model = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/udfs/tests/fixtures/models/xgb_reg.json"
        );
        std::fs::copy(model, dir.path().join("data").join("model.json")).expect("copy a model");
        for sql in SETUP {
            runtime
                .block_on(app.engine.execute_sql(sql))
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
        Fixture { runtime, dir, app }
    })
}

/// Runs `sql` to the end of its rows.
async fn run(app: &App, sql: &str) -> Result<usize> {
    let mut rows = 0;
    for stmt in app.engine.parse(sql)? {
        let out = app
            .engine
            .execute(&stmt, None, Some(Duration::from_secs(60)))
            .await?;
        if let Output::Rows(stream) = out {
            let batches: Vec<_> = futures::TryStreamExt::try_collect(stream).await?;
            rows += batches.iter().map(|b| b.num_rows()).sum::<usize>();
        }
    }
    Ok(rows)
}

/// The property, for one statement; returns "ok" or the SQLSTATE, for the
/// tally that shows how deep the cases reached.
fn check(sql: &str) -> String {
    let fixture = fixture();
    let app = &fixture.app;
    let result = fixture.runtime.block_on(run(app, sql));
    let outcome = match &result {
        Ok(_) => "ok".to_string(),
        Err(e) => e.sqlstate().to_string(),
    };
    if let Err(e) = &result {
        let state = e.sqlstate();
        assert!(
            state.len() == 5 && state.bytes().all(|b| b.is_ascii_alphanumeric()),
            "{sql}: SQLSTATE {state:?} is not a SQLSTATE ({e})"
        );
        assert_ne!(state, "XX000", "{sql}: internal error: {e}");
    }
    let alive = fixture.runtime.block_on(run(app, "SELECT 1"));
    assert!(
        matches!(alive, Ok(1)),
        "after {sql}: SELECT 1 gave {alive:?}"
    );
    outcome
}

fn check_function(name: &str) {
    let (name, kind, slots) = *FUNCTIONS
        .iter()
        .find(|(n, _, _)| *n == name)
        .unwrap_or_else(|| panic!("{name} is not in FUNCTIONS"));
    let strategy = (arguments(slots), any::<bool>());
    let tally = std::sync::Mutex::new(std::collections::BTreeMap::<String, usize>::new());
    super::fuzz(
        &format!("sql function {name}"),
        CASES,
        strategy,
        |(args, over_rows)| {
            let outcome = check(&statement(name, kind, &args, over_rows));
            if let Ok(mut tally) = tally.lock() {
                *tally.entry(outcome).or_default() += 1;
            }
        },
    );
    // Shown with --nocapture: how many cases answered rows, and which errors.
    if let Ok(tally) = tally.lock() {
        eprintln!("{name}: {tally:?}");
    }
}

/// Every documented function is in [`FUNCTIONS`], so a new function gets
/// property tests (or this fails).
#[test]
fn every_documented_function_is_covered() {
    let app = &fixture().app;
    let documented: Vec<&str> = app
        .functions
        .iter()
        .flat_map(|(_, docs)| docs.iter().map(|d| d.name))
        .collect();
    for name in &documented {
        assert!(
            FUNCTIONS.iter().any(|(n, _, _)| n == name),
            "{name} has no property test: add it to props::sql_functions::FUNCTIONS"
        );
    }
    assert_eq!(documented.len(), FUNCTIONS.len());
}

macro_rules! property_tests {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                check_function(stringify!($name));
            }
        )*
    };
}

property_tests!(
    version,
    optimize,
    table_at,
    table_history,
    vacuum,
    ingest,
    ab_split,
    deploy,
    model_card,
    import_model,
    predict,
    predict_interval,
    rollback,
    shap_explain,
    train,
    create_alert,
    create_job,
    drift_report,
    drift_score,
    drop_alert,
    drop_job,
    model_performance,
    retrain,
    run_job,
);
