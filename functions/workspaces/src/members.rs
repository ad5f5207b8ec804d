//! The caller's workspaces, creating one, members and roles.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use latchkey::domain::ids::{UserId, WorkspaceId};
use latchkey::domain::workspaces::{Role, workspace_name};
use latchkey::http::answers::{ErrorResponse, SuccessMessage, errors};
use latchkey::http::{Caller, Json};
use latchkey::services::workspaces;
use latchkey::{AppState, Error, Result};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::bodies::{MemberBody, MembersBody, MembershipChanged, WorkspaceBody, WorkspacesBody};
use crate::docs;

/// A workspace id from the path; anything that is not a UUID is not found.
pub fn workspace_id(raw: &str) -> Result<WorkspaceId> {
    WorkspaceId::parse(raw).ok_or_else(|| Error::not_found("No such workspace"))
}

fn user_id(raw: &str) -> Result<UserId> {
    UserId::parse(raw).ok_or_else(|| Error::not_found("No such member in this workspace"))
}

/// A role from a body field; a 400 naming the field otherwise.
pub fn role(raw: &str) -> Result<Role> {
    Role::parse(raw).ok_or_else(|| Error::invalid_field("role", "must be owner, admin or member"))
}

/// `GET /workspaces`.
#[utoipa::path(get, path = "/workspaces", operation_id = "listWorkspaces", tag = "workspaces",
    summary = "The caller's workspaces and their role in each",
    security(("bearerAuth" = []), ("apiKeyHeader" = []), ("cookieAuth" = [])),
    responses(
        (status = 200, description = "The workspaces.", body = WorkspacesBody),
        (status = 401, description = errors::UNAUTHORIZED, body = ErrorResponse),
        (status = "default", description = errors::OTHER, body = ErrorResponse),
    ))]
pub async fn list_workspaces(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<WorkspacesBody>> {
    let memberships = workspaces::memberships(&state, caller.user_id()).await?;
    Ok(Json(WorkspacesBody {
        workspaces: memberships.into_iter().map(WorkspaceBody::from).collect(),
    }))
}

#[derive(Deserialize, ToSchema)]
#[schema(as = CreateWorkspace)]
pub struct CreateBody {
    /// 1 to 100 characters, no control or text-direction characters.
    name: String,
}

/// `POST /workspaces`: `201`, the caller is its owner.
#[utoipa::path(post, path = "/workspaces", operation_id = "createWorkspace", tag = "workspaces",
    summary = "Create a workspace owned by the caller",
    request_body = CreateBody,
    security(("bearerAuth" = []), ("apiKeyHeader" = []), ("cookieAuth" = [], "csrfToken" = [])),
    responses(
        (status = 201, description = "The workspace; the caller is its owner.",
            body = WorkspaceBody),
        (status = 400, description = "`invalid_request`: a malformed body, or `field: name` \
            (empty, over 100 characters, or holding control or text-direction characters).",
            body = ErrorResponse),
        (status = 401, description = errors::UNAUTHORIZED, body = ErrorResponse),
        (status = 403, description = errors::CSRF, body = ErrorResponse),
        (status = 413, description = errors::TOO_LARGE, body = ErrorResponse),
        (status = 415, description = errors::UNSUPPORTED, body = ErrorResponse),
        (status = "default", description = errors::OTHER, body = ErrorResponse),
    ))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<CreateBody>,
) -> Result<(StatusCode, Json<WorkspaceBody>)> {
    let name = workspace_name(&body.name).ok_or_else(|| {
        Error::invalid_field(
            "name",
            "must be 1 to 100 characters, no control or text-direction characters",
        )
    })?;
    let membership = workspaces::create(&state, caller.user_id(), name).await?;
    Ok((StatusCode::CREATED, Json(membership.into())))
}

/// `GET /workspaces/{id}/members`: any member lists them.
#[utoipa::path(get, path = "/workspaces/{id}/members", operation_id = "listMembers",
    tag = "workspaces", summary = "The members of a workspace the caller is in",
    params(("id" = String, Path, format = "uuid", description = docs::WORKSPACE_ID)),
    security(("bearerAuth" = []), ("apiKeyHeader" = []), ("cookieAuth" = [])),
    responses(
        (status = 200, description = "The members.", body = MembersBody),
        (status = 401, description = errors::UNAUTHORIZED, body = ErrorResponse),
        (status = 404, description = docs::NO_SUCH_WORKSPACE, body = ErrorResponse),
        (status = "default", description = errors::OTHER, body = ErrorResponse),
    ))]
pub async fn members(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<MembersBody>> {
    let id = workspace_id(&id)?;
    let members = workspaces::members(&state, caller.user_id(), &id).await?;
    Ok(Json(MembersBody {
        members: members.into_iter().map(MemberBody::from).collect(),
    }))
}

#[derive(Deserialize, ToSchema)]
#[schema(as = RoleChange)]
pub struct RoleBody {
    /// `owner`, `admin` or `member`.
    role: String,
}

/// `PATCH /workspaces/{id}/members/{user_id}`: `{role}`.
#[utoipa::path(patch, path = "/workspaces/{id}/members/{user_id}", operation_id = "changeRole",
    tag = "workspaces", summary = "Change a member's role (owners and admins)",
    params(
        ("id" = String, Path, format = "uuid", description = docs::WORKSPACE_ID),
        ("user_id" = String, Path, format = "uuid", description = "The member's user id."),
    ),
    request_body = RoleBody,
    security(("bearerAuth" = []), ("apiKeyHeader" = []), ("cookieAuth" = [], "csrfToken" = [])),
    responses(
        (status = 200, description = "The member's role now; their open sessions refresh onto \
            it.", body = MembershipChanged),
        (status = 400, description = "`invalid_request`: a malformed body, or `field: role` \
            (not owner, admin or member).", body = ErrorResponse),
        (status = 401, description = errors::UNAUTHORIZED, body = ErrorResponse),
        (status = 403, description = docs::NOT_ALLOWED, body = ErrorResponse),
        (status = 404, description = docs::NO_SUCH_MEMBER, body = ErrorResponse),
        (status = 409, description = docs::LAST_OWNER, body = ErrorResponse),
        (status = 413, description = errors::TOO_LARGE, body = ErrorResponse),
        (status = 415, description = errors::UNSUPPORTED, body = ErrorResponse),
        (status = "default", description = errors::OTHER, body = ErrorResponse),
    ))]
pub async fn change_role(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, member)): Path<(String, String)>,
    Json(body): Json<RoleBody>,
) -> Result<Json<MembershipChanged>> {
    let id = workspace_id(&id)?;
    let member = user_id(&member)?;
    let role = role(&body.role)?;
    let changed = workspaces::change_role(&state, caller.user_id(), &id, &member, role).await?;
    Ok(Json(changed.into()))
}

/// `DELETE /workspaces/{id}/members/{user_id}`: remove a member, or leave.
#[utoipa::path(delete, path = "/workspaces/{id}/members/{user_id}", operation_id = "removeMember",
    tag = "workspaces", summary = "Remove a member, or leave (the caller's own id)",
    params(
        ("id" = String, Path, format = "uuid", description = docs::WORKSPACE_ID),
        ("user_id" = String, Path, format = "uuid",
            description = "The member's user id; the caller's own to leave."),
    ),
    security(("bearerAuth" = []), ("apiKeyHeader" = []), ("cookieAuth" = [], "csrfToken" = [])),
    responses(
        (status = 200, description = "The member is removed; their tokens naming this \
            workspace stop working here and at `/auth/validate`.", body = SuccessMessage,
            example = json!({"success": true, "message": "Member removed"})),
        (status = 401, description = errors::UNAUTHORIZED, body = ErrorResponse),
        (status = 403, description = docs::NOT_ALLOWED, body = ErrorResponse),
        (status = 404, description = docs::NO_SUCH_MEMBER, body = ErrorResponse),
        (status = 409, description = docs::LAST_OWNER, body = ErrorResponse),
        (status = "default", description = errors::OTHER, body = ErrorResponse),
    ))]
pub async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, member)): Path<(String, String)>,
) -> Result<Json<SuccessMessage>> {
    let id = workspace_id(&id)?;
    let member = user_id(&member)?;
    workspaces::remove_member(&state, caller.user_id(), &id, &member).await?;
    Ok(Json(SuccessMessage::new("Member removed")))
}
