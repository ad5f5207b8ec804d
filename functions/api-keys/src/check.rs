//! `/auth/check`: the gate check for reverse proxies (nginx `auth_request`, Traefik
//! ForwardAuth, Caddy `forward_auth`).

use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};
use axum::response::{IntoResponse, Response};
use latchkey::http::Json;
use latchkey::services::gate;
use latchkey::{AppState, Error, Result};

/// The guarded request's method and URI, from Traefik/Caddy's `X-Forwarded-*` or nginx's
/// `X-Original-*` headers. Both halves are required: guessing would check the wrong route.
fn guarded_request(headers: &HeaderMap) -> Result<(Method, Uri)> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let (method, uri, method_header, uri_header) =
        match (text("x-forwarded-method"), text("x-forwarded-uri")) {
            (Some(m), Some(u)) => (m, u, "X-Forwarded-Method", "X-Forwarded-Uri"),
            _ => match (text("x-original-method"), text("x-original-uri")) {
                (Some(m), Some(u)) => (m, u, "X-Original-Method", "X-Original-URI"),
                _ => {
                    return Err(Error::bad_request(
                        "Send the guarded request as X-Forwarded-Method + X-Forwarded-Uri \
                         or X-Original-Method + X-Original-URI",
                    ));
                }
            },
        };
    let method = Method::from_bytes(method.trim().as_bytes())
        .map_err(|_| Error::invalid_field(method_header, "is not an HTTP method"))?;
    let uri: Uri = uri
        .trim()
        .parse()
        .map_err(|_| Error::invalid_field(uri_header, "is not a request URI"))?;
    if !uri.path().starts_with('/') {
        return Err(Error::invalid_field(
            uri_header,
            "must be a path starting with /",
        ));
    }
    Ok((method, uri))
}

/// Any method `/auth/check`: `200` with the caller's context (body and `X-Auth-*` headers),
/// `401` without a valid caller, `403` with the gate body when `LATCHKEY_GATES` says so.
pub async fn check(State(state): State<AppState>, headers: HeaderMap) -> Result<Response> {
    let (method, uri) = guarded_request(&headers)?;
    let allowed = gate::check(&state, &method, &uri, &headers).await?;
    let mut response = Json(&allowed).into_response();
    for (name, value) in allowed.headers() {
        // Header values come from ids and validated names; one that is not a valid header value
        // is left out rather than failing the check.
        if let Ok(value) = HeaderValue::from_str(&value) {
            response
                .headers_mut()
                .insert(HeaderName::from_static(name), value);
        }
    }
    Ok(response)
}
