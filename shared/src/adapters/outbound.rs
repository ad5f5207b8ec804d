//! The one outbound HTTP client of the process (OAuth providers, OIDC discovery and JWKS, a
//! provider's REST API): reqwest over rustls with the aws-lc-rs provider the AWS SDK already
//! uses, the OS root certificates, short timeouts and no redirects followed (a provider that
//! redirects a back-channel call is misconfigured or hostile, never followed blindly).
//!
//! Built on first use, not at cold start: a function that never calls out pays nothing.
//! Also here: which URLs we call at all (`https://`, or `http://` on loopback only) and a JSON
//! GET with a size cap.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde::de::DeserializeOwned;
use url::Url;

/// Connecting to a provider may take this long.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// A whole request (connect, send, read the answer) may take this long.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// The largest answer body read (discovery documents and JWKS are a few KiB).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// How a call out failed; the text is for logs only.
#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    /// The URL is not one we call (not https, or plain http off loopback).
    #[error("refused to call {0}: only https:// (or http:// on loopback)")]
    UrlRefused(String),
    /// Could not connect, timed out, or the connection broke.
    #[error("request to {url} failed: {reason}")]
    Unreachable { url: String, reason: String },
    /// The peer answered a status other than 2xx.
    #[error("{url} answered HTTP {status}")]
    Status { url: String, status: u16 },
    /// The answer was too large or not the JSON expected.
    #[error("{url} answered a malformed body: {reason}")]
    Malformed { url: String, reason: String },
    /// The client could not be built (no root certificates, a TLS setup error).
    #[error("cannot build the HTTP client: {0}")]
    Setup(String),
}

impl From<OutboundError> for crate::Error {
    fn from(error: OutboundError) -> Self {
        crate::Error::new(
            crate::error::ErrorCode::ProviderUnavailable,
            "The identity provider could not be reached or answered unexpectedly",
        )
        .with_cause(error)
    }
}

static CLIENT: OnceLock<Result<reqwest::Client, String>> = OnceLock::new();

/// Make aws-lc-rs rustls' process-wide default provider (idempotent). reqwest is built without a
/// crypto provider of its own (no ring), so ANY `reqwest::Client` built in this process without
/// `use_preconfigured_tls` panics ("No provider set") unless this ran first: `client()` calls
/// it, and so must code (tests) that builds another client.
pub fn install_crypto_provider() {
    // An error only says a default is already installed, which is what we want.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// The shared client, built on the first call of the process.
pub fn client() -> Result<&'static reqwest::Client, OutboundError> {
    CLIENT
        .get_or_init(build)
        .as_ref()
        .map_err(|e| OutboundError::Setup(e.clone()))
}

fn build() -> Result<reqwest::Client, String> {
    install_crypto_provider();
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for cert in native.certs {
        // A certificate the OS ships but rustls cannot parse is skipped, as browsers do.
        let _ = roots.add(cert);
    }
    if roots.is_empty() {
        // Every https:// call will then fail its handshake (and say so); loopback http:// still
        // works, which is all local development needs.
        tracing::warn!(
            errors = native.errors.len(),
            "no usable root certificates in the OS store"
        );
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("latchkey/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| e.to_string())
}

/// Whether we call this URL at all: `https://`, or `http://` to a loopback host (local
/// development and tests). Anything else (plain http to a real host, other schemes) is refused,
/// so a token or client secret never crosses the network in clear.
pub fn is_allowed_url(url: &Url) -> bool {
    match url.scheme() {
        "https" => url.host().is_some(),
        "http" => match url.host() {
            Some(url::Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        },
        _ => false,
    }
}

/// Parse a URL we will call, refusing what `is_allowed_url` refuses.
pub fn parse_allowed_url(url: &str) -> Result<Url, OutboundError> {
    let parsed = Url::parse(url).map_err(|_| OutboundError::UrlRefused(url.to_owned()))?;
    if is_allowed_url(&parsed) {
        Ok(parsed)
    } else {
        Err(OutboundError::UrlRefused(url.to_owned()))
    }
}

/// GET a JSON document, with an optional bearer token, and read it as `T`. Non-2xx answers,
/// bodies over `MAX_BODY_BYTES` and JSON that is not a `T` are errors.
pub async fn get_json<T: DeserializeOwned>(
    url: &str,
    bearer: Option<&str>,
) -> Result<T, OutboundError> {
    let parsed = parse_allowed_url(url)?;
    let mut request = client()?
        .get(parsed)
        .header(reqwest::header::ACCEPT, "application/json");
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.map_err(|e| unreachable(url, &e))?;
    let status = response.status();
    if !status.is_success() {
        return Err(OutboundError::Status {
            url: url.to_owned(),
            status: status.as_u16(),
        });
    }
    let body = read_capped(url, response).await?;
    serde_json::from_slice(&body).map_err(|e| OutboundError::Malformed {
        url: url.to_owned(),
        reason: e.to_string(),
    })
}

/// Read an answer's body, refusing one over `MAX_BODY_BYTES` without buffering it all.
pub async fn read_capped(
    url: &str,
    mut response: reqwest::Response,
) -> Result<Vec<u8>, OutboundError> {
    let too_large = || OutboundError::Malformed {
        url: url.to_owned(),
        reason: format!("body over {MAX_BODY_BYTES} bytes"),
    };
    if response
        .content_length()
        .is_some_and(|len| len > MAX_BODY_BYTES as u64)
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| unreachable(url, &e))? {
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn unreachable(url: &str, error: &reqwest::Error) -> OutboundError {
    // reqwest's Display names the URL, never a header; the bearer token stays out of logs.
    OutboundError::Unreachable {
        url: url.to_owned(),
        reason: if error.is_timeout() {
            "timed out".to_owned()
        } else if error.is_connect() {
            "could not connect".to_owned()
        } else {
            error.to_string()
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(url: &str) -> bool {
        is_allowed_url(&Url::parse(url).unwrap())
    }

    #[test]
    fn https_is_called_and_plain_http_only_on_loopback() {
        assert!(allowed("https://accounts.google.com/"));
        assert!(allowed("http://127.0.0.1:8080/x"));
        assert!(allowed("http://localhost:9000"));
        assert!(allowed("http://[::1]:9000/"));
        assert!(!allowed("http://accounts.google.com/"));
        assert!(!allowed("http://10.0.0.1/"));
        assert!(!allowed("ftp://127.0.0.1/"));
        assert!(!allowed("file:///etc/passwd"));
        assert!(parse_allowed_url("not a url").is_err());
    }

    #[test]
    fn the_client_is_built_once_with_the_os_roots() {
        let first = client().expect("the client builds") as *const _;
        let second = client().unwrap() as *const _;
        assert_eq!(first, second);
    }
}
