//! File formats (`CSV`, `PARQUET`, `JSON`, `NDJSON`, `AVRO`, `ARROW`)
//! behind the allowlist, and object-store credentials from OPTIONS.
//!
//! Each of DataFusion's file factories is wrapped: every location is checked
//! with [`Policy::check_location`] before DataFusion sees it — at CREATE and
//! each time the catalog re-opens the table. For `s3://`, `gs://`, `az://`,
//! `abfs(s)://` locations the object store is built from the `aws.*`,
//! `gcp.*`, `azure.*` options (values may be `env:VAR`), falling back to the
//! standard environment variables, and registered for the bucket.
//!
//! ```sql
//! CREATE EXTERNAL TABLE raw.events STORED AS PARQUET LOCATION 's3://lake/events/'
//!   OPTIONS ('aws.region' 'eu-west-1', 'aws.secret_access_key' 'env:LAKE_SECRET');
//! ```

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::{Session, TableProviderFactory};
use datafusion::datasource::TableProvider;
use datafusion::error::Result as DfResult;
use datafusion::logical_expr::CreateExternalTable;
use object_store::ObjectStore;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};
use url::Url;

use super::secrets::resolve_secret;
use crate::error::{Result, VoidxError};
use crate::policy::Policy;
use crate::policy::location::Kind;
use crate::policy::store_client::CheckedConnector;

/// A DataFusion file factory that checks locations and sets up object stores first.
#[derive(Debug)]
pub struct CheckedFileFactory {
    inner: Arc<dyn TableProviderFactory>,
    policy: Arc<Policy>,
}

impl CheckedFileFactory {
    pub fn new(inner: Arc<dyn TableProviderFactory>, policy: &Arc<Policy>) -> CheckedFileFactory {
        CheckedFileFactory {
            inner,
            policy: Arc::clone(policy),
        }
    }
}

#[async_trait]
impl TableProviderFactory for CheckedFileFactory {
    async fn create(
        &self,
        state: &dyn Session,
        cmd: &CreateExternalTable,
    ) -> DfResult<Arc<dyn TableProvider>> {
        let (store_options, file_options) = split_options(&cmd.options);
        // Endpoints named here are resolved and checked by address now (the
        // store's client checks again at every connection).
        for (key, value) in &store_options {
            let rest = key.split_once('.').map_or("", |(_, r)| r);
            if is_endpoint_key(rest) {
                let value = resolve_secret(value, key)?;
                self.policy.check_url_resolves(&value).await?;
            }
        }
        let mut checked_locations = Vec::with_capacity(cmd.locations.len());
        for location in &cmd.locations {
            // DataFusion gets the checked form, never the text the user wrote.
            let checked = self.policy.check_location(location)?;
            let location = checked.as_str();
            if matches!(checked.kind(), Kind::Remote(_)) {
                return Err(VoidxError::InvalidArgument(format!(
                    "STORED AS {} reads files, not '{location}'. Help: use a path, a file:// URL or an object-store URL (s3://bucket/key); STORED AS REST reads JSON over HTTP",
                    cmd.file_type
                ))
                .into());
            }
            if let Some(store) = object_store_for(location, &store_options, &self.policy)? {
                let url = Url::parse(location).map_err(|e| {
                    VoidxError::InvalidArgument(format!("'{location}' is not a valid URL: {e}"))
                })?;
                state.runtime_env().register_object_store(&url, store);
            } else if !store_options.is_empty() && !is_remote(location) {
                return Err(VoidxError::InvalidArgument(format!(
                    "options {} apply to object-store locations (s3://, gs://, az://), not '{location}'. Help: remove them",
                    store_options.keys().cloned().collect::<Vec<_>>().join(", ")
                ))
                .into());
            }
            checked_locations.push(location.to_string());
        }
        let mut inner_cmd = cmd.clone();
        inner_cmd.locations = checked_locations;
        inner_cmd.options = file_options;
        self.inner.create(state, &inner_cmd).await
    }
}

fn is_remote(location: &str) -> bool {
    location.contains("://") && !location.starts_with("file://")
}

/// Object-store options (`aws.*`, `gcp.*`, `google.*`, `azure.*`) apart
/// from the file-format ones DataFusion understands.
fn split_options(
    options: &HashMap<String, String>,
) -> (HashMap<String, String>, HashMap<String, String>) {
    options
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .partition(|(k, _)| {
            ["aws.", "gcp.", "google.", "azure."]
                .iter()
                .any(|p| k.starts_with(p))
        })
}

/// Keys are tried as given, then with the builder's own prefixes
/// (`aws.region` → `region`, `aws_region`).
fn config_key<K: FromStr>(key: &str, prefixes: &[&str]) -> Option<K> {
    std::iter::once(key.to_string())
        .chain(prefixes.iter().map(|p| format!("{p}{key}")))
        .find_map(|k| K::from_str(&k).ok())
}

fn unknown_option(key: &str) -> VoidxError {
    VoidxError::InvalidArgument(format!(
        "unknown object-store option '{key}'. Help: see docs/ingestion.md (e.g. aws.access_key_id, aws.region, aws.endpoint, gcp.service_account_path, azure.account_name)"
    ))
}

fn store_error(location: &str, e: object_store::Error) -> VoidxError {
    VoidxError::InvalidArgument(format!(
        "cannot set up the object store for '{location}': {e}. Help: check the aws.*/gcp.*/azure.* options or the standard environment variables"
    ))
}

/// Does the option (without its `aws.` / `gcp.` / `azure.` family) name a
/// host the store will call?
fn is_endpoint_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    ["endpoint", "base_url", "url", "uri", "authority_host"]
        .iter()
        .any(|s| key.ends_with(s))
}

/// An endpoint the store will call must pass the host allowlist too, and a
/// credentials file it will read must lie in an allowed directory. `true`
/// when `key` names an endpoint.
fn check_endpoint(key: &str, value: &str, policy: &Policy) -> Result<bool> {
    let is_endpoint = is_endpoint_key(key);
    let key = key.to_ascii_lowercase();
    let is_file = ["_path", "_file", "application_credentials"]
        .iter()
        .any(|s| key.ends_with(s));
    if is_endpoint {
        policy.check_url_str(value)?;
    } else if is_file {
        policy.check_path(std::path::Path::new(value))?;
    }
    Ok(is_endpoint)
}

/// The object store for `location`, or `None` for local paths.
pub fn object_store_for(
    location: &str,
    options: &HashMap<String, String>,
    policy: &Policy,
) -> Result<Option<Arc<dyn ObjectStore>>> {
    let scheme = location.split("://").next().unwrap_or_default();
    let mut resolved = Vec::new();
    let mut named_endpoint = false;
    for (key, value) in options {
        let (family, rest) = key.split_once('.').unwrap_or((key.as_str(), ""));
        let value = resolve_secret(value, key)?;
        named_endpoint |= check_endpoint(rest, &value, policy)?;
        resolved.push((family.to_string(), rest.to_string(), key.clone(), value));
    }
    let wrong_family = |wanted: &[&str]| {
        resolved
            .iter()
            .find(|(f, ..)| !wanted.contains(&f.as_str()))
            .map(|(_, _, key, _)| {
                VoidxError::InvalidArgument(format!(
                    "option '{key}' does not apply to a {scheme}:// location. Help: use {}.* options",
                    wanted[0]
                ))
            })
    };
    // A statement-named endpoint is checked again by address whenever the
    // store connects (the name passed above; DNS may say otherwise).
    let connector = || CheckedConnector::new(&Arc::new(policy.clone()));
    let store: Arc<dyn ObjectStore> = match scheme {
        "s3" | "s3a" => {
            if let Some(e) = wrong_family(&["aws"]) {
                return Err(e);
            }
            let mut b = AmazonS3Builder::from_env().with_url(location);
            if named_endpoint {
                b = b.with_http_connector(connector());
            }
            for (_, rest, key, value) in resolved {
                let k: AmazonS3ConfigKey =
                    config_key(&rest, &["aws_"]).ok_or_else(|| unknown_option(&key))?;
                b = b.with_config(k, value);
            }
            Arc::new(b.build().map_err(|e| store_error(location, e))?)
        }
        "gs" => {
            if let Some(e) = wrong_family(&["gcp", "google"]) {
                return Err(e);
            }
            let mut b = GoogleCloudStorageBuilder::from_env().with_url(location);
            if named_endpoint {
                b = b.with_http_connector(connector());
            }
            for (_, rest, key, value) in resolved {
                let k: GoogleConfigKey =
                    config_key(&rest, &["google_"]).ok_or_else(|| unknown_option(&key))?;
                b = b.with_config(k, value);
            }
            Arc::new(b.build().map_err(|e| store_error(location, e))?)
        }
        "az" | "azure" | "abfs" | "abfss" | "adl" => {
            if let Some(e) = wrong_family(&["azure"]) {
                return Err(e);
            }
            let mut b = MicrosoftAzureBuilder::from_env().with_url(location);
            if named_endpoint {
                b = b.with_http_connector(connector());
            }
            for (_, rest, key, value) in resolved {
                let k: AzureConfigKey = config_key(&rest, &["azure_", "azure_storage_"])
                    .ok_or_else(|| unknown_option(&key))?;
                b = b.with_config(k, value);
            }
            Arc::new(b.build().map_err(|e| store_error(location, e))?)
        }
        _ => return Ok(None),
    };
    Ok(Some(store))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn options_split_by_namespace() {
        let (store, file) =
            split_options(&opts(&[("aws.region", "x"), ("format.has_header", "true")]));
        assert_eq!(store.len(), 1);
        assert!(file.contains_key("format.has_header"));
    }

    #[test]
    fn s3_options_build_a_store() {
        let policy = Policy::permissive_for_tests(&[std::path::Path::new("/tmp")]);
        let store = object_store_for(
            "s3://bucket/x.csv",
            &opts(&[
                ("aws.access_key_id", "AKIA"),
                ("aws.secret_access_key", "secret"),
                ("aws.region", "eu-west-1"),
                ("aws.endpoint", "http://127.0.0.1:9"),
                ("aws.allow_http", "true"),
            ]),
            &policy,
        )
        .unwrap();
        assert!(store.is_some());
        assert!(
            object_store_for("/tmp/x.csv", &HashMap::new(), &policy)
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn bad_options_say_what_to_do() {
        let policy = Policy::permissive_for_tests(&[std::path::Path::new("/tmp")]);
        let err = |o: &[(&str, &str)]| {
            object_store_for("s3://bucket/x.csv", &opts(o), &policy)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        assert!(err(&[("aws.colour", "blue")]).contains("unknown object-store option"));
        assert!(err(&[("gcp.service_account_path", "/tmp/x")]).contains("does not apply"));
        // A credentials file outside the allowed directories is never read.
        assert!(
            err(&[("aws.web_identity_token_file", "/etc/shadow")]).contains("ingest.allowed_dirs")
        );
        assert!(
            err(&[("aws.secret_access_key", "env:VOIDX_NOT_SET_123")])
                .contains("VOIDX_NOT_SET_123")
        );
        let strict = Policy::new(
            &crate::config::IngestConfig::default(),
            std::path::Path::new("/tmp"),
        );
        let refused = object_store_for(
            "s3://bucket/x.csv",
            &opts(&[("aws.endpoint", "http://127.0.0.1:9")]),
            &strict,
        );
        assert!(matches!(refused, Err(VoidxError::NotAllowed(_))));
    }
}
