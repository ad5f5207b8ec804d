//! The `well-known` endpoint group: health (each dependency checked) and liveness, the JWKS that verifies our access tokens, the
//! OpenID discovery document that points API Gateway JWT authorizers at it, and the OpenAPI
//! document of every route Latchkey serves.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use latchkey::http::Routes;
use latchkey::http::answers::{ErrorResponse, errors};
use latchkey::services::{health, tokens};
use latchkey::{AppState, Result};
use serde::Serialize;
use std::collections::BTreeMap;
use utoipa::ToSchema;
use utoipa_axum::routes;

/// Every route this group serves, each declared once (see `latchkey::http::routes`).
pub fn routes() -> Routes {
    Routes::new()
        .declare(routes!(health))
        .declare(routes!(live))
        .declare(routes!(jwks))
        .declare(routes!(openid_configuration))
        .declare(routes!(openapi_document))
}

pub fn router(state: AppState) -> Router {
    routes().router(state)
}

/// How long clients may cache the discovery document: it changes only with the configuration.
const DISCOVERY_MAX_AGE_SECONDS: u64 = 3600;

/// The OpenAPI 3.1 document, generated from every group's declarations by
/// `cargo run -p xtask -- openapi` and embedded as text, so nothing is computed at cold start.
/// `tests/api/openapi.rs` fails when it is stale.
pub const OPENAPI_DOCUMENT: &str = include_str!("../openapi.json");

/// How long clients may cache the OpenAPI document: it changes only with a deployment.
const OPENAPI_MAX_AGE_SECONDS: u64 = 300;

/// `GET /health`'s answer.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"status": "degraded", "backend": "aws", "checks": {
    "store": {"status": "ok"}, "signing_key": {"status": "ok"},
    "cipher": {"status": "failing", "reason": "KMS DescribeKey failed: NotFoundException"},
    "mail": {"status": "ok"}}}))]
pub struct Health {
    /// `ok` when every check passes, `degraded` when any fails.
    #[schema(value_type = String, pattern = "^(ok|degraded)$")]
    status: &'static str,
    /// `local`: embedded store, mail to files, local key. `aws`: DynamoDB, SES, KMS.
    #[schema(value_type = String)]
    backend: &'static str,
    /// Each check by name: `store` (a probe item written and read back), `signing_key` (the
    /// current signing key decrypts with this cipher), `cipher` (the KMS key is enabled:
    /// `DescribeKey`), `mail` (the SES sender identity is verified: `GetEmailIdentity`; locally,
    /// the outbox is writable).
    checks: BTreeMap<String, CheckAnswer>,
}

/// One check.
#[derive(Serialize, ToSchema)]
pub struct CheckAnswer {
    /// `ok` or `failing`.
    #[schema(value_type = String, pattern = "^(ok|failing)$")]
    status: &'static str,
    /// Why it fails, in a few words (no internals, no secrets).
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

/// `GET /health`: every dependency a request needs, checked (at most once per 5 s per instance,
/// so polling is cheap): 200 when all pass, 503 naming the failing check.
#[utoipa::path(get, path = "/health", operation_id = "getHealth", tag = "well-known",
    summary = "Health: the store, the signing key, the cipher and mail, each checked",
    responses(
        (status = 200, description = "Every check passes.", body = Health),
        (status = 503, description = "A check fails (`status: degraded`); the failing check says \
            `failing` with a short reason.", body = Health),
    ))]
async fn health(State(state): State<AppState>) -> impl IntoResponse {
    let report = health::report(&state).await;
    let status = if report.ok() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let checks = report
        .checks
        .iter()
        .map(|check| {
            let answer = CheckAnswer {
                status: if check.failure.is_none() {
                    "ok"
                } else {
                    "failing"
                },
                reason: check.failure.clone(),
            };
            (check.name.to_owned(), answer)
        })
        .collect();
    let body = Health {
        status: if report.ok() { "ok" } else { "degraded" },
        backend: state.config.backend.name(),
        checks,
    };
    (status, axum::Json(body))
}

/// `GET /health/live`'s answer.
#[derive(Serialize, ToSchema)]
pub struct Live {
    #[schema(value_type = String, pattern = "^ok$")]
    status: &'static str,
}

/// `GET /health/live`: the process answers; no dependency is called. For load balancers and
/// liveness probes that must not cost a table or KMS call.
#[utoipa::path(get, path = "/health/live", operation_id = "getHealthLive", tag = "well-known",
    summary = "Liveness: the process answers (no dependency called)",
    responses((status = 200, description = "Alive.", body = Live)))]
async fn live() -> axum::Json<Live> {
    axum::Json(Live { status: "ok" })
}

/// `GET /.well-known/jwks.json`: the public keys of every signing key whose tokens may be live.
/// Public and cacheable, unlike every auth answer (the middleware's `no-store` applies only when
/// a handler sets no `Cache-Control`; errors keep it).
#[utoipa::path(get, path = "/.well-known/jwks.json", operation_id = "getJwks", tag = "well-known",
    summary = "Public keys that verify access tokens",
    responses(
        (status = 200, description = "The JSON Web Key Set.", body = Jwks,
            headers(("Cache-Control" = String, description = "`public, max-age=300`"))),
        (status = "default", description = errors::OTHER, body = ErrorResponse),
    ))]
async fn jwks(State(state): State<AppState>) -> Result<Response> {
    let body = tokens::jwks(&state).await?;
    Ok(cacheable(axum::Json(body), tokens::JWKS_MAX_AGE_SECONDS))
}

/// `GET /.well-known/openid-configuration`: enough for an API Gateway JWT authorizer (issuer and
/// JWKS URI) and for OIDC-aware clients to find our token endpoint. Built from configuration
/// only, never from the request's `Host`.
#[utoipa::path(get, path = "/.well-known/openid-configuration",
    operation_id = "getOpenIdConfiguration", tag = "well-known",
    summary = "OpenID discovery document",
    responses(
        (status = 200, description = "The discovery document.", body = OpenIdConfiguration,
            headers(("Cache-Control" = String, description = "`public, max-age=3600`"))),
    ))]
async fn openid_configuration(State(state): State<AppState>) -> Response {
    let base = &state.config.public_url;
    let body = OpenIdConfiguration {
        issuer: state.config.issuer.clone(),
        jwks_uri: format!("{base}/.well-known/jwks.json"),
        token_endpoint: format!("{base}/auth/sign-in"),
        response_types_supported: &["token"],
        subject_types_supported: &["public"],
        id_token_signing_alg_values_supported: &["RS256"],
        token_endpoint_auth_methods_supported: &["none"],
        claims_supported: &[
            "iss",
            "aud",
            "sub",
            "exp",
            "iat",
            "nbf",
            "jti",
            "sid",
            "scope",
            "org",
            "role",
            "plan",
            "features",
            "email",
            "email_verified",
            "amr",
            "aal",
        ],
        service_documentation: format!("{base}/openapi.json"),
    };
    cacheable(axum::Json(body), DISCOVERY_MAX_AGE_SECONDS)
}

/// The JSON Web Key Set `latchkey::services::tokens::jwks` answers (described here for the
/// document; the flow tests validate the served set against it).
#[derive(Serialize, ToSchema)]
pub struct Jwks {
    /// The current key first, then retired keys whose tokens may still be live.
    pub keys: Vec<Jwk>,
}

/// One RSA public key.
#[derive(Serialize, ToSchema)]
pub struct Jwk {
    #[schema(schema_with = rsa)]
    pub kty: String,
    pub kid: String,
    #[serde(rename = "use")]
    #[schema(schema_with = sig)]
    pub use_: String,
    #[schema(schema_with = rs256)]
    pub alg: String,
    /// Modulus, base64url.
    pub n: String,
    /// Exponent, base64url.
    pub e: String,
}

fn rsa() -> utoipa::openapi::Object {
    latchkey::http::answers::constant(utoipa::openapi::Type::String, "RSA")
}

fn sig() -> utoipa::openapi::Object {
    latchkey::http::answers::constant(utoipa::openapi::Type::String, "sig")
}

fn rs256() -> utoipa::openapi::Object {
    latchkey::http::answers::constant(utoipa::openapi::Type::String, "RS256")
}

/// `GET /.well-known/openid-configuration`'s answer.
#[derive(Serialize, ToSchema)]
pub struct OpenIdConfiguration {
    pub issuer: String,
    #[schema(format = "uri")]
    pub jwks_uri: String,
    /// `<public URL>/auth/sign-in`.
    #[schema(format = "uri")]
    pub token_endpoint: String,
    #[schema(value_type = Vec<String>)]
    pub response_types_supported: &'static [&'static str],
    #[schema(value_type = Vec<String>)]
    pub subject_types_supported: &'static [&'static str],
    #[schema(value_type = Vec<String>)]
    pub id_token_signing_alg_values_supported: &'static [&'static str],
    #[schema(value_type = Vec<String>)]
    pub token_endpoint_auth_methods_supported: &'static [&'static str],
    #[schema(value_type = Vec<String>)]
    pub claims_supported: &'static [&'static str],
    /// `<public URL>/openapi.json`: this document.
    #[schema(format = "uri")]
    pub service_documentation: String,
}

/// `GET /openapi.json`: the embedded document as it is, public and cacheable.
#[utoipa::path(get, path = "/openapi.json", operation_id = "getOpenApiDocument", tag = "well-known",
    summary = "This OpenAPI document",
    responses(
        (status = 200, description = "This document.", content_type = "application/json",
            body = Object,
            headers(("Cache-Control" = String, description = "`public, max-age=300`"))),
    ))]
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
