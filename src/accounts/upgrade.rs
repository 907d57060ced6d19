//! Password hash upgrade: after a successful login whose stored hash has a
//! lower bcrypt cost than `BCRYPT_COST`, the password is hashed again at the
//! current cost and stored, so raising the cost takes effect as users log in.
//!
//! It runs after the login has been answered: the login costs what its
//! stored hash costs, and only the stored row waits for the new hash. At
//! most one rehash runs at a time and a login finding it busy skips its
//! upgrade, so upgrades never queue up in front of logins for the bcrypt
//! permits; a skipped or lost upgrade (busy, shutdown, a database error)
//! happens at that user's next login.

use chrono::Utc;

use super::PasswordHasher;
use crate::{
    db::{self, DbPool, models::User, users},
    errors::{AppError, chain},
};

/// Starts the upgrade of `user`'s hash if it needs one; returns at once.
pub(super) fn spawn_if_needed(
    passwords: &PasswordHasher,
    pool: &DbPool,
    user: &User,
    password: &str,
) {
    if !passwords.needs_upgrade(&user.password_hash) {
        return;
    }
    let Some(slot) = passwords.rehash_slot() else {
        return;
    };
    let (passwords, pool) = (passwords.clone(), pool.clone());
    let (user_id, old) = (user.id, user.password_hash.clone());
    let password = password.to_owned();
    actix_web::rt::spawn(async move {
        let result = upgrade(&passwords, &pool, user_id, old, &password).await;
        drop(slot);
        match result {
            Ok(true) => log::info!("password hash upgraded: user_id={user_id}"),
            // Changed meanwhile: the newer hash stands.
            Ok(false) => {}
            Err(err) => log::warn!(
                "password hash upgrade failed: user_id={user_id}: {}",
                chain(&err)
            ),
        }
    });
}

async fn upgrade(
    passwords: &PasswordHasher,
    pool: &DbPool,
    user_id: i32,
    old: String,
    password: &str,
) -> Result<bool, AppError> {
    let new = passwords.hash(password).await?;
    let now = Utc::now().naive_utc();
    db::run(pool, move |conn| {
        Ok(users::replace_password_hash(
            conn, user_id, &old, &new, now,
        )?)
    })
    .await
}
