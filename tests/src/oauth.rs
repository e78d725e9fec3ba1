//! The OAUTHBEARER tests' identity provider: an ES256 key's JWK, tokens it signs, and its
//! JWKS and token endpoints over HTTPS (tests/python/jwks_server.py).

/// Seconds since the epoch.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The JWK (RFC 7517) of an ES256 key's public half, with key id `kid`.
pub fn es256_jwk(key: &rcgen::KeyPair, kid: &str) -> String {
    use base64::Engine;
    let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let point = key.public_key_raw();
    format!(
        r#"{{"kty":"EC","crv":"P-256","kid":"{kid}","use":"sig","alg":"ES256","x":"{}","y":"{}"}}"#,
        b64(&point[1..33]),
        b64(&point[33..65])
    )
}

/// A token for `svc-notify` (audience `myelin`, issuer `https://idp.example`) signed by
/// `key` under key id `kid`, expiring at `exp`.
pub fn sign_token(key: &rcgen::KeyPair, kid: &str, exp: u64) -> String {
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    header.kid = Some(kid.to_string());
    jsonwebtoken::encode(
        &header,
        &serde_json::json!({"sub": "svc-notify", "aud": "myelin", "iss": "https://idp.example", "exp": exp, "iat": unix_now()}),
        &jsonwebtoken::EncodingKey::from_ec_der(&key.serialize_der()),
    )
    .unwrap()
}

/// An identity provider's JWKS endpoint (tests/python/jwks_server.py): the files of a
/// directory over HTTPS, each request it answers counted.
#[derive(Debug)]
pub struct JwksServer {
    child: std::process::Child,
    pub port: u16,
    pub requests: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl JwksServer {
    pub fn start(dir: &std::path::Path, keystore: &std::path::Path) -> JwksServer {
        use std::io::BufRead;
        let mut child = std::process::Command::new(crate::process::venv_python())
            .arg(crate::broker::workspace_root().join("tests/python/jwks_server.py"))
            .arg(dir)
            .arg(keystore)
            .arg(keystore)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .expect("cannot start jwks_server.py");
        let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let first = lines.next().and_then(Result::ok).unwrap_or_default();
        let port = first
            .strip_prefix("PORT ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("jwks_server.py printed {first:?}"));
        let requests = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = requests.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                seen.lock().unwrap().push(line);
            }
        });
        JwksServer {
            child,
            port,
            requests,
        }
    }

    pub fn url(&self) -> String {
        format!("https://localhost:{}/jwks.json", self.port)
    }

    /// The token endpoint's URL.
    pub fn token_url(&self) -> String {
        format!("https://localhost:{}/token", self.port)
    }

    /// Whether the server has answered `request` (`GET /jwks.json`, `POST /token`).
    pub fn answered(&self, request: &str) -> bool {
        self.requests.lock().unwrap().iter().any(|r| r == request)
    }

    /// The JWKS fetches (GETs) answered so far.
    pub fn count(&self) -> usize {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.starts_with("GET "))
            .count()
    }
}

impl Drop for JwksServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The broker flags of the OAUTHBEARER tests: a `SASL_PLAINTEXT` listener taking
/// OAUTHBEARER tokens for the audience `myelin` from the issuer `https://idp.example`,
/// checked against the JWKS at `jwks_url`, and each of `extra` as one more config.
pub fn broker_flags(jwks_url: &str, extra: &[&str]) -> Vec<String> {
    let mut flags: Vec<String> = [
        "--listen",
        "SASL_PLAINTEXT://127.0.0.1:0",
        "--override",
        "sasl.enabled.mechanisms=OAUTHBEARER",
        "--override",
        "sasl.oauthbearer.expected.audience=myelin",
        "--override",
        "sasl.oauthbearer.expected.issuer=https://idp.example",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    flags.extend([
        "--override".to_string(),
        format!("sasl.oauthbearer.jwks.endpoint.url={jwks_url}"),
    ]);
    for e in extra {
        flags.extend(["--override".to_string(), e.to_string()]);
    }
    flags
}

/// The OAUTHBEARER JAAS config of the `SASL_PLAINTEXT` listener whose options make the
/// broker trust the PEM CA `ca` for the JWKS endpoint (Kafka's `ssl.truststore.*`).
pub fn jaas_trusting(ca: &std::path::Path) -> String {
    format!(
        "listener.name.sasl_plaintext.oauthbearer.sasl.jaas.config=\
         org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required \
         ssl.truststore.location=\"{}\" ssl.truststore.type=PEM;",
        ca.display()
    )
}
