//! The caller's sessions and password.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use latchkey::domain::ids::SessionId;
use latchkey::domain::timestamp;
use latchkey::http::{Caller, Json, cookies};
use latchkey::services::{accounts, sessions};
use latchkey::{AppState, Error, Result};
use serde::Deserialize;
use serde_json::{Value, json};

/// `GET /auth/sessions`: the caller's live sessions, the current one flagged.
pub async fn list(State(state): State<AppState>, caller: Caller) -> Result<Json<Value>> {
    let sessions = sessions::list(&state, caller.user_id()).await?;
    let sessions: Vec<Value> = sessions
        .iter()
        .map(|s| {
            json!({
                "id": s.id,
                "created_at": timestamp(s.created_at),
                "last_used_at": timestamp(s.last_used_at),
                "expires_at": timestamp(s.expires_at),
                "user_agent": s.user_agent,
                "ip": s.ip,
                "amr": s.amr,
                "current": s.id == caller.session_id(),
            })
        })
        .collect();
    Ok(Json(json!({"sessions": sessions})))
}

/// `DELETE /auth/sessions/{id}`: revoke one of the caller's sessions. Another user's session id
/// is not found under the caller.
pub async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response> {
    let not_found = || Error::not_found("No such session");
    let id = SessionId::parse(&id).ok_or_else(not_found)?;
    if !sessions::revoke(&state, caller.user_id(), id.as_str()).await? {
        return Err(not_found());
    }
    let body = Json(json!({"success": true, "message": "Session revoked"})).into_response();
    if id.as_str() == caller.session_id() {
        return Ok(cookies::clear_auth_cookies(&state.config, body));
    }
    Ok(body)
}

#[derive(Deserialize)]
pub struct ChangePasswordBody {
    current_password: String,
    new_password: String,
}

/// `POST /auth/password`: change the password; every other session is revoked.
pub async fn change_password(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<ChangePasswordBody>,
) -> Result<Json<Value>> {
    caller.require_credential_scope()?;
    let revoked = accounts::change_password(
        &state,
        caller.user_id(),
        caller.session_id(),
        body.current_password,
        body.new_password,
    )
    .await?;
    Ok(Json(json!({
        "success": true,
        "message": "Password changed",
        "revoked_sessions": revoked,
    })))
}
