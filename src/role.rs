//! The two roles. Stored as text; the role guard (`AdminUser`, in
//! src/auth/extractors.rs) compares this type, never strings.

use std::str::FromStr;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Admin,
}

/// A stored or submitted role that is neither `user` nor `admin`.
#[derive(Debug, thiserror::Error)]
#[error("unknown role `{0}`")]
pub struct UnknownRole(pub String);

impl Role {
    /// Whether a caller with this role may use what `required` guards: an
    /// admin may do everything a user may. The one rule behind the admin
    /// guard (src/auth/extractors.rs) and admin-only upstreams.
    pub fn satisfies(self, required: Role) -> bool {
        required == Role::User || self == Role::Admin
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Admin => "admin",
        }
    }
}

impl FromStr for Role {
    type Err = UnknownRole;

    fn from_str(s: &str) -> Result<Self, UnknownRole> {
        match s {
            "user" => Ok(Role::User),
            "admin" => Ok(Role::Admin),
            other => Err(UnknownRole(other.chars().take(32).collect())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Role;

    #[test]
    fn an_admin_satisfies_every_role_and_a_user_only_user() {
        assert!(Role::User.satisfies(Role::User));
        assert!(!Role::User.satisfies(Role::Admin));
        assert!(Role::Admin.satisfies(Role::User));
        assert!(Role::Admin.satisfies(Role::Admin));
    }

    #[test]
    fn roles_round_trip_through_text_and_nothing_else_parses() {
        for role in [Role::User, Role::Admin] {
            assert_eq!(role.as_str().parse::<Role>().ok(), Some(role));
        }
        for bad in ["", "Admin", "root", "admin "] {
            assert!(bad.parse::<Role>().is_err(), "{bad:?}");
        }
    }
}
