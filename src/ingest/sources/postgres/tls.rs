//! TLS to a `STORED AS POSTGRES` source, with rustls (already in the build
//! for the pgwire server and HTTPS sources). `sslmode` means what it means
//! to libpq:
//!
//! | sslmode | encrypted | certificate checked |
//! |---|---|---|
//! | `disable` | never | — |
//! | `prefer` (default) | if the server offers it | no |
//! | `require` | always | no; as `verify-ca` when `sslrootcert` is given (libpq) |
//! | `verify-ca` | always | chain to a trusted root |
//! | `verify-full` | always | chain, and the LOCATION's host name |
//!
//! Trusted roots are `sslrootcert` (a PEM file, inside `ingest.allowed_dirs`)
//! or, without it, the system's roots.
//!
//! ```sql
//! CREATE EXTERNAL TABLE orders STORED AS POSTGRES
//!   LOCATION 'postgres://reader@db.example.com/shop'
//!   OPTIONS ('table' 'public.orders', 'sslmode' 'verify-full', 'sslrootcert' '/etc/voidx/db-ca.pem');
//! ```

use std::io::BufReader;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::future::BoxFuture;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect, TlsStream};
use tokio_rustls::rustls::client::WebPkiServerVerifier;
use tokio_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use tokio_rustls::rustls::crypto::{
    WebPkiSupportedAlgorithms, verify_tls12_signature, verify_tls13_signature,
};
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use tokio_rustls::rustls::{
    self, CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

use crate::error::{Result, VoidxError};

/// libpq's `sslmode` values (`allow` is not offered: it never protects).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    pub fn parse(text: Option<&str>) -> Result<SslMode> {
        match text.map(str::to_ascii_lowercase).as_deref() {
            None | Some("prefer") => Ok(SslMode::Prefer),
            Some("disable") => Ok(SslMode::Disable),
            Some("require") => Ok(SslMode::Require),
            Some("verify-ca") => Ok(SslMode::VerifyCa),
            Some("verify-full") => Ok(SslMode::VerifyFull),
            Some(other) => Err(VoidxError::InvalidArgument(format!(
                "sslmode '{other}' is not one of disable, prefer, require, verify-ca, verify-full. \
                 Help: they mean what they mean to libpq; verify-full checks the certificate and the host name"
            ))),
        }
    }

    /// What tokio-postgres negotiates: TLS never, if offered, or always.
    pub fn negotiation(self) -> tokio_postgres::config::SslMode {
        match self {
            SslMode::Disable => tokio_postgres::config::SslMode::Disable,
            SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
            _ => tokio_postgres::config::SslMode::Require,
        }
    }
}

/// How the server's certificate is judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    Nothing,
    Chain,
    ChainAndName,
}

fn tls_error(what: String) -> VoidxError {
    VoidxError::InvalidArgument(format!(
        "PostgreSQL source TLS: {what}. Help: 'sslrootcert' names a PEM file of CA certificates"
    ))
}

fn roots(root_cert: Option<&Path>) -> Result<RootCertStore> {
    let mut store = RootCertStore::empty();
    match root_cert {
        Some(path) => {
            let file = std::fs::File::open(path)
                .map_err(|e| tls_error(format!("cannot read {}: {e}", path.display())))?;
            for cert in rustls_pemfile::certs(&mut BufReader::new(file)) {
                let cert = cert.map_err(|e| tls_error(format!("{}: {e}", path.display())))?;
                store
                    .add(cert)
                    .map_err(|e| tls_error(format!("{}: {e}", path.display())))?;
            }
            if store.is_empty() {
                return Err(tls_error(format!("no certificate in {}", path.display())));
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            let (added, _) = store.add_parsable_certificates(found.certs);
            if added == 0 {
                return Err(tls_error(
                    "the system has no trusted root certificates; give 'sslrootcert'".into(),
                ));
            }
        }
    }
    Ok(store)
}

/// The rustls configuration for `mode`, or `None` when no TLS is wanted.
pub fn client_config(mode: SslMode, root_cert: Option<&Path>) -> Result<Option<PgTls>> {
    let check = match (mode, root_cert) {
        (SslMode::Disable, _) => return Ok(None),
        (SslMode::Require, Some(_)) => Check::Chain,
        (SslMode::Prefer | SslMode::Require, _) => Check::Nothing,
        (SslMode::VerifyCa, _) => Check::Chain,
        (SslMode::VerifyFull, _) => Check::ChainAndName,
    };
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier: Arc<dyn ServerCertVerifier> = match check {
        Check::Nothing => Arc::new(AnyCertificate(provider.signature_verification_algorithms)),
        Check::Chain | Check::ChainAndName => {
            let webpki = WebPkiServerVerifier::builder_with_provider(
                Arc::new(roots(root_cert)?),
                Arc::clone(&provider),
            )
            .build()
            .map_err(|e| tls_error(e.to_string()))?;
            if check == Check::Chain {
                Arc::new(ChainOnly(webpki))
            } else {
                webpki
            }
        }
    };
    let config = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_error(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(Some(PgTls(Arc::new(config))))
}

/// `require` / `prefer` without a root: encrypted, any certificate (the
/// handshake signatures are still verified).
#[derive(Debug)]
struct AnyCertificate(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}

/// `verify-ca`: the chain must reach a trusted root; the name is not checked.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// tokio-postgres' TLS hook over tokio-rustls.
#[derive(Clone)]
pub struct PgTls(Arc<ClientConfig>);

impl<S> MakeTlsConnect<S> for PgTls
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = PgTlsStream<S>;
    type TlsConnect = PgTlsConnect;
    type Error = rustls::pki_types::InvalidDnsNameError;

    fn make_tls_connect(&mut self, domain: &str) -> std::result::Result<PgTlsConnect, Self::Error> {
        let name = ServerName::try_from(domain.trim_matches(['[', ']']).to_string())?;
        Ok(PgTlsConnect {
            connector: tokio_rustls::TlsConnector::from(Arc::clone(&self.0)),
            name,
        })
    }
}

pub struct PgTlsConnect {
    connector: tokio_rustls::TlsConnector,
    name: ServerName<'static>,
}

impl<S> TlsConnect<S> for PgTlsConnect
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = PgTlsStream<S>;
    type Error = std::io::Error;
    type Future = BoxFuture<'static, std::io::Result<PgTlsStream<S>>>;

    fn connect(self, stream: S) -> Self::Future {
        Box::pin(async move {
            let tls = self.connector.connect(self.name, stream).await?;
            Ok(PgTlsStream(tls))
        })
    }
}

pub struct PgTlsStream<S>(tokio_rustls::client::TlsStream<S>);

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for PgTlsStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for PgTlsStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> TlsStream for PgTlsStream<S> {
    // No SCRAM channel binding (SCRAM-SHA-256 without -PLUS, as libpq's
    // default `channel_binding=prefer` falls back to).
    fn channel_binding(&self) -> ChannelBinding {
        ChannelBinding::none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sslmode_is_parsed_as_libpq_spells_it() {
        assert_eq!(SslMode::parse(None).unwrap(), SslMode::Prefer);
        assert_eq!(
            SslMode::parse(Some("VERIFY-FULL")).unwrap(),
            SslMode::VerifyFull
        );
        assert!(SslMode::parse(Some("allow")).is_err());
        assert!(SslMode::parse(Some("on")).is_err());
        assert!(client_config(SslMode::Disable, None).unwrap().is_none());
        assert!(client_config(SslMode::Require, None).unwrap().is_some());
        assert!(
            client_config(SslMode::VerifyFull, Some(Path::new("/nonexistent/ca.pem"))).is_err()
        );
    }
}
