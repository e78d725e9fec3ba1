//! What a [`super::Connection`] needs to reach a secured listener: TLS (the CA that signs
//! the broker's certificate) and SASL (PLAIN, SCRAM-SHA-256/512), set from Kafka's client
//! properties (`security.protocol`, `sasl.mechanism`, `sasl.jaas.config`,
//! `ssl.truststore.location`, ...), as `--command-config` files give them to Kafka's tools.

use std::fmt;
use std::sync::Arc;

use myelin_server::keystore::{self, StoreType};
use myelin_server::sasl::Mechanism;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;

/// TLS and SASL settings of a client; the default is PLAINTEXT.
#[derive(Clone, Default)]
pub struct Security {
    /// TLS: the PEM of the CAs trusted to sign the broker's certificate.
    pub tls_ca_pem: Option<String>,
    /// SASL: mechanism, user and password.
    pub sasl: Option<(Mechanism, String, String)>,
}

/// The password stays out of logs.
impl fmt::Debug for Security {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Security")
            .field("tls", &self.tls_ca_pem.is_some())
            .field("sasl", &self.sasl.as_ref().map(|(m, u, _)| (m, u)))
            .finish()
    }
}

impl Security {
    /// Reads Kafka client properties (`key=value` lines, `#` comments), as in a
    /// `--command-config` file.
    pub fn from_properties(text: &str) -> Result<Self, String> {
        let mut props = std::collections::BTreeMap::new();
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
                continue;
            }
            let (k, v) = line
                .split_once('=')
                .or_else(|| line.split_once(':'))
                .ok_or_else(|| format!("{line:?} is not key=value"))?;
            props.insert(k.trim().to_string(), v.trim().to_string());
        }
        let get = |k: &str| props.get(k).map(String::as_str);
        let protocol = get("security.protocol")
            .unwrap_or("PLAINTEXT")
            .to_ascii_uppercase();
        let (tls, sasl) = match protocol.as_str() {
            "PLAINTEXT" => (false, false),
            "SSL" => (true, false),
            "SASL_PLAINTEXT" => (false, true),
            "SASL_SSL" => (true, true),
            other => {
                return Err(format!(
                    "security.protocol {other} is not one Myelin speaks"
                ))
            }
        };
        let mut security = Security::default();
        if tls {
            let path = get("ssl.truststore.location")
                .or_else(|| get("ssl.ca.location"))
                .ok_or("TLS needs the CA: ssl.truststore.location or ssl.ca.location")?;
            let bytes = std::fs::read(path).map_err(|e| format!("cannot read {path}: {e}"))?;
            let kind = match get("ssl.truststore.type") {
                Some(kind) => StoreType::parse(kind)
                    .ok_or_else(|| format!("ssl.truststore.type {kind}: JKS, PKCS12 or PEM"))?,
                None => StoreType::detect(&bytes),
            };
            security.tls_ca_pem = Some(
                keystore::read_truststore(kind, &bytes, get("ssl.truststore.password"))
                    .map_err(|e| format!("{path}: {e}"))?,
            );
        }
        if sasl {
            let name = get("sasl.mechanism")
                .or_else(|| get("sasl.mechanisms"))
                .unwrap_or("GSSAPI");
            let mechanism = Mechanism::from_name(name)
                .ok_or_else(|| format!("sasl.mechanism {name} is not one Myelin speaks"))?;
            let (user, password) = match (get("sasl.username"), get("sasl.password")) {
                (Some(u), Some(p)) => (u.to_string(), p.to_string()),
                _ => {
                    let jaas = get("sasl.jaas.config").ok_or(
                        "SASL needs sasl.jaas.config (or sasl.username and sasl.password)",
                    )?;
                    (
                        jaas_option(jaas, "username").ok_or("sasl.jaas.config has no username")?,
                        jaas_option(jaas, "password").ok_or("sasl.jaas.config has no password")?,
                    )
                }
            };
            security.sasl = Some((mechanism, user, password));
        }
        Ok(security)
    }

    /// The TLS connector for the trusted CAs.
    pub(crate) fn connector(&self) -> Result<Option<tokio_rustls::TlsConnector>, String> {
        let Some(pem) = &self.tls_ca_pem else {
            return Ok(None);
        };
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
            let cert = cert.map_err(|e| format!("the CA file is not PEM: {e}"))?;
            roots.add(cert).map_err(|e| e.to_string())?;
        }
        if roots.is_empty() {
            return Err("no certificate in the CA file".to_string());
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Some(tokio_rustls::TlsConnector::from(Arc::new(config))))
    }
}

/// The value of option `key` in a JAAS config (`key="value"`).
fn jaas_option(jaas: &str, key: &str) -> Option<String> {
    let at = jaas.find(&format!("{key}="))?;
    let rest = jaas[at + key.len() + 1..].trim_start();
    if let Some(quoted) = rest.strip_prefix('"') {
        Some(quoted[..quoted.find('"')?].to_string())
    } else {
        Some(
            rest.split(|c: char| c.is_whitespace() || c == ';')
                .next()?
                .to_string(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafka_client_properties() {
        let s = Security::from_properties(
            "# admin.properties\n\
             security.protocol=SASL_PLAINTEXT\n\
             sasl.mechanism=SCRAM-SHA-512\n\
             sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username=\"alice\" password=\"s3 cret\";\n",
        )
        .unwrap();
        assert_eq!(
            s.sasl,
            Some((Mechanism::ScramSha512, "alice".into(), "s3 cret".into()))
        );
        assert!(s.tls_ca_pem.is_none());
        let s = Security::from_properties(
            "security.protocol=SASL_PLAINTEXT\nsasl.mechanisms=PLAIN\nsasl.username=a\nsasl.password=b",
        )
        .unwrap();
        assert_eq!(s.sasl, Some((Mechanism::Plain, "a".into(), "b".into())));
        assert!(Security::from_properties("").unwrap().sasl.is_none());
        for bad in [
            "security.protocol=KERBEROS",
            "security.protocol=SASL_PLAINTEXT\nsasl.mechanism=GSSAPI\nsasl.username=a\nsasl.password=b",
            "security.protocol=SASL_PLAINTEXT\nsasl.mechanism=PLAIN",
            "security.protocol=SSL",
            "security.protocol=SSL\nssl.truststore.location=/no/such/file",
            "not a property",
        ] {
            assert!(Security::from_properties(bad).is_err(), "{bad}");
        }
    }

    /// Kafka tools' truststores in each format (the server's test fixtures, made by
    /// keytool): the CA is trusted, whatever the file's type.
    #[test]
    fn truststores_of_every_type() {
        let dir = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../server/tests/fixtures/keystores"
        );
        let ca = std::fs::read_to_string(format!("{dir}/ca.crt")).unwrap();
        let body =
            |pem: &str| -> String { pem.lines().filter(|l| !l.starts_with("-----")).collect() };
        for properties in [
            format!("ssl.truststore.location={dir}/truststore.jks\nssl.truststore.type=JKS"),
            format!("ssl.truststore.location={dir}/truststore.jks"),
            format!(
                "ssl.truststore.location={dir}/truststore.p12\nssl.truststore.password=store-secret"
            ),
            format!("ssl.ca.location={dir}/ca.crt"),
        ] {
            let s = Security::from_properties(&format!("security.protocol=SSL\n{properties}"))
                .unwrap_or_else(|e| panic!("{properties}: {e}"));
            assert_eq!(
                body(s.tls_ca_pem.as_deref().unwrap()),
                body(&ca),
                "{properties}"
            );
            assert!(s.connector().unwrap().is_some());
        }
        for bad in [
            format!("ssl.truststore.location={dir}/truststore.p12"),
            format!("ssl.truststore.location={dir}/truststore.jks\nssl.truststore.password=wrong"),
            format!("ssl.truststore.location={dir}/truststore.jks\nssl.truststore.type=JCEKS"),
        ] {
            assert!(
                Security::from_properties(&format!("security.protocol=SSL\n{bad}")).is_err(),
                "{bad}"
            );
        }
    }
}
