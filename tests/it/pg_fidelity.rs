//! PostgreSQL output fidelity, seen through real clients: unnamed result
//! columns named as PostgreSQL names them (`count`, `?column?`, `int4`),
//! date/time/interval/numeric text exactly as PostgreSQL prints it, and
//! `numeric(p,s)` type modifiers in RowDescription (psycopg's
//! `cursor.description`), in text and binary results alike.

use std::process::Command;

use crate::common::{Server, exec, psql, psql_run, require_python};

/// psql's unaligned output (`-A`, fields split by `|`) of `sql`: the header
/// line and the rows.
fn psql_unaligned(server: &Server, sql: &str) -> Vec<String> {
    let (stdout, stderr, ok) = psql_run(server, &["-A", "-P", "footer=off"], sql);
    assert!(
        ok && !stderr.contains("ERROR"),
        "psql {sql}: {stderr}\n{}",
        server.log_text()
    );
    stdout.lines().map(str::to_string).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psql_sees_postgresql_names_and_text() {
    let (_tmp, server) = Server::start_temp(&[]);
    let c = server.client().await;
    exec(
        &c,
        "CREATE TABLE orders (id BIGINT, amount DECIMAL(10,2), placed TIMESTAMP);
         INSERT INTO orders VALUES (1, 1.5, TIMESTAMP '2024-01-01 00:00:00'),
                                   (2, 20, TIMESTAMP '2024-01-01 08:30:00.25');
         CREATE VIEW order_stats AS SELECT count(*), max(amount) FROM orders",
    )
    .await;
    // Names: FigureColname's, duplicates allowed, aliases untouched.
    let lines = psql_unaligned(
        &server,
        "SELECT count(*), count(id), 1, round(sum(amount), 1), max(o.placed)::text, \
         1::int, CASE WHEN true THEN 1 END, now() IS NOT NULL AS fresh FROM orders o",
    );
    assert_eq!(
        lines[0], "count|count|?column?|round|max|int4|case|fresh",
        "{lines:?}"
    );
    // Text: no `.000000`, fractions trimmed, numeric at its scale.
    let lines = psql_unaligned(
        &server,
        "SELECT id, amount, placed, CAST(placed AS DATE), placed - TIMESTAMP '2023-12-31 06:00:00' \
         FROM orders ORDER BY id",
    );
    assert_eq!(
        lines,
        [
            "id|amount|placed|placed|?column?",
            "1|1.50|2024-01-01 00:00:00|2024-01-01|18:00:00",
            "2|20.00|2024-01-01 08:30:00.25|2024-01-01|1 day 02:30:00.25",
        ]
    );
    let lines = psql_unaligned(
        &server,
        "SELECT INTERVAL '1 day 2 hours', INTERVAL '-1 day', TIME '12:30:00', \
         CAST('12345678901234567890123456789012345' AS DECIMAL(38,2)) AS wide",
    );
    assert_eq!(
        lines,
        [
            "interval|interval|time|wide",
            "1 day 02:00:00|-1 days|12:30:00|12345678901234567890123456789012345.00",
        ]
    );
    // timestamptz carries PostgreSQL's offset once the session has a zone.
    let lines = psql_unaligned(
        &server,
        "SET TIME ZONE 'UTC'; SELECT CAST('2024-06-01 12:00:00+02' AS TIMESTAMPTZ) AS t",
    );
    assert_eq!(
        lines.last().map(String::as_str),
        Some("2024-06-01 10:00:00+00"),
        "{lines:?}"
    );
    // A view keeps PostgreSQL's names for its unnamed columns.
    let lines = psql_unaligned(&server, "SELECT * FROM order_stats");
    assert_eq!(lines, ["count|max", "2|20.00"]);
}

/// psycopg 3 over the extended protocol (Describe, then Bind/Execute), in
/// text and binary: the same names, values and type modifiers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psycopg_sees_the_same_in_text_and_binary() {
    let python = require_python();
    let (_tmp, server) = Server::start_temp(&[]);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/fidelity.py");
    let port = server.pg_port.to_string();
    let out =
        tokio::task::spawn_blocking(move || Command::new(python).arg(script).arg(port).output())
            .await
            .unwrap()
            .expect("run python");
    assert!(
        out.status.success(),
        "fidelity.py failed:\n{}\n{}\n--- server log ---\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        server.log_text()
    );
}

/// The row of `column` in psql's table output, split into trimmed cells.
fn row_of(output: &str, column: &str) -> Vec<String> {
    output
        .lines()
        .map(|l| {
            l.split('|')
                .map(|c| c.trim().to_string())
                .collect::<Vec<_>>()
        })
        .find(|cells| cells.first().map(String::as_str) == Some(column))
        .unwrap_or_else(|| panic!("no row {column} in:\n{output}"))
}

/// `\d`, `\d+` (tables and views), `\dv`, `\dn+`, `\l` and `\df` of the
/// psql on this machine show the real objects.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psql_describes_tables_views_schemas_and_functions() {
    let (_tmp, server) = Server::start_temp(&[]);
    let c = server.client().await;
    exec(
        &c,
        "CREATE SCHEMA shop;
         CREATE TABLE shop.orders (order_id BIGINT NOT NULL, amount DOUBLE, placed TIMESTAMP);
         CREATE VIEW shop.daily AS SELECT CAST(placed AS DATE) AS day, count(*) FROM shop.orders GROUP BY 1;
         COMMENT ON COLUMN shop.orders.amount IS 'Order value in USD'",
    )
    .await;
    let d = psql(&server, "\\d shop.orders");
    assert_eq!(row_of(&d, "order_id")[1], "bigint", "{d}");
    assert_eq!(row_of(&d, "order_id")[3], "not null", "{d}");
    let d_plus = psql(&server, "\\d+ shop.orders");
    assert!(d_plus.contains("Table \"shop.orders\""), "{d_plus}");
    let amount = row_of(&d_plus, "amount");
    assert_eq!(amount[1], "double precision", "{d_plus}");
    assert_eq!(
        amount.last().map(String::as_str),
        Some("Order value in USD"),
        "{d_plus}"
    );
    assert_eq!(row_of(&d_plus, "placed")[1], "timestamp without time zone");
    let view = psql(&server, "\\d+ shop.daily");
    assert_eq!(row_of(&view, "count")[1], "bigint", "{view}");
    assert_eq!(row_of(&view, "day")[1], "date", "{view}");
    assert!(
        view.contains("View definition:") && view.contains("FROM shop.orders"),
        "{view}"
    );
    let dv = psql(&server, "\\dv shop.*");
    assert_eq!(row_of(&dv, "shop")[1..3], ["daily", "view"], "{dv}");
    let dn = psql(&server, "\\dn+");
    assert_eq!(row_of(&dn, "shop")[1], "postgres", "{dn}");
    let l = psql(&server, "\\l");
    assert_eq!(row_of(&l, "voidx")[2], "UTF-8", "{l}");
    let df = psql(&server, "\\df predict");
    assert_eq!(row_of(&df, "public")[1], "predict", "{df}");
}
