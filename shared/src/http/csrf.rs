//! CSRF protection for cookie-authenticated writes: a double-submit token bound to a cookie.
//!
//! `/auth/csrf/init` (or the first `/auth/csrf/token`) sets a random `csrf` cookie (HttpOnly,
//! Secure, SameSite=Strict). The token is a hash of that cookie's value, so a page learns it only
//! from `/auth/csrf/token`, whose answer a cross-site page cannot read, and the cookie itself is
//! unreadable to scripts. No server key is involved: the binding holds because an attacker can
//! neither read nor plant the cookie, the latter thanks to the `__Host-` prefix (with another
//! prefix, a sibling subdomain could plant a cookie of its choosing; keep `__Host-` in
//! production). Every cookie-authenticated request that changes state sends the token as
//! `X-CSRF-Token`.

use axum::http::HeaderMap;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::Config;
use crate::http::cookies;
use crate::ports::Random;
use crate::{Error, Result};

pub const HEADER: &str = "x-csrf-token";

const SECRET_BYTES: usize = 32;

/// A new CSRF cookie value.
pub fn new_secret(random: &dyn Random) -> String {
    let mut bytes = [0u8; SECRET_BYTES];
    random.fill(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The token bound to a CSRF cookie value. The issuer is mixed in so a token from one
/// deployment is not valid at another.
pub fn token_for(config: &Config, secret: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"latchkey-csrf-v1\0");
    hasher.update(config.issuer.as_bytes());
    hasher.update(b"\0");
    hasher.update(secret.as_bytes());
    URL_SAFE_NO_PAD.encode(hasher.finalize())
}

/// The CSRF cookie's value in a request, if any.
pub fn secret_of(config: &Config, headers: &HeaderMap) -> Option<String> {
    cookies::read(headers, &cookies::name(config, cookies::CSRF_COOKIE))
}

/// `403 csrf_failed` unless the request carries the token bound to its CSRF cookie.
pub fn verify(config: &Config, headers: &HeaderMap) -> Result<()> {
    let secret = secret_of(config, headers).ok_or_else(Error::csrf)?;
    let presented = headers
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .ok_or_else(Error::csrf)?;
    let expected = token_for(config, &secret);
    if bool::from(presented.as_bytes().ct_eq(expected.as_bytes())) {
        Ok(())
    } else {
        Err(Error::csrf())
    }
}

/// The `Set-Cookie` value of a CSRF cookie (a day; re-initialised by the page as needed).
pub fn cookie(config: &Config, secret: &str) -> String {
    cookies::set_cookie(
        &cookies::name(config, cookies::CSRF_COOKIE),
        secret,
        24 * 3600,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::system::OsRandom;
    use axum::http::header;

    fn headers(cookie: Option<&str>, token: Option<&str>) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Some(cookie) = cookie {
            headers.insert(
                header::COOKIE,
                format!("__Host-csrf={cookie}").parse().unwrap(),
            );
        }
        if let Some(token) = token {
            headers.insert(HEADER, token.parse().unwrap());
        }
        headers
    }

    #[test]
    fn only_the_token_bound_to_the_cookie_passes() {
        let config = Config::for_tests("/tmp/unused");
        let secret = new_secret(&OsRandom);
        let token = token_for(&config, &secret);
        assert!(verify(&config, &headers(Some(&secret), Some(&token))).is_ok());
        assert!(verify(&config, &headers(Some(&secret), None)).is_err());
        assert!(verify(&config, &headers(None, Some(&token))).is_err());
        let other = new_secret(&OsRandom);
        let error = verify(&config, &headers(Some(&other), Some(&token))).unwrap_err();
        assert_eq!(error.code, crate::error::ErrorCode::CsrfFailed);
    }
}
