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
    fn roles_round_trip_through_text_and_nothing_else_parses() {
        for role in [Role::User, Role::Admin] {
            assert_eq!(role.as_str().parse::<Role>().ok(), Some(role));
        }
        for bad in ["", "Admin", "root", "admin "] {
            assert!(bad.parse::<Role>().is_err(), "{bad:?}");
        }
    }
}
