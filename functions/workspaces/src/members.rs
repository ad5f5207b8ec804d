//! The caller's workspaces, creating one, members and roles.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use latchkey::domain::ids::{UserId, WorkspaceId};
use latchkey::domain::workspaces::{Role, workspace_name};
use latchkey::http::{Caller, Json};
use latchkey::services::workspaces;
use latchkey::{AppState, Error, Result};
use serde::Deserialize;

use crate::bodies::{
    Done, MemberBody, MembersBody, MembershipChanged, WorkspaceBody, WorkspacesBody,
};

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
pub async fn list_workspaces(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<WorkspacesBody>> {
    let memberships = workspaces::memberships(&state, caller.user_id()).await?;
    Ok(Json(WorkspacesBody {
        workspaces: memberships.into_iter().map(WorkspaceBody::from).collect(),
    }))
}

#[derive(Deserialize)]
pub struct CreateBody {
    name: String,
}

/// `POST /workspaces`: `201`, the caller is its owner.
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

/// `GET /workspaces/{id}/members`.
pub async fn members(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<MembersBody>> {
    let id = workspace_id(&id)?;
    let members = workspaces::members(&state, caller.user_id(), id.as_str()).await?;
    Ok(Json(MembersBody {
        members: members.into_iter().map(MemberBody::from).collect(),
    }))
}

#[derive(Deserialize)]
pub struct RoleBody {
    role: String,
}

/// `PATCH /workspaces/{id}/members/{user_id}`: `{role}`.
pub async fn change_role(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, member)): Path<(String, String)>,
    Json(body): Json<RoleBody>,
) -> Result<Json<MembershipChanged>> {
    let id = workspace_id(&id)?;
    let member = user_id(&member)?;
    let role = role(&body.role)?;
    let changed =
        workspaces::change_role(&state, caller.user_id(), id.as_str(), member.as_str(), role)
            .await?;
    Ok(Json(changed.into()))
}

/// `DELETE /workspaces/{id}/members/{user_id}`: remove a member, or leave.
pub async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, member)): Path<(String, String)>,
) -> Result<Json<Done>> {
    let id = workspace_id(&id)?;
    let member = user_id(&member)?;
    workspaces::remove_member(&state, caller.user_id(), id.as_str(), member.as_str()).await?;
    Ok(Json(Done::new("Member removed")))
}
