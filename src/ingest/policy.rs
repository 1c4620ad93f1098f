//! The source allowlist (`[ingest] allowed_hosts`, `allowed_dirs`).
//!
//! Every location a statement names is checked here before anything is
//! read: local paths must lie inside an allowed directory (the data
//! directory by default, after resolving `..` and symlinks), object-store
//! URLs must start with an allowed prefix, and HTTP hosts must be allowed.
//! Hosts are checked twice: by name before the request, and by address when
//! DNS answers (a custom resolver), so a public name that resolves to
//! 127.0.0.1 or 169.254.169.254 is refused too. Redirects are re-checked.
//!
//! ```
//! # use voidx::ingest::policy::Policy;
//! let p = Policy::new(&voidx::config::IngestConfig::default(), std::path::Path::new("/data"));
//! assert!(p.check_url_str("http://127.0.0.1:9/x").is_err());
//! assert!(p.check_path(std::path::Path::new("/etc/passwd")).is_err());
//! ```

use std::net::{IpAddr, SocketAddr};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use url::Url;

use crate::config::IngestConfig;
use crate::error::{Result, VoidxError};

/// The allowlist, shared by every source.
#[derive(Debug, Clone)]
pub struct Policy {
    hosts: Vec<HostRule>,
    any_public_host: bool,
    dirs: Vec<PathBuf>,
    prefixes: Vec<String>,
    pub http_timeout: Duration,
    pub http_retries: u32,
    pub max_pages: usize,
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

impl Policy {
    pub fn new(config: &IngestConfig, data_dir: &Path) -> Policy {
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
        let mut dirs = Vec::new();
        let mut prefixes = Vec::new();
        let entries: Vec<String> = if config.allowed_dirs.is_empty() {
            vec![data_dir.to_string_lossy().into_owned()]
        } else {
            config.allowed_dirs.clone()
        };
        for entry in entries {
            match object_store_scheme(&entry) {
                Some(_) => prefixes.push(entry),
                None => {
                    let path = entry.strip_prefix("file://").unwrap_or(&entry);
                    dirs.push(resolve(Path::new(path)));
                }
            }
        }
        Policy {
            hosts,
            any_public_host,
            dirs,
            prefixes,
            http_timeout: Duration::from_millis(config.http_timeout_ms.max(1)),
            http_retries: config.http_retries,
            max_pages: config.max_pages,
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

    /// Check any location: a local path, `file://`, an object-store URL or `http(s)://`.
    pub fn check_location(&self, location: &str) -> Result<()> {
        if location.starts_with("http://") || location.starts_with("https://") {
            return self.check_url_str(location);
        }
        if location.starts_with("postgres://") || location.starts_with("postgresql://") {
            return self.check_url_str(location);
        }
        if object_store_scheme(location).is_some() {
            return self.check_prefix(location);
        }
        let path = location.strip_prefix("file://").unwrap_or(location);
        self.check_path(Path::new(path))
    }

    pub fn check_url_str(&self, url: &str) -> Result<()> {
        let parsed = Url::parse(url)
            .map_err(|e| VoidxError::InvalidArgument(format!("'{url}' is not a valid URL: {e}")))?;
        self.check_url(&parsed)
    }

    /// Check a URL by its host (a name or an address literal). Names that
    /// are not listed are checked again by address when they resolve.
    pub fn check_url(&self, url: &Url) -> Result<()> {
        let host = url
            .host_str()
            .ok_or_else(|| VoidxError::InvalidArgument(format!("URL '{url}' has no host")))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let port = url.port_or_known_default();
        if self.host_listed(host, port) {
            return Ok(());
        }
        if let Ok(ip) = host.parse::<IpAddr>() {
            return self.check_public_ip(host, ip);
        }
        let lower = host.to_ascii_lowercase();
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
    /// symlinks are resolved.
    pub fn check_path(&self, path: &Path) -> Result<()> {
        let resolved = resolve(path);
        if self.dirs.iter().any(|d| resolved.starts_with(d)) {
            return Ok(());
        }
        Err(VoidxError::NotAllowed(format!(
            "path '{}' is outside the allowed directories ({}). Help: add its directory to \
             ingest.allowed_dirs (VOIDX_INGEST__ALLOWED_DIRS=/dir1,/dir2) if the server may read it",
            path.display(),
            self.dirs
                .iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )))
    }

    fn check_prefix(&self, location: &str) -> Result<()> {
        let normalized = normalize_url_path(location);
        if self.prefixes.iter().any(|p| {
            let p = normalize_url_path(p);
            normalized == p.trim_end_matches('/')
                || normalized.starts_with(&format!("{}/", p.trim_end_matches('/')))
        }) {
            return Ok(());
        }
        Err(VoidxError::NotAllowed(format!(
            "'{location}' is not under an allowed object-store prefix. Help: add its bucket or \
             prefix (e.g. s3://bucket/raw/) to ingest.allowed_dirs"
        )))
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
                match for_redirects.check_url(attempt.url()) {
                    Ok(()) => attempt.follow(),
                    Err(e) => attempt.error(e),
                }
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
    if raw.starts_with('[') {
        if let Some((host, rest)) = raw.split_once(']') {
            let port = rest.strip_prefix(':').and_then(|p| p.parse().ok());
            return (&host[1..], port);
        }
    }
    if raw.matches(':').count() == 1 {
        if let Some((host, port)) = raw.rsplit_once(':') {
            if let Ok(port) = port.parse() {
                return (host, Some(port));
            }
        }
    }
    (raw, None)
}

fn in_network(ip: IpAddr, net: IpAddr, prefix: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            let bits = u32::from(prefix.min(32));
            let mask = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - bits)
            };
            u32::from(a) & mask == u32::from(b) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            let bits = u32::from(prefix.min(128));
            let mask = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - bits)
            };
            u128::from(a) & mask == u128::from(b) & mask
        }
        (IpAddr::V6(a), IpAddr::V4(_)) => a
            .to_ipv4_mapped()
            .is_some_and(|a| in_network(IpAddr::V4(a), net, prefix)),
        _ => false,
    }
}

/// Public = not loopback, private, link-local (169.254/16, cloud metadata),
/// shared, documentation, multicast or unspecified.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || o[0] == 0
                || (o[0] == 100 && (o[1] & 0xc0) == 64)
                || (o[0] == 192 && o[1] == 0 && o[2] == 0)
                || o[0] >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let s = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80)
        }
    }
}

/// `s3://`, `gs://`, `az://` …: locations served by object_store.
pub fn object_store_scheme(location: &str) -> Option<&str> {
    let (scheme, _) = location.split_once("://")?;
    matches!(
        scheme,
        "s3" | "s3a" | "gs" | "gcs" | "az" | "azure" | "abfs" | "abfss" | "adl" | "memory"
    )
    .then_some(scheme)
}

/// Collapse `.` and `..` in a URL's path so `s3://b/raw/../secret` cannot pass as `s3://b/raw`.
fn normalize_url_path(location: &str) -> String {
    let Some((scheme, rest)) = location.split_once("://") else {
        return location.to_string();
    };
    let mut parts: Vec<&str> = Vec::new();
    for part in rest.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.len() > 1 {
                    parts.pop();
                }
            }
            p => parts.push(p),
        }
    }
    format!("{scheme}://{}", parts.join("/"))
}

/// Absolute, with `..` removed and symlinks followed as far as the path exists.
fn resolve(path: &Path) -> PathBuf {
    let absolute = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .unwrap_or_else(|_| PathBuf::from("/"))
            .join(path)
    };
    let mut lexical = PathBuf::new();
    for c in absolute.components() {
        match c {
            Component::ParentDir => {
                lexical.pop();
            }
            Component::CurDir => {}
            other => lexical.push(other.as_os_str()),
        }
    }
    // Follow symlinks through the longest existing ancestor.
    let mut existing = lexical.clone();
    let mut rest = Vec::new();
    while !existing.exists() {
        match (
            existing.file_name().map(|n| n.to_owned()),
            existing.parent(),
        ) {
            (Some(name), Some(parent)) => {
                rest.push(name);
                existing = parent.to_path_buf();
            }
            _ => break,
        }
    }
    let mut out = existing.canonicalize().unwrap_or(existing);
    for name in rest.into_iter().rev() {
        out.push(name);
    }
    out
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
}
