//! Certificates for the TLS tests, made with `rcgen`.

use std::path::{Path, PathBuf};

/// A CA and the broker's PEM keystore for 127.0.0.1, written to `dir`: (CA file,
/// keystore file). Also a client certificate for `CN=alice,OU=care` signed by the CA, in
/// `client.pem` and `client.key`.
pub fn tls_files(dir: &Path) -> (PathBuf, PathBuf) {
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "myelin e2e CA");
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let params =
        rcgen::CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
            .unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &ca, &ca_key).unwrap();
    let (ca_file, keystore) = (dir.join("ca.pem"), dir.join("keystore.pem"));
    std::fs::write(&ca_file, ca.pem()).unwrap();
    let mut client = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    client.distinguished_name = rcgen::DistinguishedName::new();
    client
        .distinguished_name
        .push(rcgen::DnType::OrganizationalUnitName, "care");
    client
        .distinguished_name
        .push(rcgen::DnType::CommonName, "alice");
    let client_key = rcgen::KeyPair::generate().unwrap();
    let client_cert = client.signed_by(&client_key, &ca, &ca_key).unwrap();
    std::fs::write(dir.join("client.pem"), client_cert.pem()).unwrap();
    std::fs::write(dir.join("client.key"), client_key.serialize_pem()).unwrap();
    std::fs::write(&keystore, format!("{}{}", key.serialize_pem(), cert.pem())).unwrap();
    (ca_file, keystore)
}
