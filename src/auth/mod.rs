//! Who may make a request: the guards on the way to a handler.
//!
//! - extractors.rs: `AuthUser` and `AdminUser` (the role guard);
//! - csrf.rs: the CSRF gate on unsafe `/api` requests.

pub mod csrf;
pub mod extractors;

pub use extractors::{AdminUser, AuthUser};
