//! `POST /auth/api-keys` (`/users/generate-api-key`), `GET /auth/api-keys`,
//! `DELETE /auth/api-keys/{id}`.

use axum::extract::{Path, State};
use latchkey::domain::ids::ApiKeyId;
use latchkey::http::answers::{ErrorResponse, SuccessMessage, always_true, errors};
use latchkey::http::{Caller, Json};
use latchkey::services::api_keys::{self, ApiKeySummary, NewKeyRequest};
use latchkey::{AppState, Error, Result};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::ToSchema;

/// What the new key is to be; every field optional (an empty body is a key with both scopes,
/// no expiry, named "API key").
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKey {
    /// At most 100 characters are kept.
    #[serde(default)]
    name: Option<String>,
    /// `read`, `write`, or the platform's own (1 to 64 of a-z 0-9 _ . : -); at most 20.
    #[serde(default)]
    scopes: Option<Vec<String>>,
    /// RFC 3339, in the future.
    #[serde(default)]
    #[schema(format = DateTime)]
    expires_at: Option<String>,
}

/// The answer to minting a key: the only time the key itself is shown.
#[derive(Serialize, ToSchema)]
#[schema(as = ApiKeyCreated)]
pub struct Created {
    #[schema(schema_with = always_true)]
    success: bool,
    /// The key (the prefix and 256 random bits), shown this once; stored only as its SHA-256.
    #[serde(rename = "apiKey")]
    api_key: String,
    #[serde(flatten)]
    summary: ApiKeySummary,
}

/// `POST /auth/api-keys` (`/users/generate-api-key`): the key, shown once. A key cannot mint
/// keys.
#[utoipa::path(post, path = "/auth/api-keys", operation_id = "createApiKey", tag = "api-keys",
    summary = "Mint an API key",
    description = "It acts as its owner with `amr: [\"api_key\"]`, in `Authorization: Bearer` or \
        `X-API-Key` (never a query string), until revoked or past `expires_at`.",
    request_body(content = CreateApiKey, description = "May be left out."),
    security(("bearerAuth" = []), ("cookieAuth" = [], "csrfToken" = [])),
    responses(
        (status = 200, description = "The new key.", body = Created),
        (status = 400, description = errors::BAD_REQUEST, body = ErrorResponse),
        (status = 401, description = errors::UNAUTHORIZED, body = ErrorResponse),
        (status = 403, description = "`insufficient_scope`: an API key cannot mint keys. \
            `csrf_failed`: a cookie-authenticated request without `X-CSRF-Token`.",
            body = ErrorResponse),
        (status = "default", description = errors::OTHER, body = ErrorResponse),
    ))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<CreateApiKey>,
) -> Result<Json<Created>> {
    caller.require_credential_scope()?;
    let expires_at = body
        .expires_at
        .as_deref()
        .map(|text| {
            OffsetDateTime::parse(text, &Rfc3339)
                .map(OffsetDateTime::unix_timestamp)
                .map_err(|_| Error::invalid_field("expires_at", "expected an RFC 3339 time"))
        })
        .transpose()?;
    let request = NewKeyRequest {
        name: body.name,
        scopes: body.scopes,
        expires_at,
    };
    let created = api_keys::create(&state, caller.user_id(), request).await?;
    Ok(Json(Created {
        success: true,
        api_key: created.key,
        summary: created.summary,
    }))
}

#[derive(Serialize, ToSchema)]
#[schema(as = ApiKeyList)]
pub struct Listed {
    #[schema(schema_with = always_true)]
    success: bool,
    #[serde(rename = "apiKeys")]
    api_keys: Vec<ApiKeySummary>,
}

/// `GET /auth/api-keys`: the caller's live keys, never the secret.
#[utoipa::path(get, path = "/auth/api-keys", operation_id = "listApiKeys", tag = "api-keys",
    summary = "The caller's API keys (never the secret)",
    security(("bearerAuth" = []), ("apiKeyHeader" = []), ("cookieAuth" = [])),
    responses(
        (status = 200, description = "The live keys, oldest first.", body = Listed),
        (status = 401, description = errors::UNAUTHORIZED, body = ErrorResponse),
        (status = "default", description = errors::OTHER, body = ErrorResponse),
    ))]
pub async fn list(State(state): State<AppState>, caller: Caller) -> Result<Json<Listed>> {
    let api_keys = api_keys::list(&state, caller.user_id()).await?;
    Ok(Json(Listed {
        success: true,
        api_keys,
    }))
}

/// `DELETE /auth/api-keys/{id}`: the key stops working at once; another user's id is `404`.
#[utoipa::path(delete, path = "/auth/api-keys/{id}", operation_id = "revokeApiKey",
    tag = "api-keys", summary = "Revoke an API key",
    description = "The key stops working at once, everywhere (our endpoints, the authorizer, \
        the gate check).",
    params(("id" = String, Path, format = "uuid", description = "The key's id, as listed.")),
    security(("bearerAuth" = []), ("apiKeyHeader" = []), ("cookieAuth" = [], "csrfToken" = [])),
    responses(
        (status = 200, description = "Revoked.", body = SuccessMessage),
        (status = 401, description = errors::UNAUTHORIZED, body = ErrorResponse),
        (status = 403, description = "`insufficient_scope`: a key without the `write` scope. \
            `csrf_failed`: a cookie-authenticated request without `X-CSRF-Token`.",
            body = ErrorResponse),
        (status = 404, description = "`not_found`: no key with this id belongs to the caller \
            (another user's id answers the same).", body = ErrorResponse),
        (status = "default", description = errors::OTHER, body = ErrorResponse),
    ))]
pub async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<SuccessMessage>> {
    // Not a key id at all: no such key, the same answer as another user's id.
    let id = ApiKeyId::parse(&id).ok_or(api_keys::ApiKeyError::NotFound)?;
    api_keys::revoke(&state, caller.user_id(), &id).await?;
    Ok(Json(SuccessMessage::new("API key revoked")))
}
