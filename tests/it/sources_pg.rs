//! `STORED AS POSTGRES` against a real PostgreSQL, and the allowlist on
//! file and PostgreSQL sources.

use crate::common::{Server, describe_error, query_text};
use crate::pg_server::PgServer;

const LOOPBACK: (&str, &str) = ("VOIDX_INGEST__ALLOWED_HOSTS", "127.0.0.1");

async fn exec(c: &tokio_postgres::Client, sql: &str) {
    c.batch_execute(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {}", describe_error(&e)));
}

async fn error_of(c: &tokio_postgres::Client, sql: &str) -> String {
    match c.batch_execute(sql).await {
        Ok(()) => panic!("expected an error from {sql}"),
        Err(e) => describe_error(&e),
    }
}

const EVERYTHING: &str = "
    CREATE TABLE public.everything (
        id int4 PRIMARY KEY, small int2, big int8, real4 float4, real8 float8,
        exact numeric(12,3), loose numeric, flag bool, name text, label varchar(20),
        code char(3), day date, at timestamp, at_tz timestamptz, doc jsonb, ident uuid);
    INSERT INTO public.everything VALUES
      (1, 7, 9000000000, 1.5, 2.25, -12345.678, 0.1, true, 'alpha', 'a''b', 'x',
       '2024-02-29', '2024-02-29 13:14:15.123456', '2024-02-29 13:14:15.5+02',
       '{\"k\": [1, 2]}', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'),
      (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
      (3, -1, -2, -0.5, 3.75, 0.001, 2.5, false, 'beta', 'bé', 'yz',
       '1999-12-31', '1970-01-01 00:00:00', '2000-01-01 00:00:00+00', '[]', NULL);
    SET TIME ZONE 'UTC';";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_type_pushdown_and_query_option() {
    let pg = PgServer::start();
    let p = pg.client().await;
    exec(&p, EVERYTHING).await;
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start_with(&tmp.path().join("data"), &[], &[LOOPBACK]);
    let c = server.client().await;
    exec(
        &c,
        &format!(
            "CREATE EXTERNAL TABLE everything STORED AS POSTGRES LOCATION '{}' OPTIONS ('table' 'public.everything')",
            pg.url("postgres")
        ),
    )
    .await;

    let types = query_text(
        &c,
        "SELECT arrow_typeof(id), arrow_typeof(small), arrow_typeof(big), arrow_typeof(real4),
                arrow_typeof(real8), arrow_typeof(exact), arrow_typeof(loose), arrow_typeof(flag),
                arrow_typeof(name), arrow_typeof(label), arrow_typeof(code), arrow_typeof(day),
                arrow_typeof(at), arrow_typeof(at_tz), arrow_typeof(doc), arrow_typeof(ident)
         FROM everything LIMIT 1",
    )
    .await;
    assert_eq!(
        types[0],
        vec![
            "Int32",
            "Int16",
            "Int64",
            "Float32",
            "Float64",
            "Decimal128(12, 3)",
            "Float64",
            "Boolean",
            "Utf8",
            "Utf8",
            "Utf8",
            "Date32",
            "Timestamp(µs)",
            "Timestamp(µs, \"UTC\")",
            "Utf8",
            "Utf8"
        ]
    );
    let rows = query_text(
        &c,
        "SELECT id, small, big, real4, real8, CAST(exact AS VARCHAR), loose, flag, name, label,
                code, CAST(day AS VARCHAR), CAST(at AS BIGINT), CAST(at_tz AS BIGINT), doc, ident
         FROM everything ORDER BY id",
    )
    .await;
    assert_eq!(
        rows[0],
        vec![
            "1",
            "7",
            "9000000000",
            "1.5",
            "2.25",
            "-12345.678",
            "0.1",
            "t",
            "alpha",
            "a'b",
            "x  ",
            "2024-02-29",
            "1709212455123456",
            "1709205255500000",
            "{\"k\": [1, 2]}",
            "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"
        ]
    );
    assert_eq!(rows[1][0], "2");
    assert!(rows[1][1..].iter().all(|v| v == "NULL"), "{:?}", rows[1]);
    assert_eq!(
        rows[2][..8],
        ["3", "-1", "-2", "-0.5", "3.75", "0.001", "2.5", "f"]
    );
    assert_eq!(rows[2][12..14], ["0", "946684800000000"]);

    // Projection, filters and limit go to PostgreSQL.
    let got = query_text(
        &c,
        "SELECT name FROM everything WHERE big < 0 AND name LIKE 'b%' AND day BETWEEN DATE '1999-01-01' AND DATE '1999-12-31' LIMIT 5",
    )
    .await;
    assert_eq!(got, vec![vec!["beta"]]);
    let copies = pg.copies();
    let pushed = copies
        .iter()
        .find(|s| s.contains("LIKE 'b%'"))
        .unwrap_or_else(|| panic!("no pushed-down COPY in {copies:#?}"));
    assert!(pushed.contains("\"name\""), "{pushed}");
    assert!(
        !pushed.contains("\"real8\""),
        "projection not pushed: {pushed}"
    );
    assert!(pushed.contains("(\"big\" < (0)::int8)"), "{pushed}");
    assert!(pushed.contains("'1999-12-31'::date"), "{pushed}");
    assert!(pushed.contains("LIMIT 5"), "{pushed}");
    // Text order is byte order in both systems; a quote in a literal is escaped.
    assert_eq!(
        query_text(
            &c,
            "SELECT id FROM everything WHERE label = 'a''b' OR label > 'b' ORDER BY id"
        )
        .await,
        vec![vec!["1"], vec!["3"]]
    );
    assert!(
        pg.copies()
            .iter()
            .any(|s| s.contains("'a''b' COLLATE \"C\""))
    );
    assert_eq!(
        query_text(
            &c,
            "SELECT id FROM everything WHERE small IS NULL OR small IN (7, 8) ORDER BY id"
        )
        .await,
        vec![vec!["1"], vec!["2"]]
    );
    // Not translatable (a function): DataFusion filters, the answer is the same.
    assert_eq!(
        query_text(&c, "SELECT id FROM everything WHERE upper(name) = 'BETA'").await,
        vec![vec!["3"]]
    );
    assert_eq!(
        query_text(&c, "SELECT count(*) FROM everything").await,
        vec![vec!["3"]]
    );

    // The query option, and declared columns that select and retype.
    exec(
        &c,
        &format!(
            "CREATE EXTERNAL TABLE doubled STORED AS POSTGRES LOCATION '{}'
               OPTIONS ('query' 'SELECT id, big * 2 AS twice FROM public.everything WHERE big IS NOT NULL')",
            pg.url("postgres")
        ),
    )
    .await;
    assert_eq!(
        query_text(&c, "SELECT id, twice FROM doubled WHERE twice > 0").await,
        vec![vec!["1", "18000000000"]]
    );
    assert!(
        pg.copies()
            .iter()
            .any(|s| s.contains("FROM (SELECT id, big * 2 AS twice")
                && s.contains("\"twice\" > (0)::int8")),
        "{:#?}",
        pg.copies()
    );
    exec(
        &c,
        &format!(
            "CREATE EXTERNAL TABLE narrow (name VARCHAR, small BIGINT) STORED AS POSTGRES LOCATION '{}' OPTIONS ('table' 'everything')",
            pg.url("postgres")
        ),
    )
    .await;
    assert_eq!(
        query_text(
            &c,
            "SELECT name, small, arrow_typeof(small) FROM narrow WHERE small > 0"
        )
        .await,
        vec![vec!["alpha", "7", "Int64"]]
    );
    let err = error_of(
        &c,
        &format!(
            "CREATE EXTERNAL TABLE bad (nope INT) STORED AS POSTGRES LOCATION '{}' OPTIONS ('table' 'everything')",
            pg.url("postgres")
        ),
    )
    .await;
    assert!(
        err.contains("column 'nope' is not in PostgreSQL source"),
        "{err}"
    );
    let err = error_of(
        &c,
        &format!(
            "CREATE EXTERNAL TABLE missing STORED AS POSTGRES LOCATION '{}' OPTIONS ('table' 'public.nope')",
            pg.url("postgres")
        ),
    )
    .await;
    assert!(err.contains("does not exist"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_table_streams_with_matching_aggregates() {
    let pg = PgServer::start();
    let p = pg.client().await;
    exec(
        &p,
        "CREATE TABLE big AS SELECT g AS id, (g % 1000)::float8 / 7 AS x, md5(g::text) AS h
         FROM generate_series(1, 250000) g;",
    )
    .await;
    let expected = query_text(&p, "SELECT count(*), sum(id), sum(length(h)) FROM big").await;
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start_with(&tmp.path().join("data"), &[], &[LOOPBACK]);
    let c = server.client().await;
    exec(
        &c,
        &format!(
            "CREATE EXTERNAL TABLE big STORED AS POSTGRES LOCATION '{}' OPTIONS ('table' 'big')",
            pg.url("postgres")
        ),
    )
    .await;
    let got = query_text(&c, "SELECT count(*), sum(id), sum(length(h)) FROM big").await;
    assert_eq!(got, expected);
    let sum_x_pg = query_text(&p, "SELECT round(sum(x)::numeric, 3) FROM big").await;
    let sum_x = query_text(&c, "SELECT round(sum(x), 3) FROM big").await;
    assert_eq!(
        sum_x[0][0].parse::<f64>().unwrap(),
        sum_x_pg[0][0].parse::<f64>().unwrap()
    );
    // count(*) reads no column at all.
    assert_eq!(
        query_text(&c, "SELECT count(*) FROM big").await,
        vec![vec!["250000"]]
    );
    assert!(
        pg.copies()
            .iter()
            .any(|s| s.starts_with("COPY (SELECT  FROM \"big\")")),
        "{:#?}",
        pg.copies()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_from_environment_never_shown() {
    let pg = PgServer::start();
    let p = pg.client().await;
    exec(
        &p,
        "CREATE ROLE reader LOGIN PASSWORD 'Tr0ub4dor&3';
         CREATE TABLE secrets_ok (v int); INSERT INTO secrets_ok VALUES (42);
         GRANT SELECT ON secrets_ok TO reader;",
    )
    .await;
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start_with(
        &tmp.path().join("data"),
        &[],
        &[
            LOOPBACK,
            ("VOIDX_INGEST__SECRET_ENV", "*_PG_PASSWORD"),
            ("SRC_PG_PASSWORD", "Tr0ub4dor&3"),
            ("WRONG_PG_PASSWORD", "nope"),
        ],
    );
    let c = server.client().await;
    exec(
        &c,
        &format!(
            "CREATE EXTERNAL TABLE s STORED AS POSTGRES LOCATION '{}' OPTIONS ('table' 'secrets_ok', 'password' 'env:SRC_PG_PASSWORD')",
            pg.url("reader")
        ),
    )
    .await;
    assert_eq!(query_text(&c, "SELECT v FROM s").await, vec![vec!["42"]]);
    let stored = query_text(&c, "SELECT * FROM voidx.tables").await;
    assert!(!format!("{stored:?}").contains("Tr0ub4dor"), "{stored:?}");
    let err = error_of(
        &c,
        &format!(
            "CREATE EXTERNAL TABLE w STORED AS POSTGRES LOCATION '{}' OPTIONS ('table' 'secrets_ok', 'password' 'env:WRONG_PG_PASSWORD')",
            pg.url("reader")
        ),
    )
    .await;
    assert!(err.contains("password authentication failed"), "{err}");
    assert!(!err.contains("nope"), "{err}");
    let err = error_of(
        &c,
        &format!(
            "CREATE EXTERNAL TABLE u STORED AS POSTGRES LOCATION '{}' OPTIONS ('table' 'secrets_ok', 'password' 'env:UNSET_PG_PASSWORD')",
            pg.url("reader")
        ),
    )
    .await;
    assert!(err.contains("UNSET_PG_PASSWORD"), "{err}");
    // A password in the URL is never echoed back.
    let err = error_of(
        &c,
        &format!(
            "CREATE EXTERNAL TABLE x STORED AS POSTGRES LOCATION 'postgres://reader:hunter2@127.0.0.1:{}/postgres' OPTIONS ('table' 'nope')",
            pg.port
        ),
    )
    .await;
    assert!(!err.contains("hunter2"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_config_refuses_loopback_postgres() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("data"));
    let c = server.client().await;
    let err = error_of(
        &c,
        "CREATE EXTERNAL TABLE p STORED AS POSTGRES LOCATION 'postgres://postgres@127.0.0.1:5432/postgres' OPTIONS ('table' 't')",
    )
    .await;
    assert!(err.starts_with("42501"), "{err}");
    assert!(err.contains("ingest.allowed_hosts"), "{err}");
}

fn write_parquet(path: &std::path::Path) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let ctx = datafusion::prelude::SessionContext::new();
        ctx.sql(&format!(
            "COPY (SELECT 1 AS x UNION ALL SELECT 2) TO '{}' STORED AS PARQUET",
            path.display()
        ))
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_outside_allowed_dirs_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let outside = tmp.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    let csv = outside.join("a.csv");
    std::fs::write(&csv, "x\n1\n2\n").unwrap();
    let parquet = outside.join("a.parquet");
    let p = parquet.clone();
    std::thread::spawn(move || write_parquet(&p))
        .join()
        .unwrap();
    let create = |name: &str, format: &str, path: &std::path::Path| {
        let options = if format == "CSV" {
            " OPTIONS ('format.has_header' 'true')"
        } else {
            ""
        };
        format!(
            "CREATE EXTERNAL TABLE {name} STORED AS {format} LOCATION '{}'{options}",
            path.display()
        )
    };

    let server = Server::start(&tmp.path().join("data"));
    let c = server.client().await;
    for (format, path) in [("CSV", &csv), ("PARQUET", &parquet)] {
        let err = error_of(&c, &create("t", format, path)).await;
        assert!(err.starts_with("42501"), "{err}");
        assert!(err.contains("ingest.allowed_dirs"), "{err}");
    }
    // `..` does not escape the check.
    let sneaky = tmp.path().join("data/../outside/a.csv");
    let err = error_of(&c, &create("t", "CSV", &sneaky)).await;
    assert!(err.starts_with("42501"), "{err}");
    // Object stores: only allowed prefixes.
    let err = error_of(
        &c,
        "CREATE EXTERNAL TABLE s STORED AS CSV LOCATION 's3://bucket/a.csv'",
    )
    .await;
    assert!(
        err.starts_with("42501") && err.contains("ingest.allowed_dirs"),
        "{err}"
    );
    drop(c);

    let allowed = format!("{},{}", outside.display(), "s3://bucket/");
    let server = Server::start_with(
        &tmp.path().join("data2"),
        &[],
        &[("VOIDX_INGEST__ALLOWED_DIRS", allowed.as_str())],
    );
    let c = server.client().await;
    exec(&c, &create("c", "CSV", &csv)).await;
    exec(&c, &create("p", "PARQUET", &parquet)).await;
    assert_eq!(
        query_text(&c, "SELECT sum(c.x), sum(p.x) FROM c JOIN p ON c.x = p.x").await,
        vec![vec!["3", "3"]]
    );
    // Object-store options are checked before anything is fetched.
    let err = error_of(
        &c,
        "CREATE EXTERNAL TABLE s STORED AS CSV LOCATION 's3://bucket/a.csv' OPTIONS ('aws.secret_access_key' 'env:VOIDX_TEST_UNSET_SECRET')",
    )
    .await;
    assert!(err.contains("VOIDX_TEST_UNSET_SECRET"), "{err}");
    let err = error_of(
        &c,
        "CREATE EXTERNAL TABLE s STORED AS CSV LOCATION 's3://bucket/a.csv' OPTIONS ('aws.endpoint' 'http://169.254.169.254')",
    )
    .await;
    assert!(
        err.starts_with("42501") && err.contains("ingest.allowed_hosts"),
        "{err}"
    );
    let err = error_of(
        &c,
        "CREATE EXTERNAL TABLE s STORED AS CSV LOCATION 's3://bucket/a.csv' OPTIONS ('aws.colour' 'blue')",
    )
    .await;
    assert!(
        err.contains("unknown object-store option 'aws.colour'"),
        "{err}"
    );
    let err = error_of(
        &c,
        "CREATE EXTERNAL TABLE s STORED AS CSV LOCATION 's3://other/a.csv'",
    )
    .await;
    assert!(err.starts_with("42501"), "{err}");
}
