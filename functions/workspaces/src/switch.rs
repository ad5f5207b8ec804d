//! Signing in through an invite, and switching the session's workspace.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use latchkey::http::{Caller, Client, Json, cookies};
use latchkey::services::accounts::SignInOutcome;
use latchkey::services::workspaces;
use latchkey::{AppState, Error, Result};
use serde::Deserialize;

use crate::members::workspace_id;

#[derive(Deserialize)]
pub struct TokenBody {
    token: String,
}

#[derive(Deserialize)]
pub struct TokenQuery {
    token: Option<String>,
}

/// `POST /auth/invites/accept`: `{token}`.
pub async fn accept(
    State(state): State<AppState>,
    Client(client): Client,
    Json(body): Json<TokenBody>,
) -> Result<Response> {
    accepted(&state, &body.token, &client).await
}

/// `GET /auth/invites/accept?token=`: the emailed link; answers like `/auth/sign-in/token`.
pub async fn accept_from_link(
    State(state): State<AppState>,
    Client(client): Client,
    query: Result<Query<TokenQuery>, QueryRejection>,
) -> Result<Response> {
    let Query(query) =
        query.map_err(|_| Error::bad_request("The query string could not be read"))?;
    let token = query
        .token
        .filter(|token| !token.trim().is_empty())
        .ok_or_else(|| Error::invalid_field("token", "is required"))?;
    accepted(&state, &token, &client).await
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

#[derive(Deserialize)]
pub struct SwitchBody {
    #[serde(alias = "organization_id", alias = "workspaceId")]
    workspace_id: String,
}

/// `POST /auth/switch-workspace`: `{workspace_id}`; a new AuthResponse for the same session.
pub async fn switch_workspace(
    State(state): State<AppState>,
    caller: Caller,
    Client(client): Client,
    Json(body): Json<SwitchBody>,
) -> Result<Response> {
    // Not a UUID: no workspace the caller is in.
    let id = workspace_id(&body.workspace_id)
        .map_err(|_| Error::forbidden("You are not a member of this workspace"))?;
    let response = workspaces::switch(&state, &caller.claims, id.as_str(), &client).await?;
    Ok(cookies::auth_response(
        &state.config,
        state.clock.unix(),
        StatusCode::OK,
        response,
    ))
}
