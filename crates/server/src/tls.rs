//! TLS on an `SSL` or `SASL_SSL` listener (rustls, TLS 1.2 and 1.3): the broker's
//! certificate chain and key from a PEM keystore, as Kafka reads one with
//! `ssl.keystore.type=PEM` (KIP-651).
//!
//! Fetch answers on a TLS connection are copied through the TLS stream (positional reads
//! of the segment files); `sendfile` only serves plaintext connections, as in Kafka.

use std::fmt;
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// The broker's TLS identity: PEM text, as read from the keystore.
#[derive(Clone, PartialEq, Eq)]
pub struct TlsConfig {
    /// The certificate chain, leaf first (`-----BEGIN CERTIFICATE-----` blocks).
    pub certificate_chain_pem: String,
    /// The private key (PKCS#8, PKCS#1 or SEC1; not encrypted).
    pub private_key_pem: String,
}

/// The key stays out of logs.
impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConfig").finish_non_exhaustive()
    }
}

impl TlsConfig {
    /// A keystore in Kafka's PEM format: the private key and the certificate chain in one
    /// text (the key's block and the certificate blocks, in any order).
    pub fn from_keystore_pem(pem: &str) -> Self {
        Self {
            certificate_chain_pem: pem.to_string(),
            private_key_pem: pem.to_string(),
        }
    }

    /// The rustls acceptor for this identity; the reason when the PEM is unusable.
    pub fn acceptor(&self) -> Result<Acceptor, String> {
        let chain: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(self.certificate_chain_pem.as_bytes())
                .collect::<Result<_, _>>()
                .map_err(|e| format!("the certificate chain is not PEM: {e}"))?;
        if chain.is_empty() {
            return Err("no certificate in the keystore".to_string());
        }
        let key = PrivateKeyDer::from_pem_slice(self.private_key_pem.as_bytes()).map_err(|e| {
            format!("no unencrypted private key in the keystore (PKCS#8, PKCS#1 or SEC1): {e}")
        })?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|e| format!("the key does not fit the certificate: {e}"))?;
        Ok(Acceptor(tokio_rustls::TlsAcceptor::from(Arc::new(config))))
    }
}

/// The TLS handshake of a listener.
#[derive(Clone)]
pub struct Acceptor(pub tokio_rustls::TlsAcceptor);

impl fmt::Debug for Acceptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Acceptor(..)")
    }
}
