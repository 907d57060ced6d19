//! Relay tokens: the `Authorization: Bearer` an upstream API receives for a
//! relayed request. EdDSA (Ed25519) only, signed with the relay key
//! (src/config/relay_keys.rs) and never with `ACCESS_TOKEN_SECRET`, so an API
//! that can verify them cannot mint sessions. Each key is named by its RFC
//! 7638 thumbprint (`kid`); the JWKS lists the current key first, then the
//! retired ones whose tokens may still be in flight.

use std::{fmt, time::Duration};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, Header};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::{
    accounts::Role,
    config::{RelayKeySettings, RelayPublicKey, RelaySigningKey},
    errors::{AppError, Invariant},
    session::SessionUser,
};

/// What a relay token says. Every field is always present.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelayClaims {
    /// The gateway (`JWT_ISSUER`).
    pub iss: String,
    /// The upstream the token is for; an upstream accepts only its own.
    pub aud: String,
    /// The user's id, as a string.
    pub sub: String,
    pub email: String,
    pub role: Role,
    pub iat: i64,
    /// `iat` + `RELAY_TOKEN_TTL` (at most 60 s).
    pub exp: i64,
    /// A UUID v4, unique per token.
    pub jti: String,
}

#[derive(Debug, thiserror::Error)]
pub enum RelayKeyError {
    #[error("cannot encode the relay token header")]
    Header(#[source] serde_json::Error),
}

struct CurrentKey {
    kid: String,
    key: RelaySigningKey,
    /// The JOSE header, base64url-encoded once: it is the same for every
    /// token this key signs.
    header: String,
}

/// The relay signing key and the JWKS that publishes it. Built once at
/// start-up; the JWKS body is rendered then, so serving it costs nothing.
pub struct RelayKeys {
    /// `None` in production without `RELAY_SIGNING_KEY_FILE`: nothing can
    /// be minted, and only previous keys are published.
    current: Option<CurrentKey>,
    /// Every published kid, in JWKS order.
    kids: Vec<String>,
    issuer: String,
    ttl: Duration,
    jwks: String,
}

impl RelayKeys {
    pub fn new(settings: &RelayKeySettings) -> Result<Self, RelayKeyError> {
        let current = settings
            .signing_key
            .as_ref()
            .map(|key| (key.public_key(), key.clone()));
        // The current key once, first; each retired key once, in file order.
        let mut published: Vec<RelayPublicKey> = Vec::new();
        for key in current.iter().map(|(public, _)| *public) {
            published.push(key);
        }
        for key in &settings.previous_keys {
            if !published.contains(key) {
                published.push(*key);
            }
        }
        let kids: Vec<String> = published.iter().map(|key| thumbprint(*key)).collect();
        let jwks = json!({
            "keys": published
                .iter()
                .zip(&kids)
                .map(|(key, kid)| json!({
                    "kty": "OKP",
                    "crv": "Ed25519",
                    "x": URL_SAFE_NO_PAD.encode(key.to_bytes()),
                    "kid": kid,
                    "use": "sig",
                    "alg": "EdDSA",
                }))
                .collect::<Vec<_>>(),
        })
        .to_string();
        let current = match current {
            Some((_, key)) => {
                let mut header = Header::new(Algorithm::EdDSA);
                header.typ = Some("JWT".to_owned());
                header.kid = Some(kids[0].clone());
                let header = serde_json::to_vec(&header).map_err(RelayKeyError::Header)?;
                Some(CurrentKey {
                    kid: kids[0].clone(),
                    key,
                    header: URL_SAFE_NO_PAD.encode(header),
                })
            }
            None => None,
        };
        Ok(RelayKeys {
            current,
            kids,
            issuer: settings.issuer.clone(),
            ttl: settings.token_ttl,
            jwks,
        })
    }

    /// A fresh token for one relayed request to `audience`; header
    /// `alg: EdDSA`, `typ: JWT` and the current key's `kid`.
    pub fn mint(&self, user: &SessionUser, audience: &str) -> Result<String, AppError> {
        self.mint_at(user, audience, chrono::Utc::now().timestamp())
    }

    /// [`mint`](Self::mint) with `iat` = `now` (Unix seconds).
    pub fn mint_at(
        &self,
        user: &SessionUser,
        audience: &str,
        now: i64,
    ) -> Result<String, AppError> {
        let current = self.current.as_ref().ok_or_else(|| {
            AppError::internal(Invariant(
                "no relay signing key: set RELAY_SIGNING_KEY_FILE to relay requests",
            ))
        })?;
        let iat = now;
        let claims = RelayClaims {
            iss: self.issuer.clone(),
            aud: audience.to_owned(),
            sub: user.id.to_string(),
            email: user.email.clone(),
            role: user.role,
            iat,
            exp: iat + self.ttl.as_secs() as i64,
            jti: uuid::Uuid::new_v4().to_string(),
        };
        // JWS compact serialisation (RFC 7515), signed here rather than by
        // `jsonwebtoken::encode`, which re-reads the PKCS#8 key and derives
        // its public half on every call: twice the cost of the signature.
        let claims = serde_json::to_vec(&claims).map_err(AppError::internal)?;
        let mut token = String::with_capacity(current.header.len() + 2 * claims.len() + 90);
        token.push_str(&current.header);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(claims, &mut token);
        let signature = current.key.sign(token.as_bytes());
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(signature, &mut token);
        Ok(token)
    }

    /// The JWKS document (RFC 7517): the current key first, then the
    /// previous ones. Rendered once, at start-up.
    pub fn jwks_json(&self) -> &str {
        &self.jwks
    }

    /// Whether `mint` can sign (a key is configured or generated).
    pub fn can_mint(&self) -> bool {
        self.current.is_some()
    }

    /// The kid new tokens carry.
    pub fn current_kid(&self) -> Option<&str> {
        self.current.as_ref().map(|current| current.kid.as_str())
    }

    /// How long a minted token lives (`RELAY_TOKEN_TTL`).
    pub fn ttl(&self) -> Duration {
        self.ttl
    }
}

impl fmt::Debug for RelayKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RelayKeys")
            .field("kids", &self.kids)
            .field("issuer", &self.issuer)
            .field("ttl", &self.ttl)
            .field("signing_key", &self.current.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

/// RFC 7638: SHA-256 over the required members of the JWK, in lexical
/// order and without whitespace, base64url without padding. An upstream can
/// recompute it from the JWKS entry.
pub fn thumbprint(key: RelayPublicKey) -> String {
    let x = URL_SAFE_NO_PAD.encode(key.to_bytes());
    let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use jsonwebtoken::{
        DecodingKey, Validation,
        jwk::{JwkSet, ThumbprintHash},
    };

    use super::*;
    use crate::config::RelaySigningKey;

    /// RFC 8037 Appendix A.2's public key.
    const RFC_8037_X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";

    fn settings(
        signing_key: Option<&RelaySigningKey>,
        previous: &[&RelaySigningKey],
    ) -> RelayKeySettings {
        RelayKeySettings {
            signing_key: signing_key.cloned(),
            signing_key_generated: false,
            previous_keys: previous.iter().map(|k| k.public_key()).collect(),
            token_ttl: Duration::from_secs(30),
            issuer: "https://gateway.test".into(),
        }
    }

    fn key() -> RelaySigningKey {
        RelaySigningKey::generate().expect("rng")
    }

    fn user() -> SessionUser {
        SessionUser {
            id: 42,
            email: "ada@example.com".into(),
            role: Role::Admin,
        }
    }

    fn jwks(keys: &RelayKeys) -> JwkSet {
        serde_json::from_str(keys.jwks_json()).expect("a JWKS jsonwebtoken reads")
    }

    /// Verifies `token` as an upstream would: the key by kid from the
    /// published JWKS, EdDSA only, issuer and audience checked.
    fn verify(keys: &RelayKeys, token: &str, audience: &str) -> Result<RelayClaims, String> {
        let kid = jsonwebtoken::decode_header(token)
            .map_err(|e| e.to_string())?
            .kid
            .ok_or("no kid")?;
        let set = jwks(keys);
        let jwk = set.find(&kid).ok_or("unknown kid")?;
        let key = DecodingKey::from_jwk(jwk).map_err(|e| e.to_string())?;
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_audience(&[audience]);
        validation.set_issuer(&["https://gateway.test"]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = 0;
        jsonwebtoken::decode::<RelayClaims>(token, &key, &validation)
            .map(|data| data.claims)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn the_kid_is_the_rfc_7638_thumbprint_of_rfc_8037_appendix_a() {
        let bytes: [u8; 32] = URL_SAFE_NO_PAD
            .decode(RFC_8037_X)
            .expect("base64url")
            .try_into()
            .expect("32 bytes");
        let key = RelayPublicKey::from_bytes(&bytes).expect("a point");
        // RFC 8037 Appendix A.3.
        assert_eq!(
            thumbprint(key),
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
        );
    }

    #[test]
    fn the_published_kid_matches_jsonwebtokens_own_thumbprint() {
        let keys = RelayKeys::new(&settings(Some(&key()), &[])).expect("keys");
        let set = jwks(&keys);
        let jwk = &set.keys[0];
        assert_eq!(
            jwk.common.key_id.as_deref(),
            Some(
                jwk.thumbprint(ThumbprintHash::SHA256)
                    .expect("thumbprint")
                    .as_str()
            )
        );
        assert_eq!(jwk.common.key_id.as_deref(), keys.current_kid());
    }

    #[test]
    fn a_minted_token_verifies_with_the_published_key_for_its_audience_only() {
        let keys = RelayKeys::new(&settings(Some(&key()), &[])).expect("keys");
        let token = keys.mint(&user(), "orders").expect("minted");
        let header = jsonwebtoken::decode_header(&token).expect("header");
        assert_eq!(header.alg, Algorithm::EdDSA);
        assert_eq!(header.typ.as_deref(), Some("JWT"));
        let claims = verify(&keys, &token, "orders").expect("verifies");
        assert_eq!(claims.aud, "orders");
        assert_eq!(claims.iss, "https://gateway.test");
        assert_eq!(claims.sub, "42");
        assert_eq!(claims.email, "ada@example.com");
        assert_eq!(claims.role, Role::Admin);
        assert!(claims.exp - claims.iat <= 60 && claims.exp > claims.iat);
        assert_eq!(claims.exp - claims.iat, 30, "RELAY_TOKEN_TTL");
        let err = verify(&keys, &token, "reports").expect_err("another audience");
        assert!(err.contains("InvalidAudience"), "{err}");
    }

    #[test]
    fn every_token_has_its_own_jti() {
        let keys = RelayKeys::new(&settings(Some(&key()), &[])).expect("keys");
        let jtis: HashSet<String> = (0..20)
            .map(|_| {
                let token = keys.mint(&user(), "orders").expect("minted");
                verify(&keys, &token, "orders").expect("verifies").jti
            })
            .collect();
        assert_eq!(jtis.len(), 20);
        assert!(jtis.iter().all(|j| uuid::Uuid::parse_str(j).is_ok()));
    }

    #[test]
    fn a_token_of_the_previous_key_still_verifies_after_rotation() {
        let (old, new) = (key(), key());
        let before = RelayKeys::new(&settings(Some(&old), &[])).expect("keys");
        let token = before.mint(&user(), "orders").expect("minted");
        let after = RelayKeys::new(&settings(Some(&new), &[&old])).expect("keys");
        assert_ne!(after.current_kid(), before.current_kid());
        assert_eq!(
            verify(&after, &token, "orders").expect("verifies").sub,
            "42"
        );
        let fresh = after.mint(&user(), "orders").expect("minted");
        let kid = jsonwebtoken::decode_header(&fresh).expect("header").kid;
        assert_eq!(kid.as_deref(), after.current_kid());
        // Once the old key is dropped, its tokens no longer verify.
        let dropped = RelayKeys::new(&settings(Some(&new), &[])).expect("keys");
        assert_eq!(
            verify(&dropped, &token, "orders"),
            Err("unknown kid".into())
        );
    }

    #[test]
    fn the_jwks_lists_the_current_key_first_and_each_key_once() {
        let (current, a, b) = (key(), key(), key());
        let keys =
            RelayKeys::new(&settings(Some(&current), &[&a, &current, &b, &a])).expect("keys");
        let set = jwks(&keys);
        let kids: Vec<String> = set
            .keys
            .iter()
            .map(|k| k.common.key_id.clone().expect("kid"))
            .collect();
        assert_eq!(
            kids,
            [&current, &a, &b]
                .map(|k| thumbprint(k.public_key()))
                .to_vec()
        );
        let doc: serde_json::Value = serde_json::from_str(keys.jwks_json()).expect("json");
        let first = &doc["keys"][0];
        assert_eq!(first["kty"], "OKP");
        assert_eq!(first["crv"], "Ed25519");
        assert_eq!(first["alg"], "EdDSA");
        assert_eq!(first["use"], "sig");
        assert!(first.get("d").is_none(), "no private part");
        assert_eq!(first.as_object().expect("object").len(), 6);
    }

    #[test]
    fn without_a_signing_key_only_previous_keys_are_published_and_minting_fails() {
        let old = key();
        let keys = RelayKeys::new(&settings(None, &[&old])).expect("keys");
        assert!(!keys.can_mint());
        assert_eq!(keys.current_kid(), None);
        let set = jwks(&keys);
        assert_eq!(set.keys.len(), 1);
        assert_eq!(
            set.keys[0].common.key_id.as_deref(),
            Some(thumbprint(old.public_key()).as_str())
        );
        let err = keys
            .mint(&user(), "orders")
            .expect_err("nothing to sign with");
        assert!(matches!(err, AppError::Internal(_)), "{err:?}");
        let empty = RelayKeys::new(&settings(None, &[])).expect("keys");
        assert_eq!(empty.jwks_json(), r#"{"keys":[]}"#);
    }

    #[test]
    fn debug_output_redacts_the_signing_key() {
        let signing = key();
        let keys = RelayKeys::new(&settings(Some(&signing), &[])).expect("keys");
        let debug = format!("{keys:?}");
        assert!(debug.contains("[redacted]"), "{debug}");
        let pem = signing.to_pkcs8_pem().expect("pem");
        let body = pem.lines().nth(1).expect("body");
        assert!(!debug.contains(body), "{debug}");
    }
}
