//! Short-lived access tokens (the claims a session issues): HS256 only,
//! `typ: at+jwt`, every claim required. Signed with the current
//! `ACCESS_TOKEN_SECRET` and labelled with its key id (`kid`); tokens of a
//! key listed in `ACCESS_TOKEN_PREVIOUS_SECRETS` verify until they expire,
//! so rotating the key logs nobody out.

use std::{
    cell::RefCell,
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, errors::ErrorKind};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::verified::VerifiedTokens;
use crate::{accounts::Role, config::SessionSettings, errors::AuthFailure};

thread_local! {
    /// Per worker thread, so a lookup takes no lock (src/session/verified.rs).
    static VERIFIED: RefCell<VerifiedTokens> = RefCell::new(VerifiedTokens::default());
}

/// Tells one `JwtKeys` from another in [`VERIFIED`].
static NEXT_KEYS_ID: AtomicU64 = AtomicU64::new(1);

pub const ACCESS_TOKEN_TYPE: &str = "at+jwt";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    pub sub: String,
    pub email: String,
    pub role: Role,
    pub iat: i64,
    pub exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    pub iss: String,
    pub aud: String,
    pub jti: String,
    /// The user's session version at issue; a logout or detected theft
    /// bumps it, which ends this token at once.
    pub sv: i32,
}

impl AccessClaims {
    pub fn user_id(&self) -> Option<i32> {
        self.sub.parse().ok().filter(|id: &i32| *id > 0)
    }
}

/// The public name of a signing key: 96 bits of a domain-separated SHA-256
/// of it, which identifies the key (≥ 32 bytes, so not guessable) without
/// revealing it.
pub fn key_id(secret: &[u8]) -> String {
    let digest = Sha256::new()
        .chain_update(b"bff-gateway access-token key id v1\0")
        .chain_update(secret)
        .finalize();
    URL_SAFE_NO_PAD.encode(&digest[..12])
}

struct VerifyingKey {
    kid: String,
    key: DecodingKey,
}

impl VerifyingKey {
    fn new(secret: &[u8]) -> Self {
        VerifyingKey {
            kid: key_id(secret),
            key: DecodingKey::from_secret(secret),
        }
    }
}

pub struct JwtKeys {
    /// This set of keys in the verified-token cache.
    id: u64,
    encoding: EncodingKey,
    /// The current key first, then the previous ones.
    verifying: Vec<VerifyingKey>,
    validation: Validation,
    issuer: String,
    audience: String,
    ttl: Duration,
    leeway: Duration,
}

impl JwtKeys {
    pub fn new(settings: &SessionSettings) -> Self {
        let secret = settings.access_token_secret.expose();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.set_issuer(&[&settings.issuer]);
        validation.set_audience(&[&settings.audience]);
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.leeway = settings.leeway.as_secs();
        let previous = settings.access_token_previous_secrets.iter();
        JwtKeys {
            id: NEXT_KEYS_ID.fetch_add(1, Ordering::Relaxed),
            encoding: EncodingKey::from_secret(secret),
            verifying: std::iter::once(secret)
                .chain(previous.map(|s| s.expose()))
                .map(VerifyingKey::new)
                .collect(),
            validation,
            issuer: settings.issuer.clone(),
            audience: settings.audience.clone(),
            ttl: settings.access_ttl,
            leeway: settings.leeway,
        }
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    pub fn issue(
        &self,
        user_id: i32,
        email: &str,
        role: Role,
        session_version: i32,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        let now = chrono::Utc::now().timestamp();
        let claims = AccessClaims {
            sub: user_id.to_string(),
            email: email.to_owned(),
            role,
            iat: now,
            exp: now + self.ttl.as_secs() as i64,
            nbf: None,
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            jti: uuid::Uuid::new_v4().to_string(),
            sv: session_version,
        };
        let mut header = Header::new(Algorithm::HS256);
        header.typ = Some(ACCESS_TOKEN_TYPE.to_owned());
        header.kid = self.verifying.first().map(|current| current.kid.clone());
        jsonwebtoken::encode(&header, &claims, &self.encoding)
    }

    /// The key a token names by its `kid`. A token without one was issued
    /// before key ids existed, with the key that was current then: it is
    /// only checked against the current key. An unknown `kid` (a removed
    /// key, or forged) matches nothing.
    fn key_for(&self, token: &str) -> Result<&DecodingKey, AuthFailure> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| AuthFailure::TokenInvalid)?;
        let key = match header.kid {
            None => self.verifying.first(),
            Some(kid) => self.verifying.iter().find(|k| k.kid == kid),
        };
        key.map(|k| &k.key).ok_or(AuthFailure::TokenInvalid)
    }

    /// Verifies signature, algorithm, type and every claim; a token this
    /// worker verified before is answered from the verified-token cache
    /// until it expires.
    pub fn verify(&self, token: &str) -> Result<AccessClaims, AuthFailure> {
        let now = chrono::Utc::now().timestamp();
        let leeway = self.leeway.as_secs() as i64;
        let cached = VERIFIED.with(|cache| cache.borrow_mut().get(self.id, token, now, leeway));
        if let Some(claims) = cached {
            return Ok(claims);
        }
        let claims = self.decode(token, &self.validation, now)?;
        VERIFIED.with(|cache| {
            cache
                .borrow_mut()
                .insert(self.id, token, &claims, now, leeway)
        });
        Ok(claims)
    }

    /// [`verify`](Self::verify) without the cache: the full check every
    /// time (what the throughput benchmark's JWT baseline measures).
    pub fn verify_uncached(&self, token: &str) -> Result<AccessClaims, AuthFailure> {
        self.decode(token, &self.validation, chrono::Utc::now().timestamp())
    }

    /// Like [`verify`](Self::verify) but accepts an expired token issued within
    /// `max_age`: logout uses it so a session can be revoked after the access
    /// token ran out. Everything else is still checked.
    pub fn verify_allow_expired(
        &self,
        token: &str,
        max_age_secs: i64,
    ) -> Result<AccessClaims, AuthFailure> {
        let mut validation = self.validation.clone();
        validation.validate_exp = false;
        let now = chrono::Utc::now().timestamp();
        let claims = self.decode(token, &validation, now)?;
        let oldest = now - max_age_secs;
        if claims.iat < oldest {
            return Err(AuthFailure::TokenExpired);
        }
        Ok(claims)
    }

    /// The full check at `now` (Unix seconds, read once by the caller).
    fn decode(
        &self,
        token: &str,
        validation: &Validation,
        now: i64,
    ) -> Result<AccessClaims, AuthFailure> {
        let key = self.key_for(token)?;
        let data =
            jsonwebtoken::decode::<AccessClaims>(token, key, validation).map_err(|e| {
                match e.kind() {
                    ErrorKind::ExpiredSignature => AuthFailure::TokenExpired,
                    _ => AuthFailure::TokenInvalid,
                }
            })?;
        if data.header.typ.as_deref() != Some(ACCESS_TOKEN_TYPE) {
            return Err(AuthFailure::TokenInvalid);
        }
        let claims = data.claims;

        if claims.iat > now + self.leeway.as_secs() as i64 || claims.user_id().is_none() {
            return Err(AuthFailure::TokenInvalid);
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    fn settings(secret: &str) -> SessionSettings {
        SessionSettings {
            access_token_secret: Secret::new(secret.as_bytes()),
            access_token_previous_secrets: Vec::new(),
            access_ttl: Duration::from_secs(60),
            refresh_ttl: Duration::from_secs(600),
            issuer: "iss-test".into(),
            audience: "aud-test".into(),
            leeway: Duration::from_secs(0),
            token_body_delivery: false,
            access_token_secret_generated: false,
            refresh_reuse_window: Duration::from_secs(30),
            refresh_idle_timeout: None,
        }
    }

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    fn forge(header: &str, claims: &serde_json::Value) -> String {
        format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        )
    }

    #[test]
    fn issued_tokens_verify_and_carry_identity() {
        let keys = JwtKeys::new(&settings(SECRET));
        let token = keys.issue(42, "a@b.test", Role::Admin, 1).expect("sign");
        let claims = keys.verify(&token).expect("valid");
        assert_eq!(claims.user_id(), Some(42));
        assert_eq!(claims.role, Role::Admin);
        assert_eq!(claims.iss, "iss-test");
        assert_eq!(claims.aud, "aud-test");
        assert_eq!(claims.exp - claims.iat, 60);
    }

    #[test]
    fn a_token_verified_once_is_answered_by_the_cache_only_for_the_same_keys() {
        let keys = JwtKeys::new(&settings(SECRET));
        let token = keys.issue(42, "a@b.test", Role::User, 3).expect("sign");
        keys.verify(&token).expect("valid");
        let again = keys.verify(&token).expect("from the cache");
        assert_eq!((again.user_id(), again.sv), (Some(42), 3));
        // The same secret in another JwtKeys (another gateway in this
        // process) checks for itself; a different secret refuses it.
        let twin = JwtKeys::new(&settings(SECRET));
        assert!(twin.verify(&token).is_ok());
        let other = JwtKeys::new(&settings("another-secret-another-secret-xx"));
        assert_eq!(other.verify(&token).err(), Some(AuthFailure::TokenInvalid));
        // One changed character is another token: fully checked, refused.
        let mut forged = token.clone();
        forged.pop();
        forged.push(if token.ends_with('A') { 'B' } else { 'A' });
        assert_eq!(keys.verify(&forged).err(), Some(AuthFailure::TokenInvalid));
    }

    #[test]
    fn another_secret_or_tampering_is_rejected() {
        let keys = JwtKeys::new(&settings(SECRET));
        let other = JwtKeys::new(&settings("another-secret-another-secret-xx"));
        let token = other.issue(1, "a@b.test", Role::User, 1).expect("sign");
        assert_eq!(keys.verify(&token).err(), Some(AuthFailure::TokenInvalid));

        let token = keys.issue(1, "a@b.test", Role::User, 1).expect("sign");
        let mut parts: Vec<String> = token.split('.').map(String::from).collect();
        let claims = String::from_utf8(URL_SAFE_NO_PAD.decode(&parts[1]).expect("b64"))
            .expect("utf8")
            .replace("\"user\"", "\"admin\"");
        parts[1] = URL_SAFE_NO_PAD.encode(claims);
        assert_eq!(
            keys.verify(&parts.join(".")).err(),
            Some(AuthFailure::TokenInvalid)
        );
    }

    #[test]
    fn alg_none_and_wrong_type_are_rejected() {
        let keys = JwtKeys::new(&settings(SECRET));
        let now = chrono::Utc::now().timestamp();
        let claims = serde_json::json!({
            "sub": "1", "email": "a@b.test", "role": "admin", "iat": now, "exp": now + 60,
            "iss": "iss-test", "aud": "aud-test", "jti": "x"
        });
        let none = forge(r#"{"alg":"none","typ":"at+jwt"}"#, &claims);
        assert_eq!(keys.verify(&none).err(), Some(AuthFailure::TokenInvalid));

        // Correctly signed, but typed as a plain JWT.
        let mut header = Header::new(Algorithm::HS256);
        header.typ = Some("JWT".into());
        let token = jsonwebtoken::encode(&header, &claims, &keys.encoding).expect("sign");
        assert_eq!(keys.verify(&token).err(), Some(AuthFailure::TokenInvalid));
    }

    #[test]
    fn missing_claims_wrong_audience_and_expiry_are_rejected() {
        let keys = JwtKeys::new(&settings(SECRET));
        let now = chrono::Utc::now().timestamp();
        let mut header = Header::new(Algorithm::HS256);
        header.typ = Some(ACCESS_TOKEN_TYPE.into());
        let sign = |claims: serde_json::Value| {
            jsonwebtoken::encode(&header, &claims, &keys.encoding).expect("sign")
        };
        let base = serde_json::json!({
            "sub": "1", "email": "a@b.test", "role": "user", "iat": now, "exp": now + 60,
            "iss": "iss-test", "aud": "aud-test", "jti": "x", "sv": 1
        });
        assert!(keys.verify(&sign(base.clone())).is_ok());
        for field in ["sub", "role", "iat", "exp", "iss", "aud", "jti", "sv"] {
            let mut claims = base.clone();
            claims.as_object_mut().map(|o| o.remove(field));
            assert_eq!(
                keys.verify(&sign(claims)).err(),
                Some(AuthFailure::TokenInvalid),
                "without {field}"
            );
        }
        let mut claims = base.clone();
        claims["aud"] = "someone-else".into();
        assert_eq!(
            keys.verify(&sign(claims)).err(),
            Some(AuthFailure::TokenInvalid)
        );
        let mut claims = base.clone();
        claims["nbf"] = (now + 3600).into();
        assert_eq!(
            keys.verify(&sign(claims)).err(),
            Some(AuthFailure::TokenInvalid)
        );
        let mut claims = base.clone();
        claims["exp"] = (now - 10).into();
        claims["iat"] = (now - 70).into();
        let expired = sign(claims);
        assert_eq!(keys.verify(&expired).err(), Some(AuthFailure::TokenExpired));
        assert!(keys.verify_allow_expired(&expired, 600).is_ok());
        assert!(keys.verify_allow_expired(&expired, 30).is_err());
    }

    fn with_previous(current: &str, previous: &[&str]) -> JwtKeys {
        JwtKeys::new(&SessionSettings {
            access_token_previous_secrets: previous
                .iter()
                .map(|p| Secret::new(p.as_bytes()))
                .collect(),
            ..settings(current)
        })
    }

    const NEW_SECRET: &str = "fedcba9876543210fedcba9876543210";

    #[test]
    fn tokens_name_their_key_by_an_id_that_is_not_the_key() {
        let keys = JwtKeys::new(&settings(SECRET));
        let token = keys.issue(1, "a@b.test", Role::User, 1).expect("sign");
        let kid = jsonwebtoken::decode_header(&token)
            .expect("header")
            .kid
            .expect("a kid");
        assert_eq!(kid, key_id(SECRET.as_bytes()));
        assert_ne!(kid, key_id(NEW_SECRET.as_bytes()));
        assert_eq!(kid.len(), 16);
        assert!(!SECRET.contains(&kid) && !kid.contains(&SECRET[..8]));
    }

    #[test]
    fn a_previous_key_verifies_until_it_is_removed_and_new_tokens_use_the_current_key() {
        let old = JwtKeys::new(&settings(SECRET));
        let old_token = old.issue(1, "a@b.test", Role::User, 1).expect("sign");
        let rotated = with_previous(NEW_SECRET, &[SECRET]);
        assert_eq!(rotated.verify(&old_token).expect("still valid").sub, "1");
        assert!(rotated.verify_allow_expired(&old_token, 600).is_ok());

        let new_token = rotated.issue(2, "b@b.test", Role::User, 1).expect("sign");
        assert_eq!(
            jsonwebtoken::decode_header(&new_token).expect("header").kid,
            Some(key_id(NEW_SECRET.as_bytes()))
        );
        assert_eq!(
            old.verify(&new_token).err(),
            Some(AuthFailure::TokenInvalid)
        );

        let removed = JwtKeys::new(&settings(NEW_SECRET));
        assert_eq!(
            removed.verify(&old_token).err(),
            Some(AuthFailure::TokenInvalid)
        );
        assert!(removed.verify(&new_token).is_ok());
    }

    #[test]
    fn a_token_without_a_kid_is_checked_against_the_current_key_only() {
        let now = chrono::Utc::now().timestamp();
        let claims = serde_json::json!({
            "sub": "1", "email": "a@b.test", "role": "user", "iat": now, "exp": now + 60,
            "iss": "iss-test", "aud": "aud-test", "jti": "x", "sv": 1
        });
        let mut header = Header::new(Algorithm::HS256);
        header.typ = Some(ACCESS_TOKEN_TYPE.into());
        let sign = |secret: &str, header: &Header| {
            let key = EncodingKey::from_secret(secret.as_bytes());
            jsonwebtoken::encode(header, &claims, &key).expect("sign")
        };
        let rotated = with_previous(NEW_SECRET, &[SECRET]);
        assert!(rotated.verify(&sign(NEW_SECRET, &header)).is_ok());
        assert_eq!(
            rotated.verify(&sign(SECRET, &header)).err(),
            Some(AuthFailure::TokenInvalid)
        );
        // A kid naming one key, signed by another, or naming no known key.
        header.kid = Some(key_id(NEW_SECRET.as_bytes()));
        assert_eq!(
            rotated.verify(&sign(SECRET, &header)).err(),
            Some(AuthFailure::TokenInvalid)
        );
        header.kid = Some("unknown-key-id".into());
        assert_eq!(
            rotated.verify(&sign(NEW_SECRET, &header)).err(),
            Some(AuthFailure::TokenInvalid)
        );
    }
}
