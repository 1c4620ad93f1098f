//! A throwaway PostgreSQL for source tests: `initdb` into a tempdir, started
//! on a free 127.0.0.1 port with `log_statement=all` (so tests can read
//! what was pushed down), stopped on Drop.
//!
//! initdb refuses to run as root; as root the cluster is owned by and run as
//! the `postgres` user (or `nobody`) through `runuser`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::free_port;

pub struct PgServer {
    dir: tempfile::TempDir,
    bin: PathBuf,
    run_as: Option<String>,
    pub port: u16,
}

/// The directory holding `initdb` and `pg_ctl`: PATH, then the Debian layout.
fn bin_dir() -> PathBuf {
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .find(|p| p.join("initdb").is_file() && p.join("pg_ctl").is_file())
    });
    if let Some(dir) = on_path {
        return dir;
    }
    let mut debian: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("initdb").is_file())
        .collect();
    debian.sort();
    debian.pop().unwrap_or_else(|| {
        panic!(
            "PostgreSQL server binaries (initdb, pg_ctl) are not installed; run `bash scripts/test.sh`, \
             which installs the Debian package postgresql"
        )
    })
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn user_exists(name: &str) -> bool {
    Command::new("id")
        .arg(name)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Test certificates made with the openssl CLI in `dir`: a CA, a server
/// certificate it signed for the name `localhost` only (no IP address, so
/// `verify-full` to 127.0.0.1 fails on the name while `verify-ca` passes),
/// and an unrelated CA.
pub struct TestCerts {
    pub ca: PathBuf,
    pub other_ca: PathBuf,
    server_cert: PathBuf,
    server_key: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the openssl CLI (Debian package openssl)");
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl TestCerts {
    pub fn make(dir: &Path) -> TestCerts {
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        for name in ["ca", "other_ca"] {
            std::fs::write(
                dir.join(format!("{name}.cnf")),
                format!(
                    "[req]\ndistinguished_name = dn\nx509_extensions = v3_ca\nprompt = no\n\
                     [dn]\nCN = voidx test {name}\n[v3_ca]\nbasicConstraints = critical,CA:TRUE\n\
                     keyUsage = critical,keyCertSign,cRLSign\nsubjectKeyIdentifier = hash\n"
                ),
            )
            .unwrap();
            let (cnf, key, crt) = (
                format!("{name}.cnf"),
                format!("{name}.key"),
                format!("{name}.crt"),
            );
            let mut args = vec!["req", "-x509", "-config", &cnf, "-days", "2"];
            args.extend(ec);
            args.extend(["-keyout", &key, "-out", &crt]);
            openssl(dir, &args);
        }
        std::fs::write(
            dir.join("server.cnf"),
            "[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = localhost\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("server.ext"),
            "subjectAltName = DNS:localhost\nbasicConstraints = CA:FALSE\n\
             keyUsage = critical,digitalSignature\nextendedKeyUsage = serverAuth\n",
        )
        .unwrap();
        let mut args = vec!["req", "-new", "-config", "server.cnf"];
        args.extend(ec);
        args.extend(["-keyout", "server.key", "-out", "server.csr"]);
        openssl(dir, &args);
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                "server.ext",
                "-out",
                "server.crt",
            ],
        );
        TestCerts {
            ca: dir.join("ca.crt"),
            other_ca: dir.join("other_ca.crt"),
            server_cert: dir.join("server.crt"),
            server_key: dir.join("server.key"),
        }
    }
}

impl PgServer {
    pub fn start() -> PgServer {
        PgServer::launch(None)
    }

    /// A server that accepts TCP clients over TLS only (`hostssl` in
    /// pg_hba.conf), with the certificate of `certs`.
    pub fn start_tls(certs: &TestCerts) -> PgServer {
        PgServer::launch(Some(certs))
    }

    fn launch(tls: Option<&TestCerts>) -> PgServer {
        let bin = bin_dir();
        let dir = tempfile::Builder::new()
            .prefix("voidx-pg")
            .tempdir()
            .expect("tempdir for PostgreSQL");
        let run_as = is_root().then(|| {
            let user = if user_exists("postgres") {
                "postgres"
            } else {
                "nobody"
            };
            let status = Command::new("chown")
                .arg("-R")
                .arg(format!("{user}:"))
                .arg(dir.path())
                .status()
                .expect("chown");
            assert!(
                status.success(),
                "cannot chown {} to {user}",
                dir.path().display()
            );
            user.to_string()
        });
        let server = PgServer {
            dir,
            bin,
            run_as,
            port: free_port(),
        };
        let data = server.data_dir();
        server.run(
            "initdb",
            &[
                "-D",
                &data.display().to_string(),
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
        );
        // The role `reader` must give a password over TCP; everyone else is trusted.
        let hba = match tls {
            None => {
                "local all all trust\n\
                 host all reader 127.0.0.1/32 scram-sha-256\n\
                 host all all 127.0.0.1/32 trust\n"
            }
            Some(_) => "local all all trust\nhostssl all all 127.0.0.1/32 trust\n",
        };
        std::fs::write(data.join("pg_hba.conf"), hba).expect("pg_hba.conf");
        let mut options = format!(
            "-p {} -h 127.0.0.1 -k {} -c log_statement=all -c fsync=off -c full_page_writes=off",
            server.port,
            server.dir.path().display()
        );
        if let Some(certs) = tls {
            // PostgreSQL reads the key only if its owner alone may.
            for (from, to) in [
                (&certs.server_cert, "server.crt"),
                (&certs.server_key, "server.key"),
            ] {
                std::fs::copy(from, data.join(to)).expect("copy the server certificate");
            }
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(
                data.join("server.key"),
                std::fs::Permissions::from_mode(0o600),
            )
            .expect("chmod server.key");
            if let Some(user) = &server.run_as {
                for file in ["server.crt", "server.key", "pg_hba.conf"] {
                    let status = Command::new("chown")
                        .arg(format!("{user}:"))
                        .arg(data.join(file))
                        .status()
                        .expect("chown");
                    assert!(status.success());
                }
            }
            options.push_str(" -c ssl=on -c ssl_cert_file=server.crt -c ssl_key_file=server.key");
        }
        let log = server.log_path().display().to_string();
        server.run(
            "pg_ctl",
            &[
                "-D",
                &data.display().to_string(),
                "-l",
                &log,
                "-o",
                &options,
                "-w",
                "-t",
                "60",
                "start",
            ],
        );
        server
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("postgres.log")
    }

    fn run(&self, tool: &str, args: &[&str]) {
        let exe = self.bin.join(tool);
        let mut cmd = match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.arg("-u").arg(user).arg("--").arg(&exe);
                c
            }
            None => Command::new(&exe),
        };
        let out = cmd
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", exe.display()));
        assert!(
            out.status.success(),
            "{tool} failed:\n{}\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(self.log_path()).unwrap_or_default()
        );
    }

    /// `postgres://user@127.0.0.1:port/postgres`
    pub fn url(&self, user: &str) -> String {
        format!("postgres://{user}@127.0.0.1:{}/postgres", self.port)
    }

    pub async fn client(&self) -> tokio_postgres::Client {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match crate::common::connect(&format!(
                "host=127.0.0.1 port={} user=postgres dbname=postgres",
                self.port
            ))
            .await
            {
                Ok(c) => return c,
                Err(e) if Instant::now() > deadline => panic!("cannot connect to PostgreSQL: {e}"),
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    /// The server log (every statement, thanks to `log_statement=all`).
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// The `COPY` statements the server has received so far (logged as
    /// `statement: …` or, through the extended protocol, `execute <name>: …`).
    pub fn copies(&self) -> Vec<String> {
        self.log_text()
            .lines()
            .filter(|l| l.contains("statement: ") || l.contains("execute "))
            .filter_map(|l| l.find("COPY (").map(|at| l[at..].to_string()))
            .collect()
    }

    #[allow(dead_code)]
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let exe = self.bin.join("pg_ctl");
        let data = self.data_dir();
        let mut cmd = match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.arg("-u").arg(user).arg("--").arg(&exe);
                c
            }
            None => Command::new(&exe),
        };
        let _ = cmd
            .arg("-D")
            .arg(&data)
            .args(["-m", "immediate", "stop"])
            .output();
    }
}
