//! Delta tables on `s3://`, `gs://` and `az://` (also `s3a`, `azure`,
//! `abfs`, `abfss`), without the AWS SDK: deltalake-core finds a table's
//! object store and log store by URL scheme in two process-wide registries
//! that know only `file://` and `memory://` until something registers more.
//! deltalake's `s3`/`azure`/`gcs` features would, at the price of the
//! smithy stack (docs/design/scale-out-plan.md, §2); here object_store's own
//! builders (already built for external files, `ingest/sources/files.rs`)
//! make the store, and the log store is Delta's default one, whose commits
//! are `PutMode::Create` (`If-None-Match: *` on S3 and Azure,
//! `x-goog-if-generation-match: 0` on GCS), so two writers never overwrite
//! each other's commit.
//!
//! Credentials and endpoints come from the environment (`AWS_*`,
//! `AZURE_*`, `GOOGLE_*`, as object_store's `from_env` reads them) and from
//! the options a table is opened with. Which locations a login may name is
//! the location policy's business (`src/policy`), checked before a table is
//! opened; this module only makes the schemes openable.

use std::sync::{Arc, Once};

use deltalake::logstore::{
    LogStore, LogStoreFactory, ObjectStoreFactory, ObjectStoreRef, StorageConfig, default_logstore,
    logstore_factories, object_store_factories,
};
use deltalake::{DeltaResult, DeltaTableError, Path};
use object_store::ObjectStoreScheme;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};
use url::Url;

use super::local_store::LocalStore;
use crate::error::VoidxError;

/// The schemes registered here, as the registries key them.
const SCHEMES: &[&str] = &["s3", "s3a", "gs", "az", "azure", "abfs", "abfss", "adl"];

/// Make Delta tables on the cloud schemes openable; idempotent.
pub fn register() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let stores = object_store_factories();
        let logs = logstore_factories();
        for scheme in SCHEMES {
            let Ok(url) = Url::parse(&format!("{scheme}://")) else {
                continue;
            };
            stores.insert(url.clone(), Arc::new(CloudStores));
            logs.insert(url, Arc::new(DefaultLogs));
        }
        // The local data directory: Delta's own default, with a log
        // listing that does not grow with the length of the log.
        if let Ok(url) = Url::parse("file://") {
            stores.insert(url, Arc::new(LocalStores));
        }
        if let Ok(url) = Url::parse("memory://") {
            stores.insert(url, Arc::new(MemoryStores));
        }
    });
}

/// The store at the root of `url`'s bucket (or container, or filesystem)
/// and `url`'s key inside it, from the factory Delta tables there use.
pub fn root_store(url: &Url) -> Result<(ObjectStoreRef, Path), VoidxError> {
    register();
    let scheme = Url::parse(&format!("{}://", url.scheme()))
        .map_err(|e| VoidxError::InvalidArgument(format!("invalid location '{url}': {e}")))?;
    let factory = object_store_factories()
        .get(&scheme)
        .map(|f| Arc::clone(f.value()))
        .ok_or_else(|| {
            VoidxError::Unsupported(format!("no object store for {}:// locations", url.scheme()))
        })?;
    Ok(factory.parse_url_opts(url, &StorageConfig::default())?)
}

/// `memory://` tables, for tests: one in-memory store for the whole
/// process, so a table written there opens again (Delta's default factory
/// makes a new, empty store at every open).
struct MemoryStores;

impl ObjectStoreFactory for MemoryStores {
    fn parse_url_opts(
        &self,
        url: &Url,
        _config: &StorageConfig,
    ) -> DeltaResult<(ObjectStoreRef, Path)> {
        static MEMORY: std::sync::LazyLock<ObjectStoreRef> =
            std::sync::LazyLock::new(|| -> ObjectStoreRef {
                Arc::new(object_store::memory::InMemory::new())
            });
        let (_, path) = ObjectStoreScheme::parse(url)
            .map_err(|e| DeltaTableError::generic(format!("cannot open {url}: {e}")))?;
        Ok((Arc::clone(&MEMORY), path))
    }
}

/// Builds the store for a bucket (or container) from the URL, the
/// environment (`AWS_*`, `AZURE_*`, `GOOGLE_*`) and the table's options;
/// unknown option names are ignored, as object_store's `parse_url_opts`
/// does. Only the operator's configuration may pass options here: a SQL
/// user's endpoint or credential-file options go through
/// `ingest::sources::files::object_store_for`, which checks them.
struct CloudStores;

impl ObjectStoreFactory for CloudStores {
    fn parse_url_opts(
        &self,
        url: &Url,
        config: &StorageConfig,
    ) -> DeltaResult<(ObjectStoreRef, Path)> {
        let fail =
            |e: object_store::Error| DeltaTableError::generic(format!("cannot open {url}: {e}"));
        let (scheme, path) = ObjectStoreScheme::parse(url).map_err(|e| fail(e.into()))?;
        // `object_store::parse_url_opts` starts from `Builder::new()`, which
        // reads no environment: start from `from_env()` instead.
        let options = || {
            config
                .raw()
                .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
        };
        let store: ObjectStoreRef = match scheme {
            ObjectStoreScheme::AmazonS3 => Arc::new(
                options()
                    .fold(
                        AmazonS3Builder::from_env().with_url(url.as_str()),
                        |b, (k, v)| match k.parse::<AmazonS3ConfigKey>() {
                            Ok(k) => b.with_config(k, v),
                            Err(_) => b,
                        },
                    )
                    .build()
                    .map_err(fail)?,
            ),
            ObjectStoreScheme::GoogleCloudStorage => Arc::new(
                options()
                    .fold(
                        GoogleCloudStorageBuilder::from_env().with_url(url.as_str()),
                        |b, (k, v)| match k.parse::<GoogleConfigKey>() {
                            Ok(k) => b.with_config(k, v),
                            Err(_) => b,
                        },
                    )
                    .build()
                    .map_err(fail)?,
            ),
            ObjectStoreScheme::MicrosoftAzure => Arc::new(
                options()
                    .fold(
                        MicrosoftAzureBuilder::from_env().with_url(url.as_str()),
                        |b, (k, v)| match k.parse::<AzureConfigKey>() {
                            Ok(k) => b.with_config(k, v),
                            Err(_) => b,
                        },
                    )
                    .build()
                    .map_err(fail)?,
            ),
            _ => return Err(DeltaTableError::InvalidTableLocation(url.to_string())),
        };
        Ok((store, path))
    }
}

/// `file://` tables: [`LocalStore`] over the whole filesystem and the
/// table's path inside it, as Delta's default factory makes them (which
/// also wraps the store for an IO runtime when one is configured; VOIDX
/// configures none, and `LocalFileSystem` takes no options).
struct LocalStores;

impl ObjectStoreFactory for LocalStores {
    fn parse_url_opts(
        &self,
        url: &Url,
        _config: &StorageConfig,
    ) -> DeltaResult<(ObjectStoreRef, Path)> {
        let (scheme, path) = ObjectStoreScheme::parse(url)
            .map_err(|e| DeltaTableError::generic(format!("cannot open {url}: {e}")))?;
        if scheme != ObjectStoreScheme::Local {
            return Err(DeltaTableError::InvalidTableLocation(url.to_string()));
        }
        Ok((Arc::new(LocalStore::new()), path))
    }
}

/// Delta's own log store: commits by conditional create.
struct DefaultLogs;

impl LogStoreFactory for DefaultLogs {
    fn with_options(
        &self,
        prefixed_store: ObjectStoreRef,
        root_store: ObjectStoreRef,
        location: &Url,
        options: &StorageConfig,
    ) -> DeltaResult<Arc<dyn LogStore>> {
        Ok(default_logstore(
            prefixed_store,
            root_store,
            location,
            options,
        ))
    }
}

#[cfg(test)]
mod tests {
    use deltalake::logstore::logstore_for;

    use super::*;

    /// Each scheme gets a store for its bucket and the path inside it,
    /// without touching the network (credentials are resolved lazily).
    #[test]
    fn every_cloud_scheme_gets_a_store_and_a_log_store() {
        register();
        register(); // twice is fine
        for (location, bucket, path) in [
            ("s3://bucket/voidx/t", "bucket", "voidx/t"),
            ("s3a://bucket/t", "bucket", "t"),
            ("gs://bucket/a/b", "bucket", "a/b"),
            ("az://container/data/t", "container", "data/t"),
            (
                "abfss://container@account.dfs.core.windows.net/data/t",
                "container",
                "data/t",
            ),
        ] {
            let url = Url::parse(location).unwrap();
            let config = StorageConfig::parse_options([
                ("aws_region", "eu-west-1"),
                ("azure_storage_account_name", "account"),
                ("azure_storage_account_key", "a2V5"),
            ])
            .unwrap();
            let (store, prefix) = CloudStores.parse_url_opts(&url, &config).unwrap();
            assert_eq!(prefix.as_ref(), path, "{location}");
            assert!(
                format!("{store}").contains(bucket),
                "{location}: the store is {store}"
            );
            logstore_for(&url, config).unwrap_or_else(|e| panic!("{location}: no log store: {e}"));
        }
    }
}
