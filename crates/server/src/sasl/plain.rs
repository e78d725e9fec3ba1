//! SASL/PLAIN (RFC 4616), as Kafka's `PlainSaslServer`: one message,
//! `[authzid] NUL authcid NUL passwd`, checked against the listener's JAAS users.

use super::{constant_time_eq, SaslConfig};

/// Kafka's message for a wrong user or password (the same for both, so that it does not
/// tell which users exist).
pub const INVALID_CREDENTIALS: &str = "Invalid username or password";

/// Checks a PLAIN message; the user on success, the reason (for the log) otherwise.
pub fn verify(message: &[u8], config: &SaslConfig) -> Result<String, String> {
    let message =
        std::str::from_utf8(message).map_err(|_| "the PLAIN message is not UTF-8".to_string())?;
    let mut parts = message.split('\0');
    let (Some(authzid), Some(user), Some(password), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("a PLAIN message has three fields separated by NUL".to_string());
    };
    if user.is_empty() {
        return Err("the PLAIN message has no username".to_string());
    }
    if password.is_empty() {
        return Err("the PLAIN message has no password".to_string());
    }
    if !authzid.is_empty() && authzid != user {
        return Err(
            "Client requested an authorization id that is different from username".to_string(),
        );
    }
    // Compare against a password even for an unknown user, so that the time taken does
    // not tell which users exist.
    let expected = config.plain_users.get(user);
    let ok = constant_time_eq(
        password.as_bytes(),
        expected.map_or(b"\0".as_slice(), |p| p.as_bytes()),
    ) && expected.is_some();
    if ok {
        Ok(user.to_string())
    } else {
        Err(format!("{INVALID_CREDENTIALS} (user {user:?})"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn config() -> SaslConfig {
        SaslConfig {
            plain_users: BTreeMap::from([("alice".to_string(), "alice-secret".to_string())]),
            ..SaslConfig::default()
        }
    }

    #[test]
    fn plain_messages() {
        let c = config();
        assert_eq!(verify(b"\0alice\0alice-secret", &c).unwrap(), "alice");
        assert_eq!(verify(b"alice\0alice\0alice-secret", &c).unwrap(), "alice");
        for bad in [
            b"\0alice\0wrong".as_slice(),
            b"\0bob\0alice-secret",
            b"bob\0alice\0alice-secret",
            b"\0alice\0",
            b"\0\0alice-secret",
            b"\0alice",
            b"\0alice\0alice-secret\0",
            b"\0alice\0\xff",
            b"",
        ] {
            assert!(verify(bad, &c).is_err(), "{bad:?}");
        }
    }
}
