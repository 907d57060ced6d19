//! Accounts: creating users and checking their credentials. Sessions (what
//! happens after a successful login) live in src/session/.

pub mod fairness;
pub mod password;
mod upgrade;

use std::net::IpAddr;

/// Roles are a leaf of their own (src/role.rs), so settings can name them.
pub use crate::role::Role;
pub use fairness::ClientSlots;
pub use password::{PasswordError, PasswordHasher};

use crate::{
    db::{self, DbPool, models::NewUser, models::User, users},
    errors::{AppError, AuthFailure, is_unique_violation},
    validation::{email_is_valid, password_chars_allowed},
};

pub struct Accounts {
    pool: DbPool,
    passwords: PasswordHasher,
    /// Each client's share of the password checks.
    login_slots: ClientSlots,
}

impl Accounts {
    pub fn new(pool: DbPool, passwords: PasswordHasher, login_slots: ClientSlots) -> Self {
        Accounts {
            pool,
            passwords,
            login_slots,
        }
    }

    /// A new `user`-role account for already validated input; 409
    /// `email_taken` when the email is registered.
    pub async fn sign_up(&self, email: String, password: &str) -> Result<User, AppError> {
        let password_hash = self.passwords.hash(password).await?;
        db::run(&self.pool, move |conn| {
            let new_user = NewUser {
                email: &email,
                password_hash: &password_hash,
                role: Role::User.as_str(),
            };
            users::insert(conn, &new_user).map_err(|e| {
                if is_unique_violation(&e) {
                    AppError::Conflict {
                        code: "email_taken",
                        message: "User already exists",
                    }
                } else {
                    e.into()
                }
            })
        })
        .await
    }

    /// The account for these credentials, or 401 `invalid_credentials` with
    /// the same bytes and the same bcrypt work whether the account exists or
    /// not. `email` is normalized. Waits for one of `client`'s password-check
    /// slots first (429 if none frees up in time).
    pub async fn authenticate(
        &self,
        email: String,
        password: &str,
        client: IpAddr,
    ) -> Result<User, AppError> {
        let _slot = self.login_slots.acquire(client).await?;
        // A malformed identifier cannot belong to an account, nor can a
        // password with control characters match one: either skips the query
        // (which also keeps NUL bytes away from the database) but not bcrypt.
        let user = if email_is_valid(&email) && password_chars_allowed(password) {
            db::run(&self.pool, move |conn| {
                Ok(users::find_by_email(conn, &email)?)
            })
            .await?
        } else {
            None
        };
        let verified = self
            .passwords
            .verify(password, user.as_ref().map(|u| u.password_hash.clone()))
            .await?;
        match user {
            Some(user) if verified => {
                upgrade::spawn_if_needed(&self.passwords, &self.pool, &user, password);
                Ok(user)
            }
            Some(user) => {
                log::info!("login failed: user_id={} wrong password", user.id);
                Err(AppError::Unauthenticated(AuthFailure::InvalidCredentials))
            }
            None => {
                log::info!("login failed: unknown account");
                Err(AppError::Unauthenticated(AuthFailure::InvalidCredentials))
            }
        }
    }
}
