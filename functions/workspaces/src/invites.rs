//! Inviting to a workspace, listing and revoking invites.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use latchkey::domain::emails::EmailAddress;
use latchkey::domain::ids::InviteId;
use latchkey::http::{Caller, Json};
use latchkey::services::workspaces;
use latchkey::{AppState, Error, Result};
use serde::Deserialize;

use crate::bodies::{Done, InviteBody, InvitesBody};
use crate::members::{role, workspace_id};

#[derive(Deserialize)]
pub struct InviteRequest {
    email: String,
    role: String,
}

/// `POST /workspaces/{id}/invites`: `201 {id, email, role, expires_at, ...}`; the invite email
/// holds the accept link.
pub async fn invite(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(body): Json<InviteRequest>,
) -> Result<(StatusCode, Json<InviteBody>)> {
    let id = workspace_id(&id)?;
    let email = EmailAddress::parse(&body.email)?;
    let role = role(&body.role)?;
    let sent = workspaces::invite(&state, caller.user_id(), id.as_str(), &email, role).await?;
    Ok((StatusCode::CREATED, Json(sent.invite.into())))
}

/// `GET /workspaces/{id}/invites`: the live invites (owners and admins).
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<InvitesBody>> {
    let id = workspace_id(&id)?;
    let invites = workspaces::invites(&state, caller.user_id(), id.as_str()).await?;
    Ok(Json(InvitesBody {
        invites: invites.into_iter().map(InviteBody::from).collect(),
    }))
}

/// `DELETE /workspaces/{id}/invites/{invite_id}`: the invite's link stops working at once.
pub async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, invite)): Path<(String, String)>,
) -> Result<Json<Done>> {
    let id = workspace_id(&id)?;
    let invite = InviteId::parse(&invite)
        .ok_or_else(|| Error::not_found("No such invite in this workspace"))?;
    workspaces::revoke_invite(&state, caller.user_id(), id.as_str(), invite.as_str()).await?;
    Ok(Json(Done::new("Invite revoked")))
}
