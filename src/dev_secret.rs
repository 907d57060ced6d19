//! The development secrets, kept in files beside the database so that
//! development sessions and relay tokens survive restarts: the access-token
//! secret and the relay signing key. Called from start-up, not from config,
//! so that reading settings never writes files.

use std::{
    io::Write,
    path::{Path, PathBuf},
};

use crate::config::{RelaySigningKey, Secret};

#[derive(Debug, thiserror::Error)]
pub enum DevSecretError {
    #[error("could not read the development secret {}", file.display())]
    Read {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the development secret {} holds fewer than 32 bytes; delete it to generate a new one",
        file.display()
    )]
    TooShort { file: PathBuf },
    #[error(
        "the development secret {} {reason}; delete it to generate a new one",
        file.display()
    )]
    Invalid { file: PathBuf, reason: String },
    #[error("could not create the development secret {}", file.display())]
    Create {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot generate a random development secret for {}", file.display())]
    Random {
        file: PathBuf,
        #[source]
        source: getrandom::Error,
    },
}

/// Reads the development secret from `path`, creating it (owner-only) with a
/// fresh random value on first use.
pub fn load_or_create(path: &Path) -> Result<Secret, DevSecretError> {
    let text = read_or_create(path, || {
        crate::random::token().map_err(|source| DevSecretError::Random {
            file: path.to_path_buf(),
            source,
        })
    })?;
    match text.trim() {
        secret if secret.len() >= 32 => Ok(Secret::new(secret.as_bytes())),
        _ => Err(DevSecretError::TooShort {
            file: path.to_path_buf(),
        }),
    }
}

/// Reads the development relay signing key (PKCS#8 PEM) from `path`,
/// creating it (owner-only) with a fresh key on first use.
pub fn load_or_create_relay_key(path: &Path) -> Result<RelaySigningKey, DevSecretError> {
    let invalid = |reason: String| DevSecretError::Invalid {
        file: path.to_path_buf(),
        reason,
    };
    let text = read_or_create(path, || {
        let key = RelaySigningKey::generate().map_err(|source| DevSecretError::Random {
            file: path.to_path_buf(),
            source,
        })?;
        key.to_pkcs8_pem()
            .map_err(|_| invalid("cannot be encoded as PKCS#8".to_owned()))
    })?;
    RelaySigningKey::from_pem(&text).map_err(invalid)
}

/// The file's text, or, when there is none, `generate()`'s, written to a new
/// owner-only file first.
fn read_or_create(
    path: &Path,
    generate: impl FnOnce() -> Result<String, DevSecretError>,
) -> Result<String, DevSecretError> {
    let file = || path.to_path_buf();
    match std::fs::read_to_string(path) {
        Ok(text) => return Ok(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(source) => {
            return Err(DevSecretError::Read {
                file: file(),
                source,
            });
        }
    }
    let create_error = |source| DevSecretError::Create {
        file: file(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(create_error)?;
    }
    let secret = generate()?;
    let mut options = std::fs::OpenOptions::new();
    // create_new: never clobber a secret another process just wrote.
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut out = options.open(path).map_err(create_error)?;
    out.write_all(secret.as_bytes()).map_err(create_error)?;
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_development_secret_is_created_once_and_then_reused() {
        let dir = std::env::temp_dir().join(format!("bff-secret-{}", uuid::Uuid::new_v4()));
        let file = dir.join("nested/access-token-secret.dev");
        let first = load_or_create(&file).expect("created");
        let second = load_or_create(&file).expect("read back");
        assert_eq!(first.expose(), second.expose());
        assert!(first.expose().len() >= 32);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&file).expect("file").permissions().mode();
            assert_eq!(mode & 0o077, 0, "owner-only file");
        }
        std::fs::write(&file, "short").expect("overwrite");
        assert!(load_or_create(&file).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn errors_name_the_file_and_keep_their_cause() {
        let dir = std::env::temp_dir().join(format!("bff-secret-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("dir");
        // A directory where the file should be: reading it fails, not NotFound.
        let err = load_or_create(&dir).expect_err("a directory is no secret");
        assert!(
            err.to_string().contains(&dir.display().to_string()),
            "{err}"
        );
        assert!(std::error::Error::source(&err).is_some(), "{err:?}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_development_relay_key_is_created_once_owner_only_and_then_reused() {
        let dir = std::env::temp_dir().join(format!("bff-secret-{}", uuid::Uuid::new_v4()));
        let file = dir.join("relay-signing-key.dev.pem");
        let first = load_or_create_relay_key(&file).expect("created");
        let second = load_or_create_relay_key(&file).expect("read back");
        assert_eq!(first.public_key(), second.public_key());
        let text = std::fs::read_to_string(&file).expect("file");
        assert!(
            text.starts_with("-----BEGIN PRIVATE KEY-----"),
            "PKCS#8 PEM"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&file).expect("file").permissions().mode();
            assert_eq!(mode & 0o077, 0, "owner-only file");
        }
        std::fs::write(&file, "not a key").expect("overwrite");
        let err = load_or_create_relay_key(&file).expect_err("a mangled key");
        let text = err.to_string();
        assert!(
            text.contains(&file.display().to_string()) && text.contains("delete it"),
            "{text}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
