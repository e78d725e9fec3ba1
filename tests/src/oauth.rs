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
