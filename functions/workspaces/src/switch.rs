//! Signing in through an invite, and switching the session's workspace.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use latchkey::http::answers::{ErrorResponse, SignedIn, errors};
use latchkey::http::{Caller, Client, Json, cookies, pages};
use latchkey::services::accounts::SignInOutcome;
use latchkey::services::sessions::AuthResponse;
use latchkey::services::workspaces;
use latchkey::{AppState, Error, Result};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::docs;
use crate::members::workspace_id;

#[derive(Deserialize, ToSchema)]
#[schema(as = InviteToken)]
pub struct TokenBody {
    /// The one-time token from the invite email's link.
    token: String,
}

#[derive(Deserialize)]
pub struct TokenQuery {
    token: Option<String>,
}

/// `POST /auth/invites/accept`: `{token}`.
#[utoipa::path(post, path = "/auth/invites/accept", operation_id = "acceptInvite",
    tag = "workspaces", summary = "Accept an invite: join the workspace and sign in",
    request_body = TokenBody,
    responses(
        (status = 200, description = docs::ACCEPTED, body = SignedIn,
            headers(("Set-Cookie" = String, description = "When cookies are enabled (the default): \
                the access and refresh tokens as `__Host-access_token` and \
                `__Host-refresh_token`, `HttpOnly; Secure; SameSite=Strict; Path=/`, `Max-Age` \
                until each expires."))),
        (status = 400, description = docs::INVALID_INVITE, body = ErrorResponse),
        (status = 409, description = docs::ACCEPT_CONFLICT, body = ErrorResponse),
        (status = 413, description = errors::TOO_LARGE, body = ErrorResponse),
        (status = 415, description = errors::UNSUPPORTED, body = ErrorResponse),
        (status = 429, description = docs::REDEMPTIONS_LIMITED, body = ErrorResponse,
            headers(("Retry-After" = u32, description = "Seconds until the window ends."))),
        (status = "default", description = errors::OTHER, body = ErrorResponse),
    ))]
pub async fn accept(
    State(state): State<AppState>,
    Client(client): Client,
    Json(body): Json<TokenBody>,
) -> Result<Response> {
    accepted(&state, &body.token, &client).await
}

/// `GET /auth/invites/accept?token=`: the emailed link; answers like `/auth/sign-in/token`.
#[utoipa::path(get, path = "/auth/invites/accept", operation_id = "acceptInviteLink",
    tag = "workspaces", summary = "The emailed invite link: join the workspace and sign in",
    params(("token" = String, Query, description = "The one-time token from the invite email. \
        Single-use, stored only as a hash; re-inviting the address or revoking the invite voids \
        it.")),
    responses(
        (status = 200, description = "The invite is accepted (see `POST /auth/invites/accept`). \
            With `Accept: text/html` (a browser opening the link): a page saying the person \
            joined and is signed in (cookies set, no token on the page); a refused link is a \
            page with the error's status.",
            content((SignedIn = "application/json"), (String = "text/html")),
            headers(("Set-Cookie" = String, description = "When cookies are enabled (the default): \
                the access and refresh tokens as `__Host-access_token` and \
                `__Host-refresh_token`, `HttpOnly; Secure; SameSite=Strict; Path=/`, `Max-Age` \
                until each expires."))),
        (status = 400, description = docs::INVALID_INVITE, body = ErrorResponse),
        (status = 409, description = docs::ACCEPT_CONFLICT, body = ErrorResponse),
        (status = 429, description = docs::REDEMPTIONS_LIMITED, body = ErrorResponse,
            headers(("Retry-After" = u32, description = "Seconds until the window ends."))),
        (status = "default", description = errors::OTHER, body = ErrorResponse),
    ))]
pub async fn accept_from_link(
    State(state): State<AppState>,
    Client(client): Client,
    headers: HeaderMap,
    query: Result<Query<TokenQuery>, QueryRejection>,
) -> Result<Response> {
    if !pages::wants_html(&headers) {
        return accept_link_token(&state, &client, query).await;
    }
    let now = state.clock.unix();
    let answer = async {
        let token = link_token(query)?;
        workspaces::accept_invite(&state, &token, &client).await
    }
    .await;
    Ok(match answer {
        Ok(SignInOutcome::Authenticated(response)) => pages::signed_in(
            &state.config,
            now,
            response,
            "You joined the workspace. You can close this page and go back to the app.",
        ),
        Ok(SignInOutcome::MfaRequired(_)) => pages::second_factor_owed(&state.config),
        Err(error) => {
            error.log();
            pages::refused(&state.config, &error)
        }
    })
}

fn link_token(query: Result<Query<TokenQuery>, QueryRejection>) -> Result<String> {
    let Query(query) =
        query.map_err(|_| Error::bad_request("The query string could not be read"))?;
    query
        .token
        .filter(|token| !token.trim().is_empty())
        .ok_or_else(|| Error::invalid_field("token", "is required"))
}

/// The JSON answer of the invite link.
async fn accept_link_token(
    state: &AppState,
    client: &latchkey::domain::sessions::SessionContext,
    query: Result<Query<TokenQuery>, QueryRejection>,
) -> Result<Response> {
    let token = link_token(query)?;
    accepted(state, &token, client).await
}

async fn accepted(
    state: &AppState,
    token: &str,
    client: &latchkey::domain::sessions::SessionContext,
) -> Result<Response> {
    match workspaces::accept_invite(state, token, client).await? {
        SignInOutcome::Authenticated(response) => Ok(cookies::auth_response(
            &state.config,
            state.clock.unix(),
            StatusCode::OK,
            response,
        )),
        SignInOutcome::MfaRequired(challenge) => Ok(Json(challenge).into_response()),
    }
}

#[derive(Deserialize, ToSchema)]
#[schema(as = SwitchWorkspace)]
pub struct SwitchBody {
    /// The workspace to make active; `organization_id` and `workspaceId` are accepted as
    /// aliases.
    #[serde(alias = "organization_id", alias = "workspaceId")]
    #[schema(format = "uuid")]
    workspace_id: String,
}

/// `POST /auth/switch-workspace`: `{workspace_id}`; a new AuthResponse for the same session.
#[utoipa::path(post, path = "/auth/switch-workspace", operation_id = "switchWorkspace",
    tag = "workspaces", summary = "Make another of the caller's workspaces active",
    request_body = SwitchBody,
    security(("bearerAuth" = []), ("apiKeyHeader" = []), ("cookieAuth" = [], "csrfToken" = [])),
    responses(
        (status = 200, description = "The same session on new claims: an AuthResponse whose \
            token's `org` is that workspace; the refresh token is rotated (the old one is \
            retired).", body = AuthResponse,
            headers(("Set-Cookie" = String, description = "When cookies are enabled (the default): \
                the access and refresh tokens as `__Host-access_token` and \
                `__Host-refresh_token`, `HttpOnly; Secure; SameSite=Strict; Path=/`, `Max-Age` \
                until each expires."))),
        (status = 400, description = errors::BAD_REQUEST, body = ErrorResponse),
        (status = 401, description = errors::UNAUTHORIZED, body = ErrorResponse),
        (status = 403, description = "`forbidden`: the caller is not a member of that \
            workspace (or it does not exist). `csrf_failed`: a cookie-authenticated request \
            without a valid `X-CSRF-Token`.", body = ErrorResponse),
        (status = 409, description = "`conflict`: the membership or session changed at the \
            same time; try again.", body = ErrorResponse),
        (status = 413, description = errors::TOO_LARGE, body = ErrorResponse),
        (status = 415, description = errors::UNSUPPORTED, body = ErrorResponse),
        (status = "default", description = errors::OTHER, body = ErrorResponse),
    ))]
pub async fn switch_workspace(
    State(state): State<AppState>,
    caller: Caller,
    Client(client): Client,
    Json(body): Json<SwitchBody>,
) -> Result<Response> {
    // Not a UUID: no workspace the caller is in.
    let id = workspace_id(&body.workspace_id)
        .map_err(|_| Error::forbidden("You are not a member of this workspace"))?;
    let response = workspaces::switch(&state, &caller.claims, &id, &client).await?;
    Ok(cookies::auth_response(
        &state.config,
        state.clock.unix(),
        StatusCode::OK,
        response,
    ))
}
