//! Password hashing: bcrypt over an HMAC-SHA-256 pre-hash keyed with a
//! server pepper. bcrypt reads only 72 bytes; pre-hashing means long
//! passwords are never silently truncated, and the base64 digest contains
//! no NUL byte. Every bcrypt call waits for a permit, then runs on the
//! blocking pool, so a login storm queues instead of starving other work.

use std::sync::Arc;

use actix_web::error::BlockingError;
use base64::{Engine, engine::general_purpose::STANDARD};
use hmac::{Hmac, Mac, digest::InvalidLength};
use sha2::Sha256;
use tokio::sync::{AcquireError, OwnedSemaphorePermit, Semaphore};

use crate::{blocking, config::PasswordSettings, errors::AppError, metrics};

/// Why hashing or verifying could not be done (never "wrong password").
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("bcrypt")]
    Bcrypt(#[from] bcrypt::BcryptError),
    #[error("cannot make the dummy password")]
    Random(#[from] getrandom::Error),
    #[error("invalid pepper")]
    Pepper(#[from] InvalidLength),
    #[error("the bcrypt queue is closed")]
    Queue(#[from] AcquireError),
    #[error("blocking pool")]
    Blocking(#[from] BlockingError),
}

impl From<PasswordError> for AppError {
    fn from(err: PasswordError) -> Self {
        AppError::internal(err)
    }
}

/// Cheap to clone (the semaphore is shared): a background hash upgrade
/// holds its own copy.
#[derive(Clone)]
pub struct PasswordHasher {
    pepper: Vec<u8>,
    cost: u32,
    permits: Arc<Semaphore>,
    /// One background rehash at a time (see src/accounts/upgrade.rs), so
    /// upgrades never hold more than one of the permits logins wait for.
    rehash_slot: Arc<Semaphore>,
    /// Verified against when the account does not exist, so unknown users
    /// cost the same time as wrong passwords.
    dummy_hash: String,
}

impl PasswordHasher {
    /// Blocking (one bcrypt hash for the dummy): call at start-up.
    pub fn new(settings: &PasswordSettings) -> Result<Self, PasswordError> {
        let mut hasher = PasswordHasher {
            pepper: settings.pepper.expose().to_vec(),
            cost: settings.bcrypt_cost,
            permits: Arc::new(Semaphore::new(settings.bcrypt_max_concurrency)),
            rehash_slot: Arc::new(Semaphore::new(1)),
            dummy_hash: String::new(),
        };
        let dummy = crate::random::token()?;
        hasher.dummy_hash = bcrypt::hash(hasher.prehash(&dummy)?, hasher.cost)?;
        Ok(hasher)
    }

    fn prehash(&self, password: &str) -> Result<String, PasswordError> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.pepper)?;
        mac.update(password.as_bytes());
        Ok(STANDARD.encode(mac.finalize().into_bytes()))
    }

    /// Whether `hash` was made at a lower cost than `BCRYPT_COST` (the cost
    /// was raised since): it should be redone once its password is known.
    /// An unparseable hash is never rewritten.
    pub fn needs_upgrade(&self, hash: &str) -> bool {
        hash.parse::<bcrypt::HashParts>()
            .is_ok_and(|parts| parts.get_cost() < self.cost)
    }

    /// The right to run the one background rehash, if no other is running;
    /// held until the rehash is stored.
    pub fn rehash_slot(&self) -> Option<OwnedSemaphorePermit> {
        self.rehash_slot.clone().try_acquire_owned().ok()
    }

    pub async fn hash(&self, password: &str) -> Result<String, PasswordError> {
        let prehashed = self.prehash(password)?;
        let cost = self.cost;
        self.bounded(move || Ok(bcrypt::hash(prehashed, cost)?))
            .await
    }

    /// `hash` is `None` for an unknown account: the dummy hash is checked
    /// instead and the answer is always `false`.
    pub async fn verify(
        &self,
        password: &str,
        hash: Option<String>,
    ) -> Result<bool, PasswordError> {
        let prehashed = self.prehash(password)?;
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| self.dummy_hash.clone());
        let matches = self
            .bounded(move || Ok(bcrypt::verify(prehashed, &hash)?))
            .await?;
        Ok(known && matches)
    }

    async fn bounded<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> Result<T, PasswordError> + Send + 'static,
    ) -> Result<T, PasswordError> {
        let queued = metrics::BcryptQueued::now();
        let _permit = self.permits.acquire().await?;
        let _running = queued.started();
        blocking::run(f).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    fn hasher(pepper: &[u8]) -> PasswordHasher {
        at_cost(pepper, 4)
    }

    fn at_cost(pepper: &[u8], bcrypt_cost: u32) -> PasswordHasher {
        PasswordHasher::new(&PasswordSettings {
            pepper: Secret::new(pepper),
            bcrypt_cost,
            bcrypt_max_concurrency: 2,
        })
        .expect("hasher")
    }

    #[actix_web::test]
    async fn only_hashes_of_a_lower_cost_need_an_upgrade() {
        let (low, high) = (at_cost(&[1u8; 32], 4), at_cost(&[1u8; 32], 5));
        let old = low.hash("correct horse").await.expect("hash");
        assert!(high.needs_upgrade(&old));
        assert!(!low.needs_upgrade(&old));
        let new = high.hash("correct horse").await.expect("hash");
        assert!(new.starts_with("$2b$05$"), "{new}");
        assert!(!high.needs_upgrade(&new));
        assert!(!low.needs_upgrade(&new), "never downgraded");
        assert!(
            high.verify("correct horse", Some(new))
                .await
                .expect("verify")
        );
        for garbage in ["", "plain text", "$2b$xx$nonsense"] {
            assert!(!high.needs_upgrade(garbage), "{garbage}");
        }
    }

    #[test]
    fn one_rehash_at_a_time() {
        let h = hasher(&[1u8; 32]);
        let slot = h.rehash_slot().expect("free");
        assert!(h.clone().rehash_slot().is_none(), "shared by clones");
        drop(slot);
        assert!(h.rehash_slot().is_some());
    }

    #[actix_web::test]
    async fn passwords_sharing_the_first_72_bytes_are_different() {
        let h = hasher(&[9u8; 32]);
        let base = "x".repeat(72);
        let hash = h.hash(&format!("{base}A")).await.expect("hash");
        assert!(
            h.verify(&format!("{base}A"), Some(hash.clone()))
                .await
                .expect("verify")
        );
        assert!(
            !h.verify(&format!("{base}B"), Some(hash))
                .await
                .expect("verify")
        );
    }

    #[actix_web::test]
    async fn the_pepper_is_part_of_the_hash() {
        let hash = hasher(&[1u8; 32])
            .hash("correct horse")
            .await
            .expect("hash");
        let other = hasher(&[2u8; 32]);
        assert!(
            !other
                .verify("correct horse", Some(hash))
                .await
                .expect("verify")
        );
    }

    #[actix_web::test]
    async fn unknown_users_never_verify() {
        let h = hasher(&[1u8; 32]);
        assert!(!h.verify("anything at all", None).await.expect("verify"));
    }
}
