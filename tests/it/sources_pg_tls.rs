//! `STORED AS POSTGRES` over TLS, against a local PostgreSQL that accepts
//! TCP clients over TLS only: each `sslmode` does what it does in libpq,
//! a wrong CA or a name the certificate does not carry is refused with a
//! clear error, and the CA file obeys the read allowlist.

use std::net::ToSocketAddrs;

use crate::common::{Server, query_text};
use crate::pg_server::{PgServer, TestCerts};
use crate::security::{error_of, exec, refused};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sslmode_encrypts_and_verifies_as_libpq_does() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().canonicalize().unwrap();
    let certs_dir = root.join("certs");
    std::fs::create_dir_all(&certs_dir).unwrap();
    let certs = TestCerts::make(&certs_dir);
    let outside = tempfile::tempdir().unwrap();
    let outside_ca = outside.path().join("ca.crt");
    std::fs::copy(&certs.ca, &outside_ca).unwrap();
    let pg = PgServer::start_tls(&certs);
    let server = Server::start_with(
        &root.join("data"),
        &[],
        &[
            ("VOIDX_INGEST__ALLOWED_HOSTS", "127.0.0.1,localhost"),
            (
                "VOIDX_INGEST__ALLOWED_DIRS",
                &certs_dir.display().to_string(),
            ),
        ],
    );
    let c = server.client().await;
    let ca = certs.ca.display().to_string();
    let other_ca = certs.other_ca.display().to_string();
    let source = |name: &str, host: &str, options: &str| {
        format!(
            "CREATE EXTERNAL TABLE {name} STORED AS POSTGRES \
             LOCATION 'postgres://postgres@{host}:{}/postgres' \
             OPTIONS ('query' 'SELECT 1 AS x'{options})",
            pg.port
        )
    };

    // Encrypted: prefer (the default) and require take any certificate;
    // verify-ca checks the chain only.
    exec(&c, &source("by_default", "127.0.0.1", "")).await;
    exec(
        &c,
        &source("required", "127.0.0.1", ", 'sslmode' 'require'"),
    )
    .await;
    exec(
        &c,
        &source(
            "chain",
            "127.0.0.1",
            &format!(", 'sslmode' 'verify-ca', 'sslrootcert' '{ca}'"),
        ),
    )
    .await;
    assert_eq!(
        query_text(
            &c,
            "SELECT (SELECT x FROM by_default) + (SELECT x FROM required) + (SELECT x FROM chain)"
        )
        .await,
        vec![vec!["3"]]
    );

    // The server accepts TLS only: sslmode=disable is refused by it.
    let e = error_of(&c, &source("plain", "127.0.0.1", ", 'sslmode' 'disable'")).await;
    assert!(e.contains("no encryption") && e.contains("sslmode"), "{e}");
    // A CA that did not sign the certificate.
    let e = error_of(
        &c,
        &source(
            "wrong_ca",
            "127.0.0.1",
            &format!(", 'sslmode' 'verify-full', 'sslrootcert' '{other_ca}'"),
        ),
    )
    .await;
    assert!(
        e.contains("certificate") && e.contains("sslrootcert"),
        "{e}"
    );
    let e = error_of(
        &c,
        &source(
            "wrong_ca_required",
            "127.0.0.1",
            &format!(", 'sslmode' 'require', 'sslrootcert' '{other_ca}'"),
        ),
    )
    .await;
    assert!(e.contains("certificate"), "{e}");
    // The right CA, but the certificate names localhost, not 127.0.0.1.
    let e = error_of(
        &c,
        &source(
            "wrong_name",
            "127.0.0.1",
            &format!(", 'sslmode' 'verify-full', 'sslrootcert' '{ca}'"),
        ),
    )
    .await;
    assert!(e.contains("certificate"), "{e}");
    let localhost_is_v4 = ("localhost", 0)
        .to_socket_addrs()
        .is_ok_and(|mut a| a.next().is_some_and(|a| a.ip().to_string() == "127.0.0.1"));
    if localhost_is_v4 {
        exec(
            &c,
            &source(
                "by_name",
                "localhost",
                &format!(", 'sslmode' 'verify-full', 'sslrootcert' '{ca}'"),
            ),
        )
        .await;
        assert_eq!(
            query_text(&c, "SELECT x FROM by_name").await,
            vec![vec!["1"]]
        );
    }

    // The CA file is read by the server, so it obeys ingest.allowed_dirs;
    // sslmode is libpq's, and in the URL it counts too.
    refused(
        &c,
        &source(
            "ca_outside",
            "127.0.0.1",
            &format!(
                ", 'sslmode' 'verify-full', 'sslrootcert' '{}'",
                outside_ca.display()
            ),
        ),
        "42501",
    )
    .await;
    refused(
        &c,
        &source("bad_mode", "127.0.0.1", ", 'sslmode' 'allow'"),
        "22023",
    )
    .await;
    let e = error_of(
        &c,
        &format!(
            "CREATE EXTERNAL TABLE url_mode STORED AS POSTGRES \
             LOCATION 'postgres://postgres@127.0.0.1:{}/postgres?sslmode=disable' \
             OPTIONS ('query' 'SELECT 1 AS x')",
            pg.port
        ),
    )
    .await;
    assert!(e.contains("no encryption"), "{e}");
}
