//! TLS for client connections (feature `tls`): rustls with the `ring` provider.
//!
//! A [`TlsConfig`] says which certificates the client trusts and, optionally, which name the
//! server's certificate must carry (by default the host part of the address dialled).
//! [`Client::connect_tls`](super::Client::connect_tls) uses it; the relay takes one through
//! [`RelayConfig::tls`](crate::relay::RelayConfig::tls).

use std::sync::Arc;

use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::RootCertStore;

use super::ClientError;

/// The rustls crate this module is built on, for building a [`rustls::ClientConfig`] of
/// your own (client certificates, ALPN, a custom verifier) for [`TlsConfig::from_rustls`].
pub use tokio_rustls::rustls;

/// Why a [`TlsConfig`] could not be built.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// The PEM text holds no certificate, or one that cannot be parsed.
    #[error("invalid root certificate PEM: {0}")]
    Pem(String),
    /// The platform's certificate store could not be read, or holds no usable certificate.
    #[error("no usable platform root certificates: {0}")]
    NativeRoots(String),
    /// The name is neither a DNS name nor an IP address.
    #[error("invalid TLS server name {0:?}")]
    ServerName(String),
}

/// How a client connection is secured: the trusted root certificates (or a whole
/// [`rustls::ClientConfig`]) and the name the server's certificate must carry.
///
/// ```
/// use stomp_core::client::TlsConfig;
///
/// # fn demo(private_ca_pem: &[u8]) -> Result<(), stomp_core::client::TlsError> {
/// // A broker whose certificate is signed by a private CA, reached by IP address:
/// let tls = TlsConfig::with_root_pem(private_ca_pem)?.server_name("rabbit.internal")?;
/// // A managed broker with a publicly trusted certificate:
/// let public = TlsConfig::native_roots()?;
/// # let _ = (tls, public);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct TlsConfig {
    config: Arc<rustls::ClientConfig>,
    server_name: Option<ServerName<'static>>,
}

impl std::fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsConfig")
            .field("server_name", &self.server_name)
            .field("alpn_protocols", &self.config.alpn_protocols)
            .finish_non_exhaustive()
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn config_with_roots(roots: RootCertStore) -> Arc<rustls::ClientConfig> {
    let config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map(|builder| builder.with_root_certificates(roots).with_no_client_auth());
    match config {
        Ok(config) => Arc::new(config),
        // The ring provider supports the default protocol versions; a rustls that no
        // longer did would fail every handshake with this clear reason instead.
        Err(error) => unreachable!("ring supports rustls' default protocol versions: {error}"),
    }
}

impl TlsConfig {
    /// Trusts the platform's root certificates (read with `rustls-native-certs`; the
    /// `SSL_CERT_FILE` / `SSL_CERT_DIR` environment variables override the location).
    pub fn native_roots() -> Result<Self, TlsError> {
        let loaded = rustls_native_certs::load_native_certs();
        let mut roots = RootCertStore::empty();
        let (added, _ignored) = roots.add_parsable_certificates(loaded.certs);
        if added == 0 {
            let reason = loaded
                .errors
                .first()
                .map_or_else(|| "no certificates found".to_owned(), ToString::to_string);
            return Err(TlsError::NativeRoots(reason));
        }
        Ok(Self::with_roots(roots))
    }

    /// Trusts only the certificates in `pem` (one or more `CERTIFICATE` blocks): a private
    /// CA, or a self-signed server certificate.
    pub fn with_root_pem(pem: &[u8]) -> Result<Self, TlsError> {
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| TlsError::Pem(e.to_string()))?;
            roots.add(cert).map_err(|e| TlsError::Pem(e.to_string()))?;
        }
        if roots.is_empty() {
            return Err(TlsError::Pem("no CERTIFICATE block found".into()));
        }
        Ok(Self::with_roots(roots))
    }

    /// Trusts the certificates of `roots`.
    pub fn with_roots(roots: RootCertStore) -> Self {
        TlsConfig {
            config: config_with_roots(roots),
            server_name: None,
        }
    }

    /// Uses a [`rustls::ClientConfig`] built by the application (client certificates for
    /// mutual TLS, ALPN, a verifier of its own). Build it with the `ring` provider
    /// (`ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))`)
    /// or any other one the application enables.
    pub fn from_rustls(config: Arc<rustls::ClientConfig>) -> Self {
        TlsConfig {
            config,
            server_name: None,
        }
    }

    /// The name the server's certificate must carry (and that is sent as SNI), instead of
    /// the host part of the address dialled: for brokers reached by IP address or through
    /// an alias.
    pub fn server_name(mut self, name: impl Into<String>) -> Result<Self, TlsError> {
        let name = name.into();
        let parsed = ServerName::try_from(name.clone()).map_err(|_| TlsError::ServerName(name))?;
        self.server_name = Some(parsed);
        Ok(self)
    }

    /// The rustls configuration in use.
    pub fn rustls_config(&self) -> &Arc<rustls::ClientConfig> {
        &self.config
    }

    /// Runs the TLS handshake over `tcp`, checking the certificate against the configured
    /// server name or else the host of `addr` (`host:port`, `[v6]:port`).
    pub(crate) async fn handshake(
        &self,
        addr: &str,
        tcp: TcpStream,
    ) -> Result<TlsStream<TcpStream>, ClientError> {
        let name = match &self.server_name {
            Some(name) => name.clone(),
            None => {
                let host = host_of(addr);
                ServerName::try_from(host.to_owned()).map_err(|_| ClientError::Tls {
                    server_name: host.to_owned(),
                    reason: "not a valid DNS name or IP address".into(),
                })?
            }
        };
        let server_name = name.to_str().into_owned();
        TlsConnector::from(self.config.clone())
            .connect(name, tcp)
            .await
            .map_err(|error| ClientError::Tls {
                server_name,
                reason: error.to_string(),
            })
    }
}

/// The host part of `host:port`, `[v6]:port` or a bare host.
fn host_of(addr: &str) -> &str {
    if let Some(rest) = addr.strip_prefix('[') {
        return rest.split_once(']').map_or(rest, |(host, _)| host);
    }
    match addr.rsplit_once(':') {
        // A bare IPv6 address has more than one colon and no port.
        Some((host, _)) if !host.contains(':') => host,
        Some(_) | None => addr,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_is_taken_from_the_address() {
        let cases = [
            ("rabbit.example:61614", "rabbit.example"),
            ("127.0.0.1:61614", "127.0.0.1"),
            ("[::1]:61614", "::1"),
            ("rabbit.example", "rabbit.example"),
            ("::1", "::1"),
        ];
        for (addr, host) in cases {
            assert_eq!(host_of(addr), host, "{addr}");
        }
    }

    #[test]
    fn bad_pem_and_names_are_refused() {
        assert!(matches!(
            TlsConfig::with_root_pem(b"not a certificate"),
            Err(TlsError::Pem(_))
        ));
        let ok = TlsConfig::with_roots(RootCertStore::empty());
        assert!(matches!(
            ok.clone().server_name("bad name!"),
            Err(TlsError::ServerName(_))
        ));
        assert!(ok.clone().server_name("rabbit.internal").is_ok());
        assert!(ok.server_name("10.0.0.7").is_ok());
    }
}
