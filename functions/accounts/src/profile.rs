//! The caller's profile: `/auth/validate` (seed 004), `/auth/me` (seed 002) and
//! `/users/auth/status` (seed 001).

use axum::extract::State;
use latchkey::domain::sessions::auth_type;
use latchkey::domain::timestamp;
use latchkey::http::{Caller, Json, MaybeCaller};
use latchkey::services::accounts::{self, Membership};
use latchkey::services::workspaces;
use latchkey::{AppState, Result};
use serde_json::{Value, json};

fn workspace_json(membership: &Membership) -> Value {
    json!({
        "id": membership.workspace.id,
        "name": membership.workspace.name,
        "role": membership.role,
        "created_at": timestamp(membership.workspace.created_at),
        "updated_at": timestamp(membership.workspace.updated_at),
    })
}

/// `GET /auth/validate`: the token is valid, its session live and its holder still a member of
/// its workspace (`org`); the user and their workspaces.
pub async fn validate(State(state): State<AppState>, caller: Caller) -> Result<Json<Value>> {
    let (user, memberships) = tokio::join!(
        accounts::require_user(&state, caller.user_id()),
        accounts::memberships(&state, caller.user_id()),
    );
    let (user, memberships) = (user?, memberships?);
    if let Some(org) = &caller.claims.org
        && !memberships.iter().any(|m| &m.workspace.id == org)
    {
        return Err(workspaces::removed_from_token_workspace());
    }
    Ok(Json(json!({
        "status": "valid",
        "user": {
            "id": user.id,
            "email": user.email,
            "name": user.name,
            "has_password": user.has_password(),
        },
        "workspaces": memberships.iter().map(workspace_json).collect::<Vec<_>>(),
    })))
}

/// `GET /auth/me`: the profile, email credentials, memberships, identities and second factors.
pub async fn me(State(state): State<AppState>, caller: Caller) -> Result<Json<Value>> {
    let (user, memberships) = tokio::join!(
        accounts::require_user(&state, caller.user_id()),
        accounts::memberships(&state, caller.user_id()),
    );
    let (user, memberships) = (user?, memberships?);
    Ok(Json(json!({
        "success": true,
        "user": {
            "id": user.id,
            "email": user.email,
            "name": user.name,
            "email_verified": user.email_verified,
            "has_password": user.has_password(),
            "plan": user.plan,
            "features": user.features,
            "organization_id": caller.claims.org,
            "created_at": timestamp(user.created_at),
            "updated_at": timestamp(user.updated_at),
        },
        "emails": [{"email": user.email, "verified": user.email_verified, "primary": true}],
        "memberships": memberships.iter().map(|m| json!({
            "workspace_id": m.workspace.id,
            "name": m.workspace.name,
            "role": m.role,
            "personal": m.workspace.personal,
            "joined_at": timestamp(m.joined_at),
        })).collect::<Vec<_>>(),
        "identities": [],
        "mfa": {"enabled": user.mfa_enabled},
        "passkeys": {"count": 0},
        "session": {"id": caller.session_id(), "amr": caller.claims.amr, "aal": caller.claims.aal},
    })))
}

/// `GET /users/auth/status`: never an error for a missing or invalid token.
pub async fn status(MaybeCaller(caller): MaybeCaller) -> Json<Value> {
    Json(match caller {
        Some(caller) => json!({
            "isAuthenticated": true,
            "user": {
                "id": caller.claims.sub,
                "email": caller.claims.email,
                "auth_type": auth_type(&caller.claims.amr),
            },
        }),
        None => json!({"isAuthenticated": false}),
    })
}
