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

/// The successor key of the current access-token secret, which every
/// rotation uses, and those of the previous secrets: a rotation done just
/// before a key rotation derived its successor with the old key, and its
/// retry must still find it.
pub struct SuccessorKeys {
    current: SuccessorKey,
    retired: Vec<SuccessorKey>,
}

impl SuccessorKeys {
    pub fn derive<'a>(
        current: &[u8],
        retired: impl IntoIterator<Item = &'a [u8]>,
    ) -> Result<Self, InvalidLength> {
        Ok(SuccessorKeys {
            current: SuccessorKey::derive(current)?,
            retired: retired
                .into_iter()
                .map(SuccessorKey::derive)
                .collect::<Result<_, _>>()?,
        })
    }
}

/// What a presented token may rotate into: under the current key (what a
/// rotation now stores) or under a retired one (what an earlier rotation
/// stored).
pub struct Successors {
    pub current: RefreshToken,
    pub retired: Vec<RefreshToken>,
}

impl Successors {
    /// The successor whose hash is `hash`: the one a retried rotation stored.
    pub fn with_hash(self, hash: &str) -> Option<RefreshToken> {
        std::iter::once(self.current)
            .chain(self.retired)
            .find(|t| t.hash() == hash)
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

    /// The token this one rotates into under each key.
    pub fn successors(&self, keys: &SuccessorKeys) -> Successors {
        Successors {
            current: self.successor(&keys.current),
            retired: keys.retired.iter().map(|k| self.successor(k)).collect(),
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
    fn a_successor_derived_under_a_retired_key_is_still_found() {
        let (old, new) = ([7u8; 32], [8u8; 32]);
        let before = SuccessorKeys::derive(&old, []).expect("keys");
        let after = SuccessorKeys::derive(&new, [&old[..]]).expect("keys");
        let t0 = RefreshToken::generate().expect("rng");
        let stored = t0.successors(&before).current;
        let successors = t0.successors(&after);
        assert_ne!(successors.current, stored, "new rotations use the new key");
        assert_eq!(successors.retired, std::slice::from_ref(&stored));
        assert_eq!(successors.with_hash(&stored.hash()), Some(stored.clone()));
        let removed = SuccessorKeys::derive(&new, []).expect("keys");
        assert_eq!(t0.successors(&removed).with_hash(&stored.hash()), None);
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
