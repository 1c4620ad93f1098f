//! The local data directory's object store: object_store's
//! `LocalFileSystem`, except that listing a `_delta_log` from an offset
//! costs in proportion to the commits after the offset, not to the whole log.
//!
//! Every snapshot refresh lists `_delta_log` from the next version on.
//! `LocalFileSystem::list_with_offset` walks the whole directory and turns
//! every entry's filesystem path into an object path through a `file://`
//! URL before it compares it with the offset; with 30 days of commits kept
//! (Delta's `logRetentionDuration`), a table appended to every few seconds
//! holds hundreds of thousands of log files, and each refresh paid for all
//! of them. In the 1-hour soak (benchmarks/README.md) an `ingest` run into
//! such a target slowed from 252 ms to 948 ms as its log grew.
//!
//! Here a `_delta_log` holding only plainly named files (digits, letters,
//! `.`, `_`, `-`: what Delta writes) is read with one `read_dir`, names are
//! compared as text, and only the entries after the offset are looked up
//! (one `stat` each, through `LocalFileSystem::head`, so sizes, times and
//! e-tags are exactly what the inner store reports). Anything else — a
//! subdirectory, an unusual name, another prefix — is listed by the inner
//! store unchanged.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::{self, BoxStream, StreamExt};
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    ObjectStoreExt, PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions, Result,
};

#[derive(Debug)]
pub struct LocalStore {
    inner: Arc<LocalFileSystem>,
}

impl LocalStore {
    pub fn new() -> LocalStore {
        LocalStore {
            inner: Arc::new(LocalFileSystem::new()),
        }
    }
}

impl Default for LocalStore {
    fn default() -> Self {
        LocalStore::new()
    }
}

impl fmt::Display for LocalStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LocalStore({})", self.inner)
    }
}

/// A name Delta writes into `_delta_log`, which maps to the same object
/// path part whatever the encoding rules (no escaping needed).
fn plain(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// The names in `dir` after `offset` (a name in `dir`), sorted; `None` when
/// the directory holds something this fast path does not handle.
fn names_after(dir: &std::path::Path, offset: &str) -> std::io::Result<Option<Vec<String>>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let Ok(name) = entry.file_name().into_string() else {
            return Ok(None);
        };
        // A temporary upload (`name#3`) is never listed, as in LocalFileSystem.
        if let Some((_, suffix)) = name.split_once('#')
            && !suffix.is_empty()
            && suffix.bytes().all(|b| b.is_ascii_digit())
        {
            continue;
        }
        if !plain(&name) || !entry.file_type()?.is_file() {
            return Ok(None);
        }
        if name.as_str() > offset {
            names.push(name);
        }
    }
    names.sort_unstable();
    Ok(Some(names))
}

impl LocalStore {
    /// The fast listing of `prefix` (a `_delta_log`) after `offset`, or
    /// `None` when the inner store must list it.
    fn delta_log_after(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> Option<BoxStream<'static, Result<ObjectMeta>>> {
        let prefix = prefix?.clone();
        if prefix.filename() != Some("_delta_log") {
            return None;
        }
        // The offset must name an entry of this very directory.
        let mut parts: Vec<_> = offset.parts().collect();
        let last = parts.pop()?;
        if Path::from_iter(parts) != prefix {
            return None;
        }
        let offset_name = last.as_ref().to_string();
        if !plain(&offset_name) {
            return None;
        }
        let dir = self.inner.path_to_filesystem(&prefix).ok()?;
        let inner = Arc::clone(&self.inner);
        let offset = offset.clone();
        let listing = async move {
            let names = tokio::task::spawn_blocking(move || names_after(&dir, &offset_name))
                .await
                .map_err(|e| object_store::Error::Generic {
                    store: "LocalStore",
                    source: Box::new(e),
                })?;
            Ok::<_, object_store::Error>(names)
        };
        Some(
            stream::once(listing)
                .flat_map(move |names| -> BoxStream<'static, Result<ObjectMeta>> {
                    match names {
                        Err(e) => stream::iter([Err(e)]).boxed(),
                        // No such directory: nothing to list, as the inner store says.
                        Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => {
                            stream::empty().boxed()
                        }
                        Ok(Err(_)) | Ok(Ok(None)) => inner.list_with_offset(Some(&prefix), &offset),
                        Ok(Ok(Some(names))) => {
                            let inner = Arc::clone(&inner);
                            let prefix = prefix.clone();
                            stream::iter(names)
                                .then(move |name| {
                                    let inner = Arc::clone(&inner);
                                    let location = prefix.clone().join(name.as_str());
                                    async move { inner.head(&location).await }
                                })
                                // Removed since the listing (log cleanup): not listed.
                                .filter_map(|r| async move {
                                    match r {
                                        Err(object_store::Error::NotFound { .. }) => None,
                                        other => Some(other),
                                    }
                                })
                                .boxed()
                        }
                    }
                })
                .boxed(),
        )
    }
}

#[async_trait]
impl ObjectStore for LocalStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        self.inner.get_opts(location, options).await
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, Result<ObjectMeta>> {
        self.delta_log_after(prefix, offset)
            .unwrap_or_else(|| self.inner.list_with_offset(prefix, offset))
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.inner.copy_opts(from, to, options).await
    }

    async fn rename_opts(&self, from: &Path, to: &Path, options: RenameOptions) -> Result<()> {
        self.inner.rename_opts(from, to, options).await
    }
}

#[cfg(test)]
mod tests {
    use futures::TryStreamExt;

    use super::*;

    async fn listed(store: &dyn ObjectStore, prefix: &Path, offset: &Path) -> Vec<ObjectMeta> {
        let mut v: Vec<ObjectMeta> = store
            .list_with_offset(Some(prefix), offset)
            .try_collect()
            .await
            .unwrap();
        v.sort_by(|a, b| a.location.cmp(&b.location));
        v
    }

    /// The fast listing answers exactly what LocalFileSystem answers, for
    /// offsets before, between, on and after the entries, and falls back
    /// when the log holds a subdirectory or an unusual name.
    #[tokio::test]
    async fn lists_what_the_local_file_system_lists() {
        let tmp = tempfile::tempdir().unwrap();
        let log = tmp.path().join("t").join("_delta_log");
        std::fs::create_dir_all(&log).unwrap();
        for v in 0..25u32 {
            std::fs::write(log.join(format!("{v:020}.json")), format!("{v}")).unwrap();
        }
        std::fs::write(log.join(format!("{:020}.checkpoint.parquet", 10)), "c").unwrap();
        std::fs::write(log.join("_last_checkpoint"), "{}").unwrap();
        std::fs::write(log.join(format!("{:020}.json#1", 25)), "tmp").unwrap();
        let fast = LocalStore::new();
        let plain_store = LocalFileSystem::new();
        let prefix = Path::from_filesystem_path(&log).unwrap();
        let check = |offset: String| {
            let offset = prefix.clone().join(offset.as_str());
            let prefix = prefix.clone();
            let fast = &fast;
            let plain_store = &plain_store;
            async move {
                let a = listed(fast, &prefix, &offset).await;
                let b = listed(plain_store, &prefix, &offset).await;
                assert_eq!(a, b, "offset {offset}");
                a.len()
            }
        };
        assert_eq!(check(format!("{:020}", 0)).await, 27);
        assert_eq!(check(format!("{:020}.json", 10)).await, 15);
        assert_eq!(check(format!("{:020}", 24)).await, 2);
        assert_eq!(check(format!("{:020}.json", 24)).await, 1);
        assert_eq!(check("zzz".to_string()).await, 0);
        // A directory the log does not have yet lists nothing.
        let missing = Path::from_filesystem_path(tmp.path())
            .unwrap()
            .join("u")
            .join("_delta_log");
        assert!(
            listed(&fast, &missing, &missing.clone().join("0"))
                .await
                .is_empty()
        );
        // A subdirectory (`_commits`) and a name needing escapes: the inner listing.
        std::fs::create_dir(log.join("_commits")).unwrap();
        std::fs::write(log.join("_commits").join(format!("{:020}.json", 30)), "x").unwrap();
        std::fs::write(log.join("odd name.json"), "x").unwrap();
        assert_eq!(check(format!("{:020}", 20)).await, 8);
        assert!(
            fast.delta_log_after(Some(&prefix), &prefix.clone().join("0"))
                .is_some()
        );
        let elsewhere = Path::from("t");
        assert!(
            fast.delta_log_after(Some(&elsewhere), &elsewhere.clone().join("a"))
                .is_none()
        );
    }
}
