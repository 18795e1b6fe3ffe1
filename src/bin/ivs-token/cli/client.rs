//! The CLI's one HTTP client (ureq, rustls) for the commands that call out (`admin`, `chat-token`):
//! answers of every status are read (a problem is an answer, not an error), redirects reported and
//! not followed, plain http to this machine never proxied, and `SSL_CERT_FILE` honoured.

use super::{unusable, Failure};
use std::time::Duration;

/// A client for requests to `url`, giving up after `timeout`.
pub(super) fn agent_for(url: &str, timeout: Duration) -> Result<ureq::Agent, Failure> {
    let local =
        ivs_token_worker::address::parse_url(url, ivs_token_worker::address::HTTPS).is_ok_and(|url| url.is_local());
    let mut config = ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        // Problems are answers to read, not errors; a redirect is reported, not followed.
        .http_status_as_error(false)
        .max_redirects(0)
        .user_agent(concat!("ivs-token/", env!("CARGO_PKG_VERSION")));
    if local {
        // Plain http to this machine never goes through a proxy.
        config = config.proxy(None);
    } else if let Some(roots) = custom_roots()? {
        config = config.tls_config(ureq::tls::TlsConfig::builder().root_certs(roots).build());
    }
    Ok(config.build().into())
}

/// The certificates of `SSL_CERT_FILE` (PEM), when it is set, as the only roots TLS trusts
/// (as OpenSSL reads it: a TLS-inspecting proxy's or a private CA's); without it, the
/// Mozilla roots built in (webpki-roots).
fn custom_roots() -> Result<Option<ureq::tls::RootCerts>, Failure> {
    use ureq::tls::{parse_pem, PemItem};
    let Some(path) = std::env::var_os("SSL_CERT_FILE").filter(|p| !p.is_empty()).map(std::path::PathBuf::from) else {
        return Ok(None);
    };
    let pem =
        std::fs::read(&path).map_err(|e| unusable(format!("SSL_CERT_FILE {}: cannot read: {e}", path.display())))?;
    let certificates: Vec<_> = parse_pem(&pem)
        .filter_map(|item| match item {
            Ok(PemItem::Certificate(certificate)) => Some(certificate),
            _ => None,
        })
        .collect();
    if certificates.is_empty() {
        return Err(unusable(format!("SSL_CERT_FILE {}: holds no PEM certificate", path.display())));
    }
    Ok(Some(ureq::tls::RootCerts::Specific(std::sync::Arc::new(certificates))))
}
