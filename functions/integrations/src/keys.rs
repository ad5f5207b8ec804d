//! Users' provider API keys (`POST, GET /auth/apikeys/{providerId}`) and the Google search keys.

use axum::extract::{Path, State};
use latchkey::http::answers::{ErrorResponse, Success, errors};
use latchkey::http::{Caller, Json};
use latchkey::services::integrations::{self, GoogleSearchKeys, ProviderApiKey};
use latchkey::{AppState, Result};
use serde::Deserialize;
use utoipa::ToSchema;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"apiKey": "sk-..."}))]
pub struct StoreKey {
    /// The key the provider issued the user; 1 to 4096 printable characters.
    #[serde(rename = "apiKey")]
    api_key: String,
}

/// `POST /auth/apikeys/{providerId}`: store (or replace) the caller's key, encrypted.
#[utoipa::path(post, path = "/auth/apikeys/{providerId}", operation_id = "storeProviderApiKey",
    tag = "integrations", summary = "Store the caller's API key for a provider",
    description = "Encrypted with the Cipher (KMS in AWS) under an encryption context naming \
        the caller and the provider: the ciphertext is useless on any other user's item. A new \
        key replaces the old one.",
    params(("providerId" = String, Path, description = "A provider in the registry.")),
    request_body = StoreKey,
    security(("bearerAuth" = []), ("apiKeyHeader" = []), ("cookieAuth" = [], "csrfToken" = [])),
    responses(
        (status = 200, description = "Stored.", body = Success),
        (status = 400, description = errors::BAD_REQUEST, body = ErrorResponse),
        (status = 401, description = errors::UNAUTHORIZED, body = ErrorResponse),
        (status = 403, description = "`csrf_failed`: a cookie-authenticated write without \
            `X-CSRF-Token`. `insufficient_scope`: an API key without the `write` scope.",
            body = ErrorResponse),
        (status = 404, description = "`not_found`: no provider with this id.",
            body = ErrorResponse),
        (status = 413, description = errors::TOO_LARGE, body = ErrorResponse),
        (status = 415, description = errors::UNSUPPORTED, body = ErrorResponse),
        (status = "default", description = errors::OTHER, body = ErrorResponse),
    ))]
pub async fn store(
    State(state): State<AppState>,
    caller: Caller,
    Path(provider): Path<String>,
    Json(body): Json<StoreKey>,
) -> Result<Json<Success>> {
    integrations::store_key(&state, caller.user_id(), &provider, &body.api_key).await?;
    Ok(Json(Success::new()))
}

/// `GET /auth/apikeys/{providerId}`: the caller's own key, decrypted.
#[utoipa::path(get, path = "/auth/apikeys/{providerId}", operation_id = "readProviderApiKey",
    tag = "integrations", summary = "The caller's API key for a provider, decrypted",
    description = "Only the owner's own key: there is no way to name another user's.",
    params(("providerId" = String, Path, description = "The provider's id.")),
    security(("bearerAuth" = []), ("apiKeyHeader" = []), ("cookieAuth" = [])),
    responses(
        (status = 200, description = "The key.", body = ProviderApiKey),
        (status = 401, description = errors::UNAUTHORIZED, body = ErrorResponse),
        (status = 404, description = "`not_found`: the caller stored no key for this provider.",
            body = ErrorResponse),
        (status = "default", description = errors::OTHER, body = ErrorResponse),
    ))]
pub async fn read(
    State(state): State<AppState>,
    caller: Caller,
    Path(provider): Path<String>,
) -> Result<Json<ProviderApiKey>> {
    Ok(Json(
        integrations::read_key(&state, caller.user_id(), &provider).await?,
    ))
}

/// `GET /auth/google-search-keys`: from `LATCHKEY_GOOGLE_SEARCH_API_KEY` and
/// `LATCHKEY_GOOGLE_SEARCH_ENGINE_ID`.
#[utoipa::path(get, path = "/auth/google-search-keys", operation_id = "googleSearchKeys",
    tag = "integrations", summary = "The Google Programmable Search configuration",
    security(("bearerAuth" = []), ("apiKeyHeader" = []), ("cookieAuth" = [])),
    responses(
        (status = 200, description = "The key and engine id.", body = GoogleSearchKeys),
        (status = 401, description = errors::UNAUTHORIZED, body = ErrorResponse),
        (status = 404, description = "`not_found`: the server has no search keys configured.",
            body = ErrorResponse),
        (status = "default", description = errors::OTHER, body = ErrorResponse),
    ))]
pub async fn google_search_keys(
    State(state): State<AppState>,
    _caller: Caller,
) -> Result<Json<GoogleSearchKeys>> {
    Ok(Json(integrations::google_search_keys(&state)?))
}
