//! Waitlist signups of the token's workspace.

use axum::extract::{Path, State};
use latchkey::domain::workspaces::valid_feature;
use latchkey::http::answers::{ErrorResponse, errors};
use latchkey::http::{Caller, Json};
use latchkey::services::workspaces;
use latchkey::{AppState, Error, Result};

use crate::bodies::{SignedUpBody, SignupBody, SignupsBody};
use crate::docs;

fn feature(raw: &str) -> Result<&str> {
    if valid_feature(raw) {
        Ok(raw)
    } else {
        Err(Error::invalid_field(
            "feature",
            "must be 1 to 64 characters of a-z, 0-9, _ and -",
        ))
    }
}

/// `GET /auth/waitlist`.
#[utoipa::path(get, path = "/auth/waitlist", operation_id = "listWaitlist", tag = "workspaces",
    summary = "The waitlist signups of the token's workspace",
    security(("bearerAuth" = []), ("apiKeyHeader" = []), ("cookieAuth" = [])),
    responses(
        (status = 200, description = "The signups, oldest first.", body = SignupsBody),
        (status = 401, description = docs::WAITLIST_UNAUTHORIZED, body = ErrorResponse),
        (status = 403, description = "`forbidden`: the token names no workspace.",
            body = ErrorResponse),
        (status = "default", description = errors::OTHER, body = ErrorResponse),
    ))]
pub async fn list(State(state): State<AppState>, caller: Caller) -> Result<Json<SignupsBody>> {
    let signups = workspaces::waitlist(&state, &caller.claims).await?;
    Ok(Json(SignupsBody {
        signups: signups.into_iter().map(SignupBody::from).collect(),
    }))
}

/// `GET /auth/waitlist/{feature}`: `{signed_up}`.
#[utoipa::path(get, path = "/auth/waitlist/{feature}", operation_id = "checkWaitlist",
    tag = "workspaces", summary = "Whether the token's workspace is on a feature's waitlist",
    params(("feature" = String, Path, description = docs::FEATURE)),
    security(("bearerAuth" = []), ("apiKeyHeader" = []), ("cookieAuth" = [])),
    responses(
        (status = 200, description = "Whether it is signed up.", body = SignedUpBody),
        (status = 400, description = docs::BAD_FEATURE, body = ErrorResponse),
        (status = 401, description = docs::WAITLIST_UNAUTHORIZED, body = ErrorResponse),
        (status = 403, description = "`forbidden`: the token names no workspace.",
            body = ErrorResponse),
        (status = "default", description = errors::OTHER, body = ErrorResponse),
    ))]
pub async fn check(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<SignedUpBody>> {
    let name = feature(&name)?;
    let signup = workspaces::waitlist_signup(&state, &caller.claims, name).await?;
    Ok(Json(SignedUpBody {
        success: true,
        feature: name.to_owned(),
        signed_up: signup.is_some(),
        created_at: signup.map(|s| SignupBody::from(s).created_at),
    }))
}

/// `PUT /auth/waitlist/{feature}`: idempotent.
#[utoipa::path(put, path = "/auth/waitlist/{feature}", operation_id = "joinWaitlist",
    tag = "workspaces", summary = "Sign the token's workspace up for a feature (idempotent)",
    params(("feature" = String, Path, description = docs::FEATURE)),
    security(("bearerAuth" = []), ("apiKeyHeader" = []), ("cookieAuth" = [], "csrfToken" = [])),
    responses(
        (status = 200, description = "Signed up; a second signup answers the first's time.",
            body = SignedUpBody),
        (status = 400, description = docs::BAD_FEATURE, body = ErrorResponse),
        (status = 401, description = docs::WAITLIST_UNAUTHORIZED, body = ErrorResponse),
        (status = 403, description = docs::WAITLIST_FORBIDDEN, body = ErrorResponse),
        (status = "default", description = errors::OTHER, body = ErrorResponse),
    ))]
pub async fn join(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<SignedUpBody>> {
    let name = feature(&name)?;
    let signup = workspaces::join_waitlist(&state, &caller.claims, name).await?;
    Ok(Json(SignedUpBody {
        success: true,
        feature: name.to_owned(),
        signed_up: true,
        created_at: Some(SignupBody::from(signup).created_at),
    }))
}

/// `DELETE /auth/waitlist/{feature}`: idempotent.
#[utoipa::path(delete, path = "/auth/waitlist/{feature}", operation_id = "leaveWaitlist",
    tag = "workspaces", summary = "Take the token's workspace off a feature's waitlist \
        (idempotent)",
    params(("feature" = String, Path, description = docs::FEATURE)),
    security(("bearerAuth" = []), ("apiKeyHeader" = []), ("cookieAuth" = [], "csrfToken" = [])),
    responses(
        (status = 200, description = "Not signed up (whether or not it was).",
            body = SignedUpBody),
        (status = 400, description = docs::BAD_FEATURE, body = ErrorResponse),
        (status = 401, description = docs::WAITLIST_UNAUTHORIZED, body = ErrorResponse),
        (status = 403, description = docs::WAITLIST_FORBIDDEN, body = ErrorResponse),
        (status = "default", description = errors::OTHER, body = ErrorResponse),
    ))]
pub async fn leave(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<SignedUpBody>> {
    let name = feature(&name)?;
    workspaces::leave_waitlist(&state, &caller.claims, name).await?;
    Ok(Json(SignedUpBody {
        success: true,
        feature: name.to_owned(),
        signed_up: false,
        created_at: None,
    }))
}
