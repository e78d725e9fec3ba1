//! Delegation tokens (KIP-48): a principal authenticated with SASL or a client certificate
//! gets a token (an id and an HMAC) that a job it hands it to (a Spark or Flink worker)
//! uses to authenticate as it, with SCRAM and the `tokenauth=true` extension, without the
//! principal's own credentials.
//!
//! As Kafka does it: the HMAC is HmacSHA512 of the token id under
//! `delegation.token.secret.key`, never stored (the metadata log keeps the token's
//! description, `DelegationTokenAltered`); the SCRAM password is the HMAC in base64. Tokens
//! expire after `delegation.token.expiry.time.ms` unless renewed, and never outlive
//! `delegation.token.max.lifetime.ms`; expired ones are removed every
//! `delegation.token.expiry.check.interval.ms`. Without a secret key the token APIs answer
//! DELEGATION_TOKEN_AUTH_DISABLED and no token authenticates.

use base64::engine::general_purpose::{STANDARD as BASE64, URL_SAFE_NO_PAD};
use base64::Engine;
use hmac::{Hmac, Mac};
use myelin_cluster::{DelegationTokenRecord, MetadataState};
use rand::RngCore;
use sha2::Sha512;

use crate::sasl::scram::{salted_password, ScramCredential, MIN_ITERATIONS};
use crate::sasl::Mechanism;

/// The delegation token settings (Kafka's broker configs of the same names).
#[derive(Clone, PartialEq, Eq, Default)]
pub struct TokenSettings {
    /// `delegation.token.secret.key` (or its old name `delegation.token.master.key`):
    /// `None` turns delegation tokens off.
    pub secret: Option<String>,
    /// `delegation.token.max.lifetime.ms`.
    pub max_lifetime_ms: i64,
    /// `delegation.token.expiry.time.ms`: how long a token lives past its creation or last
    /// renewal.
    pub expiry_time_ms: i64,
    /// `delegation.token.expiry.check.interval.ms`.
    pub expiry_check_interval_ms: i64,
}

/// The secret stays out of logs.
impl std::fmt::Debug for TokenSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSettings")
            .field("enabled", &self.secret.is_some())
            .field("max_lifetime_ms", &self.max_lifetime_ms)
            .field("expiry_time_ms", &self.expiry_time_ms)
            .field("expiry_check_interval_ms", &self.expiry_check_interval_ms)
            .finish()
    }
}

impl TokenSettings {
    /// The token's HMAC: HmacSHA512 of its id under the secret key (`None` when tokens
    /// are off).
    pub fn hmac(&self, token_id: &str) -> Option<Vec<u8>> {
        let secret = self.secret.as_ref()?;
        let mut mac = Hmac::<Sha512>::new_from_slice(secret.as_bytes()).ok()?;
        mac.update(token_id.as_bytes());
        Some(mac.finalize().into_bytes().to_vec())
    }

    /// The token whose HMAC is `hmac`, if one exists (expired or not).
    pub fn token_by_hmac<'a>(
        &self,
        state: &'a MetadataState,
        hmac: &[u8],
    ) -> Option<&'a DelegationTokenRecord> {
        state.delegation_tokens().find(|t| {
            self.hmac(&t.token_id)
                .is_some_and(|h| crate::sasl::constant_time_eq(&h, hmac))
        })
    }

    /// A SCRAM credential for a login with token `token_id` (`tokenauth=true`), and the
    /// user the connection then acts as (the owner's name); `None` when tokens are off, the
    /// token does not exist or it has expired. The password is the HMAC in base64, salted
    /// afresh for each login.
    pub fn scram_credential(
        &self,
        state: &MetadataState,
        token_id: &str,
        mechanism: Mechanism,
        now_ms: i64,
    ) -> Option<(ScramCredential, String)> {
        mechanism.scram_type()?;
        let token = state.delegation_token(token_id)?;
        if token.expiry_timestamp_ms <= now_ms {
            return None;
        }
        let owner = token.owner.strip_prefix("User:")?.to_string();
        let password = BASE64.encode(self.hmac(token_id)?);
        let mut salt = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut salt);
        let salted = salted_password(mechanism, password.as_bytes(), &salt, MIN_ITERATIONS);
        Some((
            ScramCredential::from_salted_password(mechanism, &salt, &salted, MIN_ITERATIONS),
            owner,
        ))
    }
}

/// A fresh token id: a random UUID in URL-safe base64 without padding, as Kafka makes
/// them (22 characters).
pub fn new_token_id() -> String {
    URL_SAFE_NO_PAD.encode(uuid::Uuid::new_v4().as_bytes())
}

/// Splits a principal `User:alice` into its type and name.
pub fn split_principal(principal: &str) -> (&str, &str) {
    principal.split_once(':').unwrap_or(("User", principal))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hmac_is_hmac_sha512_of_the_id_under_the_secret() {
        let settings = TokenSettings {
            secret: Some("key".into()),
            ..TokenSettings::default()
        };
        // RFC 4231's test case 2 key and data, with SHA-512.
        let settings_rfc = TokenSettings {
            secret: Some("Jefe".into()),
            ..TokenSettings::default()
        };
        let mac = settings_rfc.hmac("what do ya want for nothing?").unwrap();
        assert_eq!(mac[..8], [0x16, 0x4b, 0x7a, 0x7b, 0xfc, 0xf8, 0x19, 0xe2]);
        assert_eq!(settings.hmac("a").unwrap().len(), 64);
        assert_ne!(settings.hmac("a"), settings.hmac("b"));
        assert_eq!(TokenSettings::default().hmac("a"), None);
        let id = new_token_id();
        assert_eq!(id.len(), 22);
        assert_ne!(id, new_token_id());
        assert_eq!(split_principal("User:alice"), ("User", "alice"));
    }
}
