//! The source allowlist (`[ingest] allowed_hosts`, `allowed_dirs`,
//! `allowed_export_dirs`).
//!
//! Every location a statement names is parsed once into the form the reader
//! will open ([`Location`]) and checked here before anything is read or
//! written; callers hand the reader the returned [`Location`], never the
//! original text. Local paths must lie inside an allowed directory (the
//! data directory by default, after decoding, resolving `..` and
//! symlinks), object-store URLs below an allowed prefix (by scheme, bucket
//! and decoded key), and HTTP hosts must be allowed. Hosts are checked
//! twice: by name before the request, and by address when DNS answers (a
//! custom resolver), so a public name that resolves to 127.0.0.1 or
//! 169.254.169.254 is refused too — including IPv6 spellings of IPv4
//! addresses (`::ffff:a.b.c.d`, NAT64 `64:ff9b::/96`, 6to4 `2002::/16`).
//! Redirects are re-checked; custom headers are not sent to another host.
//!
//! ```
//! # use voidx::policy::Policy;
//! let p = Policy::new(&voidx::config::IngestConfig::default(), std::path::Path::new("/data"));
//! assert!(p.check_url_str("http://127.0.0.1:9/x").is_err());
//! assert!(p.check_path(std::path::Path::new("/etc/passwd")).is_err());
//! assert!(p.check_location("file:///data/%2e%2e/etc/passwd").is_err());
//! ```

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use url::Url;

pub mod address;
pub mod location;
pub mod store_client;

use crate::config::IngestConfig;
use crate::error::{Result, VoidxError};
use address::in_network;
pub use address::is_public;
pub use location::Location;
use location::{Kind, Root};

/// The allowlist, shared by every source.
#[derive(Debug, Clone)]
pub struct Policy {
    hosts: Vec<HostRule>,
    any_public_host: bool,
    roots: Vec<Root>,
    export_roots: Vec<Root>,
    data_root: Option<Root>,
    pub http_timeout: Duration,
    pub http_retries: u32,
    pub max_pages: usize,
    /// Upper bound of one HTTP response body (`ingest.max_response_mb`).
    pub max_response_bytes: u64,
}

#[derive(Debug, Clone)]
enum HostRule {
    /// `api.example.com` or `*.example.com` (suffix), optional port.
    Name {
        name: String,
        wildcard: bool,
        port: Option<u16>,
    },
    /// An address or network: `127.0.0.1`, `10.0.0.0/8`, `::1`, optional port.
    Net {
        addr: IpAddr,
        prefix: u8,
        port: Option<u16>,
    },
}

fn denied_host(host: &str, why: &str) -> VoidxError {
    VoidxError::NotAllowed(format!(
        "host '{host}' is not allowed: {why}. Help: add it to ingest.allowed_hosts \
         (VOIDX_INGEST__ALLOWED_HOSTS=host1,host2) if the server may read from it"
    ))
}

fn roots_text(roots: &[Root]) -> String {
    roots
        .iter()
        .map(|r| r.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

impl Policy {
    /// `data_dir` is the configured text: a directory or an object-store URL.
    pub fn new(config: &IngestConfig, data_dir: impl AsRef<Path>) -> Policy {
        let mut hosts = Vec::new();
        let mut any_public_host = false;
        for raw in &config.allowed_hosts {
            let raw = raw.trim().to_ascii_lowercase();
            if raw == "*" {
                any_public_host = true;
            } else if let Some(rule) = HostRule::parse(&raw) {
                hosts.push(rule);
            }
        }
        let data_dir_text = data_dir.as_ref().to_string_lossy().into_owned();
        let data_root = Root::parse(&data_dir_text);
        let roots: Vec<Root> = if config.allowed_dirs.is_empty() {
            data_root.iter().cloned().collect()
        } else {
            config
                .allowed_dirs
                .iter()
                .filter_map(|e| Root::parse(e.trim()))
                .collect()
        };
        let export_roots = config
            .allowed_export_dirs
            .iter()
            .filter_map(|e| Root::parse(e.trim()))
            .collect();
        Policy {
            hosts,
            any_public_host,
            roots,
            export_roots,
            data_root,
            http_timeout: Duration::from_millis(config.http_timeout_ms.max(1)),
            http_retries: config.http_retries,
            max_pages: config.max_pages,
            max_response_bytes: config.max_response_mb.max(1).saturating_mul(1024 * 1024),
        }
    }

    /// A policy that allows everything on loopback and in `dirs`; for tests.
    pub fn permissive_for_tests(dirs: &[&Path]) -> Policy {
        let config = IngestConfig {
            allowed_hosts: vec!["*".into(), "127.0.0.0/8".into(), "::1".into()],
            allowed_dirs: dirs
                .iter()
                .map(|d| d.to_string_lossy().into_owned())
                .collect(),
            ..IngestConfig::default()
        };
        Policy::new(&config, dirs.first().copied().unwrap_or(Path::new(".")))
    }

    /// Check any location a statement reads: a local path, a `file:` URL,
    /// an object-store URL, `http(s)://` or `postgres://`. Returns the
    /// checked form; hand *that* to the reader.
    pub fn check_location(&self, location: &str) -> Result<Location> {
        let parsed = Location::parse(location)?;
        match parsed.kind() {
            Kind::Remote(url) => self.check_url(url)?,
            Kind::Local(_) | Kind::ObjectStore { .. } => {
                if !self.roots.iter().any(|r| r.contains(&parsed)) {
                    return Err(self.outside_roots(location, &parsed));
                }
            }
        }
        Ok(parsed)
    }

    fn outside_roots(&self, location: &str, parsed: &Location) -> VoidxError {
        let shown = if parsed.as_str() == location {
            format!("'{location}'")
        } else {
            format!("'{location}' (that is, '{parsed}')")
        };
        match parsed.kind() {
            Kind::ObjectStore { .. } => VoidxError::NotAllowed(format!(
                "{shown} is not under an allowed object-store prefix. Help: add its bucket or \
                 prefix (e.g. s3://bucket/raw/) to ingest.allowed_dirs"
            )),
            _ => VoidxError::NotAllowed(format!(
                "path {shown} is outside the allowed directories ({}). Help: add its directory to \
                 ingest.allowed_dirs (VOIDX_INGEST__ALLOWED_DIRS=/dir1,/dir2) if the server may read it",
                roots_text(&self.roots)
            )),
        }
    }

    /// Check a location a statement writes (`COPY … TO`): below
    /// `ingest.allowed_export_dirs` and never inside the data directory.
    pub fn check_export(&self, location: &str) -> Result<Location> {
        if self.export_roots.is_empty() {
            return Err(VoidxError::NotAllowed(format!(
                "COPY TO '{location}' is refused: the server writes no files for SQL users \
                 unless ingest.allowed_export_dirs is set. Help: ask the operator to set \
                 ingest.allowed_export_dirs (VOIDX_INGEST__ALLOWED_EXPORT_DIRS=/exports), or \
                 read the rows with a client (psql \\copy, COPY … TO STDOUT)"
            )));
        }
        let parsed = Location::parse(location)?;
        if matches!(parsed.kind(), Kind::Remote(_)) {
            return Err(VoidxError::NotAllowed(format!(
                "COPY TO '{location}' is refused: COPY writes files, not URLs. Help: write below \
                 ingest.allowed_export_dirs ({})",
                roots_text(&self.export_roots)
            )));
        }
        let in_data_dir = self.data_root.as_ref().is_some_and(|d| {
            d.contains(&parsed)
                || matches!((d, parsed.local_path()), (Root::Dir(d), Some(p)) if d.starts_with(p))
        });
        if in_data_dir {
            return Err(VoidxError::NotAllowed(format!(
                "COPY TO '{location}' is refused: it is inside the data directory, which only the \
                 server writes. Help: write below ingest.allowed_export_dirs ({})",
                roots_text(&self.export_roots)
            )));
        }
        if !self.export_roots.iter().any(|r| r.contains(&parsed)) {
            let shown = if parsed.as_str() == location {
                format!("'{location}'")
            } else {
                format!("'{location}' (that is, '{parsed}')")
            };
            return Err(VoidxError::NotAllowed(format!(
                "COPY TO {shown} is outside ingest.allowed_export_dirs ({}). Help: write below \
                 one of them, or ask the operator to add a directory",
                roots_text(&self.export_roots)
            )));
        }
        Ok(parsed)
    }

    /// Check a URL given as text; returns the parsed URL to request.
    pub fn check_url_str(&self, url: &str) -> Result<Url> {
        let parsed = Url::parse(url)
            .map_err(|e| VoidxError::InvalidArgument(format!("'{url}' is not a valid URL: {e}")))?;
        self.check_url(&parsed)?;
        Ok(parsed)
    }

    /// Check a URL by its host (a name or an address literal). Names that
    /// are not listed are checked again by address when they resolve.
    pub fn check_url(&self, url: &Url) -> Result<()> {
        let (host, ip) = match url.host() {
            Some(url::Host::Domain(d)) if !d.is_empty() => {
                (d.to_string(), d.parse::<IpAddr>().ok())
            }
            Some(url::Host::Ipv4(v4)) => (v4.to_string(), Some(IpAddr::V4(v4))),
            Some(url::Host::Ipv6(v6)) => (v6.to_string(), Some(IpAddr::V6(v6))),
            _ => {
                return Err(VoidxError::InvalidArgument(format!(
                    "URL '{url}' has no host"
                )));
            }
        };
        let host = host.as_str();
        let port = url.port_or_known_default();
        if self.host_listed(host, port) {
            return Ok(());
        }
        if let Some(ip) = ip {
            return self.check_public_ip(host, ip);
        }
        // `localhost.` is `localhost` to DNS: judge the name without the root dot.
        let lower = host.to_ascii_lowercase();
        let lower = lower.trim_end_matches('.');
        if lower == "localhost" || lower.ends_with(".localhost") || lower.ends_with(".internal") {
            return Err(denied_host(host, "it is a local or cloud-internal name"));
        }
        if !self.any_public_host {
            return Err(denied_host(host, "it is not in ingest.allowed_hosts"));
        }
        Ok(())
    }

    /// Is `host` (a name or address, with the port of the request) listed by name?
    fn host_listed(&self, host: &str, port: Option<u16>) -> bool {
        let host = host.to_ascii_lowercase();
        let ip = host.parse::<IpAddr>().ok();
        self.hosts.iter().any(|rule| rule.matches(&host, ip, port))
    }

    fn check_public_ip(&self, host: &str, ip: IpAddr) -> Result<()> {
        if !is_public(ip) {
            return Err(denied_host(
                host,
                &format!("{ip} is a loopback, private or link-local address"),
            ));
        }
        if !self.any_public_host {
            return Err(denied_host(host, "it is not in ingest.allowed_hosts"));
        }
        Ok(())
    }

    /// [`check_url_str`](Self::check_url_str), then resolve the host now and
    /// check every address; for clients that resolve names themselves
    /// (object stores), so a name of a forbidden address is refused before
    /// any request.
    pub async fn check_url_resolves(&self, url: &str) -> Result<()> {
        let parsed = self.check_url_str(url)?;
        let Some(url::Host::Domain(host)) = parsed.host() else {
            return Ok(());
        };
        let port = parsed.port_or_known_default().unwrap_or(0);
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
            .await
            .map_err(|e| {
                VoidxError::InvalidArgument(format!(
                    "cannot resolve the host '{host}' of '{url}': {e}"
                ))
            })?
            .collect();
        self.check_resolved(host, &addrs)
    }

    /// Check the addresses a name resolved to (the resolver calls this).
    pub fn check_resolved(&self, host: &str, addrs: &[SocketAddr]) -> Result<()> {
        for addr in addrs {
            if self.hosts.iter().any(|r| r.matches(host, None, None)) {
                return Ok(());
            }
            if self.host_listed(&addr.ip().to_string(), Some(addr.port())) {
                continue;
            }
            self.check_public_ip(host, addr.ip())?;
        }
        Ok(())
    }

    /// A local path must lie inside an allowed directory once `..` and
    /// symlinks are resolved; returns the resolved path to open.
    pub fn check_path(&self, path: &Path) -> Result<PathBuf> {
        let text = path.to_string_lossy();
        let checked = if path.is_absolute() {
            self.check_location(&text)?
        } else {
            let absolute = std::env::current_dir()
                .unwrap_or_else(|_| PathBuf::from("/"))
                .join(path);
            self.check_location(&absolute.to_string_lossy())?
        };
        match checked.local_path() {
            Some(p) => Ok(p.to_path_buf()),
            None => Err(VoidxError::InvalidArgument(format!(
                "'{text}' is not a local path"
            ))),
        }
    }

    /// The DNS resolver that checks every address a name resolves to.
    pub fn checked_resolver(self: &Arc<Self>) -> Arc<impl reqwest::dns::Resolve + use<>> {
        Arc::new(CheckedResolver(Arc::clone(self)))
    }

    /// An HTTP client that enforces this policy on every connection
    /// (resolved addresses) and every redirect, with the configured timeout.
    pub fn http_client(self: &Arc<Self>) -> Result<reqwest::Client> {
        let for_redirects = Arc::clone(self);
        reqwest::Client::builder()
            .timeout(self.http_timeout)
            .connect_timeout(self.http_timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("voidx/", env!("CARGO_PKG_VERSION")))
            .dns_resolver(Arc::new(CheckedResolver(Arc::clone(self))))
            .redirect(reqwest::redirect::Policy::custom(move |attempt| {
                if attempt.previous().len() >= 10 {
                    return attempt.error("more than 10 redirects");
                }
                if let Err(e) = for_redirects.check_url(attempt.url()) {
                    return attempt.error(e);
                }
                // Another origin: hand the redirect back to the caller, which
                // follows it without the source's custom headers (reqwest
                // itself drops only Authorization and cookies).
                let from = attempt.previous().last().map(Url::origin);
                if from.is_some_and(|o| o != attempt.url().origin()) {
                    return attempt.stop();
                }
                attempt.follow()
            }))
            .build()
            .map_err(|e| VoidxError::Internal(format!("cannot build the HTTP client: {e}")))
    }
}

impl HostRule {
    fn parse(raw: &str) -> Option<HostRule> {
        let (body, port) = split_port(raw);
        if let Some((addr, bits)) = body.split_once('/') {
            let addr: IpAddr = addr.trim_matches(['[', ']']).parse().ok()?;
            let prefix: u8 = bits.parse().ok()?;
            return Some(HostRule::Net { addr, prefix, port });
        }
        if let Ok(addr) = body.trim_matches(['[', ']']).parse::<IpAddr>() {
            let prefix = if addr.is_ipv4() { 32 } else { 128 };
            return Some(HostRule::Net { addr, prefix, port });
        }
        let (name, wildcard) = match body.strip_prefix("*.") {
            Some(rest) => (rest.to_string(), true),
            None => (body.to_string(), false),
        };
        (!name.is_empty()).then_some(HostRule::Name {
            name,
            wildcard,
            port,
        })
    }

    fn matches(&self, host: &str, ip: Option<IpAddr>, port: Option<u16>) -> bool {
        let port_ok = |want: &Option<u16>| want.is_none() || port.is_none() || *want == port;
        match self {
            HostRule::Name {
                name,
                wildcard,
                port: want,
            } => {
                let host = host.to_ascii_lowercase();
                let name_ok = if *wildcard {
                    host.ends_with(&format!(".{name}"))
                } else {
                    host == *name
                };
                name_ok && port_ok(want)
            }
            HostRule::Net {
                addr,
                prefix,
                port: want,
            } => ip.is_some_and(|ip| in_network(ip, *addr, *prefix)) && port_ok(want),
        }
    }
}

/// `host:port` → (host, port); IPv6 literals keep their colons.
fn split_port(raw: &str) -> (&str, Option<u16>) {
    if raw.starts_with('[')
        && let Some((host, rest)) = raw.split_once(']')
    {
        let port = rest.strip_prefix(':').and_then(|p| p.parse().ok());
        return (&host[1..], port);
    }
    if raw.matches(':').count() == 1
        && let Some((host, port)) = raw.rsplit_once(':')
        && let Ok(port) = port.parse()
    {
        return (host, Some(port));
    }
    (raw, None)
}

/// `s3://`, `gs://`, `az://` …: locations served by object_store.
pub fn object_store_scheme(location: &str) -> Option<&str> {
    let (scheme, _) = location.split_once("://")?;
    location::is_object_store_scheme(scheme).then_some(scheme)
}

/// DNS through tokio, then every address checked against the policy.
struct CheckedResolver(Arc<Policy>);

impl reqwest::dns::Resolve for CheckedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = Arc::clone(&self.0);
        Box::pin(async move {
            let host = name.as_str().to_string();
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            policy
                .check_resolved(&host, &addrs)
                .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)?;
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(hosts: &[&str], dirs: &[&str]) -> Policy {
        Policy::new(
            &IngestConfig {
                allowed_hosts: hosts.iter().map(|s| s.to_string()).collect(),
                allowed_dirs: dirs.iter().map(|s| s.to_string()).collect(),
                ..IngestConfig::default()
            },
            Path::new("/srv/voidx-data"),
        )
    }

    #[test]
    fn default_refuses_local_and_metadata_addresses() {
        let p = policy(&["*"], &[]);
        for url in [
            "http://127.0.0.1/x",
            "http://localhost:8080/",
            "http://169.254.169.254/latest/meta-data",
            "http://10.1.2.3/",
            "http://192.168.0.1/",
            "http://[::1]/",
            "http://[fd00:ec2::254]/",
            "http://metadata.google.internal/",
            "http://0.0.0.0/",
        ] {
            let e = p.check_url_str(url).unwrap_err().to_string();
            assert!(e.contains("ingest.allowed_hosts"), "{url}: {e}");
        }
        p.check_url_str("https://api.example.com/orders").unwrap();
        p.check_url_str("https://93.184.216.34/").unwrap();
    }

    #[test]
    fn named_hosts_and_networks() {
        let p = policy(&["127.0.0.1:8080", "*.shop.example", "10.0.0.0/8"], &[]);
        p.check_url_str("http://127.0.0.1:8080/a").unwrap();
        assert!(p.check_url_str("http://127.0.0.1:9090/a").is_err());
        p.check_url_str("https://eu.shop.example/").unwrap();
        assert!(p.check_url_str("https://shop.example.evil.com/").is_err());
        p.check_url_str("http://10.9.8.7/").unwrap();
        // No `*`: public hosts are not allowed either.
        assert!(p.check_url_str("https://api.example.com/").is_err());
        let addrs = ["127.0.0.1:80".parse().unwrap()];
        assert!(p.check_resolved("rebind.example", &addrs).is_err());
    }

    #[test]
    fn paths_stay_inside_allowed_dirs() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_str().unwrap();
        let p = policy(&["*"], &[root]);
        p.check_path(&dir.path().join("a/b.csv")).unwrap();
        p.check_location(&format!("file://{root}/x.parquet"))
            .unwrap();
        let e = p
            .check_path(&dir.path().join("../../etc/passwd"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("ingest.allowed_dirs"), "{e}");
        std::fs::create_dir_all(dir.path().join("in")).unwrap();
        std::os::unix::fs::symlink("/etc", dir.path().join("in/escape")).unwrap();
        assert!(p.check_path(&dir.path().join("in/escape/passwd")).is_err());
        // The default is the data directory only.
        let d = policy(&["*"], &[]);
        assert!(d.check_path(Path::new("/etc/passwd")).is_err());
    }

    #[test]
    fn object_store_prefixes() {
        let p = policy(&["*"], &["s3://bucket/raw/"]);
        p.check_location("s3://bucket/raw/orders/2026.parquet")
            .unwrap();
        assert!(p.check_location("s3://bucket/rawx/a").is_err());
        assert!(p.check_location("s3://bucket/raw/../secret/a").is_err());
        assert!(p.check_location("gs://bucket/raw/a").is_err());
    }

    #[test]
    fn ipv6_spellings_of_private_ipv4_are_refused() {
        let p = policy(&["*"], &[]);
        for url in [
            "http://[::ffff:127.0.0.1]/",
            "http://[::ffff:169.254.169.254]/",
            "http://[::127.0.0.1]/",
            "http://[64:ff9b::a9fe:a9fe]/",
            "http://[64:ff9b::10.0.0.1]/",
            "http://[2002:7f00:1::]/",
            "http://[2002:a9fe:a9fe::1]/",
            "http://[::ffff:0:10.0.0.1]/",
            "http://[fec0::1]/",
            "http://2130706433/",
            "http://0x7f.1/",
        ] {
            let e = p.check_url_str(url).unwrap_err().to_string();
            assert!(e.contains("ingest.allowed_hosts"), "{url}: {e}");
        }
        p.check_url_str("http://[64:ff9b::5db8:d822]/").unwrap();
        p.check_url_str("http://[2002:5db8:d822::1]/").unwrap();
        p.check_url_str("http://[2606:4700::1111]/").unwrap();
        let addrs = ["[::ffff:10.1.1.1]:80".parse().unwrap()];
        assert!(p.check_resolved("rebind.example", &addrs).is_err());
    }

    #[test]
    fn encoded_traversal_is_checked_as_decoded() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        let root_s = root.to_str().unwrap();
        let p = policy(&["*"], &[root_s]);
        for bad in [
            format!("file://{root_s}/%2e%2e/%2e%2e/etc/passwd"),
            format!("file://{root_s}/%2E%2E/x"),
            format!("file://{root_s}/.%2e/x"),
            format!("file:{root_s}/../x"),
            format!("file://localhost{root_s}/../x"),
            "file:/etc/passwd".to_string(),
            format!("{root_s}/../x"),
        ] {
            let e = p.check_location(&bad).unwrap_err();
            assert_eq!(e.sqlstate(), "42501", "{bad}: {e}");
        }
        let ok = p
            .check_location(&format!("file://localhost{root_s}/a/b.csv"))
            .unwrap();
        assert_eq!(ok.as_str(), format!("{root_s}/a/b.csv"));
        // Decoded once, like the reader: a literal `%2e%2e` directory inside the root.
        let ok = p
            .check_location(&format!("file://{root_s}/%252e%252e/x"))
            .unwrap();
        assert_eq!(ok.as_str(), format!("{root_s}/%2e%2e/x"));
    }

    #[test]
    fn object_store_traversal_is_refused() {
        let p = policy(&["*"], &["s3://bucket/raw/"]);
        assert!(p.check_location("s3://bucket/raw/%2e%2e/secret/a").is_err());
        assert!(p.check_location("s3://bucket/raw/.%2E/secret/a").is_err());
        assert!(
            p.check_location("s3://bucket/raw/x%2F..%2F..%2Fsecret")
                .is_err()
        );
        let ok = p.check_location("s3://bucket/raw/%252e%252e/a").unwrap();
        assert!(ok.as_str().starts_with("s3://bucket/raw/"), "{ok}");
    }

    #[test]
    fn exports_need_their_own_allowlist_and_never_touch_the_data_dir() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        let data = root.join("data");
        let out = root.join("out");
        let none = Policy::new(&IngestConfig::default(), &data);
        let e = none
            .check_export(out.join("x.csv").to_str().unwrap())
            .unwrap_err();
        assert!(e.to_string().contains("ingest.allowed_export_dirs"), "{e}");
        let p = Policy::new(
            &IngestConfig {
                allowed_export_dirs: vec![root.to_string_lossy().into_owned()],
                ..IngestConfig::default()
            },
            &data,
        );
        p.check_export(out.join("x.csv").to_str().unwrap()).unwrap();
        for bad in [
            data.join("voidx/catalog/x.parquet")
                .to_string_lossy()
                .into_owned(),
            format!("file://{}/out/%2e%2e/data/x", root.display()),
            root.to_string_lossy().into_owned(),
            "/tmp/elsewhere.csv".to_string(),
            "http://127.0.0.1/x".to_string(),
        ] {
            let e = p.check_export(&bad).unwrap_err();
            assert_eq!(e.sqlstate(), "42501", "{bad}: {e}");
        }
    }
}
