//! A location as the reader will open it: parsed once, decoded, normalised.
//!
//! Every location a statement names (files, object stores, HTTP and
//! PostgreSQL hosts, webhooks, COPY targets) is turned into a [`Location`]
//! here before [`Policy`](super::Policy) checks it, and the checked
//! [`Location`] — never the original text — is what callers hand to
//! DataFusion, deltalake or the HTTP client. That closes the gap between
//! "the text the allowlist saw" and "the file the reader opened":
//!
//! * `file:` URLs in every spelling (`file:/x`, `file:///x`,
//!   `file://localhost/x`) go through [`Url::parse`] (which resolves `.`,
//!   `..`, `%2e%2e`) and [`Url::to_file_path`] (which percent-decodes once,
//!   exactly as DataFusion's local store does);
//! * local paths are made absolute, `..` removed, symlinks resolved through
//!   the longest existing ancestor;
//! * object-store URLs keep scheme + bucket, and their key is decoded the
//!   way `object_store` decodes it (`Path::from_url_path`), which refuses
//!   `..` segments however they were encoded.
//!
//! ```
//! use voidx::policy::location::Location;
//! let l = Location::parse("file:///srv/data/%2e%2e/etc/passwd").unwrap();
//! assert_eq!(l.as_str(), "/srv/etc/passwd");
//! ```

use std::path::{Component, Path, PathBuf};

use object_store::path::Path as KeyPath;
use url::Url;

use crate::error::{Result, VoidxError};

/// A parsed, normalised location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    kind: Kind,
    /// The text handed to the reader.
    text: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// An absolute local path with `..` and symlinks resolved.
    Local(PathBuf),
    /// `s3://bucket/key`, `gs://…`, `az://…`, `memory://…`.
    ObjectStore {
        scheme: String,
        bucket: String,
        key: KeyPath,
        url: Url,
    },
    /// `http(s)://…` or `postgres(ql)://…`: checked by host.
    Remote(Url),
}

/// `s3://`, `gs://`, `az://` …: locations served by object_store.
pub fn is_object_store_scheme(scheme: &str) -> bool {
    matches!(
        scheme,
        "s3" | "s3a" | "gs" | "gcs" | "az" | "azure" | "abfs" | "abfss" | "adl" | "memory"
    )
}

fn invalid(location: &str, why: impl std::fmt::Display) -> VoidxError {
    VoidxError::InvalidArgument(format!(
        "location '{location}' is not usable: {why}. Help: give an absolute path, a file:///path \
         URL, an object-store URL (s3://bucket/key) or an http(s):// URL"
    ))
}

impl Location {
    /// Parse `raw` into the form the reader opens. Fails only on text no
    /// reader could open (unknown schemes, `file://otherhost/…`, `..` in an
    /// object key); allowlists are [`Policy`](super::Policy)'s job.
    pub fn parse(raw: &str) -> Result<Location> {
        if raw.is_empty() {
            return Err(invalid(raw, "it is empty"));
        }
        if raw.contains('\0') {
            return Err(invalid(raw, "it contains a NUL byte"));
        }
        // DataFusion treats an absolute path as a path (never decoded).
        if Path::new(raw).is_absolute() {
            return Ok(Location::local(raw, raw.ends_with('/')));
        }
        let url = match Url::parse(raw) {
            Ok(url) => url,
            Err(url::ParseError::RelativeUrlWithoutBase) => {
                return Ok(Location::local(raw, raw.ends_with('/')));
            }
            Err(e) => return Err(invalid(raw, e)),
        };
        match url.scheme() {
            "file" => {
                let path = url.to_file_path().map_err(|()| {
                    invalid(
                        raw,
                        "a file: URL must name a local path (no host but localhost)",
                    )
                })?;
                let dir = url.path().ends_with('/');
                Ok(Location::local(&path.to_string_lossy(), dir))
            }
            "http" | "https" | "postgres" | "postgresql" => {
                if url.host_str().is_none_or(str::is_empty) {
                    return Err(invalid(raw, "the URL has no host"));
                }
                Ok(Location {
                    text: url.to_string(),
                    kind: Kind::Remote(url),
                })
            }
            scheme if is_object_store_scheme(scheme) => {
                let bucket = match (url.username(), url.host_str()) {
                    (_, None) | (_, Some("")) => {
                        return Err(invalid(raw, "the URL has no bucket"));
                    }
                    ("", Some(host)) => host.to_string(),
                    (user, Some(host)) => format!("{user}@{host}"),
                };
                let key = KeyPath::from_url_path(url.path()).map_err(|e| {
                    invalid(raw, format!("its key is not a valid object path ({e})"))
                })?;
                Ok(Location {
                    text: url.to_string(),
                    kind: Kind::ObjectStore {
                        scheme: scheme.to_string(),
                        bucket,
                        key,
                        url,
                    },
                })
            }
            other => Err(invalid(raw, format!("scheme '{other}:' is not supported"))),
        }
    }

    fn local(path: &str, dir: bool) -> Location {
        let resolved = resolve(Path::new(path));
        let mut text = resolved.to_string_lossy().into_owned();
        if dir && !text.ends_with('/') {
            text.push('/');
        }
        Location {
            kind: Kind::Local(resolved),
            text,
        }
    }

    /// The text to hand the reader (DataFusion, deltalake, the HTTP client).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn kind(&self) -> &Kind {
        &self.kind
    }

    pub fn local_path(&self) -> Option<&Path> {
        match &self.kind {
            Kind::Local(p) => Some(p),
            _ => None,
        }
    }

    /// The URL of a remote (HTTP, PostgreSQL) or object-store location.
    pub fn url(&self) -> Option<&Url> {
        match &self.kind {
            Kind::Remote(u) | Kind::ObjectStore { url: u, .. } => Some(u),
            Kind::Local(_) => None,
        }
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// An allowlist entry: a local directory or an object-store prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Root {
    Dir(PathBuf),
    Prefix {
        scheme: String,
        bucket: String,
        key: KeyPath,
    },
}

impl Root {
    /// `/dir`, `file:///dir` or `s3://bucket/prefix/`; `None` for text that
    /// names neither (an HTTP URL in a directory list).
    pub fn parse(entry: &str) -> Option<Root> {
        match Location::parse(entry).ok()?.kind {
            Kind::Local(p) => Some(Root::Dir(p)),
            Kind::ObjectStore {
                scheme,
                bucket,
                key,
                ..
            } => Some(Root::Prefix {
                scheme,
                bucket,
                key,
            }),
            Kind::Remote(_) => None,
        }
    }

    /// Is `location` this root or below it (whole path segments only)?
    pub fn contains(&self, location: &Location) -> bool {
        match (self, &location.kind) {
            (Root::Dir(dir), Kind::Local(path)) => path.starts_with(dir),
            (
                Root::Prefix {
                    scheme,
                    bucket,
                    key,
                },
                Kind::ObjectStore {
                    scheme: s,
                    bucket: b,
                    key: k,
                    ..
                },
            ) => scheme == s && bucket == b && k.prefix_matches(key),
            _ => false,
        }
    }
}

impl std::fmt::Display for Root {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Root::Dir(d) => write!(f, "{}", d.display()),
            Root::Prefix {
                scheme,
                bucket,
                key,
            } => write!(f, "{scheme}://{bucket}/{key}"),
        }
    }
}

/// Absolute, with `..` removed and symlinks followed as far as the path exists.
pub fn resolve(path: &Path) -> PathBuf {
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
    // Follow symlinks through the longest existing ancestor. A dangling
    // symlink counts as existing (symlink_metadata), so it is resolved or
    // refused rather than treated as a plain name.
    let mut existing = lexical.clone();
    let mut rest = Vec::new();
    while std::fs::symlink_metadata(&existing).is_err() {
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
    let mut out = match existing.canonicalize() {
        Ok(p) => p,
        // A dangling symlink: where it points, lexically.
        Err(_) => match std::fs::read_link(&existing) {
            Ok(target) => {
                let base = existing.parent().unwrap_or(Path::new("/"));
                return resolve_joined(&base.join(target), rest);
            }
            Err(_) => existing,
        },
    };
    for name in rest.into_iter().rev() {
        out.push(name);
    }
    out
}

fn resolve_joined(base: &Path, rest: Vec<std::ffi::OsString>) -> PathBuf {
    let mut out = PathBuf::new();
    for c in base.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    for name in rest.into_iter().rev() {
        out.push(name);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(raw: &str) -> String {
        Location::parse(raw).unwrap().as_str().to_string()
    }

    #[test]
    fn file_urls_in_every_spelling_become_one_path() {
        for raw in [
            "file:/srv/d/x.csv",
            "file:///srv/d/x.csv",
            "file://localhost/srv/d/x.csv",
            "file:///srv/d/./y/../x.csv",
            "file:///srv/d/%2e%2e/d/x.csv",
            "file:///srv/d/%2E%2E/d/x.csv",
            "file:///srv/d/.%2e/d/x.csv",
        ] {
            assert_eq!(text(raw), "/srv/d/x.csv", "{raw}");
        }
        assert_eq!(
            text("file:///srv/data/%2e%2e/etc/passwd"),
            "/srv/etc/passwd"
        );
        // Decoded exactly once: a double-encoded dot stays a literal name.
        assert_eq!(
            text("file:///srv/d/%252e%252e/x"),
            "/srv/d/%2e%2e/x",
            "double encoding must not become .."
        );
        assert!(Location::parse("file://evil.example/etc/passwd").is_err());
        assert_eq!(text("file:///srv/d/"), "/srv/d/");
    }

    #[test]
    fn plain_paths_are_not_decoded() {
        assert_eq!(text("/srv/d/%2e%2e/x"), "/srv/d/%2e%2e/x");
        assert_eq!(text("/srv/d/../../etc/passwd"), "/etc/passwd");
        assert_eq!(text("/srv/d/dir/"), "/srv/d/dir/");
    }

    #[test]
    fn object_keys_are_decoded_and_dot_segments_refused() {
        let l = Location::parse("s3://b/raw/a%20b.csv").unwrap();
        match l.kind() {
            Kind::ObjectStore { bucket, key, .. } => {
                assert_eq!(bucket, "b");
                assert_eq!(key.as_ref(), "raw/a b.csv");
            }
            other => panic!("{other:?}"),
        }
        // The URL parser resolves `%2e%2e` and `..` before anything else sees them.
        assert_eq!(text("s3://b/raw/%2e%2e/secret/x"), "s3://b/secret/x");
        assert_eq!(text("s3://b/raw/../secret/x"), "s3://b/secret/x");
        // `%2F..%2F` hides a `..` from the URL parser, not from object_store.
        assert!(Location::parse("s3://b/raw%2F..%2Fsecret/x").is_err());
        assert!(Location::parse("s3:///x").is_err());
        assert!(Location::parse("ftp://host/x").is_err());
    }

    #[test]
    fn roots_match_whole_segments() {
        let root = Root::parse("s3://b/raw/").unwrap();
        assert!(root.contains(&Location::parse("s3://b/raw/x.csv").unwrap()));
        assert!(!root.contains(&Location::parse("s3://b/rawx/x.csv").unwrap()));
        assert!(!root.contains(&Location::parse("s3://c/raw/x.csv").unwrap()));
        assert!(!root.contains(&Location::parse("gs://b/raw/x.csv").unwrap()));
        let dir = Root::parse("/srv/d").unwrap();
        assert!(dir.contains(&Location::parse("file:///srv/d/x").unwrap()));
        assert!(!dir.contains(&Location::parse("/srv/dx/x").unwrap()));
    }

    #[test]
    fn symlinks_are_resolved_even_dangling() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        std::os::unix::fs::symlink("/etc", root.join("escape")).unwrap();
        assert_eq!(
            resolve(&root.join("escape/passwd")),
            Path::new("/etc/passwd")
        );
        std::os::unix::fs::symlink("/nonexistent-voidx/x", root.join("dangling")).unwrap();
        assert_eq!(
            resolve(&root.join("dangling/y")),
            Path::new("/nonexistent-voidx/x/y")
        );
    }
}
