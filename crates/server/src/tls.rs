//! TLS on an `SSL` or `SASL_SSL` listener (rustls, TLS 1.2 and 1.3): the broker's
//! certificate chain and key from a PEM keystore, as Kafka reads one with
//! `ssl.keystore.type=PEM` (KIP-651).
//!
//! With `ssl.client.auth=required` (or `requested`) clients present a certificate signed by
//! a CA of the PEM truststore, and the connection's principal is `User:` and the
//! certificate's subject in RFC 2253 form (`User:CN=alice,OU=care,O=Example`), as Kafka's
//! default principal builder names it; SASL, where the listener has it, names the
//! principal instead.
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
    /// `ssl.client.auth`.
    pub client_auth: ClientAuth,
    /// The CAs that sign client certificates (`ssl.truststore.location`), PEM.
    pub truststore_pem: Option<String>,
}

/// `ssl.client.auth`: whether clients present certificates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ClientAuth {
    /// No client certificates (Kafka's default).
    #[default]
    None,
    /// A client may present one; one that does is checked.
    Requested,
    /// Every client must present one, signed by a CA of the truststore.
    Required,
}

impl ClientAuth {
    /// Kafka's values: `none`, `requested`, `required`.
    pub fn parse(value: &str) -> Option<Self> {
        match value.trim() {
            "none" => Some(Self::None),
            "requested" => Some(Self::Requested),
            "required" => Some(Self::Required),
            _ => None,
        }
    }
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
            client_auth: ClientAuth::None,
            truststore_pem: None,
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
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?;
        let builder = match self.client_auth {
            ClientAuth::None => builder.with_no_client_auth(),
            auth => {
                let pem = self.truststore_pem.as_deref().ok_or(
                    "ssl.client.auth needs a truststore of CA certificates (ssl.truststore.location)",
                )?;
                let mut roots = rustls::RootCertStore::empty();
                for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
                    let cert = cert.map_err(|e| format!("the truststore is not PEM: {e}"))?;
                    roots
                        .add(cert)
                        .map_err(|e| format!("a truststore certificate is unusable: {e}"))?;
                }
                if roots.is_empty() {
                    return Err("no certificate in the truststore".to_string());
                }
                let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots),
                    provider,
                );
                let verifier = if auth == ClientAuth::Requested {
                    verifier.allow_unauthenticated()
                } else {
                    verifier
                };
                builder.with_client_cert_verifier(verifier.build().map_err(|e| e.to_string())?)
            }
        };
        let config = builder
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

/// The principal of a client certificate, as Kafka's default principal builder names it:
/// `User:` and the subject in RFC 2253 form (`CN=alice,OU=care,O=Example`, most specific
/// first). `None` without a certificate.
pub fn certificate_principal(certs: Option<&[CertificateDer<'_>]>) -> Option<String> {
    let leaf = certs?.first()?;
    let (_, cert) = x509_parser::parse_x509_certificate(leaf.as_ref()).ok()?;
    Some(crate::sasl::principal(&rfc2253(cert.subject())))
}

/// A distinguished name in RFC 2253 form, as Java's `X500Principal.getName()` writes it:
/// the RDNs last to first, `+` between the attributes of one RDN, the usual keywords, and
/// `,+"\\<>;` (and a leading `#` or space, a trailing space) escaped.
fn rfc2253(name: &x509_parser::x509::X509Name<'_>) -> String {
    let rdns: Vec<String> = name
        .iter_rdn()
        .map(|rdn| {
            rdn.iter()
                .map(|attr| {
                    let oid = attr.attr_type().to_id_string();
                    let key = match oid.as_str() {
                        "2.5.4.3" => "CN".to_string(),
                        "2.5.4.6" => "C".to_string(),
                        "2.5.4.7" => "L".to_string(),
                        "2.5.4.8" => "ST".to_string(),
                        "2.5.4.9" => "STREET".to_string(),
                        "2.5.4.10" => "O".to_string(),
                        "2.5.4.11" => "OU".to_string(),
                        "0.9.2342.19200300.100.1.1" => "UID".to_string(),
                        "0.9.2342.19200300.100.1.25" => "DC".to_string(),
                        other => other.to_string(),
                    };
                    match attr.as_str() {
                        Ok(value) => format!("{key}={}", escape(value)),
                        Err(_) => {
                            let hex: String = attr
                                .attr_value()
                                .data
                                .iter()
                                .map(|b| format!("{b:02x}"))
                                .collect();
                            format!("{key}=#{hex}")
                        }
                    }
                })
                .collect::<Vec<_>>()
                .join("+")
        })
        .collect();
    rdns.into_iter().rev().collect::<Vec<_>>().join(",")
}

fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        let special = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';')
            || (i == 0 && (c == '#' || c == ' '))
            || (i == last && c == ' ');
        if special {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_read_as_kafka_names_them() {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::CountryName, "US");
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, "Example, Inc.");
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationalUnitName, "care");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "alice");
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let der = cert.der().clone();
        assert_eq!(
            certificate_principal(Some(&[der])).as_deref(),
            Some("User:CN=alice,OU=care,O=Example\\, Inc.,C=US")
        );
        assert_eq!(certificate_principal(None), None);
        assert_eq!(certificate_principal(Some(&[])), None);
    }
}
