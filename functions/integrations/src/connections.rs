//! OAuth connections: `GET /auth/connect/{provider}`, the callbacks (`GET
//! /auth/callback/{provider}`, `POST /auth/callback`), `GET /auth/connected`,
//! `POST /auth/disconnect/{provider}`, and `GET /auth/valid-token` for agents.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use latchkey::http::answers::{ErrorResponse, Success, errors};
use latchkey::http::{Caller, Json, MaybeCaller};
use latchkey::services::connections::{self, ConnectStarted, Connected, ConnectedApps, ValidToken};
use latchkey::{AppState, Error, Result};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

const STATE_REFUSED: &str = "`invalid_oauth_state`: the `state` is missing, unknown, already \
    used, expired, or was issued for another provider or another user. `oauth_refused`: the \
    provider refused the code. `invalid_request`: `code` or `state` missing.";

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ConnectQuery {
    /// Where `GET /auth/callback/{provider}` sends the browser when done (`302`); only a URL
    /// listed exactly in `LATCHKEY_REDIRECT_ALLOW_LIST`, any other is ignored.
    #[serde(default)]
    redirect_to: Option<String>,
}

/// `GET /auth/connect/{provider}`: the provider's authorization URL.
#[utoipa::path(get, path = "/auth/connect/{provider}", operation_id = "connectProvider",
    tag = "integrations", summary = "Start connecting an OAuth provider",
    description = "The authorization URL with a fresh `state` and a PKCE S256 challenge, filed \
        for 10 minutes and good for one callback. The provider sends the person back to \
        `<LATCHKEY_PUBLIC_URL>/auth/callback/<provider>`.",
    params(("provider" = String, Path, description = "An `oauth` provider of the registry."),
        ConnectQuery),
    security(("bearerAuth" = []), ("apiKeyHeader" = []), ("cookieAuth" = [])),
    responses(
        (status = 200, description = "Where to send the person.", body = ConnectStarted),
        (status = 400, description = "`invalid_request` with `field: provider`: the provider \
            connects with an API key.", body = ErrorResponse),
        (status = 401, description = errors::UNAUTHORIZED, body = ErrorResponse),
        (status = 404, description = "`not_found`: no provider with this id.",
            body = ErrorResponse),
        (status = "default", description = errors::OTHER, body = ErrorResponse),
    ))]
pub async fn connect(
    State(state): State<AppState>,
    caller: Caller,
    Path(provider): Path<String>,
    query: Result<Query<ConnectQuery>, QueryRejection>,
) -> Result<Json<ConnectStarted>> {
    let Query(query) =
        query.map_err(|_| Error::bad_request("The query string could not be read"))?;
    Ok(Json(
        connections::connect(
            &state,
            caller.user_id(),
            &provider,
            query.redirect_to.as_deref(),
        )
        .await?,
    ))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CallbackQuery {
    /// The authorization code the provider issued.
    #[serde(default)]
    code: Option<String>,
    /// The `state` of the authorization URL.
    #[serde(default)]
    state: Option<String>,
    /// The provider's error (`access_denied` when the person declined).
    #[serde(default)]
    error: Option<String>,
}

fn required(value: Option<String>, field: &str) -> Result<String> {
    value
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| Error::invalid_field(field, "is required"))
}

/// `GET /auth/callback/{provider}`: where the provider sends the person back.
#[utoipa::path(get, path = "/auth/callback/{provider}", operation_id = "connectCallback",
    tag = "integrations", summary = "Finish a connection (the provider's redirect)",
    description = "For browsers and desktop apps: the `state` names the user who began the flow \
        (a signed-in caller, when present, must be that user). The tokens are stored encrypted. \
        Answers `302` to the `redirect_to` given at connect time, else `200` JSON.",
    params(("provider" = String, Path, description = "The provider the flow began with."),
        CallbackQuery),
    responses(
        (status = 200, description = "Connected.", body = Connected),
        (status = 302, description = "Connected; back to the allow-listed `redirect_to`.",
            headers(("Location" = String, description = "The redirect given at connect time."))),
        (status = 400, description = STATE_REFUSED, body = ErrorResponse),
        (status = 502, description = "`provider_unavailable`: the provider could not be \
            reached.", body = ErrorResponse),
        (status = "default", description = errors::OTHER, body = ErrorResponse),
    ))]
pub async fn callback_get(
    State(state): State<AppState>,
    MaybeCaller(caller): MaybeCaller,
    Path(provider): Path<String>,
    query: Result<Query<CallbackQuery>, QueryRejection>,
) -> Result<Response> {
    let Query(query) =
        query.map_err(|_| Error::bad_request("The query string could not be read"))?;
    if let Some(error) = query.error.filter(|e| !e.is_empty()) {
        return Err(Error::new(
            latchkey::error::ErrorCode::OAuthRefused,
            format!(
                "The provider did not grant access ({})",
                error.chars().take(64).collect::<String>()
            ),
        ));
    }
    let state_param = required(query.state, "state")?;
    let code = required(query.code, "code")?;
    let connected = connections::finish(
        &state,
        Some(&provider),
        caller.as_ref().map(Caller::user_id),
        &code,
        &state_param,
    )
    .await?;
    Ok(match &connected.redirect_to {
        Some(to) => (StatusCode::FOUND, [(header::LOCATION, to.clone())]).into_response(),
        None => Json(connected).into_response(),
    })
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CallbackBody {
    code: String,
    state: String,
}

/// `POST /auth/callback`: for clients that caught the code themselves.
#[utoipa::path(post, path = "/auth/callback", operation_id = "connectCallbackPost",
    tag = "integrations", summary = "Finish a connection with a code the client caught",
    description = "The caller must be the user who began the flow. The tokens are stored \
        encrypted.",
    request_body = CallbackBody,
    security(("bearerAuth" = []), ("apiKeyHeader" = []), ("cookieAuth" = [], "csrfToken" = [])),
    responses(
        (status = 200, description = "Connected.", body = Connected),
        (status = 400, description = STATE_REFUSED, body = ErrorResponse),
        (status = 401, description = errors::UNAUTHORIZED, body = ErrorResponse),
        (status = 403, description = errors::CSRF, body = ErrorResponse),
        (status = 413, description = errors::TOO_LARGE, body = ErrorResponse),
        (status = 415, description = errors::UNSUPPORTED, body = ErrorResponse),
        (status = 502, description = "`provider_unavailable`: the provider could not be \
            reached.", body = ErrorResponse),
        (status = "default", description = errors::OTHER, body = ErrorResponse),
    ))]
pub async fn callback_post(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<CallbackBody>,
) -> Result<Json<Connected>> {
    let state_param = required(Some(body.state), "state")?;
    let code = required(Some(body.code), "code")?;
    Ok(Json(
        connections::finish(&state, None, Some(caller.user_id()), &code, &state_param).await?,
    ))
}

/// `GET /auth/connected`: the caller's connections.
#[utoipa::path(get, path = "/auth/connected", operation_id = "listConnections",
    tag = "integrations", summary = "The caller's connected providers (never a token)",
    security(("bearerAuth" = []), ("apiKeyHeader" = []), ("cookieAuth" = [])),
    responses(
        (status = 200, description = "The connections.", body = ConnectedApps),
        (status = 401, description = errors::UNAUTHORIZED, body = ErrorResponse),
        (status = "default", description = errors::OTHER, body = ErrorResponse),
    ))]
pub async fn connected(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<ConnectedApps>> {
    Ok(Json(
        connections::connected(&state, caller.user_id()).await?,
    ))
}

/// `POST /auth/disconnect/{provider}`: revoke at the provider, delete the stored tokens.
#[utoipa::path(post, path = "/auth/disconnect/{provider}", operation_id = "disconnectProvider",
    tag = "integrations", summary = "Disconnect a provider",
    description = "Revokes the grant at the provider when it has an RFC 7009 revocation \
        endpoint (best effort), and deletes the stored tokens in any case.",
    params(("provider" = String, Path, description = "A connected provider.")),
    security(("bearerAuth" = []), ("apiKeyHeader" = []), ("cookieAuth" = [], "csrfToken" = [])),
    responses(
        (status = 200, description = "Disconnected.", body = Success),
        (status = 401, description = errors::UNAUTHORIZED, body = ErrorResponse),
        (status = 403, description = "`csrf_failed`: a cookie-authenticated write without \
            `X-CSRF-Token`. `insufficient_scope`: an API key without the `write` scope.",
            body = ErrorResponse),
        (status = 404, description = "`not_found`: the caller has no connection to it.",
            body = ErrorResponse),
        (status = "default", description = errors::OTHER, body = ErrorResponse),
    ))]
pub async fn disconnect(
    State(state): State<AppState>,
    caller: Caller,
    Path(provider): Path<String>,
) -> Result<Json<Success>> {
    connections::disconnect(&state, caller.user_id(), &provider).await?;
    Ok(Json(Success::new()))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ValidTokenQuery {
    /// The provider.
    #[serde(default, rename = "providerId")]
    provider_id: Option<String>,
    /// Another user's id: administrators only.
    #[serde(default, rename = "userId")]
    user_id: Option<String>,
}

/// `GET /auth/valid-token?providerId=&userId=`: a provider access token good for another minute.
#[utoipa::path(get, path = "/auth/valid-token", operation_id = "validProviderToken",
    tag = "integrations", summary = "A valid provider access token (refreshed when needed)",
    description = "When the stored access token expires within 60 seconds it is refreshed with \
        the provider first and the new tokens are stored (a rotated refresh token replaces the \
        old one). Concurrent calls make one refresh request between them and all answer the \
        new token.",
    params(ValidTokenQuery),
    security(("bearerAuth" = []), ("apiKeyHeader" = []), ("cookieAuth" = [])),
    responses(
        (status = 200, description = "The access token.", body = ValidToken),
        (status = 400, description = "`invalid_request` with `field: providerId`.",
            body = ErrorResponse),
        (status = 401, description = errors::UNAUTHORIZED, body = ErrorResponse),
        (status = 403, description = "`forbidden`: `userId` names another user and the caller \
            is not an administrator.", body = ErrorResponse),
        (status = 404, description = "`not_found`: no connection to this provider.",
            body = ErrorResponse),
        (status = 409, description = "`reconnect_required`: the provider refused to refresh; \
            the user must connect again.", body = ErrorResponse),
        (status = 502, description = "`provider_unavailable`: the provider could not be \
            reached to refresh.", body = ErrorResponse),
        (status = "default", description = errors::OTHER, body = ErrorResponse),
    ))]
pub async fn valid_token(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<ValidTokenQuery>, QueryRejection>,
) -> Result<Json<ValidToken>> {
    let Query(query) =
        query.map_err(|_| Error::bad_request("The query string could not be read"))?;
    let provider = required(query.provider_id, "providerId")?;
    Ok(Json(
        connections::valid_token(&state, &caller.claims, &provider, query.user_id.as_deref())
            .await?,
    ))
}
