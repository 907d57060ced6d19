//! The keys that sign relay tokens (src/relay/token.rs): the current Ed25519
//! private key, as PKCS#8 PEM, and the retired keys whose public halves are
//! still published so tokens they signed verify until they expire.

use std::{fmt, time::Duration};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use ed25519_dalek::{
    SigningKey, VerifyingKey,
    pkcs8::{
        DecodePrivateKey, DecodePublicKey, EncodePrivateKey, KeypairBytes,
        spki::der::pem::LineEnding,
    },
};

use super::{
    ConfigError, Environment,
    vars::{Vars, read_file},
};

pub const SIGNING_KEY_FILE: &str = "RELAY_SIGNING_KEY_FILE";
pub const SIGNING_KEY: &str = "RELAY_SIGNING_KEY";
pub const PREVIOUS_KEYS_FILE: &str = "RELAY_PREVIOUS_KEYS_FILE";
const TOKEN_TTL: &str = "RELAY_TOKEN_TTL";

const PRIVATE_KEY_LABEL: &str = "PRIVATE KEY";
const PUBLIC_KEY_LABEL: &str = "PUBLIC KEY";

/// An Ed25519 private key: never printed, never logged.
#[derive(Clone)]
pub struct RelaySigningKey(SigningKey);

impl RelaySigningKey {
    /// A fresh key from the operating system's CSPRNG.
    pub fn generate() -> Result<Self, getrandom::Error> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed)?;
        let key = SigningKey::from_bytes(&seed);
        seed.fill(0);
        Ok(RelaySigningKey(key))
    }

    /// Reads one `-----BEGIN PRIVATE KEY-----` block (PKCS#8 v1 or v2,
    /// Ed25519). The error says what is wrong, never what the text holds.
    pub fn from_pem(text: &str) -> Result<Self, String> {
        let blocks = pem_blocks(text)?;
        let [(label, block)] = blocks.as_slice() else {
            return Err(format!(
                "holds {} PEM blocks; expected one `-----BEGIN {PRIVATE_KEY_LABEL}-----` block",
                blocks.len()
            ));
        };
        match label.as_str() {
            PRIVATE_KEY_LABEL => SigningKey::from_pkcs8_pem(block)
                .map(RelaySigningKey)
                .map_err(|_| "is not an Ed25519 private key in PKCS#8".to_owned()),
            PUBLIC_KEY_LABEL => Err(
                "holds a public key; signing needs the private key (`-----BEGIN PRIVATE KEY-----`)"
                    .to_owned(),
            ),
            other => Err(unexpected_label(other)),
        }
    }

    /// PKCS#8 v1 (the private key alone), as `openssl genpkey -algorithm
    /// ed25519` writes it.
    pub fn to_pkcs8_pem(&self) -> Result<String, ed25519_dalek::pkcs8::Error> {
        let pem = self.keypair_bytes().to_pkcs8_pem(LineEnding::LF)?;
        Ok(pem.as_str().to_owned())
    }

    /// The same document as DER.
    pub fn to_pkcs8_der(&self) -> Result<Vec<u8>, ed25519_dalek::pkcs8::Error> {
        Ok(self.keypair_bytes().to_pkcs8_der()?.as_bytes().to_vec())
    }

    pub fn public_key(&self) -> RelayPublicKey {
        RelayPublicKey(self.0.verifying_key())
    }

    /// An Ed25519 signature (RFC 8032) of `message`.
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        ed25519_dalek::Signer::sign(&self.0, message).to_bytes()
    }

    fn keypair_bytes(&self) -> KeypairBytes {
        KeypairBytes {
            secret_key: self.0.to_bytes(),
            public_key: None,
        }
    }
}

impl fmt::Debug for RelaySigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RelaySigningKey([redacted])")
    }
}

/// The public half of a relay key, as published in the JWKS.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct RelayPublicKey(VerifyingKey);

impl RelayPublicKey {
    pub fn from_bytes(bytes: &[u8; 32]) -> Option<Self> {
        VerifyingKey::from_bytes(bytes).ok().map(RelayPublicKey)
    }

    pub fn to_bytes(self) -> [u8; 32] {
        self.0.to_bytes()
    }
}

impl fmt::Debug for RelayPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "RelayPublicKey({})",
            URL_SAFE_NO_PAD.encode(self.to_bytes())
        )
    }
}

/// Relay tokens: who signs them, which retired keys still verify, and for
/// how long a token lives.
#[derive(Debug, Clone)]
pub struct RelayKeySettings {
    /// Signs relay tokens; `None` only in production when no key is set.
    pub signing_key: Option<RelaySigningKey>,
    /// No key was set (development/test): `signing_key` is random, and
    /// start-up may swap in the development key file.
    pub signing_key_generated: bool,
    /// Retired keys, in file order: published so their tokens still verify.
    pub previous_keys: Vec<RelayPublicKey>,
    pub token_ttl: Duration,
    /// The tokens' `iss` (`JWT_ISSUER`).
    pub issuer: String,
}

impl RelayKeySettings {
    pub(super) fn from_vars(
        vars: &Vars,
        environment: Environment,
        issuer: &str,
    ) -> Result<Self, ConfigError> {
        let configured = configured_signing_key(vars)?;
        let signing_key_generated = configured.is_none();
        let signing_key = match configured {
            Some(key) => Some(key),
            // No default key in production: relaying stays off until one is set.
            None if environment == Environment::Production => None,
            None => Some(
                RelaySigningKey::generate().map_err(|source| ConfigError::Random {
                    var: SIGNING_KEY_FILE,
                    source,
                })?,
            ),
        };
        Ok(RelayKeySettings {
            signing_key,
            signing_key_generated,
            previous_keys: previous_keys(vars)?,
            token_ttl: vars.duration_between(
                TOKEN_TTL,
                Duration::from_secs(30),
                Duration::from_secs(1),
                Duration::from_secs(60),
            )?,
            issuer: issuer.to_owned(),
        })
    }

    /// An operator set the signing key (`RELAY_SIGNING_KEY_FILE` or
    /// `RELAY_SIGNING_KEY`); otherwise it is generated or, in production,
    /// absent.
    pub fn configured(&self) -> bool {
        self.signing_key.is_some() && !self.signing_key_generated
    }
}

fn configured_signing_key(vars: &Vars) -> Result<Option<RelaySigningKey>, ConfigError> {
    let (var, text) = match (vars.get(SIGNING_KEY_FILE), vars.get(SIGNING_KEY)) {
        (Some(_), Some(_)) => {
            return Err(ConfigError::invalid(
                SIGNING_KEY,
                format!("set either {SIGNING_KEY} or {SIGNING_KEY_FILE}, not both"),
            ));
        }
        (Some(path), None) => (SIGNING_KEY_FILE, read_file(SIGNING_KEY_FILE, &path)?),
        // Platforms that cannot hold newlines in a variable get `\n` escapes.
        (None, Some(pem)) if !pem.contains('\n') => (SIGNING_KEY, pem.replace("\\n", "\n")),
        (None, Some(pem)) => (SIGNING_KEY, pem),
        (None, None) => return Ok(None),
    };
    RelaySigningKey::from_pem(&text)
        .map(Some)
        .map_err(|reason| ConfigError::invalid(var, reason))
}

/// `RELAY_PREVIOUS_KEYS_FILE`: PEM blocks, public or private (only the
/// public half is kept). An empty file lists none.
fn previous_keys(vars: &Vars) -> Result<Vec<RelayPublicKey>, ConfigError> {
    let Some(path) = vars.get(PREVIOUS_KEYS_FILE) else {
        return Ok(Vec::new());
    };
    let text = read_file(PREVIOUS_KEYS_FILE, &path)?;
    parse_previous_keys(&text).map_err(|reason| ConfigError::invalid(PREVIOUS_KEYS_FILE, reason))
}

fn parse_previous_keys(text: &str) -> Result<Vec<RelayPublicKey>, String> {
    let blocks = pem_blocks(text)?;
    let count = blocks.len();
    blocks
        .iter()
        .enumerate()
        .map(|(i, (label, block))| {
            let which = format!("block {} of {count}", i + 1);
            match label.as_str() {
                PUBLIC_KEY_LABEL => VerifyingKey::from_public_key_pem(block)
                    .map(RelayPublicKey)
                    .map_err(|_| format!("{which} is not an Ed25519 public key")),
                PRIVATE_KEY_LABEL => SigningKey::from_pkcs8_pem(block)
                    .map(|key| RelayPublicKey(key.verifying_key()))
                    .map_err(|_| format!("{which} is not an Ed25519 private key in PKCS#8")),
                other => Err(format!("{which} {}", unexpected_label(other))),
            }
        })
        .collect()
}

fn unexpected_label(label: &str) -> String {
    format!(
        "is a `{label}` block; expected an Ed25519 key in PKCS#8 (`-----BEGIN PRIVATE KEY-----`, as `bff-gateway generate-relay-key` writes)"
    )
}

/// Splits PEM text into (label, block) pairs, each block re-assembled from
/// its trimmed lines. Only blank lines may stand between blocks, so a
/// truncated or mangled file is refused rather than half-read. Errors name
/// lines and labels, never content.
fn pem_blocks(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut blocks = Vec::new();
    let mut open: Option<(String, String)> = None;
    for (i, line) in text.lines().map(str::trim).enumerate() {
        let boundary = |kind: &str| {
            line.strip_prefix(kind)
                .and_then(|rest| rest.strip_suffix("-----"))
                .map(str::to_owned)
        };
        match open.as_mut() {
            None if line.is_empty() => {}
            None => match boundary("-----BEGIN ") {
                Some(label) => open = Some((label, format!("{line}\n"))),
                None => return Err(format!("line {} is outside any PEM block", i + 1)),
            },
            Some((label, block)) => {
                block.push_str(line);
                block.push('\n');
                if let Some(end) = boundary("-----END ") {
                    if end != *label {
                        return Err(format!("line {}: `{label}` block ends as `{end}`", i + 1));
                    }
                    blocks.extend(open.take());
                } else if boundary("-----BEGIN ").is_some() {
                    return Err(format!("line {}: a block begins inside `{label}`", i + 1));
                }
            }
        }
    }
    if let Some((label, _)) = open {
        return Err(format!("the `{label}` block has no END line"));
    }
    Ok(blocks)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::vars::{error_text, load_with};

    fn load(
        pairs: &[(&str, &str)],
        environment: Environment,
    ) -> Result<RelayKeySettings, ConfigError> {
        load_with(pairs, |vars| {
            RelayKeySettings::from_vars(vars, environment, "bff-gateway")
        })
    }

    fn err_text(pairs: &[(&str, &str)], environment: Environment) -> String {
        error_text(load(pairs, environment))
    }

    fn pem() -> String {
        RelaySigningKey::generate()
            .expect("rng")
            .to_pkcs8_pem()
            .expect("pem")
    }

    /// A file in a fresh temporary directory, removed with it.
    struct TempFile(std::path::PathBuf);

    impl TempFile {
        fn new(content: &str) -> TempFile {
            let dir = std::env::temp_dir().join(format!("bff-relay-{}", uuid::Uuid::new_v4()));
            std::fs::create_dir_all(&dir).expect("dir");
            let path = dir.join("key.pem");
            std::fs::write(&path, content).expect("write");
            TempFile(path)
        }

        fn path(&self) -> &str {
            self.0.to_str().expect("utf-8 path")
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            if let Some(dir) = self.0.parent() {
                let _ = std::fs::remove_dir_all(dir);
            }
        }
    }

    fn public_pem(key: &RelaySigningKey) -> String {
        use ed25519_dalek::pkcs8::EncodePublicKey;
        key.0
            .verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .expect("public pem")
    }

    #[test]
    fn an_unset_key_is_generated_outside_production_and_absent_in_it() {
        let dev = load(&[], Environment::Development).expect("valid");
        let test = load(&[], Environment::Test).expect("valid");
        assert!(dev.signing_key_generated && !dev.configured());
        let (a, b) = (
            dev.signing_key.expect("dev key"),
            test.signing_key.expect("test key"),
        );
        assert_ne!(a.public_key(), b.public_key(), "random per load");
        let prod = load(&[], Environment::Production).expect("absent is allowed");
        assert!(prod.signing_key.is_none());
        assert!(!prod.configured());
        assert_eq!(dev.token_ttl, Duration::from_secs(30));
        assert_eq!(dev.issuer, "bff-gateway");
    }

    #[test]
    fn a_key_file_or_an_inline_key_is_configured_and_read_as_written() {
        let key = RelaySigningKey::generate().expect("rng");
        let text = key.to_pkcs8_pem().expect("pem");
        let file = TempFile::new(&text);
        let from_file =
            load(&[(SIGNING_KEY_FILE, file.path())], Environment::Production).expect("valid file");
        assert!(from_file.configured());
        assert_eq!(
            from_file.signing_key.expect("key").public_key(),
            key.public_key()
        );
        let inline = load(&[(SIGNING_KEY, &text)], Environment::Production).expect("inline");
        assert_eq!(
            inline.signing_key.expect("key").public_key(),
            key.public_key()
        );
        let escaped = text.trim_end().replace('\n', "\\n");
        let escaped = load(&[(SIGNING_KEY, &escaped)], Environment::Test).expect("escaped");
        assert!(escaped.configured());
        assert_eq!(
            escaped.signing_key.expect("key").public_key(),
            key.public_key()
        );
    }

    #[test]
    fn a_key_written_by_openssl_and_a_crlf_file_are_read() {
        // `openssl genpkey -algorithm ed25519`: PKCS#8 v1, the RFC 8037
        // Appendix A.1 key.
        let openssl = "-----BEGIN PRIVATE KEY-----\r\n\
            MC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\r\n\
            -----END PRIVATE KEY-----\r\n";
        let key = RelaySigningKey::from_pem(openssl).expect("openssl key");
        assert_eq!(
            URL_SAFE_NO_PAD.encode(key.public_key().to_bytes()),
            "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
        );
        assert_eq!(
            key.to_pkcs8_pem().expect("pem"),
            openssl.replace("\r\n", "\n"),
            "written back as openssl writes it"
        );
    }

    #[test]
    fn a_generated_key_round_trips_through_pem_and_der() {
        let key = RelaySigningKey::generate().expect("rng");
        let text = key.to_pkcs8_pem().expect("pem");
        assert!(text.starts_with("-----BEGIN PRIVATE KEY-----\n"), "{text}");
        let back = RelaySigningKey::from_pem(&text).expect("parses");
        assert_eq!(back.public_key(), key.public_key());
        let der = key.to_pkcs8_der().expect("der");
        assert_eq!(der.len(), 48, "PKCS#8 v1 for Ed25519");
    }

    #[test]
    fn bad_signing_keys_name_their_variable_and_never_their_content() {
        let key = RelaySigningKey::generate().expect("rng");
        let private = key.to_pkcs8_pem().expect("pem");
        let public = public_pem(&key);
        let body_line = private.lines().nth(1).expect("body").to_owned();
        let truncated: String = private.lines().take(2).collect::<Vec<_>>().join("\n");
        let ec = "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n";
        let garbage = "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n";
        let two = format!("{private}{}", pem());
        for (text, reason) in [
            (public.as_str(), "holds a public key"),
            (truncated.as_str(), "has no END line"),
            (ec, "`EC PRIVATE KEY`"),
            (garbage, "not an Ed25519 private key"),
            (two.as_str(), "holds 2 PEM blocks"),
            ("not pem at all", "line 1 is outside any PEM block"),
        ] {
            let text_err = err_text(&[(SIGNING_KEY, text)], Environment::Production);
            assert!(text_err.contains(SIGNING_KEY), "{text_err}");
            assert!(text_err.contains(reason), "{reason}: {text_err}");
            assert!(
                !text_err.contains(&body_line),
                "key material in `{text_err}`"
            );
            let file = TempFile::new(text);
            let file_err = err_text(&[(SIGNING_KEY_FILE, file.path())], Environment::Production);
            assert!(file_err.contains(SIGNING_KEY_FILE), "{file_err}");
            assert!(file_err.contains(reason), "{reason}: {file_err}");
        }
    }

    #[test]
    fn a_missing_file_and_two_sources_are_refused() {
        let text = err_text(
            &[(SIGNING_KEY_FILE, "/nonexistent/relay.pem")],
            Environment::Development,
        );
        assert!(
            text.contains(SIGNING_KEY_FILE) && text.contains("/nonexistent/relay.pem"),
            "{text}"
        );
        let key = pem();
        let file = TempFile::new(&key);
        let text = err_text(
            &[(SIGNING_KEY_FILE, file.path()), (SIGNING_KEY, &key)],
            Environment::Production,
        );
        assert!(text.contains("not both"), "{text}");
        let text = err_text(
            &[(PREVIOUS_KEYS_FILE, "/nonexistent/old.pem")],
            Environment::Test,
        );
        assert!(text.contains(PREVIOUS_KEYS_FILE), "{text}");
    }

    #[test]
    fn previous_keys_take_public_and_private_blocks_in_file_order() {
        let (a, b) = (
            RelaySigningKey::generate().expect("rng"),
            RelaySigningKey::generate().expect("rng"),
        );
        let file = TempFile::new(&format!(
            "\n{}\n\n{}",
            a.to_pkcs8_pem().expect("pem"),
            public_pem(&b)
        ));
        let s = load(
            &[(PREVIOUS_KEYS_FILE, file.path())],
            Environment::Production,
        )
        .expect("valid");
        assert_eq!(s.previous_keys, vec![a.public_key(), b.public_key()]);
        assert!(s.signing_key.is_none(), "previous keys alone sign nothing");
        let empty = TempFile::new("\n  \n");
        let s = load(&[(PREVIOUS_KEYS_FILE, empty.path())], Environment::Test).expect("valid");
        assert!(s.previous_keys.is_empty());
    }

    #[test]
    fn bad_previous_keys_name_the_block() {
        let good = pem();
        let ec = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        let bad_public = "-----BEGIN PUBLIC KEY-----\nbm90IGEga2V5\n-----END PUBLIC KEY-----\n";
        let mismatched = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
        let nested = format!("-----BEGIN PUBLIC KEY-----\n{good}");
        for (text, reason) in [
            (
                format!("{good}{ec}"),
                "block 2 of 2 is a `CERTIFICATE` block",
            ),
            (
                format!("{bad_public}{good}"),
                "block 1 of 2 is not an Ed25519 public key",
            ),
            (
                format!("{good}trailing words\n"),
                "line 4 is outside any PEM block",
            ),
            (
                mismatched.to_owned(),
                "`PUBLIC KEY` block ends as `PRIVATE KEY`",
            ),
            (nested, "line 2: a block begins inside `PUBLIC KEY`"),
        ] {
            let file = TempFile::new(&text);
            let err = err_text(&[(PREVIOUS_KEYS_FILE, file.path())], Environment::Test);
            assert!(err.contains(PREVIOUS_KEYS_FILE), "{err}");
            assert!(err.contains(reason), "{reason}: {err}");
        }
    }

    #[test]
    fn the_token_ttl_is_between_one_second_and_a_minute() {
        let s = load(&[(TOKEN_TTL, "1m")], Environment::Test).expect("valid");
        assert_eq!(s.token_ttl, Duration::from_secs(60));
        for bad in ["61s", "0", "2m", "soon"] {
            let text = err_text(&[(TOKEN_TTL, bad)], Environment::Test);
            assert!(text.contains(TOKEN_TTL), "{bad}: {text}");
        }
    }

    #[test]
    fn debug_output_never_shows_the_private_key() {
        let key = RelaySigningKey::generate().expect("rng");
        let text = key.to_pkcs8_pem().expect("pem");
        let s = load(&[(SIGNING_KEY, &text)], Environment::Test).expect("valid");
        let debug = format!("{s:?}");
        assert!(debug.contains("RelaySigningKey([redacted])"), "{debug}");
        let body = text.lines().nth(1).expect("body");
        assert!(!debug.contains(body), "{debug}");
        let seed = URL_SAFE_NO_PAD.encode(key.0.to_bytes());
        assert!(!debug.contains(&seed), "{debug}");
    }
}
