//! The provider registry: `GET, POST /auth/providers`, `GET, PUT, DELETE /auth/providers/{id}`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use latchkey::http::answers::{ErrorResponse, Success, errors};
use latchkey::http::{Caller, Json};
use latchkey::services::integrations::{
    self, NewProvider, ProviderChange, ProviderDetails, ProviderSummary,
};
use latchkey::{AppState, Result};

const ADMIN_ONLY: &str = "`forbidden`: the caller is not an administrator (a verified address \
    in `LATCHKEY_ADMIN_EMAILS`). `csrf_failed`: a cookie-authenticated write without \
    `X-CSRF-Token`. `insufficient_scope`: an API key without the `write` scope.";

/// `GET /auth/providers`: every provider anyone signed in may connect.
#[utoipa::path(get, path = "/auth/providers", operation_id = "listProviders",
    tag = "integrations", summary = "The provider registry",
    description = "Built-in entries (Google, GitHub, when the server is configured for them) and \
        the ones administrators added, in id order. Never a client secret.",
    security(("bearerAuth" = []), ("apiKeyHeader" = []), ("cookieAuth" = [])),
    responses(
        (status = 200, description = "The providers.", body = Vec<ProviderSummary>),
        (status = 401, description = errors::UNAUTHORIZED, body = ErrorResponse),
        (status = "default", description = errors::OTHER, body = ErrorResponse),
    ))]
pub async fn list(
    State(state): State<AppState>,
    _caller: Caller,
) -> Result<Json<Vec<ProviderSummary>>> {
    Ok(Json(integrations::list(&state).await?))
}

/// `POST /auth/providers` (administrators): `201` with the new entry.
#[utoipa::path(post, path = "/auth/providers", operation_id = "createProvider",
    tag = "integrations", summary = "Add a provider (administrators)",
    description = "An `oauth` provider needs `oauth` with its endpoints (https, or http on \
        loopback) and client; the client secret is stored encrypted and never shown again. An \
        `api_key` provider has no `oauth`: users store their own key for it.",
    request_body = NewProvider,
    security(("bearerAuth" = []), ("apiKeyHeader" = []), ("cookieAuth" = [], "csrfToken" = [])),
    responses(
        (status = 201, description = "The new entry.", body = ProviderDetails),
        (status = 400, description = errors::BAD_REQUEST, body = ErrorResponse),
        (status = 401, description = errors::UNAUTHORIZED, body = ErrorResponse),
        (status = 403, description = ADMIN_ONLY, body = ErrorResponse),
        (status = 409, description = "`conflict`: a provider with this id exists (built-in \
            ones included).", body = ErrorResponse),
        (status = 413, description = errors::TOO_LARGE, body = ErrorResponse),
        (status = 415, description = errors::UNSUPPORTED, body = ErrorResponse),
        (status = "default", description = errors::OTHER, body = ErrorResponse),
    ))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<NewProvider>,
) -> Result<(StatusCode, Json<ProviderDetails>)> {
    let created = integrations::create(&state, &caller.claims, body).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// `GET /auth/providers/{id}`.
#[utoipa::path(get, path = "/auth/providers/{id}", operation_id = "getProvider",
    tag = "integrations", summary = "One provider, in full (never its client secret)",
    params(("id" = String, Path, description = "The provider's id.")),
    security(("bearerAuth" = []), ("apiKeyHeader" = []), ("cookieAuth" = [])),
    responses(
        (status = 200, description = "The entry.", body = ProviderDetails),
        (status = 401, description = errors::UNAUTHORIZED, body = ErrorResponse),
        (status = 404, description = "`not_found`: no provider with this id.",
            body = ErrorResponse),
        (status = "default", description = errors::OTHER, body = ErrorResponse),
    ))]
pub async fn get(
    State(state): State<AppState>,
    _caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<ProviderDetails>> {
    Ok(Json(integrations::get(&state, &id).await?))
}

/// `PUT /auth/providers/{id}` (administrators): a partial change.
#[utoipa::path(put, path = "/auth/providers/{id}", operation_id = "updateProvider",
    tag = "integrations", summary = "Change a provider (administrators)",
    description = "Any subset of the create body; fields given replace the stored ones. An \
        omitted `oauth.client_secret` keeps the stored secret. Switching to `api_key` drops the \
        OAuth client and its secret.",
    params(("id" = String, Path, description = "The provider's id.")),
    request_body = ProviderChange,
    security(("bearerAuth" = []), ("apiKeyHeader" = []), ("cookieAuth" = [], "csrfToken" = [])),
    responses(
        (status = 200, description = "The entry as changed.", body = ProviderDetails),
        (status = 400, description = errors::BAD_REQUEST, body = ErrorResponse),
        (status = 401, description = errors::UNAUTHORIZED, body = ErrorResponse),
        (status = 403, description = ADMIN_ONLY, body = ErrorResponse),
        (status = 404, description = "`not_found`: no provider with this id.",
            body = ErrorResponse),
        (status = 409, description = "`conflict`: a built-in provider (it follows the \
            server's settings).", body = ErrorResponse),
        (status = 413, description = errors::TOO_LARGE, body = ErrorResponse),
        (status = 415, description = errors::UNSUPPORTED, body = ErrorResponse),
        (status = "default", description = errors::OTHER, body = ErrorResponse),
    ))]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(body): Json<ProviderChange>,
) -> Result<Json<ProviderDetails>> {
    Ok(Json(
        integrations::update(&state, &caller.claims, &id, body).await?,
    ))
}

/// `DELETE /auth/providers/{id}` (administrators).
#[utoipa::path(delete, path = "/auth/providers/{id}", operation_id = "deleteProvider",
    tag = "integrations", summary = "Remove a provider (administrators)",
    description = "Seed 001's meaning of this path (API.md, \"The one conflict between \
        seeds\"). Users' stored connections and keys for it stay until they disconnect; \
        `valid-token` for it answers `404`.",
    params(("id" = String, Path, description = "The provider's id.")),
    security(("bearerAuth" = []), ("apiKeyHeader" = []), ("cookieAuth" = [], "csrfToken" = [])),
    responses(
        (status = 200, description = "Removed.", body = Success),
        (status = 401, description = errors::UNAUTHORIZED, body = ErrorResponse),
        (status = 403, description = ADMIN_ONLY, body = ErrorResponse),
        (status = 404, description = "`not_found`: no provider with this id.",
            body = ErrorResponse),
        (status = 409, description = "`conflict`: a built-in provider.", body = ErrorResponse),
        (status = "default", description = errors::OTHER, body = ErrorResponse),
    ))]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Success>> {
    integrations::delete(&state, &caller.claims, &id).await?;
    Ok(Json(Success::new()))
}
