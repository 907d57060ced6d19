//! Input rules shared by the HTTP handlers and the CLI. Everything is checked
//! before anything is stored; a failure lists each offending field.

use unicode_normalization::UnicodeNormalization;

use crate::errors::FieldError;

pub const MAX_EMAIL_CHARS: usize = 254;
pub const MIN_PASSWORD_CHARS: usize = 8;
pub const MAX_PASSWORD_CHARS: usize = 128;
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

/// C0/C1 controls (NUL and DEL included) and the Unicode line and paragraph
/// separators: nothing a person types into a one-line field.
pub fn has_control_chars(value: &str) -> bool {
    value
        .chars()
        .any(|c| c.is_control() || matches!(c, '\u{2028}' | '\u{2029}'))
}

/// Person names are free text: queries are parameterised, so no character is
/// dangerous. `value` is as sent (callers store it trimmed, not normalised);
/// controls are refused anywhere in it, even where trimming would drop them.
/// The length is counted after NFC, so "é" is one character however encoded.
pub fn name_error(value: &str) -> Option<&'static str> {
    if has_control_chars(value) {
        return Some("must not contain control characters");
    }
    let chars = value.trim().nfc().count();
    if chars == 0 {
        return Some("must not be empty");
    }
    if chars > MAX_NAME_CHARS {
        return Some("must be at most 30 characters");
    }
    None
}

/// Passwords must not contain control characters either. Sign-up refuses
/// them; login treats them as wrong without a database lookup, so no old
/// row holding one can be logged into.
pub fn password_chars_allowed(password: &str) -> bool {
    !has_control_chars(password)
}

/// Length rules only (NIST SP 800-63B): no composition rules.
pub fn password_is_acceptable(password: &str) -> bool {
    let chars = password.chars().count();
    (MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS).contains(&chars)
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
        Some(p) if !password_chars_allowed(p) => errors.push(FieldError::new(
            "password",
            "must not contain control characters",
        )),
        Some(p) if !password_is_acceptable(p) => errors.push(FieldError::new(
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
    fn password_length_rules_count_characters_not_bytes() {
        assert!(!password_is_acceptable("1234567"));
        assert!(password_is_acceptable("12345678"));
        assert!(password_is_acceptable(&"é".repeat(64)));
        assert!(password_is_acceptable(&"🔑".repeat(128)));
        assert!(!password_is_acceptable(&"a".repeat(129)));
    }

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
    fn names_are_free_text() {
        for good in [
            "Ada",
            "O'Brien",
            "Jean-Luc",
            "José María",
            "Zoë",
            "St. John",
            "李",
            "Agent 47",
            "Watson (née Parker)",
            "Smith 3rd",
            "Robert'); DROP TABLE x;--",
            "' OR 1=1 --",
            "<script>",
            "R2D2",
            "---",
            "  padded  ",
        ] {
            assert_eq!(name_error(good), None, "{good:?}");
        }
        assert_eq!(name_error(&"a".repeat(30)), None);
        assert_eq!(name_error(&"é".repeat(30)), None);
        assert_eq!(
            name_error(&"a".repeat(31)),
            Some("must be at most 30 characters")
        );
        // Trimmed before counting.
        assert_eq!(name_error(&format!("  {}  ", "a".repeat(30))), None);
    }

    #[test]
    fn name_length_is_counted_after_nfc() {
        let decomposed = "e\u{301}".repeat(30);
        assert_eq!(decomposed.chars().count(), 60);
        assert_eq!(name_error(&decomposed), None);
        assert_eq!(
            name_error(&"e\u{301}".repeat(31)),
            Some("must be at most 30 characters")
        );
    }

    #[test]
    fn names_refuse_controls_and_blanks() {
        for bad in [
            "Ro\0bert",
            "Ada\n",
            "\tAda",
            "A\u{7f}",
            "A\u{85}",
            "A\u{2028}",
            "A\u{2029}",
            "\n",
        ] {
            assert_eq!(
                name_error(bad),
                Some("must not contain control characters"),
                "{bad:?}"
            );
        }
        for blank in ["", "   ", "\u{3000}"] {
            assert_eq!(name_error(blank), Some("must not be empty"), "{blank:?}");
        }
    }

    #[test]
    fn passwords_with_control_characters_are_refused() {
        assert!(password_chars_allowed("correct horse battery"));
        assert!(password_chars_allowed("пароль🔑 with spaces"));
        for bad in [
            "correct horse\0",
            "tab\there!!",
            "line\nbreak!",
            "del\u{7f}eted!",
            "next\u{85}line",
            "sep\u{2028}arator",
        ] {
            assert!(!password_chars_allowed(bad), "{bad:?}");
            let errors = signup_errors(Some("a@example.com"), Some(bad));
            assert_eq!(errors.len(), 1, "{bad:?}");
            assert_eq!(errors[0].field, "password");
            assert_eq!(errors[0].message, "must not contain control characters");
        }
        assert!(signup_errors(Some("a@example.com"), Some("correct horse battery")).is_empty());
    }
}
