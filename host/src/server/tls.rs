//! TLS for client connections (`tls-port`): the rustls server configuration
//! built from the `tls-*` directives. rustls with the `ring` provider, no
//! OpenSSL. Rebuilt whenever the listeners are (re)applied, so a CONFIG SET
//! of a `tls-*` directive takes effect for the next connection, as Redis's
//! tlsConfigure does.

use crate::config::Config;
use rustls::crypto::ring as provider;
use rustls::crypto::CryptoProvider;
use rustls::server::{NoServerSessionStorage, ServerSessionMemoryCache, WebPkiClientVerifier};
use rustls::{RootCertStore, ServerConfig, SupportedCipherSuite, SupportedProtocolVersion};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::sync::Arc;
use tokio_rustls::TlsAcceptor;

/// The `ring` provider. rustls deprecates its default provider because it
/// lacks the post-quantum key exchange aws-lc-rs has; ring is chosen anyway
/// because aws-lc-rs needs cmake (and at times clang) to build, which a
/// plain build machine does not have (docs/security.md).
#[allow(deprecated)]
fn ring_provider() -> CryptoProvider {
    provider::default_provider()
}

/// One `tls-*` directive's value (they are validated by the config layer).
fn setting(cfg: &Config, name: &str) -> String {
    cfg.get_one(name).unwrap_or_default()
}

/// The acceptor for `tls-port`, or why the configuration cannot serve TLS
/// (a missing file, a bad key, an unknown protocol or cipher name).
pub fn acceptor(cfg: &Config) -> Result<TlsAcceptor, String> {
    let cert_file = setting(cfg, "tls-cert-file");
    let key_file = setting(cfg, "tls-key-file");
    if cert_file.is_empty() || key_file.is_empty() {
        return Err("No tls-cert-file or tls-key-file configured".into());
    }
    let certs = CertificateDer::pem_file_iter(&cert_file)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("Failed to load certificate: {cert_file}: {e}"))?;
    if certs.is_empty() {
        return Err(format!(
            "Failed to load certificate: {cert_file}: no certificate in it"
        ));
    }
    let key = private_key(&key_file, &setting(cfg, "tls-key-file-pass"))?;

    let provider = Arc::new(CryptoProvider {
        cipher_suites: cipher_suites(
            &setting(cfg, "tls-ciphers"),
            &setting(cfg, "tls-ciphersuites"),
        )?,
        ..ring_provider()
    });
    let versions = protocols(&setting(cfg, "tls-protocols"))?;
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| format!("Failed to configure TLS protocols and ciphers: {e}"))?;

    let auth = setting(cfg, "tls-auth-clients");
    let builder = if auth == "no" {
        builder.with_no_client_auth()
    } else {
        let roots = ca_roots(cfg)?;
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
        let verifier = if auth == "optional" {
            verifier.allow_unauthenticated()
        } else {
            verifier
        };
        builder.with_client_cert_verifier(
            verifier
                .build()
                .map_err(|e| format!("Failed to configure client certificate checks: {e}"))?,
        )
    };
    let mut config = builder
        .with_single_cert(certs, key)
        .map_err(|e| format!("Failed to use the certificate and key: {e}"))?;
    config.ignore_client_order = setting(cfg, "tls-prefer-server-ciphers") == "yes";
    if setting(cfg, "tls-session-caching") == "yes" {
        let size = setting(cfg, "tls-session-cache-size")
            .parse::<usize>()
            .unwrap_or(20480);
        config.session_storage = ServerSessionMemoryCache::new(size.max(1));
    } else {
        config.session_storage = Arc::new(NoServerSessionStorage {});
        config.send_tls13_tickets = 0;
    }
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// The CA certificates client certificates must chain to: every
/// certificate in `tls-ca-cert-file` and in the files of `tls-ca-cert-dir`.
fn ca_roots(cfg: &Config) -> Result<RootCertStore, String> {
    let file = setting(cfg, "tls-ca-cert-file");
    let dir = setting(cfg, "tls-ca-cert-dir");
    if file.is_empty() && dir.is_empty() {
        return Err("Either tls-ca-cert-file or tls-ca-cert-dir must be specified when tls-cluster, tls-replication or tls-auth-clients are enabled!".into());
    }
    let mut roots = RootCertStore::empty();
    let mut add = |path: &std::path::Path, strict: bool| -> Result<(), String> {
        let certs =
            CertificateDer::pem_file_iter(path).and_then(|it| it.collect::<Result<Vec<_>, _>>());
        match certs {
            Ok(certs) => {
                for c in certs {
                    roots.add(c).map_err(|e| {
                        format!(
                            "Failed to configure CA certificate(s) file/directory: {}: {e}",
                            path.display()
                        )
                    })?;
                }
                Ok(())
            }
            // A directory may hold other files (OpenSSL's hash links point
            // at the same certificates): only the named file must parse.
            Err(_) if !strict => Ok(()),
            Err(e) => Err(format!(
                "Failed to configure CA certificate(s) file/directory: {}: {e}",
                path.display()
            )),
        }
    };
    if !file.is_empty() {
        add(std::path::Path::new(&file), true)?;
    }
    if !dir.is_empty() {
        let entries = std::fs::read_dir(&dir).map_err(|e| {
            format!("Failed to configure CA certificate(s) file/directory: {dir}: {e}")
        })?;
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| !t.is_dir()) {
                add(&entry.path(), false)?;
            }
        }
    }
    if roots.is_empty() {
        return Err(
            "Failed to configure CA certificate(s) file/directory: no certificate found".into(),
        );
    }
    Ok(roots)
}

/// The private key: PEM PKCS#8, PKCS#1 (RSA) or SEC1 (EC), or an encrypted
/// PKCS#8 key (`ENCRYPTED PRIVATE KEY`, PBES2 as `openssl pkcs8 -topk8` and
/// `openssl genpkey -aes256` write it) decrypted with `tls-key-file-pass`.
/// Legacy OpenSSL-encrypted PEM (`Proc-Type: 4,ENCRYPTED`) is not supported.
fn private_key(path: &str, pass: &str) -> Result<PrivateKeyDer<'static>, String> {
    let fail = |why: String| format!("Failed to load private key: {path}: {why}");
    let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
    if text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----") {
        if pass.is_empty() {
            return Err(fail(
                "the key is encrypted and tls-key-file-pass is empty".into(),
            ));
        }
        let start = text
            .find("-----BEGIN ENCRYPTED PRIVATE KEY-----")
            .unwrap_or(0);
        let (_, doc) =
            pkcs8::der::Document::from_pem(&text[start..]).map_err(|e| fail(e.to_string()))?;
        let info = pkcs8::EncryptedPrivateKeyInfo::try_from(doc.as_bytes())
            .map_err(|e| fail(e.to_string()))?;
        let plain = info
            .decrypt(pass.as_bytes())
            .map_err(|e| fail(format!("cannot decrypt it with tls-key-file-pass: {e}")))?;
        return Ok(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
            plain.as_bytes().to_vec(),
        )));
    }
    if text.contains("Proc-Type: 4,ENCRYPTED") {
        return Err(fail(
            "legacy OpenSSL-encrypted PEM keys are not supported; convert with `openssl pkcs8 -topk8`".into(),
        ));
    }
    PrivateKeyDer::from_pem_slice(text.as_bytes()).map_err(|e| fail(e.to_string()))
}

/// `tls-protocols`: a space-separated list of TLSv1.2 / TLSv1.3 (empty is
/// both, as Redis's default). TLSv1 and TLSv1.1 are not offered by rustls.
fn protocols(value: &str) -> Result<Vec<&'static SupportedProtocolVersion>, String> {
    if value.trim().is_empty() {
        return Ok(vec![&rustls::version::TLS13, &rustls::version::TLS12]);
    }
    let mut out = Vec::new();
    for p in value.split_ascii_whitespace() {
        match p.to_ascii_lowercase().as_str() {
            "tlsv1.2" => out.push(&rustls::version::TLS12),
            "tlsv1.3" => out.push(&rustls::version::TLS13),
            "tlsv1" | "tlsv1.1" => {
                return Err(format!(
                    "Failed to configure TLS protocols: {p} is not supported (rustls offers TLSv1.2 and TLSv1.3)"
                ))
            }
            _ => return Err(format!("Invalid tls-protocols specified: {p}")),
        }
    }
    Ok(out)
}

/// The OpenSSL names of the suites the `ring` provider offers, TLS 1.3
/// (`tls-ciphersuites`) then TLS 1.2 (`tls-ciphers`).
const SUITE_NAMES: &[(&str, rustls::CipherSuite)] = &[
    (
        "TLS_AES_256_GCM_SHA384",
        rustls::CipherSuite::TLS13_AES_256_GCM_SHA384,
    ),
    (
        "TLS_AES_128_GCM_SHA256",
        rustls::CipherSuite::TLS13_AES_128_GCM_SHA256,
    ),
    (
        "TLS_CHACHA20_POLY1305_SHA256",
        rustls::CipherSuite::TLS13_CHACHA20_POLY1305_SHA256,
    ),
    (
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        rustls::CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    ),
    (
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        rustls::CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    ),
    (
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        rustls::CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
    (
        "ECDHE-RSA-AES256-GCM-SHA384",
        rustls::CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    ),
    (
        "ECDHE-RSA-AES128-GCM-SHA256",
        rustls::CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    ),
    (
        "ECDHE-RSA-CHACHA20-POLY1305",
        rustls::CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
];

/// The suites allowed by `tls-ciphers` (TLS 1.2, OpenSSL names separated
/// by `:`) and `tls-ciphersuites` (TLS 1.3); an empty list keeps all of
/// that version's suites. Names rustls does not implement are ignored, as
/// OpenSSL ignores unknown names, but a list matching nothing is an error.
fn cipher_suites(tls12: &str, tls13: &str) -> Result<Vec<SupportedCipherSuite>, String> {
    let all = ring_provider().cipher_suites;
    let wanted = |list: &str| -> Option<Vec<rustls::CipherSuite>> {
        if list.trim().is_empty() {
            return None;
        }
        Some(
            list.split(':')
                .filter_map(|n| {
                    SUITE_NAMES
                        .iter()
                        .find(|(s, _)| s.eq_ignore_ascii_case(n.trim()))
                })
                .map(|&(_, id)| id)
                .collect(),
        )
    };
    let (w12, w13) = (wanted(tls12), wanted(tls13));
    let keep = |s: &SupportedCipherSuite| {
        let list = match s {
            SupportedCipherSuite::Tls13(_) => &w13,
            SupportedCipherSuite::Tls12(_) => &w12,
        };
        list.as_ref().is_none_or(|l| l.contains(&s.suite()))
    };
    let out: Vec<_> = all.into_iter().filter(keep).collect();
    if w12.as_ref().is_some_and(|l| l.is_empty()) {
        return Err(format!("Failed to configure ciphers: {tls12}"));
    }
    if w13.as_ref().is_some_and(|l| l.is_empty()) {
        return Err(format!("Failed to configure ciphersuites: {tls13}"));
    }
    Ok(out)
}
