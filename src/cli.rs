//! What the `voidx` subcommands do; `main.rs` only parses arguments.

use std::sync::Arc;
use std::time::Duration;

use crate::app::App;
use crate::config::Config;
use crate::engine::Engine;
use crate::error::{Result, VoidxError};
use crate::serve::{http, pg};

/// `voidx serve`: both front ends until SIGINT or SIGTERM.
pub async fn serve(config: &Config, demo: bool) -> Result<()> {
    let app = App::open(config).await?;
    let engine = Arc::clone(&app.engine);
    if demo && engine.catalog.objects().is_empty() {
        write_demo(&engine, 1, 42).await?;
    }
    let pg_server = pg::PgServer::bind(config, Arc::clone(&engine)).await?;
    let http_listener = http::bind(config).await?;
    let http_state = http::state(config, &app).await?;
    let pg_addr = pg_server.local_addr()?;
    let http_addr = http_listener.local_addr()?;
    let user = config
        .users
        .keys()
        .next()
        .map(String::as_str)
        .unwrap_or(pg::DEFAULT_USER);
    println!(
        "VOIDX {} serving {}",
        env!("CARGO_PKG_VERSION"),
        config.data_dir
    );
    println!(
        "PostgreSQL wire on {pg_addr}{}: psql -h {} -p {} -U {user} {}",
        if pg_server.tls_enabled() {
            " (TLS)"
        } else {
            ""
        },
        pg_addr.ip(),
        pg_addr.port(),
        config.catalog
    );
    println!(
        "HTTP on http://{http_addr} (dashboard at /, POST /predict, GET /docs, /health, /metrics)"
    );
    if !config.auth_enabled() {
        println!(
            "no users configured: user '{}' connects without a password, on loopback only. Add [users] to require SCRAM passwords",
            pg::DEFAULT_USER
        );
    }
    // Jobs and alert rules run only in a serving process, never in `voidx sql`.
    let scheduler = config
        .monitor
        .scheduler
        .then(|| app.monitor.start_scheduler());
    // Other servers' DDL over a shared data directory (docs/scale.md).
    let refresh = (config.storage.refresh_ms > 0)
        .then(|| app.start_refresh(Duration::from_millis(config.storage.refresh_ms)));
    let pg_task = tokio::spawn(pg_server.run());
    let http_task = tokio::spawn(http::run(http_listener, Arc::clone(&http_state)));
    shutdown_signal().await;
    println!("shutting down");
    pg_task.abort();
    http_task.abort();
    for task in [scheduler, refresh].into_iter().flatten() {
        task.abort();
    }
    // Queued prediction-log entries are written before the process ends.
    if let Some(log) = &http_state.log {
        log.shutdown().await;
    }
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}

/// `voidx demo`: the demo data set as managed tables in schema `shop`, the
/// feature views (`features.customer_revenue`, 11 hand-written features, and
/// `features.customer_revenue_v2`, 83 features compiled from `dbt/`) and the
/// model `revenue_predictor` trained on the latter.
pub async fn write_demo(engine: &Engine, scale: u32, seed: u64) -> Result<()> {
    let started = std::time::Instant::now();
    let tables = crate::demo::generate(scale, seed)?;
    for table in tables {
        let schema =
            table.batches.first().map(|b| b.schema()).ok_or_else(|| {
                VoidxError::Internal(format!("demo table {} is empty", table.name))
            })?;
        let rows: usize = table.batches.iter().map(|b| b.num_rows()).sum();
        engine
            .create_table_with_data("shop", table.name, schema, table.batches)
            .await?;
        println!("shop.{:<18} {rows:>9} rows", table.name);
    }
    println!(
        "demo data (scale {scale}, seed {seed}) written in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    engine
        .execute_comments(crate::demo::TABLE_COMMENTS_SQL)
        .await?;
    // The demo model: its feature views, then one training (about three seconds).
    engine.execute_sql(DEMO_FEATURES).await?;
    engine.execute_sql(crate::demo::FEATURE_VIEWS_SQL).await?;
    engine
        .execute_comments(crate::demo::FEATURE_COMMENTS_SQL)
        .await?;
    let trained = engine.execute_sql(DEMO_TRAIN).await?;
    if let Some((_, batches, _)) = trained.first() {
        println!("{}", arrow::util::pretty::pretty_format_batches(batches)?);
    }
    // The business-metric views the dashboard's pages read (docs/dashboard.md).
    for sql in MONITORING_VIEWS {
        engine.execute_sql(sql).await?;
    }
    Ok(())
}

/// sql/monitoring, in file order (what sql/monitoring/load.sh loads).
pub const MONITORING_VIEWS: [&str; 5] = [
    include_str!("../sql/monitoring/01_daily_revenue.sql"),
    include_str!("../sql/monitoring/02_predictions_daily.sql"),
    include_str!("../sql/monitoring/03_latency.sql"),
    include_str!("../sql/monitoring/04_job_success.sql"),
    include_str!("../sql/monitoring/90_drift_daily.needs_drift_score.sql"),
];

/// The 11-feature view the demo started with, kept as the comparison point of the
/// model card (docs/models.md) and for hand-written `predict(...)` calls.
pub const DEMO_FEATURES: &str = include_str!("../sql/features/customer_revenue.sql");

pub const DEMO_TRAIN: &str = "SELECT name, version, rows, features, metric, round(cv_mean, 1) AS cv_rmse, \
     round(baseline, 1) AS baseline_rmse, round(improvement, 3) AS improvement, stage \
     FROM train('revenue_predictor', 'SELECT * FROM features.customer_revenue_v2', 'revenue_next_90d', \
     '{\"id_columns\": [\"customer_id\"], \"cv_folds\": 5}')";

/// `voidx sql`: run statements, print each result like psql does. Long
/// work shows its progress on stderr: a bar on a terminal, `NOTICE:` lines
/// (as psql prints them) otherwise.
pub async fn run_sql(engine: &Engine, sql: &str) -> Result<()> {
    let (progress, notes) = crate::progress::channel();
    let shown = tokio::spawn(show_progress(notes));
    let results = crate::progress::scope(progress, engine.execute_sql(sql)).await;
    // The scope's end closed the channel, so this ends once the notes are out.
    let _ = shown.await;
    for (schema, batches, tag) in results? {
        match schema {
            Some(schema) => {
                let table = if batches.is_empty() {
                    arrow::util::pretty::pretty_format_batches(&[
                        arrow::array::RecordBatch::new_empty(schema),
                    ])?
                } else {
                    arrow::util::pretty::pretty_format_batches(&batches)?
                };
                println!("{table}");
                let rows = tag.rows.unwrap_or(0);
                println!("({rows} row{})", if rows == 1 { "" } else { "s" });
            }
            None => match tag.rows {
                Some(rows) if tag.tag == "INSERT" => println!("INSERT 0 {rows}"),
                Some(rows) => println!("{} {rows}", tag.tag),
                None => println!("{}", tag.tag),
            },
        }
    }
    Ok(())
}

async fn show_progress(mut notes: tokio::sync::mpsc::UnboundedReceiver<crate::progress::Note>) {
    use std::io::IsTerminal;
    if !std::io::stderr().is_terminal() {
        while let Some(note) = notes.recv().await {
            eprintln!("NOTICE:  {}", note.message);
        }
        return;
    }
    let bar = indicatif::ProgressBar::new_spinner();
    let style = indicatif::ProgressStyle::with_template("{spinner} [{bar:30}] {pos}/{len} {msg}")
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> ");
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    while let Some(note) = notes.recv().await {
        if let Some((done, total)) = note.step {
            bar.set_style(style.clone());
            bar.set_length(total);
            bar.set_position(done);
        }
        // Lines without a step (started, committed …) stay on screen.
        if note.step.is_none() {
            bar.println(format!("NOTICE:  {}", note.message));
        }
        bar.set_message(note.message);
    }
    bar.finish_and_clear();
}

/// psql's variable interpolation, so pipeline files run the same in
/// `voidx sql -v k=v -f f.sql` and `psql -v k=v -f f.sql`: `:'k'` becomes a
/// string literal, `:"k"` an identifier. An unset variable is an error.
pub fn substitute_vars(sql: &str, vars: &[String]) -> Result<String> {
    let mut values = std::collections::HashMap::new();
    for v in vars {
        let (k, val) = v
            .split_once('=')
            .ok_or_else(|| VoidxError::InvalidArgument(format!("-v {v}: use NAME=VALUE")))?;
        values.insert(k.trim().to_string(), val.to_string());
    }
    let chars: Vec<char> = sql.chars().collect();
    let mut out = String::with_capacity(sql.len());
    let mut i = 0;
    // Copies chars[i..] up to and including the first `close` (or the end).
    let copy_until = |out: &mut String, i: &mut usize, close: &str| {
        let close: Vec<char> = close.chars().collect();
        while *i < chars.len() {
            if chars[*i..].starts_with(&close) {
                out.extend(&close);
                *i += close.len();
                return;
            }
            out.push(chars[*i]);
            *i += 1;
        }
    };
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        match (c, next) {
            // Text inside literals, identifiers and comments is never touched (as in psql).
            ('\'', _) => {
                out.push(c);
                i += 1;
                copy_until(&mut out, &mut i, "'");
            }
            ('"', _) => {
                out.push(c);
                i += 1;
                copy_until(&mut out, &mut i, "\"");
            }
            ('-', Some('-')) => copy_until(&mut out, &mut i, "\n"),
            ('/', Some('*')) => {
                out.push_str("/*");
                i += 2;
                copy_until(&mut out, &mut i, "*/");
            }
            (':', Some(quote @ ('\'' | '"'))) => {
                let body: String = chars[i + 2..].iter().collect();
                let name: String = body
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() && body[name.len()..].starts_with(quote) {
                    let value = values.get(&name).ok_or_else(|| {
                        VoidxError::InvalidArgument(format!(
                            "the SQL uses :{quote}{name}{quote} but no value was given. Help: add -v {name}=…"
                        ))
                    })?;
                    out.push(quote);
                    out.push_str(&value.replace(quote, &format!("{quote}{quote}")));
                    out.push(quote);
                    i += 2 + name.chars().count() + 1;
                } else {
                    out.push(':');
                    i += 1;
                }
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    Ok(out)
}

/// The SQL function reference, generated from the list of functions the
/// server registers (each carries its own documentation).
pub fn sql_reference(app: &App) -> String {
    let mut out = String::from(
        "# SQL function reference\n\nGenerated by `voidx docs` from the documentation each function carries; \
         a test fails when this file is stale. Statements (DDL, DML) are described in docs/sql.md.\n\n",
    );
    for (title, docs) in &app.functions {
        let mut docs = docs.clone();
        docs.sort_by_key(|d| d.name);
        out.push_str(&format!("## {title}\n\n"));
        for d in docs {
            out.push_str(&d.to_markdown());
        }
    }
    out
}

/// `voidx docs data-dictionary`: the dictionary of `schemas` (every schema
/// when empty), offline on the data directory, as `data_dictionary()` prints it.
pub async fn data_dictionary(app: &App, schemas: &[String]) -> Result<String> {
    use crate::storage::dictionary::{ModelUses, render};
    let engine = &app.engine;
    render(
        &engine.resolver,
        &engine.system,
        &app.registry.model_uses(),
        schemas,
    )
    .await
}

/// A server over a throwaway data directory, for commands that only need
/// the function list (`voidx docs`).
pub async fn scratch_app() -> Result<(tempfile::TempDir, App)> {
    let dir = tempfile::tempdir()
        .map_err(|e| VoidxError::Internal(format!("cannot create a temporary directory: {e}")))?;
    let config = crate::config::Config {
        data_dir: dir.path().join("data").display().to_string(),
        ..crate::config::Config::default()
    };
    let app = App::open(&config).await?;
    Ok((dir, app))
}

#[cfg(test)]
mod tests {
    #[test]
    fn psql_variables() {
        let vars = vec!["url=http://x/a?b='c'".to_string(), "t=My T".to_string()];
        assert_eq!(
            super::substitute_vars("SELECT :'url', 1::int, ':''not', :\"t\"", &vars).unwrap(),
            "SELECT 'http://x/a?b=''c''', 1::int, ':''not', \"My T\""
        );
        assert!(super::substitute_vars("SELECT :'missing'", &vars).is_err());
        // Literals, identifiers and comments are left alone, like psql does.
        let json = r#"SELECT * FROM ingest('t', 'q', '{"key":"id"}') -- :'x'"#;
        assert_eq!(super::substitute_vars(json, &[]).unwrap(), json);
    }

    #[tokio::test]
    async fn sql_reference_is_current() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/sql-reference.md");
        let (_dir, app) = super::scratch_app().await.unwrap();
        let generated = super::sql_reference(&app);
        if std::env::var_os("VOIDX_UPDATE_DOCS").is_some() {
            std::fs::write(path, &generated).expect("write docs/sql-reference.md");
        }
        let on_disk = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            on_disk == generated,
            "docs/sql-reference.md is stale: run `cargo run -- docs > docs/sql-reference.md`"
        );
    }
}
