//! `COMMENT ON TABLE | VIEW | COLUMN`: stored in the catalog (survives a
//! restart, follows a rename, goes with DROP), shown by `pg_description`,
//! `obj_description`, `col_description` and psql `\dt+` / `\dv+`, and allowed
//! only to a role that may alter the relation.

use crate::common::{ROOT_AND_ANALYST, Server, exec, psql, query_text, refused};

/// `(objsubid, description)` of `relname`'s comments in pg_description.
async fn descriptions(c: &tokio_postgres::Client, relname: &str) -> Vec<Vec<String>> {
    query_text(
        c,
        &format!(
            "SELECT CAST(d.objsubid AS INT), d.description FROM pg_catalog.pg_description d \
             JOIN pg_catalog.pg_class c ON c.oid = d.objoid \
             WHERE c.relname = '{relname}' ORDER BY 1"
        ),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn comments_are_stored_shown_renamed_and_dropped() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut server = Server::start(&data);
    let c = server.client().await;
    exec(
        &c,
        "CREATE SCHEMA shop;
         CREATE TABLE shop.orders (order_id BIGINT, amount DOUBLE, status VARCHAR);
         CREATE VIEW shop.big AS SELECT * FROM shop.orders WHERE amount > 100;
         COMMENT ON TABLE shop.orders IS 'One order; amounts in USD';
         COMMENT ON COLUMN shop.orders.status IS 'completed, returned or cancelled';
         COMMENT ON COLUMN shop.orders.amount IS 'Order value';
         COMMENT ON VIEW shop.big IS 'Orders over 100 USD'",
    )
    .await;
    let expected = vec![
        vec!["0".to_string(), "One order; amounts in USD".to_string()],
        vec!["2".to_string(), "Order value".to_string()],
        vec![
            "3".to_string(),
            "completed, returned or cancelled".to_string(),
        ],
    ];
    assert_eq!(descriptions(&c, "orders").await, expected);
    let functions = query_text(
        &c,
        "SELECT obj_description(c.oid, 'pg_class'), col_description(c.oid, 3), \
         col_description(c.oid, 1) FROM pg_catalog.pg_class c WHERE c.relname = 'big'",
    )
    .await;
    assert_eq!(
        functions,
        vec![vec![
            "Orders over 100 USD".to_string(),
            "NULL".to_string(),
            "NULL".to_string()
        ]]
    );

    // Wrong object kind, unknown column, unknown relation.
    refused(&c, "COMMENT ON TABLE shop.big IS 'x'", "42809").await;
    refused(&c, "COMMENT ON COLUMN shop.orders.nope IS 'x'", "42703").await;
    refused(&c, "COMMENT ON TABLE shop.nope IS 'x'", "42P01").await;

    // psql shows them in \dt+ and \dv+ (and \d+, tests/it/pg_fidelity.rs).
    let dt = psql(&server, "\\dt+ shop.*");
    assert!(dt.contains("One order; amounts in USD"), "{dt}");
    let dv = psql(&server, "\\dv+ shop.*");
    assert!(dv.contains("Orders over 100 USD"), "{dv}");

    // A restart keeps them; a rename carries them; IS NULL drops one.
    drop(c);
    server.stop();
    let server = Server::start(&data);
    let c = server.client().await;
    assert_eq!(descriptions(&c, "orders").await, expected);
    exec(
        &c,
        // (A view left reading a renamed table breaks pg_class listings.)
        "DROP VIEW shop.big;
         ALTER TABLE shop.orders RENAME TO orders_v1;
         COMMENT ON COLUMN shop.orders_v1.amount IS NULL",
    )
    .await;
    assert_eq!(
        descriptions(&c, "orders_v1").await,
        vec![expected[0].clone(), expected[2].clone()]
    );
    // DROP takes them along: a new table of the same name starts bare.
    exec(
        &c,
        "DROP TABLE shop.orders_v1;
         CREATE TABLE shop.orders_v1 (order_id BIGINT)",
    )
    .await;
    assert!(descriptions(&c, "orders_v1").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_roles_that_may_alter_may_comment() {
    let tmp = tempfile::tempdir().unwrap();
    let env = [
        ROOT_AND_ANALYST.as_slice(),
        &[
            ("VOIDX_USERS__rita__PASSWORD", "reader password"),
            ("VOIDX_USERS__rita__ROLE", "reader"),
        ],
    ]
    .concat();
    let server = Server::start_with(&tmp.path().join("data"), &[], &env);
    let admin = server.client_as("root", "root password").await;
    let ann = server.client_as("ann", "analyst password").await;
    let rita = server.client_as("rita", "reader password").await;
    exec(&admin, "CREATE TABLE t (x BIGINT)").await;
    refused(&rita, "COMMENT ON TABLE t IS 'mine'", "42501").await;
    refused(&rita, "COMMENT ON COLUMN t.x IS 'mine'", "42501").await;
    refused(&ann, "COMMENT ON TABLE voidx.models IS 'mine'", "42501").await;
    exec(&ann, "COMMENT ON COLUMN t.x IS 'the x'").await;
    assert_eq!(
        descriptions(&rita, "t").await,
        vec![vec!["1".to_string(), "the x".to_string()]]
    );
}
