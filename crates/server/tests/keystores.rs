//! Kafka's key and trust stores as keytool and OpenSSL write them (tests/fixtures/keystores,
//! see its README): each read into a TLS identity rustls accepts, or into the trusted CA;
//! wrong passwords named; every truncation and many corruptions of every store an error,
//! never a panic.

use std::path::PathBuf;

use myelin_server::keystore::{read_keystore, read_truststore, StoreType};
use myelin_server::tls::TlsConfig;

fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/keystores")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Whether the identity works as a TLS listener's: the key fits the certificate.
fn acceptor(identity: myelin_server::keystore::Identity) -> Result<(), String> {
    let mut tls = TlsConfig::from_keystore_pem("");
    tls.certificate_chain_pem = identity.chain_pem;
    tls.private_key_pem = identity.key_pem;
    tls.acceptor().map(drop)
}

fn accepts(identity: myelin_server::keystore::Identity) {
    acceptor(identity).expect("an acceptor");
}

/// Whether the PEM holds certificates only, all whole.
fn certificates(pem: &str) -> bool {
    use rustls_pki_types::pem::PemObject;
    let certs: Result<Vec<_>, _> =
        rustls_pki_types::CertificateDer::pem_slice_iter(pem.as_bytes()).collect();
    certs.is_ok_and(|c| !c.is_empty())
}

#[test]
fn keystores_in_every_format_give_a_working_identity() {
    let jks = fixture("broker.jks");
    assert_eq!(StoreType::detect(&jks), StoreType::Jks);
    let identity = read_keystore(
        StoreType::Jks,
        &jks,
        Some("store-secret"),
        Some("key-secret"),
    )
    .unwrap();
    // The chain: the broker's certificate, signed by the CA.
    assert_eq!(identity.chain_pem.matches("BEGIN CERTIFICATE").count(), 2);
    accepts(identity);

    let p12 = fixture("broker-ec.p12");
    assert_eq!(StoreType::detect(&p12), StoreType::Pkcs12);
    accepts(read_keystore(StoreType::Pkcs12, &p12, Some("store-secret"), None).unwrap());

    let pem = fixture("broker-encrypted.pem");
    assert_eq!(StoreType::detect(&pem), StoreType::Pem);
    accepts(read_keystore(StoreType::Pem, &pem, None, Some("key-secret")).unwrap());
}

#[test]
fn truststores_give_the_trusted_ca() {
    let ca = String::from_utf8(fixture("ca.crt")).unwrap();
    let body = |pem: &str| -> String {
        pem.lines()
            .filter(|l| !l.starts_with("-----"))
            .collect::<String>()
    };
    for (file, kind, password) in [
        ("truststore.jks", StoreType::Jks, Some("store-secret")),
        // Java reads a JKS truststore without its password, unchecked.
        ("truststore.jks", StoreType::Jks, None),
        ("truststore.p12", StoreType::Pkcs12, Some("store-secret")),
    ] {
        let pem = read_truststore(kind, &fixture(file), password).unwrap();
        assert_eq!(body(&pem), body(&ca), "{file}");
    }
    // A keystore's trusted entries count too; a store with none is refused.
    assert!(read_truststore(StoreType::Jks, &fixture("broker.jks"), None).is_ok());
    let err = read_truststore(
        StoreType::Pkcs12,
        &fixture("broker-ec.p12"),
        Some("store-secret"),
    )
    .unwrap_err();
    assert!(err.contains("no trusted certificate"), "{err}");
}

#[test]
fn wrong_passwords_are_named() {
    let jks = fixture("broker.jks");
    let err = read_keystore(StoreType::Jks, &jks, Some("wrong"), Some("key-secret")).unwrap_err();
    assert!(err.contains("integrity"), "{err}");
    // keytool gives the key the store's password unless told otherwise: tried when no
    // ssl.key.password is set, and refused here, where they differ.
    let err = read_keystore(StoreType::Jks, &jks, Some("store-secret"), None).unwrap_err();
    assert!(err.contains("ssl.key.password"), "{err}");
    let err = read_keystore(StoreType::Jks, &jks, None, None).unwrap_err();
    assert!(err.contains("ssl.keystore.password"), "{err}");
    let p12 = fixture("broker-ec.p12");
    assert!(read_keystore(StoreType::Pkcs12, &p12, Some("wrong"), None).is_err());
    let pem = fixture("broker-encrypted.pem");
    let err = read_keystore(StoreType::Pem, &pem, None, Some("wrong")).unwrap_err();
    assert!(err.contains("ssl.key.password"), "{err}");
    let err = read_keystore(StoreType::Pem, &pem, None, None).unwrap_err();
    assert!(err.contains("encrypted"), "{err}");
    // Kafka refuses a store password for a PEM keystore.
    let err = read_keystore(StoreType::Pem, &pem, Some("x"), Some("key-secret")).unwrap_err();
    assert!(err.contains("ssl.keystore.password"), "{err}");
    // A store read as the wrong type.
    assert!(read_keystore(StoreType::Jks, &p12, Some("store-secret"), None).is_err());
    assert!(read_keystore(StoreType::Pkcs12, &jks, Some("store-secret"), None).is_err());
}

#[test]
fn damaged_stores_are_errors_not_panics() {
    for (file, kind) in [
        ("broker.jks", StoreType::Jks),
        ("truststore.jks", StoreType::Jks),
        ("broker-ec.p12", StoreType::Pkcs12),
        ("truststore.p12", StoreType::Pkcs12),
        ("broker-encrypted.pem", StoreType::Pem),
    ] {
        let bytes = fixture(file);
        let read = |b: &[u8]| {
            let key_password = (kind != StoreType::Pkcs12).then_some("key-secret");
            let store_password = (kind != StoreType::Pem).then_some("store-secret");
            let key = read_keystore(kind, b, store_password, key_password)
                .is_ok_and(|identity| acceptor(identity).is_ok());
            let trust = read_truststore(kind, b, store_password).is_ok_and(|p| certificates(&p));
            key || trust
        };
        assert!(read(&bytes), "{file} as it is");
        // A PEM store without its last newline is still whole.
        let whole = if kind == StoreType::Pem {
            bytes.len() - 1
        } else {
            bytes.len()
        };
        // PKCS12's key derivation (10,000 rounds) is slow in a debug build: every third
        // cut of those stores.
        let step = if kind == StoreType::Pkcs12 { 3 } else { 1 };
        for cut in (0..whole).step_by(step) {
            assert!(!read(&bytes[..cut]), "{file} cut to {cut} bytes");
        }
        // Flipped bits: the JKS digest or the PKCS12 MAC catches them, or the parse fails
        // (a PEM's armour and base64 may survive some, which is fine: no panic).
        for at in (0..bytes.len()).step_by(7 * step) {
            let mut damaged = bytes.clone();
            damaged[at] ^= 0x5a;
            let ok = read(&damaged);
            if kind == StoreType::Jks {
                assert!(!ok, "{file} with byte {at} flipped");
            }
        }
    }
}
