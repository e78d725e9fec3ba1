//! Arbitrary bytes as a key or trust store (`myelin_server::keystore`): JKS, PKCS12 and
//! PEM, read as a keystore and as a truststore, with the fixtures' passwords (so that a
//! mutated fixture gets past the digest or MAC now and then). Never a panic; what reads
//! as an identity is PEM that rustls can be handed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use myelin_server::keystore::{read_keystore, read_truststore, StoreType};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, bytes)) = data.split_first() else {
        return;
    };
    let kind = match selector % 4 {
        0 => StoreType::Jks,
        1 => StoreType::Pkcs12,
        2 => StoreType::Pem,
        _ => StoreType::detect(bytes),
    };
    let store_password = (selector & 0x10 == 0).then_some("store-secret");
    let key_password = (selector & 0x20 == 0).then_some("key-secret");
    if let Ok(identity) = read_keystore(kind, bytes, store_password, key_password) {
        let mut tls = myelin_server::tls::TlsConfig::from_keystore_pem("");
        tls.certificate_chain_pem = identity.chain_pem;
        tls.private_key_pem = identity.key_pem;
        let _ = tls.acceptor();
    }
    let _ = read_truststore(kind, bytes, store_password);
});
