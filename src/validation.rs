//! Input rules shared by the HTTP handlers and the CLI. Everything is checked
//! before anything is stored; a failure lists each offending field.

use crate::{accounts::password, errors::FieldError};

pub const MAX_EMAIL_CHARS: usize = 254;
pub const MAX_NAME_CHARS: usize = 30;

/// Emails are compared and stored trimmed and lower-cased; matching never
/// relies on a database collation.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// A deliberately practical address syntax: `local@domain.tld` with
/// letters, digits and `._%+-` in the local part and DNS labels in the
/// domain. Quotes, spaces, `'`, `;` or `=` are refused.
pub fn email_is_valid(email: &str) -> bool {
    if email.chars().count() > MAX_EMAIL_CHARS {
        return false;
    }
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._%+-".contains(c))
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..");
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && labels.iter().all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        });
    local_ok && domain_ok
}

/// Person names: 1–30 characters of letters, spaces, `'`, `’`, `-` and `.`
/// after trimming. Digits and punctuation such as `;`, `=`, `(` or quotes
/// are refused, so SQL-looking input is a 400 rather than stored.
pub fn name_error(value: &str) -> Option<&'static str> {
    let chars = value.chars().count();
    if chars == 0 {
        return Some("must not be empty");
    }
    if chars > MAX_NAME_CHARS {
        return Some("must be at most 30 characters");
    }
    let allowed = value
        .chars()
        .all(|c| c.is_alphabetic() || matches!(c, ' ' | '\'' | '’' | '-' | '.'));
    if !allowed || !value.chars().any(char::is_alphabetic) {
        return Some("may contain only letters, spaces, apostrophes, hyphens and periods");
    }
    None
}

pub fn signup_errors(email: Option<&str>, password_value: Option<&str>) -> Vec<FieldError> {
    let mut errors = Vec::new();
    match email {
        None => errors.push(FieldError::new("email", "is required")),
        Some(e) if !email_is_valid(e) => {
            errors.push(FieldError::new("email", "must be a valid email address"))
        }
        Some(_) => {}
    }
    match password_value {
        None => errors.push(FieldError::new("password", "is required")),
        Some(p) if !password::password_is_acceptable(p) => errors.push(FieldError::new(
            "password",
            "must be between 8 and 128 characters",
        )),
        Some(_) => {}
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalized_and_checked() {
        assert_eq!(normalize_email("  Alice@Example.COM "), "alice@example.com");
        assert!(email_is_valid("alice+tag@example.co.uk"));
        for bad in [
            "",
            "alice",
            "@example.com",
            "alice@",
            "alice@example",
            "a b@example.com",
            "alice@exa mple.com",
            "x' OR 1=1 --@example.com",
            "alice@example.com\0",
            "a..b@example.com",
        ] {
            assert!(!email_is_valid(bad), "{bad:?} accepted");
        }
        assert!(!email_is_valid(&format!("{}@example.com", "a".repeat(250))));
    }

    #[test]
    fn names_allow_real_names_only() {
        for good in [
            "Ada",
            "O'Brien",
            "Jean-Luc",
            "José María",
            "Zoë",
            "St. John",
            "李",
        ] {
            assert_eq!(name_error(good), None, "{good}");
        }
        for bad in [
            "",
            "'; DROP TABLE people;--",
            "' OR 1=1 --",
            "Robert\0",
            "R2D2",
            "<script>",
            "---",
            &"a".repeat(31),
        ] {
            assert!(name_error(bad).is_some(), "{bad:?} accepted");
        }
        assert_eq!(name_error(&"é".repeat(30)), None);
    }
}
