//! Model cards generated from the registry: `model_card(...)` in SQL,
//! `GET /v1/models/{name}/card`, and `voidx docs model-card`, all the same
//! markdown, with the training data's Delta version and comment, one row per
//! CV fold, and a 404 for an unknown model.

use std::process::Command;

use crate::common::{DEMO_TARGET, Server, demo_table, exec, query_text, train_sql, voidx_bin};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn model_card_comes_from_the_registry_in_sql_rest_and_cli() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut server = Server::start(&data);
    let c = server.client().await;
    exec(&c, &demo_table(300)).await;
    exec(
        &c,
        "COMMENT ON TABLE d IS 'Synthetic rows for the card test'",
    )
    .await;
    let query = format!("SELECT id, x1, x2, {DEMO_TARGET} AS y FROM d");
    exec(
        &c,
        &train_sql("m", &query, "y", r#"{"id_columns": ["id"], "cv_folds": 4}"#),
    )
    .await;
    let rows = query_text(&c, "SELECT name, version, card FROM model_card('m')").await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0][..2], ["m".to_string(), "1".to_string()]);
    let card = rows[0][2].clone();
    for section in [
        "# Model card: `m` version 1",
        "## Model details",
        "## Intended use",
        "## Training data",
        "## Features",
        "## Metrics",
        "## Errors by segment",
        "## Interval coverage",
        "## Drift reference",
        "## Caveats",
        "Synthetic rows for the card test",
        "| `public.d` | 0 |",
        "| `x1` |",
    ] {
        assert!(card.contains(section), "missing {section:?} in\n{card}");
    }
    let folds = card
        .lines()
        .skip_while(|l| !l.starts_with("| fold"))
        .skip(2)
        .take_while(|l| l.starts_with("| "))
        .count();
    assert_eq!(folds, 4, "{card}");
    // Errors by segment, out of fold: per feature, its slices hold every
    // training row once, and each has the model's and the baseline's score.
    let segment_rows: Vec<Vec<String>> = card
        .lines()
        .skip_while(|l| !l.starts_with("| feature | slice |"))
        .skip(2)
        .take_while(|l| l.starts_with("| "))
        .map(|l| {
            l.trim_matches('|')
                .split('|')
                .map(|c| c.trim().to_string())
                .collect()
        })
        .collect();
    assert!(!segment_rows.is_empty(), "no segment table in\n{card}");
    for feature in ["x1", "x2"] {
        let rows: usize = segment_rows
            .iter()
            .filter(|r| r[0] == feature)
            .map(|r| r[2].parse::<usize>().unwrap())
            .sum();
        assert_eq!(rows, 300, "{feature} in\n{card}");
    }
    assert!(
        segment_rows
            .iter()
            .all(|r| r[3].parse::<f64>().is_ok() && r[4].parse::<f64>().is_ok()),
        "{segment_rows:?}"
    );

    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{}", server.http_port);
    let response = http
        .get(format!("{base}/v1/models/m/card?version=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/markdown")
    );
    let rest_card = response.text().await.unwrap();
    let response = http
        .get(format!("{base}/v1/models/nope/card"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let body: serde_json::Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
    assert_eq!(body["code"], "model_not_found", "{body}");

    drop(c);
    server.stop();
    let out = Command::new(voidx_bin())
        .args(["docs", "model-card", "m", "--version", "1", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cli_card = String::from_utf8_lossy(&out.stdout).to_string();
    // The current-version column reads the table now; nothing changed, so all agree.
    assert_eq!(rest_card, card);
    assert_eq!(cli_card, card);
}
