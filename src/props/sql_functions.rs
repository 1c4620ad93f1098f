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

use super::values::{
    ALERT, DRIFT, IMPORT, INGEST, JOB, Opt, PERFORMANCE, RETRAIN, SHARES, TRAIN, nasty_text,
    options_text, quote, valid_options_text,
};
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
    /// A job for `run_job`: mostly `kept`, which no other case drops.
    Job,
    Sql,
    Location,
    /// A schema name for `data_dictionary`.
    Schema,
    Options(&'static [Opt]),
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    Scalar,
    Aggregate,
    Table,
}

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
        "data_dictionary",
        Kind::Table,
        &[Slot::Schema, Slot::Schema],
    ),
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
    ("run_job", Kind::Table, &[Slot::Job]),
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
        // The cases of every function share one engine and run in parallel:
        // `drop_job` drops j1 and `create_job` replaces it, so `run_job('j1')`
        // mostly found no job (22023 then, 42704 now). `kept` is never
        // dropped or replaced, so run_job's own path runs.
        Slot::Job => texts(&["kept", "kept", "kept", "j1", "nojob"]),
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
        Slot::Schema => texts(&["public", "voidx", "PUBLIC", "nope", "", "a.b"]),
        Slot::Options(keys) => options_text(keys).prop_map(|s| quote(&s)).boxed(),
    };
    prop_oneof![3 => plausible, 1 => any_literal()].boxed()
}

/// A valid value for a slot, coherent across slots (the query has the
/// target column, the model exists, the name is free), so a call made of
/// them runs the function's own code.
fn valid(slot: Slot) -> BoxedStrategy<String> {
    match slot {
        Slot::Model => texts(&["m"]),
        Slot::NewModel => texts(&["m_new"]),
        Slot::Table => texts(&["public.src"]),
        Slot::Target => texts(&["public.dst"]),
        Slot::Query => texts(&["SELECT x, y, target FROM src"]),
        Slot::Column => texts(&["target"]),
        Slot::Feature => raw(&["x", "y"]),
        Slot::Number => raw(&["1", "0"]),
        Slot::Level => raw(&["0.9"]),
        Slot::Name => texts(&["n1", "n2"]),
        Slot::Job => texts(&["kept"]),
        Slot::Sql => texts(&["SELECT 1"]),
        Slot::Location => texts(&["model.json"]),
        Slot::Schema => texts(&["public"]),
        Slot::Options(options) => valid_options_text(options).prop_map(|s| quote(&s)).boxed(),
    }
}

/// The argument list: valid arguments with at most one of them replaced
/// by a generated one (so a case reaches past argument checking and the
/// one change is what is tested); or every argument generated in the
/// function's shape; or (one time in eight) a wrong arity of hostile
/// literals.
fn arguments(slots: &'static [Slot]) -> BoxedStrategy<Vec<String>> {
    let shaped: Vec<BoxedStrategy<String>> = slots.iter().map(|s| slot(*s)).collect();
    let valid_args: Vec<BoxedStrategy<String>> = slots.iter().map(|s| valid(*s)).collect();
    let generated: Vec<BoxedStrategy<String>> = slots.iter().map(|s| slot(*s)).collect();
    let position = proptest::option::weighted(0.6, 0..slots.len().max(1));
    let one_change = (valid_args, generated, position).prop_map(|(mut args, generated, at)| {
        if let Some(i) = at
            && let Some(value) = generated.get(i)
        {
            args[i] = value.clone();
        }
        args
    });
    prop_oneof![
        4 => one_change,
        3 => shaped,
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
    // The valid ingest calls' target, so its columns are the valid query's.
    "SELECT * FROM ingest('public.dst', 'SELECT x, y, target FROM src', '{}')",
    "SELECT * FROM create_job('j1', 'SELECT 1', '{\"every\": \"1h\"}')",
    "SELECT * FROM create_job('kept', 'SELECT x FROM src', '{\"every\": \"1h\", \"retries\": 1, \"backoff\": \"1ms\"}')",
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

/// The property, for one statement; returns "ok" or the SQLSTATE, and the
/// error, for the tally that shows how deep the cases reached.
fn check(sql: &str) -> (String, String) {
    let fixture = fixture();
    let app = &fixture.app;
    let result = fixture.runtime.block_on(run(app, sql));
    let outcome = match &result {
        Ok(_) => ("ok".to_string(), String::new()),
        Err(e) => (e.sqlstate().to_string(), e.to_string()),
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
    // Outcome → (cases, the first statement and error), shown with --nocapture.
    type Tally = std::collections::BTreeMap<String, (usize, String)>;
    let tally = std::sync::Mutex::new(Tally::new());
    super::fuzz(
        &format!("sql function {name}"),
        CASES,
        strategy,
        |(args, over_rows)| {
            let sql = statement(name, kind, &args, over_rows);
            let (outcome, error) = check(&sql);
            if let Ok(mut tally) = tally.lock() {
                let entry = tally
                    .entry(outcome)
                    .or_insert_with(|| (0, format!("{sql} → {error}")));
                entry.0 += 1;
            }
        },
    );
    // Shown with --nocapture: how many cases answered rows, and which errors.
    if let Ok(tally) = tally.lock() {
        let counts: Vec<String> = tally.iter().map(|(k, v)| format!("{k}: {}", v.0)).collect();
        eprintln!("{name}: {}", counts.join(", "));
        if std::env::var_os("VOIDX_PROPS_EXAMPLES").is_some() {
            for (outcome, (_, example)) in tally.iter() {
                let example: String = example.chars().take(400).collect();
                eprintln!("  {outcome}: {example}");
            }
        }
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
    data_dictionary,
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
