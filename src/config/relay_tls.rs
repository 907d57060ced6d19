//! `RELAY_CA_FILE`: certificate authorities trusted for HTTPS upstreams in
//! addition to the Mozilla roots, for team APIs whose certificates an
//! internal CA signs. Read and checked at start, so a wrong file stops
//! start-up naming the variable rather than failing every relayed request.

use rustls::{
    RootCertStore,
    pki_types::{CertificateDer, pem::PemObject},
};

use super::{
    ConfigError,
    vars::{Vars, read_file},
};

pub const CA_FILE: &str = "RELAY_CA_FILE";

/// The outbound TLS settings' own part of the configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RelayTlsSettings {
    /// Extra trust anchors, in file order (empty without `RELAY_CA_FILE`).
    pub extra_roots: Vec<CertificateDer<'static>>,
}

impl RelayTlsSettings {
    pub(super) fn from_vars(vars: &Vars) -> Result<Self, ConfigError> {
        let Some(path) = vars.get(CA_FILE) else {
            return Ok(RelayTlsSettings::default());
        };
        let pem = read_file(CA_FILE, &path)?;
        let extra_roots = parse(pem.as_bytes())
            .map_err(|reason| ConfigError::invalid(CA_FILE, format!("{path} {reason}")))?;
        Ok(RelayTlsSettings { extra_roots })
    }
}

/// Every `CERTIFICATE` block, each one usable as a trust anchor; other
/// blocks (a private key pasted in by mistake) are refused, not skipped.
fn parse(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let text = String::from_utf8_lossy(pem);
    let blocks = text.matches("-----BEGIN ").count();
    let certificates = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| "holds a malformed PEM block".to_owned())?;
    if certificates.is_empty() {
        return Err("holds no `-----BEGIN CERTIFICATE-----` block".to_owned());
    }
    if certificates.len() != blocks {
        return Err(format!(
            "holds {} PEM blocks of which {} are certificates; list only CA certificates",
            blocks,
            certificates.len()
        ));
    }
    let mut store = RootCertStore::empty();
    for (index, certificate) in certificates.iter().enumerate() {
        store.add(certificate.clone()).map_err(|_| {
            format!(
                "certificate {} of {} is not a usable CA certificate",
                index + 1,
                certificates.len()
            )
        })?;
    }
    Ok(certificates)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::vars::{error_text, load_with};

    /// A fresh self-signed CA certificate, as an operator's file holds it.
    fn ca_pem() -> String {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let key = rcgen::KeyPair::generate().expect("key");
        params.self_signed(&key).expect("self-signed").pem()
    }

    fn load(pairs: &[(&str, &str)]) -> Result<RelayTlsSettings, ConfigError> {
        load_with(pairs, RelayTlsSettings::from_vars)
    }

    fn file(name: &str, text: &str) -> String {
        let dir = std::env::temp_dir().join(format!("bff-relay-ca-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join(name);
        std::fs::write(&path, text).expect("write");
        path.display().to_string()
    }

    #[test]
    fn without_a_ca_file_only_the_mozilla_roots_are_trusted() {
        assert_eq!(load(&[]).expect("valid"), RelayTlsSettings::default());
    }

    #[test]
    fn a_ca_file_adds_each_of_its_certificates() {
        let path = file("ca.pem", &format!("{}{}", ca_pem(), ca_pem()));
        let settings = load(&[(CA_FILE, &path)]).expect("valid");
        assert_eq!(settings.extra_roots.len(), 2);
    }

    #[test]
    fn bad_ca_files_are_refused_naming_the_variable_and_the_problem() {
        let missing = "/nonexistent/relay-ca.pem".to_owned();
        let empty = file("empty.pem", "");
        let key = file(
            "key.pem",
            "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n",
        );
        let mixed = file(
            "mixed.pem",
            &format!(
                "{}-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n",
                ca_pem()
            ),
        );
        let garbage = file(
            "garbage.pem",
            "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n",
        );
        for (path, expected) in [
            (&missing, "cannot read"),
            (&empty, "no `-----BEGIN CERTIFICATE-----` block"),
            (&key, "no `-----BEGIN CERTIFICATE-----` block"),
            (&mixed, "2 PEM blocks of which 1 are certificates"),
            (
                &garbage,
                "certificate 1 of 1 is not a usable CA certificate",
            ),
        ] {
            let text = error_text(load(&[(CA_FILE, path)]));
            assert!(text.contains(CA_FILE), "{text}");
            assert!(text.contains(expected), "{path}: {text}");
        }
    }
}
