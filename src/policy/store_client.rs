//! The HTTP client an object store uses when a statement names its endpoint
//! (`aws.endpoint`, `azure.authority_host`, …): the same checked DNS resolver
//! as REST sources, so an endpoint name that passes the name check but
//! resolves to a loopback, private or metadata address is refused when the
//! store connects — at CREATE and at every later request — not only by its
//! spelling at CREATE. Redirects are not followed (object stores answer
//! with errors, not redirects; a redirect would leave the checked host).
//!
//! ```
//! # use std::sync::Arc;
//! # let policy = Arc::new(voidx::policy::Policy::new(
//! #     &voidx::config::IngestConfig::default(), std::path::Path::new("/data")));
//! let store = object_store::aws::AmazonS3Builder::new()
//!     .with_bucket_name("b")
//!     .with_endpoint("https://minio.example.com")
//!     .with_http_connector(voidx::policy::store_client::CheckedConnector::new(&policy));
//! ```

use std::sync::Arc;

use object_store::client::{HttpClient, HttpConnector};
use object_store::{ClientConfigKey, ClientOptions};

use super::Policy;

/// An [`HttpConnector`] whose every DNS answer passes [`Policy::check_resolved`].
#[derive(Debug)]
pub struct CheckedConnector(Arc<Policy>);

impl CheckedConnector {
    pub fn new(policy: &Arc<Policy>) -> CheckedConnector {
        CheckedConnector(Arc::clone(policy))
    }
}

impl HttpConnector for CheckedConnector {
    fn connect(&self, options: &ClientOptions) -> object_store::Result<HttpClient> {
        let flag = |key: ClientConfigKey| {
            options
                .get_config_value(&key)
                .is_some_and(|v| v.eq_ignore_ascii_case("true"))
        };
        let mut builder = reqwest::Client::builder()
            .dns_resolver(self.0.checked_resolver())
            .redirect(reqwest::redirect::Policy::none())
            .timeout(self.0.http_timeout)
            .connect_timeout(self.0.http_timeout.min(std::time::Duration::from_secs(10)))
            .user_agent(concat!("voidx/", env!("CARGO_PKG_VERSION")))
            // As object_store's own client: compression would break the
            // Content-Length it sizes objects by.
            .no_gzip()
            .no_brotli()
            .no_zstd()
            .no_deflate()
            .https_only(!flag(ClientConfigKey::AllowHttp));
        if flag(ClientConfigKey::AllowInvalidCertificates) {
            builder = builder.danger_accept_invalid_certs(true);
        }
        if flag(ClientConfigKey::Http1Only) {
            builder = builder.http1_only();
        }
        let client = builder.build().map_err(|e| object_store::Error::Generic {
            store: "voidx",
            source: Box::new(e),
        })?;
        Ok(HttpClient::new(client))
    }
}
