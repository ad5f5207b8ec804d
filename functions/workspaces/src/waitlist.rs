//! Waitlist signups of the token's workspace.

use axum::extract::{Path, State};
use latchkey::domain::workspaces::valid_feature;
use latchkey::http::{Caller, Json};
use latchkey::services::workspaces;
use latchkey::{AppState, Error, Result};

use crate::bodies::{SignedUpBody, SignupBody, SignupsBody};

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
pub async fn list(State(state): State<AppState>, caller: Caller) -> Result<Json<SignupsBody>> {
    let signups = workspaces::waitlist(&state, &caller.claims).await?;
    Ok(Json(SignupsBody {
        signups: signups.into_iter().map(SignupBody::from).collect(),
    }))
}

/// `GET /auth/waitlist/{feature}`: `{signed_up}`.
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
