//! The opaque refresh token: `<family>.<secret>`, its stored hash and the
//! successor it rotates into.

use std::fmt;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac, digest::InvalidLength};
use sha2::{Digest, Sha256};

/// An opaque refresh token as sent to the client: `<family>.<secret>`. The
/// family is random per login and shared by every rotation of that session,
/// so a stale copy can be traced to its session; only hashes are stored.
#[derive(Clone, PartialEq, Eq)]
pub struct RefreshToken {
    family: String,
    secret: String,
}

/// Derives each rotation's successor secret from its predecessor, so a
/// retry with the previous token inside the window gets the very same
/// successor without the plaintext being stored anywhere.
pub struct SuccessorKey(Hmac<Sha256>);

impl SuccessorKey {
    /// Domain-separated from the access-token signing key it is derived from.
    pub fn derive(secret: &[u8]) -> Result<Self, InvalidLength> {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret)?;
        mac.update(b"bff-gateway refresh-token successor v1");
        let key = mac.finalize().into_bytes();
        Hmac::<Sha256>::new_from_slice(&key).map(SuccessorKey)
    }
}

impl RefreshToken {
    /// A new session: new family, random secret.
    pub fn generate() -> Result<Self, getrandom::Error> {
        let family = crate::random::token()?.chars().take(FAMILY_LEN).collect();
        Ok(RefreshToken {
            family,
            secret: crate::random::token()?,
        })
    }

    /// `None` for anything not shaped like one of our tokens.
    pub fn parse(value: &str) -> Option<Self> {
        let (family, secret) = value.split_once('.')?;
        let base64url = |s: &str| {
            s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        (family.len() == FAMILY_LEN && secret.len() == 43 && base64url(family) && base64url(secret))
            .then(|| RefreshToken {
                family: family.to_owned(),
                secret: secret.to_owned(),
            })
    }

    /// The token this one rotates into: same family, derived secret.
    pub fn successor(&self, key: &SuccessorKey) -> Self {
        let mut mac = key.0.clone();
        mac.update(self.family.as_bytes());
        mac.update(b".");
        mac.update(self.secret.as_bytes());
        RefreshToken {
            family: self.family.clone(),
            secret: URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()),
        }
    }

    pub fn family(&self) -> &str {
        &self.family
    }

    pub fn expose(&self) -> String {
        format!("{}.{}", self.family, self.secret)
    }

    /// SHA-256, hex. The secret has 256 bits of entropy, so a fast hash is
    /// enough and lets the database look it up by an index.
    pub fn hash(&self) -> String {
        Sha256::digest(self.expose().as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

/// 128 bits: the first 22 base64url characters of a random token.
const FAMILY_LEN: usize = 22;

impl fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RefreshToken([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_tokens_are_random_and_hashed() {
        let a = RefreshToken::generate().expect("rng");
        let b = RefreshToken::generate().expect("rng");
        assert_ne!(a, b);
        assert_ne!(a.family(), b.family());
        assert_eq!(a.expose().len(), 22 + 1 + 43);
        assert_eq!(a.hash().len(), 64);
        assert_ne!(a.hash(), a.expose());
        let parsed = RefreshToken::parse(&a.expose()).expect("round trip");
        assert_eq!(a.hash(), parsed.hash());
        assert_eq!(format!("{a:?}"), "RefreshToken([redacted])");
    }

    #[test]
    fn successors_are_deterministic_per_key_and_stay_in_the_family() {
        let key = SuccessorKey::derive(&[7u8; 32]).expect("key");
        let other = SuccessorKey::derive(&[8u8; 32]).expect("key");
        let t0 = RefreshToken::generate().expect("rng");
        let t1 = t0.successor(&key);
        assert_eq!(t1, t0.successor(&key));
        assert_ne!(t1, t0);
        assert_ne!(t1, t0.successor(&other));
        assert_eq!(t1.family(), t0.family());
        assert_ne!(t1.successor(&key), t1);
        assert!(RefreshToken::parse(&t1.expose()).is_some());
    }

    #[test]
    fn only_well_formed_tokens_parse() {
        let good = RefreshToken::generate().expect("rng").expose();
        assert!(RefreshToken::parse(&good).is_some());
        for bad in [
            "",
            ".",
            "no-dot-at-all",
            &good[1..],
            &format!("{good}x"),
            &good.replace('.', ":"),
            &format!("{}.{}", "a".repeat(22), "é".repeat(43)),
        ] {
            assert!(RefreshToken::parse(bad).is_none(), "{bad}");
        }
    }
}
