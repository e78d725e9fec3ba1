//! TLS on an `SSL` or `SASL_SSL` listener (rustls, TLS 1.2 and 1.3): the broker's
//! certificate chain and key from a PEM keystore, as Kafka reads one with
//! `ssl.keystore.type=PEM` (KIP-651).
//!
//! With `ssl.client.auth=required` (or `requested`) clients present a certificate signed by
//! a CA of the PEM truststore, and the connection's principal is `User:` and the
//! certificate's subject in RFC 2253 form (`User:CN=alice,OU=care,O=Example`), as Kafka's
//! default principal builder names it, after `ssl.principal.mapping.rules` (KIP-371:
//! `RULE:^CN=([^,]*),OU=care,.*$/$1/L` makes it `User:alice`); SASL, where the listener has
//! it, names the principal instead.
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
    /// `ssl.principal.mapping.rules` (Kafka's default: `DEFAULT`, the whole DN).
    pub principal_mapping_rules: String,
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
            principal_mapping_rules: DEFAULT_RULES.to_string(),
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
                let roots = roots_from_pem(pem)?;
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
        let mapper = PrincipalMapper::parse(&self.principal_mapping_rules)?;
        Ok(Acceptor(
            tokio_rustls::TlsAcceptor::from(Arc::new(config)),
            Arc::new(mapper),
        ))
    }
}

/// The TLS handshake of a listener, and how it names client certificates.
#[derive(Clone)]
pub struct Acceptor(pub tokio_rustls::TlsAcceptor, pub Arc<PrincipalMapper>);

/// `ssl.principal.mapping.rules`' default.
pub const DEFAULT_RULES: &str = "DEFAULT";

/// `ssl.principal.mapping.rules` (KIP-371), as Kafka's `SslPrincipalMapper` applies them:
/// rules separated by commas, the first whose pattern matches the whole DN names the
/// principal. `DEFAULT` is the DN itself; `RULE:pattern/replacement/` replaces the DN with
/// `replacement` (`$1` for the first group), then `L` or `U` after the last `/` lower- or
/// upper-cases it. A `/` or `,` inside a pattern is escaped with `\`. The patterns are
/// Rust `regex` syntax, which Java's common patterns share. A DN no rule matches fails the
/// connection's authentication, as in Kafka.
#[derive(Debug)]
pub struct PrincipalMapper {
    rules: Vec<Rule>,
}

#[derive(Debug)]
enum Rule {
    Default,
    Replace {
        pattern: regex::Regex,
        replacement: String,
        case: Option<char>,
    },
}

impl PrincipalMapper {
    /// Parses the rules; the reason when one is not a rule.
    pub fn parse(rules: &str) -> Result<Self, String> {
        let mut out = Vec::new();
        let mut rest = rules.trim();
        while !rest.is_empty() {
            let rule;
            if let Some(after) = rest.strip_prefix("DEFAULT") {
                rule = Rule::Default;
                rest = after;
            } else if let Some(after) = rest.strip_prefix("RULE:") {
                let (pattern, after) = until_slash(after)
                    .ok_or_else(|| format!("{rules:?}: a RULE needs pattern/replacement/"))?;
                let (replacement, after) = until_slash(after)
                    .ok_or_else(|| format!("{rules:?}: a RULE needs pattern/replacement/"))?;
                let (case, after) = match after.chars().next() {
                    Some(c @ ('L' | 'U')) => (Some(c), &after[1..]),
                    _ => (None, after),
                };
                let pattern = regex::Regex::new(&format!("^(?:{pattern})$"))
                    .map_err(|e| format!("{pattern:?} is not a regular expression: {e}"))?;
                rule = Rule::Replace {
                    pattern,
                    replacement,
                    case,
                };
                rest = after;
            } else {
                return Err(format!("invalid rule: {rest:?}"));
            }
            out.push(rule);
            rest = rest.trim_start();
            match rest.strip_prefix(',') {
                Some(after) => rest = after.trim_start(),
                None if rest.is_empty() => {}
                None => return Err(format!("invalid rule: unmatched {rest:?}")),
            }
        }
        Ok(Self { rules: out })
    }

    /// The principal's name for a certificate's DN; `None` when no rule applies.
    pub fn name(&self, dn: &str) -> Option<String> {
        self.rules.iter().find_map(|rule| match rule {
            Rule::Default => Some(dn.to_string()),
            Rule::Replace {
                pattern,
                replacement,
                case,
            } => {
                let captures = pattern.captures(dn)?;
                let mut name = String::new();
                captures.expand(replacement, &mut name);
                Some(match case {
                    Some('L') => name.to_lowercase(),
                    Some('U') => name.to_uppercase(),
                    _ => name,
                })
            }
        })
    }
}

/// The text before the first unescaped `/` (with `\/` kept as an escaped `/` for the
/// pattern), and what follows that `/`; `None` without one.
fn until_slash(s: &str) -> Option<(String, &str)> {
    let mut out = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => {
                let (_, next) = chars.next()?;
                out.push('\\');
                out.push(next);
            }
            '/' => return Some((out, &s[i + 1..])),
            c => out.push(c),
        }
    }
    None
}

impl fmt::Debug for Acceptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Acceptor(..)")
    }
}

/// The principal of a client certificate, as Kafka's default principal builder names it:
/// `User:` and the subject in RFC 2253 form (`CN=alice,OU=care,O=Example`, most specific
/// first), mapped by `mapper`. `Ok(None)` without a certificate; `Err` with the DN when no
/// mapping rule applies.
pub fn certificate_principal(
    certs: Option<&[CertificateDer<'_>]>,
    mapper: &PrincipalMapper,
) -> Result<Option<String>, String> {
    let Some(leaf) = certs.and_then(|c| c.first()) else {
        return Ok(None);
    };
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(leaf.as_ref()) else {
        return Ok(None);
    };
    let dn = rfc2253(cert.subject());
    match mapper.name(&dn) {
        Some(name) => Ok(Some(crate::sasl::principal(&name))),
        None => Err(dn),
    }
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

/// The CA certificates of a PEM truststore, as rustls trusts them; the reason when one is
/// unusable or there are none.
pub fn roots_from_pem(pem: &str) -> Result<rustls::RootCertStore, String> {
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
    Ok(roots)
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
        let default = PrincipalMapper::parse(DEFAULT_RULES).unwrap();
        assert_eq!(
            certificate_principal(Some(std::slice::from_ref(&der)), &default),
            Ok(Some(
                "User:CN=alice,OU=care,O=Example\\, Inc.,C=US".to_string()
            ))
        );
        assert_eq!(certificate_principal(None, &default), Ok(None));
        assert_eq!(certificate_principal(Some(&[]), &default), Ok(None));
        let mapped = PrincipalMapper::parse("RULE:^CN=([^,]*),OU=care,.*$/$1/U").unwrap();
        assert_eq!(
            certificate_principal(Some(std::slice::from_ref(&der)), &mapped),
            Ok(Some("User:ALICE".to_string()))
        );
        let unmatched = PrincipalMapper::parse("RULE:^CN=bob,.*$/bob/").unwrap();
        assert!(certificate_principal(Some(&[der]), &unmatched).is_err());
    }

    /// KIP-371's examples, and Kafka's `SslPrincipalMapperTest` cases.
    #[test]
    fn mapping_rules_read_as_kafka_reads_them() {
        let m = PrincipalMapper::parse(
            "RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/, \
             RULE:^CN=(.*?),OU=(.*?),O=(.*?),L=(.*?),ST=(.*?),C=(.*?)$/$1@$2/L,\
             RULE:^cn=(.*?),ou=(.*?),dc=(.*?),dc=(.*?)$/$1@$2/U, DEFAULT",
        )
        .unwrap();
        assert_eq!(
            m.name("CN=kafka1,OU=ServiceUsers,O=Unknown,L=Unknown,ST=Unknown,C=Unknown")
                .as_deref(),
            Some("kafka1")
        );
        assert_eq!(
            m.name("CN=Duke,OU=JavaSoft,O=Sun Microsystems,L=Santa Clara,ST=CA,C=US")
                .as_deref(),
            Some("duke@javasoft")
        );
        assert_eq!(
            m.name("cn=duke,ou=javasoft,dc=sun,dc=com").as_deref(),
            Some("DUKE@JAVASOFT")
        );
        assert_eq!(m.name("OU=other").as_deref(), Some("OU=other"));
        // An escaped slash inside a pattern.
        let m = PrincipalMapper::parse("RULE:^CN=(.*?)\\/admin,.*$/$1-admin/").unwrap();
        assert_eq!(m.name("CN=ops/admin,O=x").as_deref(), Some("ops-admin"));
        for bad in ["RULE:^CN=(.*)$", "RULE:[/x/", "NOTARULE", "DEFAULT junk"] {
            assert!(PrincipalMapper::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(PrincipalMapper::parse("").unwrap().name("CN=x"), None);
    }
}
