//! The caller's sessions and password.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use latchkey::domain::ids::SessionId;
use latchkey::domain::timestamp;
use latchkey::http::answers::{ErrorResponse, SuccessMessage, errors};
use latchkey::http::{Caller, Json, cookies};
use latchkey::services::{accounts, sessions};
use latchkey::{AppState, Error, Result};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Serialize, ToSchema)]
pub struct SessionList {
    sessions: Vec<SessionView>,
}

/// One live session of the caller.
#[derive(Serialize, ToSchema)]
#[schema(as = Session)]
pub struct SessionView {
    #[schema(format = "uuid")]
    id: String,
    #[schema(format = DateTime)]
    created_at: String,
    /// Sign-in or last refresh.
    #[schema(format = DateTime)]
    last_used_at: String,
    /// The session's absolute end; never extended.
    #[schema(format = DateTime)]
    expires_at: String,
    /// At most 512 characters.
    user_agent: Option<String>,
    /// The client address at sign-in or last refresh (`unknown` when none was known).
    ip: String,
    /// The authentication methods used.
    amr: Vec<String>,
    /// The session of the presented token.
    current: bool,
}

/// `GET /auth/sessions`: the caller's live sessions, the current one flagged.
#[utoipa::path(get, path = "/auth/sessions", operation_id = "listSessions", tag = "accounts",
    summary = "The caller's live sessions",
    security(("bearerAuth" = []), ("apiKeyHeader" = []), ("cookieAuth" = [])),
    responses(
        (status = 200, description = "The sessions.", body = SessionList),
        (status = 401, description = errors::UNAUTHORIZED, body = ErrorResponse),
        (status = "default", description = errors::OTHER, body = ErrorResponse),
    ))]
pub async fn list(State(state): State<AppState>, caller: Caller) -> Result<Json<SessionList>> {
    let sessions = sessions::list(&state, caller.user_id()).await?;
    let current = caller.session();
    let sessions = sessions
        .iter()
        .map(|s| SessionView {
            id: s.id.to_string(),
            created_at: timestamp(s.created_at),
            last_used_at: timestamp(s.last_used_at),
            expires_at: timestamp(s.expires_at),
            user_agent: s.user_agent.clone(),
            ip: s.ip.clone(),
            amr: s.amr.clone(),
            current: Some(&s.id) == current.as_ref(),
        })
        .collect();
    Ok(Json(SessionList { sessions }))
}

/// `DELETE /auth/sessions/{id}`: revoke one of the caller's sessions. Another user's session id
/// is not found under the caller.
#[utoipa::path(delete, path = "/auth/sessions/{id}", operation_id = "revokeSession",
    tag = "accounts", summary = "Revoke one of the caller's sessions",
    params(("id" = String, Path, format = "uuid",
        description = "A session id, as listed by `GET /auth/sessions` (the token's `sid`).")),
    security(("bearerAuth" = []), ("apiKeyHeader" = []), ("cookieAuth" = [], "csrfToken" = [])),
    responses(
        (status = 200, description = "The session is revoked.", body = SuccessMessage,
            headers(("Set-Cookie" = String, description = "When it was the caller's own session \
                and cookies are enabled: both token cookies cleared (`Max-Age=0`)."))),
        (status = 401, description = errors::UNAUTHORIZED, body = ErrorResponse),
        (status = 403, description = errors::CSRF, body = ErrorResponse),
        (status = 404, description = "`not_found`: no live session with this id belongs to the \
            caller (another user's session id, or not a session id).", body = ErrorResponse),
        (status = "default", description = errors::OTHER, body = ErrorResponse),
    ))]
pub async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response> {
    let not_found = || Error::not_found("No such session");
    let id = SessionId::parse(&id).ok_or_else(not_found)?;
    let revoked = sessions::revoke(&state, caller.user_id(), &id).await?;
    if revoked {
        latchkey::audit::session_ended(caller.user_id(), &id, "revoked");
    }
    if !revoked {
        return Err(not_found());
    }
    let body = Json(SuccessMessage::new("Session revoked")).into_response();
    if caller.session().as_ref() == Some(&id) {
        return Ok(cookies::clear_auth_cookies(&state.config, body));
    }
    Ok(body)
}

#[derive(Deserialize, ToSchema)]
pub struct ChangePasswordBody {
    current_password: String,
    /// Checked against the password policy.
    new_password: String,
}

#[derive(Serialize, ToSchema)]
pub struct PasswordChanged {
    #[schema(schema_with = latchkey::http::answers::always_true)]
    success: bool,
    #[schema(examples("Password changed"))]
    message: &'static str,
    /// How many other sessions were revoked.
    revoked_sessions: usize,
}

/// `POST /auth/password`: change the password; every other session is revoked. With MFA on, the
/// caller's token must come from the second factor (`403 second_factor_required` otherwise).
#[utoipa::path(post, path = "/auth/password", operation_id = "changePassword", tag = "accounts",
    summary = "Change the caller's password",
    request_body = ChangePasswordBody,
    security(("bearerAuth" = []), ("apiKeyHeader" = []), ("cookieAuth" = [], "csrfToken" = [])),
    responses(
        (status = 200, description = "The password is changed.", body = PasswordChanged),
        (status = 400, description = "`invalid_request` (malformed body) or `weak_password` (the \
            new password fails the policy; nothing changes).", body = ErrorResponse),
        (status = 401, description = "`authentication_required` / `invalid_token` (the caller), \
            or `invalid_credentials` with `field: current_password`: the current password is \
            wrong.", body = ErrorResponse),
        (status = 403, description = "`csrf_failed`, or `second_factor_required`: the account has \
            MFA on and the token is at `aal: 1` (verify at /auth/mfa/verify first).", body = ErrorResponse),
        (status = 409, description = errors::CONFLICT, body = ErrorResponse),
        (status = 413, description = errors::TOO_LARGE, body = ErrorResponse),
        (status = 415, description = errors::UNSUPPORTED, body = ErrorResponse),
        (status = 429, description = "`rate_limited`: too many failed password checks for this \
            account.", body = ErrorResponse,
            headers(("Retry-After" = u32, description = "Seconds until the window ends."))),
        (status = "default", description = errors::OTHER, body = ErrorResponse),
    ))]
pub async fn change_password(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<ChangePasswordBody>,
) -> Result<Json<PasswordChanged>> {
    caller.require_credential_scope()?;
    let revoked = accounts::change_password(
        &state,
        caller.user_id(),
        caller.session().as_ref(),
        caller.claims.aal,
        body.current_password,
        body.new_password,
    )
    .await?;
    Ok(Json(PasswordChanged {
        success: true,
        message: "Password changed",
        revoked_sessions: revoked,
    }))
}
