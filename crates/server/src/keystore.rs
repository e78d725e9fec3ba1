//! Kafka's key and trust stores in the three formats Kafka reads (`ssl.keystore.type`,
//! `ssl.truststore.type`): JKS (Kafka's default, Java's own format), PKCS12 and PEM
//! (KIP-651), the PEM key encrypted or not (`ssl.key.password`). Each is turned into the
//! PEM text [`crate::tls::TlsConfig`] holds: the certificate chain, the private key as
//! unencrypted PKCS#8, and the trusted certificates.
//!
//! Store files come from the operator, yet are read as untrusted input: every length is
//! checked against what is left before it is used, and a damaged, truncated or tampered
//! file (its integrity digest or MAC) or a wrong password is an error naming the store,
//! never a panic.

use std::fmt;

use rustls_pki_types::pem::{PemObject, SectionKind};
use sha1::{Digest, Sha1};

/// A store's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreType {
    /// Java's KeyStore format (`0xFEEDFEED`), Kafka's default.
    Jks,
    /// PKCS #12 (RFC 7292), Java's default keystore format since Java 9.
    Pkcs12,
    /// PEM text: certificates and a PKCS#8 (possibly encrypted), PKCS#1 or SEC1 key.
    Pem,
}

impl StoreType {
    /// Kafka's names, in any case: `JKS`, `PKCS12`, `PEM`.
    pub fn parse(value: &str) -> Option<Self> {
        match value.trim().to_ascii_uppercase().as_str() {
            "JKS" => Some(Self::Jks),
            "PKCS12" => Some(Self::Pkcs12),
            "PEM" => Some(Self::Pem),
            _ => None,
        }
    }

    /// The format a store's bytes are in, for a store whose type was not given: JKS by its
    /// magic number, PEM by its armour, PKCS #12 otherwise (a DER SEQUENCE).
    pub fn detect(bytes: &[u8]) -> Self {
        if bytes.starts_with(&JKS_MAGIC.to_be_bytes()) {
            Self::Jks
        } else if bytes.first() == Some(&0x30) {
            Self::Pkcs12
        } else {
            Self::Pem
        }
    }
}

impl fmt::Display for StoreType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Jks => "JKS",
            Self::Pkcs12 => "PKCS12",
            Self::Pem => "PEM",
        })
    }
}

/// A keystore read as PEM: the certificate chain (leaf first) and the private key
/// (unencrypted PKCS#8, or the PEM store's own unencrypted block).
#[derive(Clone, PartialEq, Eq)]
pub struct Identity {
    pub chain_pem: String,
    pub key_pem: String,
}

/// The key stays out of logs.
impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity").finish_non_exhaustive()
    }
}

/// Reads a keystore: the one private key entry's key and certificate chain.
///
/// `store_password` is `ssl.keystore.password`: a JKS store's integrity digest and a
/// PKCS12 store's MAC and encryption are checked with it (Kafka requires it for both; PEM
/// stores have none). `key_password` is `ssl.key.password`: the JKS key's password
/// (the store's if absent, as keytool makes them), or a PEM store's encrypted key's.
pub fn read_keystore(
    kind: StoreType,
    bytes: &[u8],
    store_password: Option<&str>,
    key_password: Option<&str>,
) -> Result<Identity, String> {
    match kind {
        StoreType::Jks => {
            let password = store_password.ok_or("a JKS keystore needs ssl.keystore.password")?;
            let entries = jks::read(bytes, Some(password))?;
            let mut keys = entries.into_iter().filter_map(|e| match e {
                jks::Entry::PrivateKey { protected, chain } => Some((protected, chain)),
                jks::Entry::Trusted(_) => None,
            });
            let (protected, chain) = keys
                .next()
                .ok_or("the JKS keystore holds no private key entry")?;
            if keys.next().is_some() {
                return Err("the JKS keystore holds more than one private key entry".into());
            }
            let key = jks::recover_key(&protected, key_password.unwrap_or(password))?;
            Ok(Identity {
                chain_pem: certificates_pem(chain.iter().map(Vec::as_slice)),
                key_pem: pem_block("PRIVATE KEY", &usable_key(&key)),
            })
        }
        StoreType::Pkcs12 => {
            let password = store_password.ok_or("a PKCS12 keystore needs ssl.keystore.password")?;
            let store = pkcs12(bytes, password)?;
            let mut chains = store.entries().filter_map(|(_, e)| match e {
                p12_keystore::KeyStoreEntry::PrivateKeyChain(chain) => Some(chain),
                _ => None,
            });
            let chain = chains
                .next()
                .ok_or("the PKCS12 keystore holds no private key with its certificates")?;
            if chains.next().is_some() {
                return Err("the PKCS12 keystore holds more than one private key entry".into());
            }
            if chain.certs().is_empty() {
                return Err("the PKCS12 keystore's private key has no certificate".into());
            }
            Ok(Identity {
                chain_pem: certificates_pem(chain.certs().iter().map(|c| c.as_der())),
                key_pem: pem_block("PRIVATE KEY", &usable_key(chain.key().as_der())),
            })
        }
        StoreType::Pem => {
            if store_password.is_some_and(|p| !p.is_empty()) {
                return Err(
                    "ssl.keystore.password is not used by PEM keystores (Kafka refuses it too); \
                     an encrypted key's password is ssl.key.password"
                        .into(),
                );
            }
            let text = std::str::from_utf8(bytes).map_err(|_| "the PEM keystore is not text")?;
            Ok(Identity {
                chain_pem: text.to_string(),
                key_pem: pem_key(text, key_password)?,
            })
        }
    }
}

/// Reads a truststore: its trusted certificates, as PEM.
///
/// `password` is `ssl.truststore.password`. A JKS truststore's integrity digest is checked
/// when one is given (Java loads one without, unchecked); a PKCS12 truststore needs it.
pub fn read_truststore(
    kind: StoreType,
    bytes: &[u8],
    password: Option<&str>,
) -> Result<String, String> {
    let pem = match kind {
        StoreType::Jks => {
            let entries = jks::read(bytes, password.filter(|p| !p.is_empty()))?;
            certificates_pem(entries.iter().filter_map(|e| match e {
                jks::Entry::Trusted(cert) => Some(cert.as_slice()),
                jks::Entry::PrivateKey { .. } => None,
            }))
        }
        StoreType::Pkcs12 => {
            let password = password.ok_or("a PKCS12 truststore needs ssl.truststore.password")?;
            let store = pkcs12(bytes, password)?;
            certificates_pem(store.entries().filter_map(|(_, e)| match e {
                p12_keystore::KeyStoreEntry::Certificate(cert) => Some(cert.as_der()),
                _ => None,
            }))
        }
        StoreType::Pem => std::str::from_utf8(bytes)
            .map_err(|_| "the PEM truststore is not text")?
            .to_string(),
    };
    if !pem.contains("-----BEGIN CERTIFICATE-----") {
        return Err(format!(
            "the {kind} truststore holds no trusted certificate"
        ));
    }
    Ok(pem)
}

/// The PEM text's private key as PEM: an unencrypted block as it is, or an `ENCRYPTED
/// PRIVATE KEY` (PKCS#8, PBES2) decrypted with `password` into PKCS#8.
pub fn pem_key(text: &str, password: Option<&str>) -> Result<String, String> {
    for section in <(SectionKind, Vec<u8>)>::pem_slice_iter(text.as_bytes()) {
        match section {
            Ok((SectionKind::PrivateKey, der)) => {
                return Ok(pem_block("PRIVATE KEY", &usable_key(&der)))
            }
            Ok((SectionKind::RsaPrivateKey | SectionKind::EcPrivateKey, _)) => {
                return Ok(text.to_string())
            }
            _ => {}
        }
    }
    // rustls' PEM reader skips the sections it does not know, encrypted keys among them.
    let body = text
        .split_once("-----BEGIN ENCRYPTED PRIVATE KEY-----")
        .and_then(|(_, rest)| rest.split_once("-----END ENCRYPTED PRIVATE KEY-----"))
        .map(|(body, _)| body)
        .ok_or("no private key in the PEM (PKCS#8, encrypted PKCS#8, PKCS#1 or SEC1)")?;
    let password = password
        .ok_or("the PEM private key is encrypted: give its password in ssl.key.password")?;
    let der = base64_decode(body).ok_or("the encrypted PEM private key is damaged")?;
    let info = pkcs8::EncryptedPrivateKeyInfoRef::try_from(der.as_slice())
        .map_err(|e| format!("the encrypted PEM private key is damaged: {e}"))?;
    let key = info.decrypt(password).map_err(|_| {
        "the encrypted PEM private key cannot be decrypted: a wrong ssl.key.password, or an \
         encryption other than PKCS#5 v2 (PBES2)"
            .to_string()
    })?;
    Ok(pem_block("PRIVATE KEY", &usable_key(key.as_bytes())))
}

/// A PKCS#8 key as rustls' ring provider takes it. Java writes EC keys without their
/// public key, which ring requires: P-256 and P-384 keys are re-encoded with it. Any other
/// key is returned as it is.
fn usable_key(der: &[u8]) -> Vec<u8> {
    use pkcs8::{DecodePrivateKey, EncodePrivateKey};
    let reencoded = if let Ok(key) = p256::SecretKey::from_pkcs8_der(der) {
        key.to_pkcs8_der().ok()
    } else if let Ok(key) = p384::SecretKey::from_pkcs8_der(der) {
        key.to_pkcs8_der().ok()
    } else {
        None
    };
    reencoded.map_or_else(|| der.to_vec(), |doc| doc.as_bytes().to_vec())
}

fn pkcs12(bytes: &[u8], password: &str) -> Result<p12_keystore::KeyStore, String> {
    p12_keystore::KeyStore::from_pkcs12(bytes, password, p12_keystore::Pkcs12ImportPolicy::Relaxed)
        .map_err(|e| format!("the PKCS12 store cannot be read (a wrong password, or damaged): {e}"))
}

fn certificates_pem<'a>(certs: impl Iterator<Item = &'a [u8]>) -> String {
    certs.map(|der| pem_block("CERTIFICATE", der)).collect()
}

/// One PEM block: base64 in lines of 64 characters.
fn pem_block(label: &str, der: &[u8]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

fn base64_decode(body: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    let compact: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact)
        .ok()
}

const JKS_MAGIC: u32 = 0xFEED_FEED;

/// The longest store read (a store is a few certificates: this is a thousand times that).
pub const MAX_STORE_BYTES: usize = 16 << 20;

/// Java's KeyStore format, as `sun.security.provider.JavaKeyStore` writes it: big-endian
/// fields, aliases in modified UTF-8, private keys under Sun's key protector (a SHA-1
/// keystream), and a SHA-1 digest of the password, "Mighty Aphrodite" and the whole store
/// at the end.
pub mod jks {
    use super::*;

    /// One entry of a JKS store.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum Entry {
        /// A private key, still protected (the DER of its EncryptedPrivateKeyInfo), and
        /// its certificate chain, leaf first (DER).
        PrivateKey {
            protected: Vec<u8>,
            chain: Vec<Vec<u8>>,
        },
        /// A trusted certificate (DER).
        Trusted(Vec<u8>),
    }

    /// The most entries or certificates of a chain a store may claim.
    const MAX_COUNT: u32 = 100_000;
    /// Sun's key protector's algorithm (1.3.6.1.4.1.42.2.17.1.1), DER-encoded.
    const KEY_PROTECTOR_OID: &[u8] = &[0x2b, 0x06, 0x01, 0x04, 0x01, 0x2a, 0x02, 0x11, 0x01, 0x01];

    struct Reader<'a> {
        bytes: &'a [u8],
        pos: usize,
    }

    impl<'a> Reader<'a> {
        fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
            let end = self
                .pos
                .checked_add(n)
                .filter(|end| *end <= self.bytes.len())
                .ok_or("the JKS store is truncated")?;
            let out = &self.bytes[self.pos..end];
            self.pos = end;
            Ok(out)
        }

        fn u16(&mut self) -> Result<u16, String> {
            let b = self.take(2)?;
            Ok(u16::from_be_bytes([b[0], b[1]]))
        }

        fn u32(&mut self) -> Result<u32, String> {
            let b = self.take(4)?;
            Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        }

        fn count(&mut self, what: &str) -> Result<u32, String> {
            let n = self.u32()?;
            if n > MAX_COUNT {
                return Err(format!("the JKS store claims {n} {what}"));
            }
            Ok(n)
        }

        /// A `u32`-prefixed byte string.
        fn bytes(&mut self) -> Result<Vec<u8>, String> {
            let n = self.u32()? as usize;
            Ok(self.take(n)?.to_vec())
        }

        /// A `u16`-prefixed modified UTF-8 string (an alias or a certificate type), skipped.
        fn utf(&mut self) -> Result<&'a [u8], String> {
            let n = self.u16()? as usize;
            self.take(n)
        }
    }

    /// The password as Java hashes it: each UTF-16 code unit, big-endian.
    fn password_bytes(password: &str) -> Vec<u8> {
        password.encode_utf16().flat_map(u16::to_be_bytes).collect()
    }

    /// Reads a JKS store's entries, checking its digest when `password` is given.
    pub fn read(bytes: &[u8], password: Option<&str>) -> Result<Vec<Entry>, String> {
        if bytes.len() > MAX_STORE_BYTES {
            return Err(format!(
                "the JKS store is {} bytes, over the {MAX_STORE_BYTES} read",
                bytes.len()
            ));
        }
        if bytes.len() < 20 {
            return Err("the JKS store is truncated".into());
        }
        let (body, digest) = bytes.split_at(bytes.len() - 20);
        if let Some(password) = password {
            let mut sha = Sha1::new();
            sha.update(password_bytes(password));
            sha.update(b"Mighty Aphrodite");
            sha.update(body);
            if sha.finalize().as_slice() != digest {
                return Err(
                    "the JKS store's integrity check failed: a wrong password, or the store \
                     was damaged or tampered with"
                        .into(),
                );
            }
        }
        let mut r = Reader {
            bytes: body,
            pos: 0,
        };
        let magic = r.u32()?;
        if magic != JKS_MAGIC {
            return Err(if magic == 0xCECE_CECE {
                "JCEKS stores are not read: convert it to PKCS12 with keytool -importkeystore"
                    .into()
            } else {
                "not a JKS store (no 0xFEEDFEED)".into()
            });
        }
        let version = r.u32()?;
        if version != 1 && version != 2 {
            return Err(format!("JKS version {version} is not one Java writes"));
        }
        let count = r.count("entries")?;
        let mut entries = Vec::new();
        for _ in 0..count {
            let tag = r.u32()?;
            r.utf()?; // alias
            r.take(8)?; // creation date
            match tag {
                1 => {
                    let protected = r.bytes()?;
                    let certs = r.count("certificates in a chain")?;
                    let mut chain = Vec::new();
                    for _ in 0..certs {
                        if version == 2 {
                            r.utf()?; // "X.509"
                        }
                        chain.push(r.bytes()?);
                    }
                    entries.push(Entry::PrivateKey { protected, chain });
                }
                2 => {
                    if version == 2 {
                        r.utf()?;
                    }
                    entries.push(Entry::Trusted(r.bytes()?));
                }
                other => return Err(format!("a JKS entry of unknown kind {other}")),
            }
        }
        if r.pos != body.len() {
            return Err("the JKS store has bytes past its last entry".into());
        }
        Ok(entries)
    }

    /// One DER TLV at the start of `der`: (tag, contents, the rest).
    fn tlv(der: &[u8]) -> Result<(u8, &[u8], &[u8]), String> {
        let damaged = || "the JKS private key is damaged".to_string();
        let (&tag, rest) = der.split_first().ok_or_else(damaged)?;
        let (&first, rest) = rest.split_first().ok_or_else(damaged)?;
        let (len, rest) = if first < 0x80 {
            (first as usize, rest)
        } else {
            let n = (first & 0x7f) as usize;
            if n == 0 || n > 4 || rest.len() < n {
                return Err(damaged());
            }
            let len = rest[..n]
                .iter()
                .fold(0usize, |acc, b| acc << 8 | *b as usize);
            (len, &rest[n..])
        };
        if len > rest.len() {
            return Err(damaged());
        }
        Ok((tag, &rest[..len], &rest[len..]))
    }

    /// The PKCS#8 key inside a protected JKS key: `salt (20) | key XOR keystream | check
    /// (20)`, the keystream SHA-1(password | previous block) from the salt, the check
    /// SHA-1(password | key).
    pub fn recover_key(protected: &[u8], password: &str) -> Result<Vec<u8>, String> {
        // EncryptedPrivateKeyInfo ::= SEQUENCE { AlgorithmIdentifier, OCTET STRING }
        let (tag, info, _) = tlv(protected)?;
        let (alg_tag, alg, rest) = tlv(info)?;
        let (oid_tag, oid, _) = tlv(alg)?;
        if tag != 0x30 || alg_tag != 0x30 || oid_tag != 0x06 {
            return Err("the JKS private key is damaged".into());
        }
        if oid != KEY_PROTECTOR_OID {
            return Err(
                "the JKS private key is protected by an algorithm other than Sun's key \
                 protector: convert the store to PKCS12 with keytool -importkeystore"
                    .into(),
            );
        }
        let (data_tag, data, _) = tlv(rest)?;
        if data_tag != 0x04 || data.len() < 40 {
            return Err("the JKS private key is damaged".into());
        }
        let (salt, rest) = data.split_at(20);
        let (encrypted, check) = rest.split_at(rest.len() - 20);
        let password = password_bytes(password);
        let mut key = Vec::with_capacity(encrypted.len());
        let mut block = salt.to_vec();
        for chunk in encrypted.chunks(20) {
            let mut sha = Sha1::new();
            sha.update(&password);
            sha.update(&block);
            block = sha.finalize().to_vec();
            key.extend(chunk.iter().zip(&block).map(|(c, k)| c ^ k));
        }
        let mut sha = Sha1::new();
        sha.update(&password);
        sha.update(&key);
        if sha.finalize().as_slice() != check {
            return Err(
                "the JKS private key cannot be recovered: a wrong ssl.key.password (or \
                 ssl.keystore.password, which keytool also gives the key)"
                    .into(),
            );
        }
        Ok(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_by_name_and_by_content() {
        assert_eq!(StoreType::parse("jks"), Some(StoreType::Jks));
        assert_eq!(StoreType::parse(" PKCS12 "), Some(StoreType::Pkcs12));
        assert_eq!(StoreType::parse("PEM"), Some(StoreType::Pem));
        assert_eq!(StoreType::parse("JCEKS"), None);
        assert_eq!(
            StoreType::detect(&[0xfe, 0xed, 0xfe, 0xed, 0]),
            StoreType::Jks
        );
        assert_eq!(StoreType::detect(&[0x30, 0x82]), StoreType::Pkcs12);
        assert_eq!(StoreType::detect(b"-----BEGIN"), StoreType::Pem);
    }

    #[test]
    fn damaged_jks_stores_are_errors() {
        // Every prefix of a minimal store with one trusted certificate.
        let mut body = Vec::new();
        body.extend(JKS_MAGIC.to_be_bytes());
        body.extend(2u32.to_be_bytes());
        body.extend(1u32.to_be_bytes());
        body.extend(2u32.to_be_bytes());
        body.extend(1u16.to_be_bytes());
        body.push(b'a');
        body.extend(0u64.to_be_bytes());
        body.extend(5u16.to_be_bytes());
        body.extend(b"X.509");
        body.extend(3u32.to_be_bytes());
        body.extend([1, 2, 3]);
        let mut sha = Sha1::new();
        sha.update(jks_password_bytes("changeit"));
        sha.update(b"Mighty Aphrodite");
        sha.update(&body);
        let mut store = body.clone();
        store.extend(sha.finalize());
        assert_eq!(
            jks::read(&store, Some("changeit")).unwrap(),
            vec![jks::Entry::Trusted(vec![1, 2, 3])]
        );
        assert!(jks::read(&store, None).is_ok());
        assert!(jks::read(&store, Some("wrong")).is_err());
        for cut in 0..store.len() {
            assert!(jks::read(&store[..cut], None).is_err(), "prefix of {cut}");
        }
        // A claimed length past the end.
        let mut long = body.clone();
        let at = long.len() - 7;
        long[at..at + 4].copy_from_slice(&u32::MAX.to_be_bytes());
        long.extend([0; 20]);
        assert!(jks::read(&long, None).is_err());
    }

    fn jks_password_bytes(p: &str) -> Vec<u8> {
        p.encode_utf16().flat_map(u16::to_be_bytes).collect()
    }

    #[test]
    fn protected_keys_are_recovered_with_their_password_only() {
        // A key protected as Sun's key protector does it.
        let key: Vec<u8> = (0..77u8).collect();
        let salt = [7u8; 20];
        let password = jks_password_bytes("secret");
        let mut encrypted = Vec::new();
        let mut block = salt.to_vec();
        for chunk in key.chunks(20) {
            let mut sha = Sha1::new();
            sha.update(&password);
            sha.update(&block);
            block = sha.finalize().to_vec();
            encrypted.extend(chunk.iter().zip(&block).map(|(c, k)| c ^ k));
        }
        let mut sha = Sha1::new();
        sha.update(&password);
        sha.update(&key);
        let mut data = salt.to_vec();
        data.extend(encrypted);
        data.extend(sha.finalize());
        let oid = [0x2b, 0x06, 0x01, 0x04, 0x01, 0x2a, 0x02, 0x11, 0x01, 0x01];
        let mut alg = vec![0x06, oid.len() as u8];
        alg.extend(oid);
        alg.extend([0x05, 0x00]);
        let mut info = vec![0x30, alg.len() as u8];
        info.extend(alg);
        info.extend([0x04, 0x81, data.len() as u8]);
        info.extend(&data);
        let mut der = vec![0x30, 0x81, info.len() as u8];
        der.extend(info);
        assert_eq!(jks::recover_key(&der, "secret").unwrap(), key);
        assert!(jks::recover_key(&der, "Secret").is_err());
        for cut in 0..der.len() {
            assert!(
                jks::recover_key(&der[..cut], "secret").is_err(),
                "prefix of {cut}"
            );
        }
    }

    #[test]
    fn unencrypted_pem_keys_pass_and_missing_ones_are_named() {
        let pem = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
        assert_eq!(pem_key(pem, None).unwrap(), pem);
        assert!(pem_key(
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
            None
        )
        .unwrap_err()
        .contains("no private key"));
        let encrypted =
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n";
        assert!(pem_key(encrypted, None)
            .unwrap_err()
            .contains("ssl.key.password"));
        assert!(pem_key(encrypted, Some("x"))
            .unwrap_err()
            .contains("damaged"));
    }
}
