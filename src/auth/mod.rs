//! Authentication: access JWTs, opaque refresh tokens, passwords, cookies and
//! the typed extractor that resolves the caller once per request.

pub mod cookies;
pub mod csrf;
pub mod extractors;
pub mod jwt;
pub mod password;

use std::{fmt, str::FromStr};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use extractors::{AuthUser, require_admin};

use crate::errors::AppError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Admin => "admin",
        }
    }
}

impl FromStr for Role {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "user" => Ok(Role::User),
            "admin" => Ok(Role::Admin),
            _ => Err(()),
        }
    }
}

/// 256 bits from the OS CSPRNG, base64url without padding (43 characters).
pub fn random_token() -> Result<String, AppError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| AppError::Internal(format!("operating system RNG failed: {e}")))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// An opaque refresh token as sent to the client. Only its hash is stored.
#[derive(Clone, PartialEq, Eq)]
pub struct RefreshToken(String);

impl RefreshToken {
    pub fn generate() -> Result<Self, AppError> {
        random_token().map(RefreshToken)
    }

    pub fn from_client(value: &str) -> Self {
        RefreshToken(value.to_owned())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// SHA-256, hex. The token has 256 bits of entropy, so a fast hash is
    /// enough and lets the database look it up by an index.
    pub fn hash(&self) -> String {
        Sha256::digest(self.0.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

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
        assert_eq!(a.expose().len(), 43);
        assert_eq!(a.hash().len(), 64);
        assert_ne!(a.hash(), a.expose());
        assert_eq!(a.hash(), RefreshToken::from_client(a.expose()).hash());
        assert_eq!(format!("{a:?}"), "RefreshToken([redacted])");
    }
}
