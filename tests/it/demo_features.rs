//! `serve --demo` builds the dbt-defined feature layer (sql/features/customer_revenue_v2.sql,
//! compiled from dbt/) and trains `revenue_predictor` on it, without dbt or Python.

use crate::common::{Server, query_text};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_trains_revenue_predictor_on_the_dbt_feature_layer() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start_with(&tmp.path().join("data"), &["--demo"], &[]);
    let client = server.client().await;

    let rows = query_text(
        &client,
        "SELECT count(*), count(DISTINCT customer_id) FROM features.customer_revenue_v2",
    )
    .await;
    assert_eq!(
        rows,
        [["8181", "8181"]],
        "one row per customer before the cutoff"
    );

    // The first eleven features keep the meaning (and values) of the hand-written view.
    let differing = query_text(
        &client,
        "SELECT count(*) FROM features.customer_revenue_v2 v \
         FULL JOIN features.customer_revenue o ON o.customer_id = v.customer_id \
         WHERE (o.customer_id IS NULL) OR (v.customer_id IS NULL) \
            OR (o.tenure_days IS DISTINCT FROM v.tenure_days) \
            OR (o.recency_days IS DISTINCT FROM v.recency_days) \
            OR (o.frequency <> v.frequency) OR (abs(o.monetary - v.monetary) > 1e-6) \
            OR (o.avg_order_value IS DISTINCT FROM v.avg_order_value) \
            OR (abs(o.monetary_90d - v.monetary_90d) > 1e-6) OR (o.returns <> v.returns) \
            OR (o.clicks <> v.clicks) OR (o.clicks_90d <> v.clicks_90d) \
            OR (o.age IS DISTINCT FROM v.age) OR (o.is_newsletter <> v.is_newsletter) \
            OR (abs(o.revenue_next_90d - v.revenue_next_90d) > 1e-6)",
    )
    .await;
    assert_eq!(differing, [["0"]]);

    let model = query_text(
        &client,
        "SELECT features, cv_mean < baseline FROM voidx.models \
         WHERE name = 'revenue_predictor' AND version = 1",
    )
    .await;
    assert_eq!(model.len(), 1, "{}", server.log_text());
    let features: Vec<String> = serde_json::from_str(&model[0][0]).unwrap();
    assert_eq!(features.len(), 83, "{features:?}");
    for f in [
        "monetary_90d",
        "spend_slope_12m",
        "share_office",
        "spend_fx_corr",
        "ctr",
    ] {
        assert!(features.iter().any(|x| x == f), "{f} missing: {features:?}");
    }
    assert_eq!(model[0][1], "t", "the model beats the mean predictor");
}
