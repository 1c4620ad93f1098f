//! A real S3 API server: moto's server mode (PyPI `moto[server]`, in the
//! test venv from tests/clients/requirements.txt), on a free loopback port,
//! with one bucket, killed on drop. moto answers `If-None-Match: *` on an
//! existing key with 412 PreconditionFailed (since 5.0.15), which is what a
//! Delta commit on S3 is; but it checks and then writes on werkzeug's thread
//! pool (moto/s3/responses.py, `put_object`), so two creators can both win.
//! This harness serves moto's own app one request at a time, which makes that
//! create atomic as it is on S3.
//!
//! ```ignore
//! let moto = Moto::start("voidx");
//! let env = moto.env(); // for voidx serve and python deltalake alike
//! Server::start_at("s3://voidx/data", &log, &env);
//! ```

use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{free_port, require_python, run_python};

pub struct Moto {
    child: Option<Child>,
    /// The S3 endpoint, `http://127.0.0.1:<port>`.
    pub url: String,
}

/// What `python -m moto.server` runs (moto/server.py: moto's dispatcher
/// under werkzeug's threaded server), with a lock around each request so
/// no two requests interleave: moto's conditional PUT is a check, then a
/// write, with no lock between them.
const SERVE: &str = r#"
import sys, threading
from werkzeug.serving import run_simple
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication, MotoRequestHandler, create_backend_app)
app = DomainDispatcherApplication(create_backend_app)
one_at_a_time = threading.Lock()
def serialized(environ, start_response):
    with one_at_a_time:
        body = app(environ, start_response)
        try:
            return [b"".join(body)]
        finally:
            getattr(body, "close", lambda: None)()
run_simple("127.0.0.1", int(sys.argv[1]), serialized, threaded=True,
           request_handler=MotoRequestHandler)
"#;

/// Creates a bucket (object_store cannot): moto takes an unsigned
/// path-style PUT, so only the standard library is needed.
const CREATE_BUCKET: &str = r#"
import http.client, sys
port, bucket = int(sys.argv[1]), sys.argv[2]
c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
c.request("PUT", f"/{bucket}", body=b"")
r = c.getresponse()
body = r.read()
if r.status != 200:
    sys.exit(f"creating bucket {bucket}: HTTP {r.status} {body[:300]!r}")
"#;

/// The venv's Python, with moto's server mode importable in it.
fn moto_python() -> std::path::PathBuf {
    let python = require_python();
    let found = Command::new(&python)
        .args([
            "-c",
            "import moto.moto_server.werkzeug_app, flask, flask_cors",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        found,
        "moto[server] is not installed for {}; run `bash scripts/test.sh`, which installs it (the S3 object-store tests' server) from tests/clients/requirements.txt",
        python.display()
    );
    python
}

impl Moto {
    pub fn start(bucket: &str) -> Moto {
        let python = moto_python();
        let port = free_port();
        let child = Command::new(python)
            .arg("-c")
            .arg(SERVE)
            .arg(port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto");
        let mut moto = Moto {
            child: Some(child),
            url: format!("http://127.0.0.1:{port}"),
        };
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(Ok(Some(status))) = moto.child.as_mut().map(Child::try_wait) {
                panic!("moto exited with {status} before listening on {port}");
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "moto did not listen on {port} within 60 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        run_python(CREATE_BUCKET, &[port.to_string(), bucket.to_string()], &[]);
        moto
    }

    /// The environment that points object_store (VOIDX's and python
    /// deltalake's alike) at this server: its endpoint over plain HTTP,
    /// path-style (object_store's default), static keys moto accepts.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.url.clone()),
            ("AWS_ALLOW_HTTP", "true".to_string()),
            ("AWS_REGION", "us-east-1".to_string()),
            ("AWS_ACCESS_KEY_ID", "testing".to_string()),
            ("AWS_SECRET_ACCESS_KEY", "testing".to_string()),
        ]
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
