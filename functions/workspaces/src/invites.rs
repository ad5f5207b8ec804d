//! Inviting to a workspace, listing and revoking invites.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use latchkey::domain::emails::EmailAddress;
use latchkey::domain::ids::InviteId;
use latchkey::http::answers::{ErrorResponse, SuccessMessage, errors};
use latchkey::http::{Caller, Json};
use latchkey::services::workspaces;
use latchkey::{AppState, Error, Result};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::bodies::{InviteBody, InvitesBody};
use crate::docs;
use crate::members::{role, workspace_id};

#[derive(Deserialize, ToSchema)]
#[schema(as = InviteRequest, example = json!({"email": "grace@example.com", "role": "member"}))]
pub struct InviteRequest {
    #[schema(format = Email)]
    email: String,
    /// `owner` (only an owner invites one), `admin` or `member`.
    role: String,
}

/// `POST /workspaces/{id}/invites`: `201 {id, email, role, expires_at, ...}`; the invite email
/// holds the accept link.
#[utoipa::path(post, path = "/workspaces/{id}/invites", operation_id = "inviteMember",
    tag = "workspaces", summary = "Invite an address to the workspace (owners and admins)",
    params(("id" = String, Path, format = "uuid", description = docs::WORKSPACE_ID)),
    request_body = InviteRequest,
    security(("bearerAuth" = []), ("apiKeyHeader" = []), ("cookieAuth" = [], "csrfToken" = [])),
    responses(
        (status = 201, description = "The invite (never its token). The email holds \
            `<public url>/auth/invites/accept?token=...`; re-inviting the same address voids the \
            older link.", body = InviteBody),
        (status = 400, description = "`invalid_request`: a malformed body, `field: email` (not \
            a valid address) or `field: role` (not owner, admin or member).",
            body = ErrorResponse),
        (status = 401, description = errors::UNAUTHORIZED, body = ErrorResponse),
        (status = 403, description = docs::NOT_ALLOWED, body = ErrorResponse),
        (status = 404, description = docs::NO_SUCH_WORKSPACE, body = ErrorResponse),
        (status = 409, description = "`already_member`: the address already belongs to a \
            member.", body = ErrorResponse),
        (status = 413, description = errors::TOO_LARGE, body = ErrorResponse),
        (status = 415, description = errors::UNSUPPORTED, body = ErrorResponse),
        (status = 429, description = "`rate_limited`: too many invites from this workspace (50 \
            per hour).", body = ErrorResponse,
            headers(("Retry-After" = u32, description = "Seconds until the window ends."))),
        (status = "default", description = errors::OTHER, body = ErrorResponse),
    ))]
pub async fn invite(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(body): Json<InviteRequest>,
) -> Result<(StatusCode, Json<InviteBody>)> {
    let id = workspace_id(&id)?;
    let email = EmailAddress::parse(&body.email)?;
    let role = role(&body.role)?;
    let sent = workspaces::invite(&state, caller.user_id(), &id, &email, role).await?;
    Ok((StatusCode::CREATED, Json(sent.invite.into())))
}

/// `GET /workspaces/{id}/invites`: the live invites (owners and admins).
#[utoipa::path(get, path = "/workspaces/{id}/invites", operation_id = "listInvites",
    tag = "workspaces", summary = "The workspace's live invites (owners and admins)",
    params(("id" = String, Path, format = "uuid", description = docs::WORKSPACE_ID)),
    security(("bearerAuth" = []), ("apiKeyHeader" = []), ("cookieAuth" = [])),
    responses(
        (status = 200, description = "The live invites.", body = InvitesBody),
        (status = 401, description = errors::UNAUTHORIZED, body = ErrorResponse),
        (status = 403, description = "`forbidden`: the caller is a plain member.",
            body = ErrorResponse),
        (status = 404, description = docs::NO_SUCH_WORKSPACE, body = ErrorResponse),
        (status = "default", description = errors::OTHER, body = ErrorResponse),
    ))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<InvitesBody>> {
    let id = workspace_id(&id)?;
    let invites = workspaces::invites(&state, caller.user_id(), &id).await?;
    Ok(Json(InvitesBody {
        invites: invites.into_iter().map(InviteBody::from).collect(),
    }))
}

/// `DELETE /workspaces/{id}/invites/{invite_id}`: the invite's link stops working at once.
#[utoipa::path(delete, path = "/workspaces/{id}/invites/{invite_id}", operation_id = "revokeInvite",
    tag = "workspaces", summary = "Revoke an invite (owners and admins)",
    params(
        ("id" = String, Path, format = "uuid", description = docs::WORKSPACE_ID),
        ("invite_id" = String, Path, format = "uuid", description = "The invite's id."),
    ),
    security(("bearerAuth" = []), ("apiKeyHeader" = []), ("cookieAuth" = [], "csrfToken" = [])),
    responses(
        (status = 200, description = "The invite is revoked; its link stops working at once.",
            body = SuccessMessage,
            example = json!({"success": true, "message": "Invite revoked"})),
        (status = 401, description = errors::UNAUTHORIZED, body = ErrorResponse),
        (status = 403, description = docs::NOT_ALLOWED, body = ErrorResponse),
        (status = 404, description = "`not_found`: no such workspace for the caller, or no such \
            live invite in it.", body = ErrorResponse),
        (status = "default", description = errors::OTHER, body = ErrorResponse),
    ))]
pub async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, invite)): Path<(String, String)>,
) -> Result<Json<SuccessMessage>> {
    let id = workspace_id(&id)?;
    let invite = InviteId::parse(&invite)
        .ok_or_else(|| Error::not_found("No such invite in this workspace"))?;
    workspaces::revoke_invite(&state, caller.user_id(), &id, &invite).await?;
    Ok(Json(SuccessMessage::new("Invite revoked")))
}
