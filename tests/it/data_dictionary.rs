//! The data dictionary generated from the catalog: `data_dictionary()` in
//! SQL, `GET /v1/docs/data-dictionary` and `voidx docs data-dictionary`
//! (offline) give the same markdown with the `COMMENT ON` texts, types,
//! NOT NULL and CHECK constraints; REST asks for the dashboard's
//! credential; and docs/data-dictionary.md is what `serve --demo` produces.

use std::path::Path;
use std::process::Command;

use crate::common::{Http, ROOT_AND_ANALYST, Server, basic, exec, query_text, refused, voidx_bin};

/// `voidx <args>` without the caller's `VOIDX_*` variables (the config reads
/// them; `VOIDX_UPDATE_DOCS` is the test's, not the server's).
fn voidx(args: &[&str]) -> Command {
    let mut cmd = Command::new(voidx_bin());
    cmd.args(args).env("RUST_LOG", "warn");
    for (k, _) in std::env::vars() {
        if k.starts_with("VOIDX_") {
            cmd.env_remove(k);
        }
    }
    cmd
}

/// `voidx docs data-dictionary --data-dir data <args>`'s standard output.
fn cli_dictionary(data: &Path, args: &[&str]) -> String {
    let out = voidx(&["docs", "data-dictionary", "--data-dir"])
        .arg(data)
        .args(args)
        .output()
        .expect("run voidx docs data-dictionary");
    assert!(
        out.status.success(),
        "voidx docs data-dictionary {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

async fn markdown(c: &tokio_postgres::Client, sql: &str) -> String {
    let rows = query_text(c, sql).await;
    assert_eq!(rows.len(), 1, "{sql}: one row");
    rows[0][0].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dictionary_shows_comments_in_sql_rest_and_cli() {
    let mut env = vec![
        ("VOIDX_SERVE__API_KEYS", "full-key-0001"),
        ("VOIDX_SERVE__KEYS__BI__KEY", "bi-key-0001"),
        ("VOIDX_SERVE__KEYS__BI__MODELS", "revenue_predictor"),
        ("VOIDX_USERS__rita__PASSWORD", "reader password"),
        ("VOIDX_USERS__rita__ROLE", "reader"),
    ];
    env.extend(ROOT_AND_ANALYST);
    let (tmp, mut server) = Server::start_temp(&env);
    let root = server.client_as("root", "root password").await;
    exec(
        &root,
        "CREATE SCHEMA sales;
         CREATE TABLE sales.orders (order_id BIGINT NOT NULL, amount DOUBLE, status VARCHAR);
         INSERT INTO sales.orders VALUES (1, 10.5, 'completed'), (2, 99.0, 'returned');
         ALTER TABLE sales.orders ADD CONSTRAINT amount_ok CHECK (amount >= 0);
         CREATE VIEW sales.big AS SELECT order_id, amount FROM sales.orders WHERE amount > 50;
         COMMENT ON TABLE sales.orders IS 'One order. Amounts in USD';
         COMMENT ON COLUMN sales.orders.status IS 'completed | returned';
         COMMENT ON VIEW sales.big IS 'Orders over 50 USD';
         COMMENT ON SCHEMA sales IS 'What the shop sold';
         CREATE TEMPORARY TABLE scratch_rows AS SELECT 1 AS x",
    )
    .await;

    // A reader sees what the catalog lists; temporary tables are no part of it.
    let rita = server.client_as("rita", "reader password").await;
    let all = markdown(&rita, "SELECT markdown FROM data_dictionary()").await;
    for expected in [
        "# Data dictionary",
        "| [`sales`](#schema-sales) | 1 table, 1 view | What the shop sold |",
        "## Schema `sales`\n\nWhat the shop sold\n",
        "| [`sales.orders`](#salesorders) | table | 2 | One order. |",
        "### `sales.orders`\n\nOne order. Amounts in USD\n\ntable · 2 rows\n",
        "| 1 | `order_id` | bigint | yes |  |",
        "| 2 | `amount` | double precision |  |  |",
        "| 3 | `status` | text |  | completed \\| returned |",
        "* `amount_ok`: `CHECK (amount >= 0)`",
        "### `sales.big`\n\nOrders over 50 USD\n\nview\n",
        "<details><summary>Definition</summary>",
        "WHERE\n  amount > 50\n```",
        "## System tables (`voidx`)",
        "* `voidx.models`: name text, version bigint",
    ] {
        assert!(all.contains(expected), "missing {expected:?} in\n{all}");
    }
    assert!(!all.contains("scratch_rows"), "{all}");
    let own = markdown(&root, "SELECT markdown FROM data_dictionary()").await;
    assert_eq!(own, all, "every login sees the same dictionary");
    let sales = markdown(&rita, "SELECT markdown FROM data_dictionary('sales')").await;
    assert!(sales.contains("### `sales.orders`") && !sales.contains("System tables"));
    let system = markdown(&rita, "SELECT markdown FROM data_dictionary('voidx')").await;
    assert!(system.contains("### `voidx.models`") && !system.contains("sales.orders"));
    refused(&rita, "SELECT * FROM data_dictionary('nope')", "3F000").await;
    refused(&rita, "COMMENT ON SCHEMA sales IS 'x'", "42501").await;
    refused(&root, "COMMENT ON SCHEMA nope IS 'x'", "3F000").await;
    refused(&rita, "SELECT * FROM data_dictionary(1)", "22023").await;

    // REST: the dashboard's credential; the answer is the SQL's.
    let http = Http::new(&server);
    let url = format!("{}/v1/docs/data-dictionary", http.base);
    let get = |query: &str, auth: Option<String>| {
        let mut request = http.client.get(format!("{url}{query}"));
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        request.send()
    };
    for auth in [None, Some(basic("rita", "wrong password"))] {
        let response = get("", auth).await.unwrap();
        assert_eq!(response.status(), 401);
        assert!(!response.text().await.unwrap().contains("sales.orders"));
    }
    let response = get("", Some("Bearer bi-key-0001".into())).await.unwrap();
    assert_eq!(
        response.status(),
        403,
        "a key limited to models fails closed"
    );
    assert!(!response.text().await.unwrap().contains("sales.orders"));
    for auth in [
        basic("rita", "reader password"),
        "Bearer full-key-0001".to_string(),
    ] {
        let response = get("", Some(auth)).await.unwrap();
        assert_eq!(response.status(), 200);
        let content_type = response.headers()["content-type"].to_str().unwrap();
        assert!(content_type.starts_with("text/markdown"), "{content_type}");
        assert_eq!(response.text().await.unwrap(), all);
    }
    let response = get("?schema=sales", Some(basic("rita", "reader password")))
        .await
        .unwrap();
    assert_eq!(response.text().await.unwrap(), sales);
    let (status, body) = http
        .send(
            http.client
                .get(format!("{url}?schema=nope"))
                .header("authorization", basic("rita", "reader password")),
        )
        .await;
    assert_eq!((status, body["code"].as_str()), (404, Some("not_found")));

    // Offline, on the data directory: the same page.
    drop((root, rita));
    server.stop();
    let data = tmp.path().join("data");
    assert_eq!(cli_dictionary(&data, &[]), all);
    let file = tmp.path().join("sales.md");
    let printed = cli_dictionary(
        &data,
        &["--schema", "sales", "--out", file.to_str().unwrap()],
    );
    assert!(printed.is_empty(), "{printed}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), sales);
}

/// docs/data-dictionary.md is the dictionary of `serve --demo` (`voidx
/// demo` writes the same data set, scale 1 and seed 42, and trains the same
/// model), and every demo table, feature view and their columns carry a
/// comment. `VOIDX_UPDATE_DOCS=1` rewrites the page.
#[test]
fn committed_data_dictionary_is_the_demos() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let out = voidx(&["demo", "--data-dir"])
        .arg(&data)
        .output()
        .expect("run voidx demo");
    assert!(
        out.status.success(),
        "voidx demo: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let generated = cli_dictionary(&data, &[]);
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/data-dictionary.md");
    if std::env::var_os("VOIDX_UPDATE_DOCS").is_some() {
        std::fs::write(path, &generated).expect("write docs/data-dictionary.md");
    }
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/data-dictionary.md is stale (a COMMENT ON in sql/demo or sql/features, or the \
         generator, changed): run `VOIDX_UPDATE_DOCS=1 cargo test --test it \
         committed_data_dictionary_is_the_demos` to refresh it"
    );

    // Every relation of shop and features is described, and every column.
    let mut relation = String::new();
    for line in generated.lines() {
        if let Some(name) = line.strip_prefix("### `") {
            relation = name.trim_end_matches('`').to_string();
        }
        if line.starts_with("## ") {
            relation.clear();
        }
        if !(relation.starts_with("shop.") || relation.starts_with("features.")) {
            continue;
        }
        assert!(
            !line.starts_with("_No description yet"),
            "{relation} has no COMMENT ON"
        );
        let cells: Vec<&str> = line.split(" | ").collect();
        if line.starts_with("| ") && cells.len() >= 5 && cells[0] != "| #" && cells[0] != "|---:" {
            assert!(
                !cells[4].trim().trim_end_matches('|').trim().is_empty(),
                "{relation}: column {} has no COMMENT ON COLUMN",
                cells[1]
            );
        }
    }
}
