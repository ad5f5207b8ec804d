//! The `well-known` endpoint group: health, the JWKS that verifies our access tokens, the
//! OpenID discovery document that points API Gateway JWT authorizers at it, and the OpenAPI
//! document of every route Latchkey serves.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use latchkey::services::tokens;
use latchkey::{AppState, Result};
use serde_json::json;

/// Every (method, path) this group serves, in axum's path syntax. `template.yaml` and the route
/// tests are checked against this list, so the three cannot drift apart.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/health"),
    ("GET", "/.well-known/jwks.json"),
    ("GET", "/.well-known/openid-configuration"),
    ("GET", "/openapi.json"),
];

/// How long clients may cache the discovery document: it changes only with the configuration.
const DISCOVERY_MAX_AGE_SECONDS: u64 = 3600;

/// The OpenAPI 3.1 document, written by hand (a generator crate would weigh on every function's
/// build for one static answer). `tests/api/openapi.rs` holds it to the groups' `ROUTES`.
pub const OPENAPI_DOCUMENT: &str = include_str!("../openapi.json");

/// How long clients may cache the OpenAPI document: it changes only with a deployment.
const OPENAPI_MAX_AGE_SECONDS: u64 = 300;

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/.well-known/jwks.json", get(jwks))
        .route(
            "/.well-known/openid-configuration",
            get(openid_configuration),
        )
        .route("/openapi.json", get(openapi_document))
        .with_state(state)
}

/// `GET /health`: 200 when the table answers, 503 (same shape) when it does not.
async fn health(State(state): State<AppState>) -> impl IntoResponse {
    let table = state.table.ping().await;
    if let Err(error) = &table {
        tracing::warn!(%error, "health check: table unreachable");
    }
    let status = if table.is_ok() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "status": if table.is_ok() { "ok" } else { "degraded" },
        "backend": state.config.backend.name(),
        "checks": { "table": { "backend": state.table.backend(), "reachable": table.is_ok() } },
    });
    (status, axum::Json(body))
}

/// `GET /.well-known/jwks.json`: the public keys of every signing key whose tokens may be live.
/// Public and cacheable, unlike every auth answer (the middleware's `no-store` applies only when
/// a handler sets no `Cache-Control`; errors keep it).
async fn jwks(State(state): State<AppState>) -> Result<Response> {
    let body = tokens::jwks(&state).await?;
    Ok(cacheable(axum::Json(body), tokens::JWKS_MAX_AGE_SECONDS))
}

/// `GET /.well-known/openid-configuration`: enough for an API Gateway JWT authorizer (issuer and
/// JWKS URI) and for OIDC-aware clients to find our token endpoint. Built from configuration
/// only, never from the request's `Host`.
async fn openid_configuration(State(state): State<AppState>) -> Response {
    let base = &state.config.public_url;
    let body = json!({
        "issuer": state.config.issuer,
        "jwks_uri": format!("{base}/.well-known/jwks.json"),
        "token_endpoint": format!("{base}/auth/sign-in"),
        "response_types_supported": ["token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["none"],
        "claims_supported": [
            "iss", "aud", "sub", "exp", "iat", "nbf", "jti", "sid", "scope", "org", "role",
            "plan", "features", "email", "email_verified", "amr", "aal",
        ],
        "service_documentation": format!("{base}/openapi.json"),
    });
    cacheable(axum::Json(body), DISCOVERY_MAX_AGE_SECONDS)
}

/// `GET /openapi.json`: the embedded document as it is, public and cacheable.
async fn openapi_document() -> Response {
    let body = (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        OPENAPI_DOCUMENT,
    );
    cacheable(body, OPENAPI_MAX_AGE_SECONDS)
}

fn cacheable(body: impl IntoResponse, max_age_seconds: u64) -> Response {
    let mut response = body.into_response();
    if let Ok(value) = HeaderValue::from_str(&format!("public, max-age={max_age_seconds}")) {
        response.headers_mut().insert(header::CACHE_CONTROL, value);
    }
    response
}
