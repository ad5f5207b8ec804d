//! `/auth/check`: the gate check for reverse proxies (nginx `auth_request`, Traefik
//! ForwardAuth, Caddy `forward_auth`).

use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};
use axum::response::{IntoResponse, Response};
use latchkey::http::Json;
use latchkey::http::answers::{ErrorResponse, errors};
use latchkey::services::gate::{self, Allowed};
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

/// `/auth/check`, any method: `200` with the caller's context (body and `X-Auth-*` headers),
/// `401` without a valid caller, `403` with the gate body when `LATCHKEY_GATES` says so.
async fn check(state: AppState, headers: HeaderMap) -> Result<Response> {
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

/// One declaration per method a proxy may send; each is the same check.
macro_rules! gate_check {
    ($name:ident, $method:ident, $operation_id:literal) => {
        #[utoipa::path($method, path = "/auth/check", operation_id = $operation_id,
            tag = "api-keys", summary = "Gate check for reverse proxies",
            description = "Served for GET (and HEAD), POST, PUT, PATCH and DELETE: a proxy may \
                send the guarded request's own method. The guarded request comes in \
                `X-Forwarded-Method` + `X-Forwarded-Uri` (Traefik, Caddy) or `X-Original-Method` \
                + `X-Original-URI` (nginx `auth_request`); the credentials as anywhere else.",
            params(
                ("X-Forwarded-Method" = Option<String>, Header, description = "The guarded request's method."),
                ("X-Forwarded-Uri" = Option<String>, Header, description = "The guarded request's path and query."),
                ("X-Original-Method" = Option<String>, Header, description = "nginx: the guarded request's method."),
                ("X-Original-URI" = Option<String>, Header, description = "nginx: the guarded request's URI."),
            ),
            security(("bearerAuth" = []), ("apiKeyHeader" = []), ("cookieAuth" = [])),
            responses(
                (status = 200, description = "Allowed; the same context as `X-Auth-User`, \
                    `X-Auth-Org`, `X-Auth-Plan`, `X-Auth-Features`, `X-Auth-Amr`.", body = Allowed),
                (status = 400, description = "`invalid_request`: the guarded request's method or \
                    URI is missing or malformed; `field` names the header.", body = ErrorResponse),
                (status = 401, description = "`authentication_required`: no credentials were \
                    presented. `invalid_token`: the credentials are malformed, expired, forged, \
                    or their session has ended, or the holder is no longer a member of the \
                    workspace they name (`org`).", body = ErrorResponse),
                (status = 403, description = "`plan_required` (with `currentPlan`, \
                    `requiredPlan`) or `feature_required` (with `currentPlan`, \
                    `requiredFeature`): seed 001's bodies, when `LATCHKEY_GATES` names the \
                    guarded route. `insufficient_scope`: an API key without the scope for the \
                    guarded method.", body = ErrorResponse),
                (status = "default", description = errors::OTHER, body = ErrorResponse),
            ))]
        pub async fn $name(State(state): State<AppState>, headers: HeaderMap) -> Result<Response> {
            check(state, headers).await
        }
    };
}

gate_check!(check_get, get, "gateCheck");
gate_check!(check_post, post, "gateCheckPost");
gate_check!(check_put, put, "gateCheckPut");
gate_check!(check_patch, patch, "gateCheckPatch");
gate_check!(check_delete, delete, "gateCheckDelete");
