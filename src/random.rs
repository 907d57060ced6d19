//! Random tokens from the operating system's CSPRNG, for every secret the
//! gateway makes itself (refresh tokens, development keys, dummy hashes).

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};

/// 256 bits, base64url without padding (43 characters).
pub fn token() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

#[cfg(test)]
mod tests {
    #[test]
    fn tokens_are_43_url_safe_characters_and_differ() {
        let a = super::token().expect("rng");
        let b = super::token().expect("rng");
        assert_eq!(a.len(), 43);
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
        assert_ne!(a, b);
    }
}
