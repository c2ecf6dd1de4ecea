//! TLS for `wss://` and `https://`: rustls with an explicit aws-lc-rs provider and the
//! webpki root certificates, unless the caller brings its own rustls configuration (for
//! example one trusting a self-signed Home Assistant certificate).
//!
//! The provider is explicit because rustls picks a process default only when exactly one
//! provider feature is enabled; a build that also enables `ring` (through another crate)
//! would otherwise panic on the first `wss://` connection.

use std::sync::{Arc, OnceLock};

/// The default client configuration (built once).
pub(crate) fn default_config() -> Arc<rustls::ClientConfig> {
    static CONFIG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    Arc::clone(CONFIG.get_or_init(|| {
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("aws-lc-rs supports rustls' default protocol versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        Arc::new(config)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_config_is_built_once_and_shared() {
        let a = default_config();

        let b = default_config();

        assert!(Arc::ptr_eq(&a, &b));
    }
}
