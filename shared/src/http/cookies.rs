//! The token cookies: set on every AuthResponse (when `LATCHKEY_COOKIES` is on), cleared at
//! logout. `HttpOnly; Secure; SameSite=Strict; Path=/`, names prefixed (`__Host-` by default,
//! which also stops a sibling subdomain from planting them).

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::config::Config;
use crate::services::sessions::AuthResponse;

pub const ACCESS_COOKIE: &str = "access_token";
pub const REFRESH_COOKIE: &str = "refresh_token";
pub const CSRF_COOKIE: &str = "csrf";

/// The full name of one of our cookies under the configured prefix.
pub fn name(config: &Config, base: &str) -> String {
    format!("{}{base}", config.cookie_prefix)
}

/// A `Set-Cookie` value with our attributes.
pub fn set_cookie(name: &str, value: &str, max_age: i64) -> String {
    format!("{name}={value}; HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age={max_age}")
}

/// A `Set-Cookie` value with our attributes but `SameSite=Lax`: for a cookie that must come back
/// on a top-level navigation from another site (an OAuth provider's redirect to our callback),
/// which `Strict` cookies do not.
pub fn set_lax_cookie(name: &str, value: &str, max_age: i64) -> String {
    format!("{name}={value}; HttpOnly; Secure; SameSite=Lax; Path=/; Max-Age={max_age}")
}

/// A `Set-Cookie` value that removes the cookie.
pub fn clear_cookie(name: &str) -> String {
    set_cookie(name, "", 0)
}

/// The value of a cookie in a request's `Cookie` headers.
pub fn read(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim().trim_matches('"').to_owned())
        .filter(|value| !value.is_empty())
}

fn append(response: &mut Response, cookie: String) {
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

/// An AuthResponse as JSON with the given status, plus the token cookies when enabled.
pub fn auth_response(
    config: &Config,
    now: i64,
    status: StatusCode,
    body: AuthResponse,
) -> Response {
    let cookies = config.cookies.then(|| {
        [
            set_cookie(
                &name(config, ACCESS_COOKIE),
                &body.access_token,
                body.access_max_age(now),
            ),
            set_cookie(
                &name(config, REFRESH_COOKIE),
                &body.refresh_token,
                body.refresh_max_age(now),
            ),
        ]
    });
    let mut response = (status, axum::Json(body)).into_response();
    for cookie in cookies.into_iter().flatten() {
        append(&mut response, cookie);
    }
    response
}

/// Add the `Set-Cookie` headers that clear both token cookies.
pub fn clear_auth_cookies(config: &Config, mut response: Response) -> Response {
    if config.cookies {
        for base in [ACCESS_COOKIE, REFRESH_COOKIE] {
            append(&mut response, clear_cookie(&name(config, base)));
        }
    }
    response
}

/// Add one `Set-Cookie` header.
pub fn with_cookie(mut response: Response, cookie: String) -> Response {
    append(&mut response, cookie);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_carry_every_protective_attribute() {
        let cookie = set_cookie("__Host-access_token", "abc", 900);
        assert_eq!(
            cookie,
            "__Host-access_token=abc; HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age=900"
        );
        assert!(clear_cookie("__Host-refresh_token").ends_with("Max-Age=0"));
    }

    #[test]
    fn a_cookie_is_read_by_its_exact_name() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            "x_access_token=wrong; __Host-access_token=right; other=1"
                .parse()
                .unwrap(),
        );
        assert_eq!(
            read(&headers, "__Host-access_token").as_deref(),
            Some("right")
        );
        assert_eq!(read(&headers, "missing"), None);
    }
}
