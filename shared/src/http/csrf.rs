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
//!
//! A second, independent wall: such a request must not come from another site, whatever token it
//! carries. An `Origin` must be the public URL's or a CORS-allowed one; without an `Origin`,
//! `Sec-Fetch-Site: cross-site` is refused. A token leaked once (a log, an XSS on a sibling page)
//! then still cannot be replayed from an attacker's page.

use axum::http::{HeaderMap, header};
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

/// `403 csrf_failed` unless the request comes from our own site (or a CORS-allowed origin) and
/// carries the token bound to its CSRF cookie.
pub fn verify(config: &Config, headers: &HeaderMap) -> Result<()> {
    refuse_cross_site(config, headers)?;
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

/// A form post (no script to set a header): the token comes as a form field, checked like the
/// header, and the post must come from this site.
pub fn verify_form(config: &Config, headers: &HeaderMap, presented: &str) -> Result<()> {
    // Our pages answer `Referrer-Policy: no-referrer`, under which a browser sends `Origin: null`
    // with the form's post; its `Sec-Fetch-Site` still says where the post came from.
    let null_origin = headers
        .get(header::ORIGIN)
        .is_some_and(|origin| origin.as_bytes().eq_ignore_ascii_case(b"null"));
    let same_origin = headers
        .get("sec-fetch-site")
        .is_some_and(|site| site.as_bytes().eq_ignore_ascii_case(b"same-origin"));
    if !(null_origin && same_origin) {
        refuse_cross_site(config, headers)?;
    }
    let secret = secret_of(config, headers).ok_or_else(Error::csrf)?;
    let expected = token_for(config, &secret);
    if bool::from(presented.trim().as_bytes().ct_eq(expected.as_bytes())) {
        Ok(())
    } else {
        Err(Error::csrf())
    }
}

/// `403 csrf_failed` for a request a browser made from another site: an `Origin` that is neither
/// the public URL's nor a CORS-allowed origin (`null` included), or, with no `Origin`,
/// `Sec-Fetch-Site: cross-site`. A CORS-allowed origin on another site sends `cross-site` too,
/// so the `Origin` decides when there is one.
fn refuse_cross_site(config: &Config, headers: &HeaderMap) -> Result<()> {
    let refused = || {
        Error::new(
            crate::error::ErrorCode::CsrfFailed,
            "A cookie-authenticated request that changes state must come from this site",
        )
    };
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().map_err(|_| refused())?.trim();
        let allowed = origin.eq_ignore_ascii_case(origin_of(&config.public_url))
            || config
                .cors_origins
                .iter()
                .any(|allowed| origin.eq_ignore_ascii_case(allowed.trim_end_matches('/')));
        return if allowed { Ok(()) } else { Err(refused()) };
    }
    let fetch_site = headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .map(str::trim);
    if fetch_site.is_some_and(|site| site.eq_ignore_ascii_case("cross-site")) {
        return Err(refused());
    }
    Ok(())
}

/// `scheme://host[:port]` of a URL: what a browser sends as `Origin`.
fn origin_of(url: &str) -> &str {
    let authority_start = url.find("://").map_or(0, |i| i + 3);
    match url[authority_start..].find(['/', '?', '#']) {
        Some(end) => &url[..authority_start + end],
        None => url,
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
    fn a_valid_token_from_another_site_is_refused() {
        let mut config = Config::for_tests("/tmp/unused");
        config.public_url = "https://auth.example.com/base".into();
        config.cors_origins = vec!["https://app.example.org".into()];
        let secret = new_secret(&OsRandom);
        let token = token_for(&config, &secret);
        let with = |name: &str, value: &str| {
            let mut headers = headers(Some(&secret), Some(&token));
            headers.insert(
                axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
            headers
        };
        for (name, value) in [
            ("origin", "https://evil.example"),
            ("origin", "null"),
            ("origin", "https://auth.example.com.evil.example"),
            ("origin", "http://auth.example.com"),
            ("sec-fetch-site", "cross-site"),
        ] {
            let error = verify(&config, &with(name, value)).unwrap_err();
            assert_eq!(
                error.code,
                crate::error::ErrorCode::CsrfFailed,
                "{name}: {value}"
            );
            assert_eq!(error.status(), 403, "{name}: {value}");
        }
        for (name, value) in [
            ("origin", "https://auth.example.com"),
            ("origin", "https://app.example.org"),
            ("sec-fetch-site", "same-origin"),
            ("sec-fetch-site", "same-site"),
            ("sec-fetch-site", "none"),
        ] {
            assert!(
                verify(&config, &with(name, value)).is_ok(),
                "{name}: {value}"
            );
        }
        // A CORS-allowed origin is on another site: its browser says so, and it is still allowed.
        let mut headers = with("origin", "https://app.example.org");
        headers.insert("sec-fetch-site", "cross-site".parse().unwrap());
        assert!(verify(&config, &headers).is_ok());
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
