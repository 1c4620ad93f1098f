//! A real Azure Blob Storage server: Azurite, Microsoft's emulator (npm
//! `azurite`; `scripts/test.sh` installs it into `.azurite/`), on a free
//! loopback port, its blobs in a temporary directory, with one container,
//! killed on drop. Azurite honours `If-None-Match: *` atomically, as Azure
//! does, and that conditional create is what a Delta commit is; it is also
//! what delta-rs tests its Azure store against.
//!
//! ```ignore
//! let azurite = Azurite::start("voidx");
//! let env = azurite.env(); // for voidx serve and python deltalake alike
//! Server::start_at("az://voidx/data", &log, &env);
//! ```

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{free_port, run_python};

pub struct Azurite {
    child: Option<Child>,
    /// The blob endpoint, `http://127.0.0.1:<port>`.
    pub url: String,
    _blobs: tempfile::TempDir,
}

/// `azurite-blob`: `VOIDXTEST_AZURITE`, else where scripts/test.sh puts it.
fn azurite_bin() -> PathBuf {
    let bin = std::env::var_os("VOIDXTEST_AZURITE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join(".azurite/node_modules/.bin/azurite-blob")
        });
    assert!(
        bin.is_file(),
        "{} not found; run `bash scripts/test.sh`, which installs Azurite (the object-store tests' server) from npm",
        bin.display()
    );
    bin
}

/// Creates a container with the emulator's well-known account key
/// (object_store cannot create containers): a SharedKey-signed PUT, in the
/// test venv's Python with only the standard library.
const CREATE_CONTAINER: &str = r#"
import base64, hashlib, hmac, http.client, sys
from email.utils import formatdate
account = "devstoreaccount1"
key = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
port, container = int(sys.argv[1]), sys.argv[2]
date, version = formatdate(usegmt=True), "2021-08-06"
to_sign = "\n".join(["PUT"] + [""] * 11 + [
    f"x-ms-date:{date}\nx-ms-version:{version}",
    f"/{account}/{account}/{container}\nrestype:container"])
signature = base64.b64encode(
    hmac.new(base64.b64decode(key), to_sign.encode(), hashlib.sha256).digest()).decode()
c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
c.request("PUT", f"/{account}/{container}?restype=container", body=b"", headers={
    "x-ms-date": date, "x-ms-version": version,
    "Authorization": f"SharedKey {account}:{signature}"})
r = c.getresponse()
body = r.read()
if r.status != 201:
    sys.exit(f"creating container {container}: HTTP {r.status} {body[:300]!r}")
"#;

impl Azurite {
    pub fn start(container: &str) -> Azurite {
        let blobs = tempfile::tempdir().expect("a directory for Azurite's blobs");
        let port = free_port();
        let child = Command::new(azurite_bin())
            .args(["--blobHost", "127.0.0.1", "--blobPort", &port.to_string()])
            .arg("--location")
            .arg(blobs.path())
            .args(["--skipApiVersionCheck", "--silent"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start azurite-blob");
        let mut azurite = Azurite {
            child: Some(child),
            url: format!("http://127.0.0.1:{port}"),
            _blobs: blobs,
        };
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(Ok(Some(status))) = azurite.child.as_mut().map(Child::try_wait) {
                panic!("azurite-blob exited with {status} before listening on {port}");
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "azurite-blob did not listen on {port} within 30 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        run_python(
            CREATE_CONTAINER,
            &[port.to_string(), container.to_string()],
            &[],
        );
        azurite
    }

    /// The environment that points object_store (VOIDX's and python
    /// deltalake's alike) at this emulator, with its well-known account.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AZURE_STORAGE_USE_EMULATOR", "true".to_string()),
            ("AZURITE_BLOB_STORAGE_URL", self.url.clone()),
        ]
    }
}

impl Drop for Azurite {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
