//! SASL/OAUTHBEARER (RFC 7628, KIP-255) with the checks of Kafka's secured validator
//! (`OAuthBearerValidatorCallbackHandler`, KIP-768): the client sends a JSON Web Token
//! signed by its identity provider; the broker checks the signature against the keys of
//! a JWKS ([`super::jwks`]: `sasl.oauthbearer.jwks.endpoint.url`, a file or the identity
//! provider's `https://` endpoint), the expiry (with
//! `sasl.oauthbearer.clock.skew.seconds`), and the audience and issuer when
//! `sasl.oauthbearer.expected.audience` / `.expected.issuer` are set. The principal is
//! `User:` and the token's `sub` claim (`sasl.oauthbearer.sub.claim.name`).
//!
//! Unlike a Kafka broker without a validator class, Myelin never accepts unsigned
//! ("unsecured", `alg: none`) tokens, nor HMAC-signed ones (a shared secret is not an
//! identity provider's key).
//!
//! A token that fails is answered as Kafka answers it: the error challenge
//! `{"status":"invalid_token"}`, to which the client replies with `%x01`, and then the
//! authentication fails.

use std::sync::Arc;

use jsonwebtoken::{Algorithm, DecodingKey, Validation};

use super::jwks::KeySource;

/// The validator's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthConfig {
    /// The JWKS (RFC 7517) whose keys sign valid tokens, and where it is kept fresh from
    /// (`sasl.oauthbearer.jwks.endpoint.url`: a file, or the identity provider's
    /// `https://` endpoint).
    pub keys: Arc<KeySource>,
    /// `sasl.oauthbearer.expected.audience`: a token's `aud` must name one of them (no
    /// check when empty).
    pub expected_audience: Vec<String>,
    /// `sasl.oauthbearer.expected.issuer`: a token's `iss` must be it (no check when
    /// `None`).
    pub expected_issuer: Option<String>,
    /// `sasl.oauthbearer.sub.claim.name` (Kafka's default: `sub`).
    pub sub_claim_name: String,
    /// `sasl.oauthbearer.clock.skew.seconds` (Kafka's default: 30).
    pub clock_skew_seconds: u64,
}

impl OAuthConfig {
    /// Settings with Kafka's defaults for the keys of `jwks_json`; the reason when it is
    /// not a JWKS with at least one key.
    pub fn new(jwks_json: String) -> Result<Self, String> {
        Ok(Self::with_keys(KeySource::fixed(&jwks_json)?))
    }

    /// Settings with Kafka's defaults for the keys of `keys`.
    pub fn with_keys(keys: Arc<KeySource>) -> Self {
        Self {
            keys,
            expected_audience: Vec::new(),
            expected_issuer: None,
            sub_claim_name: "sub".to_string(),
            clock_skew_seconds: 30,
        }
    }
}

/// The error challenge of a refused token (Kafka's `OAuthBearerSaslServer`).
pub const INVALID_TOKEN_CHALLENGE: &[u8] = br#"{"status":"invalid_token"}"#;

/// The client's reply to the error challenge.
pub const ERROR_ACKNOWLEDGEMENT: &[u8] = b"\x01";

/// Checks a client's initial response; the principal's name on success, the reason (for
/// the log) otherwise.
pub fn verify(message: &[u8], config: &OAuthConfig) -> Result<String, String> {
    verify_with_expiry(message, config).map(|(name, _)| name)
}

/// [`verify`], with the token's expiry (its `exp` claim, seconds since the epoch) for the
/// session's lifetime (KIP-368).
pub fn verify_with_expiry(
    message: &[u8],
    config: &OAuthConfig,
) -> Result<(String, Option<u64>), String> {
    let (authzid, token) = parse(message)?;
    let (name, expires) = validate(token, config)?;
    if let Some(authzid) = authzid {
        if authzid != name {
            return Err(format!(
                "the authorization id {authzid:?} is not the principal name {name:?}"
            ));
        }
    }
    Ok((name, expires))
}

/// The authorization id and the token of `n,[a=authzid],%x01auth=Bearer <token>%x01
/// [key=value%x01]...%x01` (RFC 7628 section 3.1). SASL extensions are ignored.
fn parse(message: &[u8]) -> Result<(Option<&str>, &str), String> {
    let text = std::str::from_utf8(message)
        .map_err(|_| "the OAUTHBEARER message is not UTF-8".to_string())?;
    let rest = text
        .strip_prefix("n,")
        .ok_or("the OAUTHBEARER message does not start with the GS2 header `n,`")?;
    let (authz, rest) = rest
        .split_once(',')
        .ok_or("the OAUTHBEARER GS2 header is not closed")?;
    let authzid = match authz {
        "" => None,
        a => Some(
            a.strip_prefix("a=")
                .ok_or("the OAUTHBEARER authorization id is not `a=...`")?,
        ),
    };
    let pairs = rest
        .strip_prefix('\x01')
        .and_then(|r| r.strip_suffix("\x01\x01"))
        .ok_or("the OAUTHBEARER key-value pairs are not framed by %x01")?;
    let mut token = None;
    for pair in pairs.split('\x01') {
        let (key, value) = pair
            .split_once('=')
            .ok_or("an OAUTHBEARER key-value pair has no `=`")?;
        if key == "auth" {
            let (scheme, value) = value
                .split_once(' ')
                .ok_or("the OAUTHBEARER auth value is not `Bearer <token>`")?;
            if !scheme.eq_ignore_ascii_case("Bearer") {
                return Err("the OAUTHBEARER auth scheme is not Bearer".to_string());
            }
            token = Some(value.trim());
        }
    }
    let token = token
        .filter(|t| !t.is_empty())
        .ok_or("the OAUTHBEARER message has no token")?;
    Ok((authzid, token))
}

/// The signature algorithms accepted: an identity provider's public keys only.
const ACCEPTED: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// The principal name of a valid token, and its expiry.
fn validate(token: &str, config: &OAuthConfig) -> Result<(String, Option<u64>), String> {
    let header = jsonwebtoken::decode_header(token)
        .map_err(|e| format!("the token is not a signed JWT: {e}"))?;
    if !ACCEPTED.contains(&header.alg) {
        return Err(format!(
            "the token is signed with {:?}; only public-key signatures are accepted",
            header.alg
        ));
    }
    let jwk = config
        .keys
        .find(header.kid.as_deref())
        .ok_or_else(|| format!("no key of the JWKS has the token's key id {:?}", header.kid))?;
    let jwk = &jwk;
    let key = DecodingKey::from_jwk(jwk).map_err(|e| format!("the JWKS key is unusable: {e}"))?;
    let mut validation = Validation::new(header.alg);
    validation.leeway = config.clock_skew_seconds;
    validation.validate_exp = true;
    validation.validate_nbf = true;
    validation.set_required_spec_claims(&["exp"]);
    if config.expected_audience.is_empty() {
        validation.validate_aud = false;
    } else {
        validation.set_audience(&config.expected_audience);
    }
    if let Some(issuer) = &config.expected_issuer {
        validation.set_issuer(&[issuer]);
    }
    let data = jsonwebtoken::decode::<serde_json::Map<String, serde_json::Value>>(
        token,
        &key,
        &validation,
    )
    .map_err(|e| format!("the token is not valid: {e}"))?;
    let name = data
        .claims
        .get(&config.sub_claim_name)
        .and_then(serde_json::Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .ok_or_else(|| format!("the token has no {:?} claim", config.sub_claim_name))?;
    let expires = data.claims.get("exp").and_then(serde_json::Value::as_u64);
    Ok((name, expires))
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    /// An ES256 key pair: the JWKS of its public key (key id `k1`), and a signer.
    fn key() -> (String, jsonwebtoken::EncodingKey) {
        let pair = rcgen::KeyPair::generate().unwrap();
        let point = pair.public_key_raw();
        let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
        let jwks = format!(
            r#"{{"keys":[{{"kty":"EC","crv":"P-256","kid":"k1","use":"sig","alg":"ES256","x":"{}","y":"{}"}}]}}"#,
            b64(&point[1..33]),
            b64(&point[33..65])
        );
        (
            jwks,
            jsonwebtoken::EncodingKey::from_ec_der(&pair.serialize_der()),
        )
    }

    fn now() -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    }

    fn token(key: &jsonwebtoken::EncodingKey, kid: &str, claims: serde_json::Value) -> String {
        let mut header = jsonwebtoken::Header::new(Algorithm::ES256);
        header.kid = Some(kid.to_string());
        jsonwebtoken::encode(&header, &claims, key).unwrap()
    }

    fn message(token: &str) -> Vec<u8> {
        format!("n,,\x01auth=Bearer {token}\x01\x01").into_bytes()
    }

    #[test]
    fn signed_tokens_are_checked_as_kafka_checks_them() {
        let (jwks, signer) = key();
        let mut config = OAuthConfig::new(jwks).unwrap();
        let good = serde_json::json!({"sub": "svc-notify", "exp": now() + 300, "aud": "myelin", "iss": "https://idp"});
        assert_eq!(
            verify(&message(&token(&signer, "k1", good.clone())), &config).unwrap(),
            "svc-notify"
        );
        // With an authorization id: it must be the principal.
        let t = token(&signer, "k1", good.clone());
        assert!(verify(
            format!("n,a=svc-notify,\x01auth=Bearer {t}\x01\x01").as_bytes(),
            &config
        )
        .is_ok());
        assert!(verify(
            format!("n,a=other,\x01auth=Bearer {t}\x01\x01").as_bytes(),
            &config
        )
        .is_err());
        // Extensions are ignored.
        assert!(verify(
            format!("n,,\x01auth=Bearer {t}\x01traceId=1\x01\x01").as_bytes(),
            &config
        )
        .is_ok());
        // Expired beyond the clock skew.
        let expired = serde_json::json!({"sub": "a", "exp": now() - 120});
        assert!(verify(&message(&token(&signer, "k1", expired)), &config).is_err());
        // Unknown key id, another key, no sub.
        assert!(verify(&message(&token(&signer, "k2", good.clone())), &config).is_err());
        let (_, other) = key();
        assert!(verify(&message(&token(&other, "k1", good.clone())), &config).is_err());
        let no_sub = serde_json::json!({"exp": now() + 300});
        assert!(verify(&message(&token(&signer, "k1", no_sub)), &config).is_err());
        // Audience and issuer when expected.
        config.expected_audience = vec!["other".into()];
        assert!(verify(&message(&token(&signer, "k1", good.clone())), &config).is_err());
        config.expected_audience = vec!["myelin".into()];
        config.expected_issuer = Some("https://idp".into());
        assert!(verify(&message(&token(&signer, "k1", good.clone())), &config).is_ok());
        config.expected_issuer = Some("https://elsewhere".into());
        assert!(verify(&message(&token(&signer, "k1", good)), &config).is_err());
        // Unsigned and HMAC tokens, whatever they claim.
        let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        let unsigned = format!(
            "{}.{}.",
            b64(r#"{"alg":"none"}"#),
            b64(&format!(r#"{{"sub":"admin","exp":{}}}"#, now() + 300))
        );
        assert!(verify(&message(&unsigned), &config).is_err());
        let hmac = jsonwebtoken::encode(
            &jsonwebtoken::Header::new(Algorithm::HS256),
            &serde_json::json!({"sub": "admin", "exp": now() + 300}),
            &jsonwebtoken::EncodingKey::from_secret(b"guess"),
        )
        .unwrap();
        assert!(verify(&message(&hmac), &config).is_err());
    }

    #[test]
    fn a_rotated_key_is_found_in_the_file_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jwks.json");
        let (old_jwks, _) = key();
        std::fs::write(&path, &old_jwks).unwrap();
        let config = OAuthConfig::with_keys(KeySource::file(&path).unwrap());
        // The provider rotates: its new key has id k1 too in `key()`, so use k2.
        let (new_jwks, new_signer) = key();
        let new_jwks = new_jwks.replace(r#""kid":"k1""#, r#""kid":"k2""#);
        let claims = serde_json::json!({"sub": "svc", "exp": now() + 300});
        let t = token(&new_signer, "k2", claims);
        assert!(
            verify(&message(&t), &config).is_err(),
            "not in the file yet"
        );
        std::fs::write(&path, &new_jwks).unwrap();
        assert_eq!(verify(&message(&t), &config).unwrap(), "svc");
    }

    #[test]
    fn malformed_messages_are_refused() {
        let (jwks, _) = key();
        let config = OAuthConfig::new(jwks).unwrap();
        for bad in [
            &b""[..],
            b"n,,",
            b"y,,\x01auth=Bearer x\x01\x01",
            b"n,,\x01auth=Bearer \x01\x01",
            b"n,,\x01auth=Basic x\x01\x01",
            b"n,,\x01noequals\x01\x01",
            b"n,,\x01auth=Bearer x\x01",
            b"\xff\xfe",
        ] {
            assert!(verify(bad, &config).is_err(), "{bad:?}");
        }
        assert!(OAuthConfig::new("{}".into()).is_err());
        assert!(OAuthConfig::new(r#"{"keys":[]}"#.into()).is_err());
    }

    mod untrusted {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            /// Whatever a client sends, OAUTHBEARER answers or refuses without panicking,
            /// and nothing but a token signed by a JWKS key authenticates: not arbitrary
            /// bytes, nor arbitrary three-part tokens in a well-formed message.
            #[test]
            fn arbitrary_messages_and_tokens_never_authenticate(
                bytes in proptest::collection::vec(any::<u8>(), 0..300),
                header in "[A-Za-z0-9_-]{0,60}",
                payload in "[A-Za-z0-9_-]{0,120}",
                signature in "[A-Za-z0-9_-]{0,90}",
                authzid in "[a-z]{0,4}",
            ) {
                let (jwks, _) = key();
                let config = OAuthConfig::new(jwks).unwrap();
                prop_assert!(verify(&bytes, &config).is_err());
                let token = format!("{header}.{payload}.{signature}");
                let framed = format!("n,a={authzid},\x01auth=Bearer {token}\x01\x01");
                prop_assert!(verify(framed.as_bytes(), &config).is_err());
                // A JWT header and claims that would pass, with a forged signature.
                let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
                let forged = format!(
                    "{}.{}.{signature}",
                    b64(r#"{"alg":"ES256","kid":"k1"}"#),
                    b64(&format!(r#"{{"sub":"admin","exp":{}}}"#, now() + 300)),
                );
                prop_assert!(verify(&message(&forged), &config).is_err());
            }
        }
    }
}
