//! Where the server keeps everything it owns — the catalog, managed tables,
//! the model registry and the system tables: a local directory, or a prefix
//! in an object store (`s3://bucket/voidx`, `az://container/voidx`,
//! `gs://bucket/voidx`; `memory:///name` for tests). Everything under it is
//! a Delta table, so this type only has to name locations, tell whether one
//! holds a table yet, and remove a dropped table's files; reads and commits
//! go through delta-rs, whose commits are conditional creates on every store
//! (`src/storage/stores.rs`).
//!
//! Local locations stay the path strings earlier versions stored in the
//! catalog (`<dir>/tables/<schema>/<name>-<hex>`), so an existing data
//! directory opens unchanged; object-store locations are URLs.

use std::path::{Path, PathBuf};

use arrow::datatypes::SchemaRef;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path as StorePath;
use object_store::{ObjectStoreExt, ObjectStoreScheme};
use url::Url;

use super::stores;
use crate::error::{Result, VoidxError};

/// The data directory named by `data_dir` in the configuration.
#[derive(Clone)]
pub struct DataDir {
    /// As configured (shown by `/health` and at start).
    text: String,
    at: At,
}

#[derive(Clone)]
enum At {
    Local(PathBuf),
    /// `url` has no trailing slash; `store` is the bucket's (or
    /// container's) root, which every location below `url` is a key in.
    Store {
        url: Url,
        store: deltalake::logstore::ObjectStoreRef,
    },
}

impl std::fmt::Debug for DataDir {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::fmt::Display for DataDir {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl DataDir {
    /// A local path (created if missing), a `file://` URL, or an object-store
    /// URL whose store is built from the environment (`AWS_*`, `AZURE_*`,
    /// `GOOGLE_*`) as for Delta tables there.
    pub fn open(text: &str) -> Result<DataDir> {
        let text = text.trim();
        if text.is_empty() {
            return Err(VoidxError::Config(
                "data_dir is empty. Help: give a directory (--data-dir ./voidx-data) or an object-store URL (s3://bucket/voidx)".into(),
            ));
        }
        if !text.contains("://") {
            return DataDir::local(text, PathBuf::from(text));
        }
        let url = Url::parse(text).map_err(|e| {
            VoidxError::Config(format!(
                "data_dir '{text}' is not a valid URL: {e}. Help: a local directory, or s3://bucket/prefix, az://container/prefix, gs://bucket/prefix"
            ))
        })?;
        if url.scheme() == "file" {
            let path = url.to_file_path().map_err(|_| {
                VoidxError::Config(format!(
                    "data_dir '{text}' names a file on another host. Help: file:///absolute/path"
                ))
            })?;
            return DataDir::local(text, path);
        }
        let (store, _) = stores::root_store(&url).map_err(|e| {
            VoidxError::Config(format!(
                "data_dir '{text}': {}. Help: s3://, az://, gs:// (credentials from the environment) or a local directory",
                e.client_message()
            ))
        })?;
        let mut url = url;
        let trimmed = url.path().trim_end_matches('/').to_string();
        url.set_path(&trimmed);
        Ok(DataDir {
            text: text.to_string(),
            at: At::Store { url, store },
        })
    }

    fn local(text: &str, path: PathBuf) -> Result<DataDir> {
        std::fs::create_dir_all(&path).map_err(|e| {
            VoidxError::Config(format!(
                "cannot create the data directory {}: {e}",
                path.display()
            ))
        })?;
        Ok(DataDir {
            text: text.to_string(),
            at: At::Local(path),
        })
    }

    /// The local directory, if the data directory is one.
    pub fn local_path(&self) -> Option<&Path> {
        match &self.at {
            At::Local(path) => Some(path),
            At::Store { .. } => None,
        }
    }

    /// The location of `parts` below the data directory, as the catalog
    /// stores it: a path for a local directory, else a URL.
    pub fn location(&self, parts: &[&str]) -> String {
        match &self.at {
            At::Local(path) => parts
                .iter()
                .fold(path.clone(), |p, part| p.join(part))
                .display()
                .to_string(),
            At::Store { url, .. } => {
                // Each part one encoded segment: a table named `a#1` or
                // `../../voidx/catalog` stays a key below `tables/<schema>/`.
                let mut location = url.clone();
                if let Ok(mut segments) = location.path_segments_mut() {
                    segments.pop_if_empty().extend(parts);
                }
                location.to_string()
            }
        }
    }

    /// Does `location` (below this data directory) hold a Delta table yet?
    /// Any file in its `_delta_log` says so: version 0's commit may have
    /// been cleaned up after a checkpoint.
    pub async fn holds_table(&self, location: &str) -> Result<bool> {
        match &self.at {
            At::Local(_) => Ok(Path::new(location).join("_delta_log").is_dir()),
            At::Store { store, .. } => {
                let log = key_of(location)?.join("_delta_log");
                let first = store.list(Some(&log)).next().await.transpose();
                Ok(first.map_err(object_store_error)?.is_some())
            }
        }
    }

    /// Creates the empty Delta table `location` unless it is there. Another
    /// server creating it at the same moment (replicas starting together)
    /// is no error: its table is the one used.
    pub async fn ensure_table(&self, location: &str, schema: SchemaRef) -> Result<()> {
        if self.holds_table(location).await? {
            return Ok(());
        }
        let Err(e) = super::delta::create_with(location, schema, Vec::new()).await else {
            return Ok(());
        };
        if self.holds_table(location).await? {
            return Ok(());
        }
        Err(e)
    }

    /// Creates the small file `parts` (below the data directory) holding
    /// `bytes` unless it exists; `Ok(false)` when it did. The create is
    /// atomic on every store (a hard link locally, `If-None-Match: *` on S3
    /// and Azure, a generation precondition on GCS), so of several servers
    /// claiming one name exactly one gets `true`: how replicas hand out
    /// model version numbers and scheduler slots once (docs/scale.md).
    pub async fn put_if_absent(&self, parts: &[&str], bytes: Vec<u8>) -> Result<bool> {
        let (store, key) = self.store_and_key(parts)?;
        let put = store
            .put_opts(
                &key,
                bytes.into(),
                object_store::PutOptions::from(object_store::PutMode::Create),
            )
            .await;
        match put {
            Ok(_) => Ok(true),
            Err(object_store::Error::AlreadyExists { .. }) => Ok(false),
            Err(e) => Err(object_store_error(e)),
        }
    }

    /// Deletes the files below `parts` last written before `cutoff`
    /// (claims nobody can need any more); returns how many.
    pub async fn remove_older(
        &self,
        parts: &[&str],
        cutoff: chrono::DateTime<chrono::Utc>,
    ) -> Result<usize> {
        let (store, prefix) = self.store_and_key(parts)?;
        let old: Vec<StorePath> = store
            .list(Some(&prefix))
            .try_filter(|meta| std::future::ready(meta.last_modified < cutoff))
            .map_ok(|meta| meta.location)
            .try_collect()
            .await
            .map_err(object_store_error)?;
        for key in &old {
            match store.delete(key).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(object_store_error(e)),
            }
        }
        Ok(old.len())
    }

    /// The store holding `parts` and its key there. A local directory is
    /// read through object_store's local store, whose create-if-absent is
    /// a hard link (atomic).
    fn store_and_key(
        &self,
        parts: &[&str],
    ) -> Result<(deltalake::logstore::ObjectStoreRef, StorePath)> {
        match &self.at {
            At::Local(root) => {
                let store = object_store::local::LocalFileSystem::new_with_prefix(root)
                    .map_err(object_store_error)?;
                Ok((
                    std::sync::Arc::new(store),
                    StorePath::from_iter(parts.iter().copied()),
                ))
            }
            At::Store { store, .. } => {
                Ok((std::sync::Arc::clone(store), key_of(&self.location(parts))?))
            }
        }
    }

    /// Is the data directory reachable and initialised (the catalog's log
    /// is there)? For `/health`.
    pub async fn is_available(&self) -> bool {
        self.holds_table(&self.location(&["voidx", "catalog"]))
            .await
            .unwrap_or(false)
    }

    /// Removes every file of the table at `location`: a dropped managed
    /// table, or a CREATE TABLE AS that failed. Logged, never fatal: the
    /// catalog no longer names the table, so what is left is only space.
    pub async fn remove_table(&self, location: &str) {
        let result = match &self.at {
            At::Local(_) => match std::fs::remove_dir_all(location) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                other => other.map_err(VoidxError::from),
            },
            At::Store { store, .. } => match key_of(location) {
                Ok(prefix) => {
                    let keys = store
                        .list(Some(&prefix))
                        .map_ok(|meta| meta.location)
                        .boxed();
                    store
                        .delete_stream(keys)
                        .try_collect::<Vec<_>>()
                        .await
                        .map(|_| ())
                        .map_err(object_store_error)
                }
                Err(e) => Err(e),
            },
        };
        if let Err(e) = result {
            tracing::warn!("could not remove the files of {location}: {e}");
        }
    }
}

/// The key of a location URL inside its bucket.
fn key_of(location: &str) -> Result<StorePath> {
    let url = Url::parse(location)
        .map_err(|e| VoidxError::Internal(format!("location '{location}' is not a URL: {e}")))?;
    let (_, path) = ObjectStoreScheme::parse(&url)
        .map_err(|e| VoidxError::Internal(format!("location '{location}': {e}")))?;
    Ok(path)
}

fn object_store_error(e: object_store::Error) -> VoidxError {
    VoidxError::Internal(format!("object store: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_locations_are_the_paths_earlier_versions_stored() {
        let tmp = tempfile::tempdir().unwrap();
        let text = tmp.path().join("d").display().to_string();
        let dir = DataDir::open(&text).unwrap();
        assert!(Path::new(&text).is_dir(), "created");
        assert_eq!(
            dir.location(&["voidx", "catalog"]),
            Path::new(&text)
                .join("voidx")
                .join("catalog")
                .display()
                .to_string()
        );
        assert_eq!(dir.local_path(), Some(Path::new(&text)));
        let url = DataDir::open(&format!("file://{text}")).unwrap();
        assert_eq!(url.local_path(), Some(Path::new(&text)));
    }

    #[test]
    fn object_store_locations_are_urls_below_the_prefix() {
        for (text, expected) in [
            ("s3://bucket/voidx", "s3://bucket/voidx/tables/public/t"),
            ("s3://bucket/voidx/", "s3://bucket/voidx/tables/public/t"),
            ("memory:///stage1", "memory:///stage1/tables/public/t"),
        ] {
            let dir = DataDir::open(text).unwrap();
            assert_eq!(dir.location(&["tables", "public", "t"]), expected, "{text}");
            assert!(dir.local_path().is_none());
        }
        // A name is one segment, whatever it holds.
        let dir = DataDir::open("memory:///stage1").unwrap();
        for name in [
            "../../voidx/catalog#-1",
            "a?b-2",
            "..-5",
            "a/b-3",
            "%2e%2e-4",
        ] {
            let location = dir.location(&["tables", "public", name]);
            let url = Url::parse(&location).unwrap();
            assert!(
                location.starts_with("memory:///stage1/tables/public/")
                    && url.query().is_none()
                    && url.fragment().is_none()
                    && url.path_segments().unwrap().count() == 4,
                "{name}: {location}"
            );
        }
        for bad in ["", "  ", "nosuch://bucket/x", "file://otherhost/x"] {
            assert!(DataDir::open(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_table_is_there_once_its_log_has_a_file_and_removal_takes_every_file() {
        let dir = DataDir::open("memory:///data-dir-test").unwrap();
        let location = dir.location(&["tables", "public", "t-1"]);
        assert!(!dir.holds_table(&location).await.unwrap());
        let other = dir.location(&["tables", "public", "t-10"]);
        for l in [&location, &other] {
            crate::storage::delta::create_with(
                l,
                std::sync::Arc::new(arrow::datatypes::Schema::new(vec![
                    arrow::datatypes::Field::new("x", arrow::datatypes::DataType::Int64, true),
                ])),
                Vec::new(),
            )
            .await
            .unwrap();
        }
        assert!(dir.holds_table(&location).await.unwrap());
        dir.remove_table(&location).await;
        assert!(!dir.holds_table(&location).await.unwrap());
        assert!(
            dir.holds_table(&other).await.unwrap(),
            "a table whose name extends the removed one's is kept"
        );
    }

    /// The whole server over an object store (the shared in-memory one):
    /// a second server over the same prefix (a restart) sees what the first
    /// committed — tables, rows, the catalog — and DROP removes a table's
    /// files from the store.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_server_over_an_object_store_keeps_its_tables_across_restarts() {
        let config = crate::config::Config {
            data_dir: "memory:///server-test".to_string(),
            ..crate::config::Config::default()
        };
        let app = crate::app::App::open(&config).await.unwrap();
        app.engine
            .execute_sql(
                "CREATE TABLE t AS SELECT CAST(1 AS BIGINT) AS x; INSERT INTO t VALUES (2); CREATE TABLE gone AS SELECT 1 AS y",
            )
            .await
            .unwrap();
        let gone = app
            .engine
            .catalog
            .get("public", "gone")
            .and_then(|e| e.location)
            .unwrap();
        assert!(
            gone.starts_with("memory:///server-test/tables/public/gone-"),
            "{gone}"
        );
        drop(app);

        let again = crate::app::App::open(&config).await.unwrap();
        let out = again
            .engine
            .execute_sql("SELECT sum(x) FROM t")
            .await
            .unwrap();
        let sum = out[0].1[0]
            .column(0)
            .as_any()
            .downcast_ref::<arrow::array::Int64Array>()
            .unwrap()
            .value(0);
        assert_eq!(sum, 3);
        assert!(
            again
                .engine
                .catalog
                .data_dir()
                .holds_table(&gone)
                .await
                .unwrap()
        );
        again.engine.execute_sql("DROP TABLE gone").await.unwrap();
        assert!(
            !again
                .engine
                .catalog
                .data_dir()
                .holds_table(&gone)
                .await
                .unwrap()
        );
        assert!(again.engine.catalog.data_dir().is_available().await);
    }
}
